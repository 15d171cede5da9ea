"""A Hugging Face Hub-protocol test server, for testing publishing through the real clients.

No Hub is reachable from the test machines, so `huggingface_hub` (`HfApi`, `hf_hub_download`,
`HfFileSystem`) and `datasets` (`push_to_hub`, `load_dataset`) talk to this server instead. It
binds to 127.0.0.1 and keeps repos in memory:

- a content-addressed blob store (sha256 -> bytes), shared by all repos;
- per repo: commits (each one a full tree `{path: Entry}` + title, message, parent, date),
  branches and tags (name -> commit id).

Implemented endpoints (what the installed clients call; see the handler for details):

- `GET /api/whoami-v2`, `POST /api/repos/create`, `DELETE /api/repos/delete`,
  `PUT /api/{type}s/{repo}/settings` (visibility only), `POST /api/validate-yaml`
- `GET /api/{type}s/{repo}` and `/api/{type}s/{repo}/revision/{rev}` (repo info, `siblings`)
- `POST /api/{type}s/{repo}/preupload/{rev}` (`uploadMode`: `lfs` for paths matching the LFS
  rules of the revision's `.gitattributes`, or for files over 10 MB; `regular` otherwise)
- `POST /{prefix}{repo}.git/info/lfs/objects/batch` (basic transfer: PUT back to this server,
  then verify), `POST /api/{type}s/{repo}/commit/{rev}` (NDJSON: header, file, lfsFile,
  deletedFile, deletedFolder; `parentCommit` checked -> 412)
- `POST|DELETE /api/{type}s/{repo}/branch/{branch}`, `POST /api/{type}s/{repo}/tag/{rev}`,
  `DELETE /api/{type}s/{repo}/tag/{tag}`, `GET /api/{type}s/{repo}/refs`,
  `GET /api/{type}s/{repo}/commits/{rev}`
- `GET /api/{type}s/{repo}/tree/{rev}/{path}` (`recursive`, `expand`, cursor pagination with a
  `Link: <...>; rel="next"` header), `POST /api/{type}s/{repo}/paths-info/{rev}`
- `HEAD|GET /{prefix}{repo}/resolve/{rev}/{path}`: regular files are served directly (`ETag` =
  git blob id); LFS files answer `302` to a signed URL on a second "CDN" port with
  `X-Linked-Etag` (sha256) and `X-Linked-Size`, as the Hub does. `Range` is supported.

Errors carry the Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`) so the
clients raise `RepositoryNotFoundError`, `RevisionNotFoundError`, `EntryNotFoundError`. One token is
accepted (`Authorization: Bearer <token>`); a wrong token gets 401 "Invalid credentials in
Authorization header"; anonymous reads of private repos get 401 `RepoNotFound` (as the Hub does).

Pointing the clients at it: use `hub_environment(server)` (see its docstring). Typical use::

    with start_hub_server() as hub, hub_environment(hub, cache_dir=tmp_path):
        dataset_dict.push_to_hub("user/name", private=True, token=hub.token)
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import hmac
import json
import os
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["HubServer", "hub_environment", "start_hub_server"]

LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # files over 10 MB go to LFS, as on the Hub
DEFAULT_PAGE_SIZE = 1000  # tree listing page size (the Hub uses 1000, 50 with expand)
DEFAULT_GITATTRIBUTES = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
"""
REPO_TYPES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_URL_PREFIX_TO_TYPE = {"datasets": "dataset", "spaces": "space"}


# -- storage -------------------------------------------------------------------------------------


def _git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    spec = "https://git-lfs.github.com/spec/v1"
    return f"version {spec}\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Entry:
    """A file in a commit's tree."""

    sha256: str  # key in the blob store
    size: int
    lfs: bool
    blob_id: str  # git blob id of the content (regular files) or of the LFS pointer file

    @classmethod
    def of(cls, content: bytes, sha256: str, lfs: bool) -> Entry:
        size = len(content)
        blob_id = _git_blob_id(_lfs_pointer(sha256, size) if lfs else content)
        return cls(sha256=sha256, size=size, lfs=lfs, blob_id=blob_id)

    @property
    def oid(self) -> str:
        """The git blob id, as the Hub reports it (`oid` in tree listings, `ETag`)."""
        return self.blob_id

    @property
    def pointer(self) -> bytes:
        return _lfs_pointer(self.sha256, self.size)


@dataclass
class Commit:
    id: str
    parent: str | None
    tree: dict[str, Entry]
    title: str
    message: str
    date: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str = field(default_factory=_now)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs_objects: set[str] = field(default_factory=set)  # sha256 of LFS objects uploaded to it

    def resolve(self, revision: str) -> Commit | None:
        """A branch, a tag, `refs/heads/x`, `refs/tags/x` or a (full or short) commit id."""
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs:
                return self.commits[refs[revision[len(prefix) :]]]
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.tags:
            return self.commits[self.tags[revision]]
        if revision in self.commits:
            return self.commits[revision]
        if len(revision) >= 7 and all(c in "0123456789abcdef" for c in revision):
            matches = [c for c in self.commits if c.startswith(revision)]
            if len(matches) == 1:
                return self.commits[matches[0]]
        return None

    def history(self, commit: Commit) -> Iterator[Commit]:
        current: Commit | None = commit
        while current is not None:
            yield current
            current = self.commits.get(current.parent) if current.parent else None


class HubError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, extra: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}


# -- server --------------------------------------------------------------------------------------


class HubServer:
    """A running Hub-protocol test server. Use `start_hub_server()` to get one."""

    def __init__(self, token: str | None = None, user: str = "test-user") -> None:
        self.token = token or "hf_test_" + secrets.token_hex(16)
        self.user = user
        self.page_size = DEFAULT_PAGE_SIZE
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API request
        self.unhandled: list[tuple[str, str]] = []  # requests no route matched (for debugging)
        self.lock = threading.RLock()
        self._secret = secrets.token_bytes(16)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, cdn=False))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, cdn=True))
        for httpd in (self._httpd, self._cdn):
            httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._cdn.server_address[1]}"
        self._threads = [
            threading.Thread(target=httpd.serve_forever, name=f"hub-server-{i}", daemon=True)
            for i, httpd in enumerate((self._httpd, self._cdn))
        ]

    def __repr__(self) -> str:
        return f"HubServer(url={self.url!r})"

    def start(self) -> HubServer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        for httpd in (self._httpd, self._cdn):
            httpd.shutdown()
            httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests -----------------------------------------------------------------------

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def file_content(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "dataset"
    ) -> bytes:
        repo = self.repo(repo_id, repo_type)
        commit = repo.resolve(revision)
        if commit is None:
            raise KeyError(revision)
        return self.blobs[commit.tree[path].sha256]

    # -- internals -------------------------------------------------------------------------------

    def _sign(self, sha256: str) -> str:
        return hmac.new(self._secret, sha256.encode(), hashlib.sha256).hexdigest()

    def _store(self, content: bytes) -> str:
        sha256 = hashlib.sha256(content).hexdigest()
        with self.lock:
            self.blobs[sha256] = content
        return sha256

    def _create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private)
        content = DEFAULT_GITATTRIBUTES.encode()
        tree = {".gitattributes": Entry.of(content, self._store(content), lfs=False)}
        commit = self._new_commit(repo, None, tree, "initial commit", "")
        repo.branches["main"] = commit.id
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def _new_commit(
        self, repo: Repo, parent: str | None, tree: dict[str, Entry], title: str, message: str
    ) -> Commit:
        payload = json.dumps(
            [parent, sorted((p, e.sha256, e.lfs) for p, e in tree.items()), title, message, _now()]
        )
        commit_id = hashlib.sha1(payload.encode() + secrets.token_bytes(8)).hexdigest()
        commit = Commit(commit_id, parent, dict(tree), title, message, _now())
        repo.commits[commit_id] = commit
        return commit

    def _lfs_patterns(self, commit: Commit) -> list[str]:
        entry = commit.tree.get(".gitattributes")
        if entry is None:
            return []
        patterns = []
        for line in self.blobs[entry.sha256].decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and "filter=lfs" in parts[1:]:
                patterns.append(parts[0])
        return patterns


def _matches_lfs(path: str, patterns: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" in pattern.strip("/"):
            if fnmatch.fnmatchcase(path, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern.strip("/")):
            return True
    return False


def start_hub_server(token: str | None = None) -> HubServer:
    """Start a Hub-protocol test server on 127.0.0.1 (random ports); stop it with `.stop()`."""
    return HubServer(token=token).start()


# -- pointing the clients at a server ------------------------------------------------------------


@contextlib.contextmanager
def hub_environment(
    server: HubServer, cache_dir: str | os.PathLike | None = None
) -> Iterator[None]:
    """Point `huggingface_hub` and `datasets` (already imported or not) at `server`.

    Both libraries read their settings from the environment once, at import time, into module
    constants, so setting `HF_ENDPOINT` for a running process is not enough. This sets the
    environment (for subprocesses and late imports) and patches, restoring all on exit:

    - `huggingface_hub.constants.ENDPOINT` (default of `HfApi`, `HfFileSystem`, LFS, commits) and
      `HUGGINGFACE_CO_URL_TEMPLATE` (`hf_hub_url`, used by `hf_hub_download` and `HfFileSystem`);
    - `huggingface_hub.constants.HF_HUB_DISABLE_XET = True` (else uploads insist on Xet when
      `hf_xet` is installed) and `HF_HUB_OFFLINE = False`;
    - `datasets.config.HF_ENDPOINT` (what `push_to_hub`/`load_dataset` pass to `HfApi` and
      `HfFileSystem`) and `HUB_DATASETS_URL`, `HF_HUB_OFFLINE = False`, and
      `HF_UPDATE_DOWNLOAD_COUNTS = False` (it would HEAD an S3 bucket);
    - with `cache_dir`: `HF_HOME`, `HF_HUB_CACHE`, `HF_DATASETS_CACHE` (and the module constants
      derived from them) under that folder, so nothing is read from the user's caches.

    `fsspec` caches `HfFileSystem` instances per arguments; the endpoint differs per server, so
    instances never leak between servers.
    """
    import datasets.config
    import huggingface_hub.constants as hf_constants

    env = {"HF_ENDPOINT": server.url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}
    hf_patches: dict[str, Any] = {
        "ENDPOINT": server.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": server.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
    }
    ds_patches: dict[str, Any] = {
        "HF_ENDPOINT": server.url,
        "HUB_DATASETS_URL": server.url + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_HUB_OFFLINE": False,
        "HF_UPDATE_DOWNLOAD_COUNTS": False,
    }
    if cache_dir is not None:
        root = Path(cache_dir)
        hub_cache, ds_cache = root / "hub", root / "datasets"
        env |= {"HF_HOME": str(root), "HF_HUB_CACHE": str(hub_cache)}
        env["HF_DATASETS_CACHE"] = str(ds_cache)
        hf_patches |= {"HF_HOME": str(root), "HF_HUB_CACHE": str(hub_cache)}
        hf_patches["HUGGINGFACE_HUB_CACHE"] = str(hub_cache)
        ds_patches |= {
            "HF_CACHE_HOME": str(root),
            "HF_DATASETS_CACHE": ds_cache,
            "DOWNLOADED_DATASETS_PATH": ds_cache / datasets.config.DOWNLOADED_DATASETS_DIR,
            "EXTRACTED_DATASETS_PATH": ds_cache / datasets.config.EXTRACTED_DATASETS_DIR,
            "HF_MODULES_CACHE": root / "modules",
        }
    saved_env = {key: os.environ.get(key) for key in env}
    saved: list[tuple[Any, str, Any]] = []
    try:
        os.environ.update(env)
        for module, patches in ((hf_constants, hf_patches), (datasets.config, ds_patches)):
            for name, value in patches.items():
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, value)
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- HTTP handling -------------------------------------------------------------------------------


def _make_handler(server: HubServer, *, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        hub = server
        is_cdn = cdn

    return Handler


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    is_cdn: bool
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._body: bytes | None = None
        split = urllib.parse.urlsplit(self.path)
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        segments = [s for s in split.path.split("/") if s]
        try:
            if self.is_cdn:
                self._cdn_blob(method, segments)
            else:
                with self.hub.lock:
                    self.hub.requests.append((method, split.path))
                self._route(method, segments)
        except HubError as err:
            self._error(err.status, err.message, err.code, err.extra)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as err:  # a bug in the test server: make it visible to the client
            self._error(500, f"{type(err).__name__}: {err}")

    def body(self) -> bytes:
        if self._body is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self._body = b"".join(chunks)
            else:
                self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self._body

    def json_body(self) -> Any:
        raw = self.body()
        return json.loads(raw) if raw else {}

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        if self._body is None and self.command in ("POST", "PUT", "DELETE"):
            self.body()  # drain the request so the connection stays usable
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _error(
        self, status: int, message: str, code: str | None = None, extra: dict | None = None
    ) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(
            status,
            json.dumps({"error": message, **(extra or {})}).encode(),
            headers=headers,
            head=self.command == "HEAD",
        )

    # -- auth ------------------------------------------------------------------------------------

    def _authenticated(self) -> bool:
        """True with the valid token, False without a token; 401 with a wrong one."""
        header = self.headers.get("Authorization")
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token, self.hub.token):
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def _repo(self, repo_type: str, repo_id: str, *, write: bool = False) -> Repo:
        authed = self._authenticated()
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authed):
            status = 404 if authed else 401
            raise HubError(status, "Repository not found", "RepoNotFound")
        if write and not authed:
            raise HubError(401, "You must be authenticated to write", "RepoNotFound")
        return repo

    @staticmethod
    def _commit(repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, method: str, segs: list[str]) -> None:
        if segs[:2] == ["api", "whoami-v2"] and method == "GET":
            return self._whoami()
        if segs[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo()
        if segs[:3] == ["api", "repos", "delete"] and method in ("DELETE", "POST"):
            return self._delete_repo()
        if segs[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._validate_yaml()
        if segs[:2] == ["api", "telemetry"] or segs[:2] == ["api", "agent-harnesses"]:
            return self._json({})
        if segs[:1] == ["lfs-upload"] and method == "PUT" and len(segs) == 5:
            return self._lfs_put(segs[1], f"{segs[2]}/{segs[3]}", segs[4])
        if segs[:1] == ["api"] and len(segs) >= 4 and segs[1].endswith("s"):
            repo_type = segs[1][:-1]
            if repo_type in REPO_TYPES:
                repo_id = "/".join(urllib.parse.unquote(s) for s in segs[2:4])
                return self._api_repo(method, repo_type, repo_id, segs[4:])
        repo_type = _URL_PREFIX_TO_TYPE.get(segs[0], "model") if segs else "model"
        rest = segs[1:] if segs and segs[0] in _URL_PREFIX_TO_TYPE else segs
        if len(rest) >= 2:
            name = rest[1]
            if name.endswith(".git") and rest[2:] == ["info", "lfs", "objects", "batch"]:
                return self._lfs_batch(repo_type, f"{rest[0]}/{name[:-4]}")
            if name.endswith(".git") and rest[2:] == ["info", "lfs", "objects", "verify"]:
                return self._lfs_verify(repo_type, f"{rest[0]}/{name[:-4]}")
            if len(rest) >= 4 and rest[2] == "resolve" and method in ("GET", "HEAD"):
                return self._resolve(method, repo_type, f"{rest[0]}/{rest[1]}", rest[3:])
        with self.hub.lock:
            self.hub.unhandled.append((method, self.path))
        raise HubError(404, f"Not found: {method} {self.path}")

    def _api_repo(self, method: str, repo_type: str, repo_id: str, rest: list[str]) -> None:
        action = rest[0] if rest else ""
        if not rest and method == "GET":
            return self._info(repo_type, repo_id, "main")
        if action == "revision" and method == "GET" and len(rest) >= 2:
            revision, _ = _split_revision(rest[1:])
            return self._info(repo_type, repo_id, revision)
        if action == "settings" and method == "PUT":
            return self._settings(repo_type, repo_id)
        if action == "refs" and method == "GET":
            return self._refs(repo_type, repo_id)
        if action in ("tree", "paths-info", "preupload", "commit", "commits") and len(rest) >= 2:
            revision, path = _split_revision(rest[1:])
            if action == "tree" and method == "GET":
                return self._tree(repo_type, repo_id, revision, path)
            if action == "paths-info" and method == "POST":
                return self._paths_info(repo_type, repo_id, revision)
            if action == "preupload" and method == "POST":
                return self._preupload(repo_type, repo_id, revision)
            if action == "commit" and method == "POST":
                return self._commit_files(repo_type, repo_id, revision)
            if action == "commits" and method == "GET":
                return self._list_commits(repo_type, repo_id, revision)
        if action == "branch" and len(rest) >= 2:
            branch = urllib.parse.unquote("/".join(rest[1:]))
            if method == "POST":
                return self._create_branch(repo_type, repo_id, branch)
            if method == "DELETE":
                return self._delete_ref(repo_type, repo_id, "branch", branch)
        if action == "tag" and len(rest) >= 2:
            name = urllib.parse.unquote("/".join(rest[1:]))
            if method == "POST":
                return self._create_tag(repo_type, repo_id, name)
            if method == "DELETE":
                return self._delete_ref(repo_type, repo_id, "tag", name)
        with self.hub.lock:
            self.hub.unhandled.append((method, self.path))
        raise HubError(404, f"Not found: {method} {self.path}")

    # -- account and repos -----------------------------------------------------------------------

    def _whoami(self) -> None:
        if not self._authenticated():
            raise HubError(401, "Invalid credentials in Authorization header")
        user = self.hub.user
        self._json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": user,
                "fullname": user,
                "email": f"{user}@example.com",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"role": "write"}},
            }
        )

    def _create_repo(self) -> None:
        if not self._authenticated():
            raise HubError(401, "You must be authenticated to create a repo")
        payload = self.json_body()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type: {repo_type}")
        name = payload.get("name") or ""
        repo_id = f"{payload.get('organization') or self.hub.user}/{name}"
        url = f"{self.hub.url}/{REPO_TYPES[repo_type]}{repo_id}"
        with self.hub.lock:
            if (repo_type, repo_id) in self.hub.repos:
                # The Hub's answer carries the repo's url; create_repo(exist_ok=True) reads it.
                raise HubError(409, "You already created this repo", None, {"url": url})
            self.hub._create_repo(repo_type, repo_id, _is_private(payload, default=False))
        self._json({"url": url, "name": repo_id, "id": "0" * 24})

    def _delete_repo(self) -> None:
        if not self._authenticated():
            raise HubError(401, "You must be authenticated to delete a repo")
        payload = self.json_body()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.hub.user}/{payload.get('name')}"
        with self.hub.lock:
            if self.hub.repos.pop((repo_type, repo_id), None) is None:
                raise HubError(404, "Repository not found", "RepoNotFound")
        self._json({})

    def _validate_yaml(self) -> None:
        """Checks that the README's YAML front matter parses to a mapping (the Hub does more)."""
        content = self.json_body().get("content") or ""
        try:
            import yaml

            if content.startswith("---"):  # a whole card: check its front matter
                content = content.split("---", 2)[1]
            data = yaml.safe_load(content)
            if data is not None and not isinstance(data, dict):
                raise ValueError("the metadata is not a mapping")
        except Exception as err:
            return self._json({"errors": [{"message": str(err)}]}, status=400)
        self._json({"errors": [], "warnings": []})

    def _info(self, repo_type: str, repo_id: str, revision: str) -> None:
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
            siblings = []
            for path, entry in sorted(commit.tree.items()):
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sibling |= {"size": entry.size, "blobId": entry.oid}
                    if entry.lfs:
                        sibling["lfs"] = {
                            "size": entry.size,
                            "sha256": entry.sha256,
                            "pointerSize": len(entry.pointer),
                        }
                siblings.append(sibling)
            data: dict[str, Any] = {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.id,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "createdAt": repo.created_at,
                "lastModified": commit.date,
                "siblings": siblings,
            }
            card = self._card_data(commit)
        if card is not None:
            data["cardData"] = card
        self._json(data)

    def _card_data(self, commit: Commit) -> dict | None:
        entry = commit.tree.get("README.md")
        if entry is None:
            return None
        text = self.hub.blobs[entry.sha256].decode(errors="replace")
        if not text.startswith("---"):
            return None
        try:
            import yaml

            data = yaml.safe_load(text.split("---", 2)[1])
        except Exception:
            return None
        return data if isinstance(data, dict) else None

    def _settings(self, repo_type: str, repo_id: str) -> None:
        payload = self.json_body()
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=True)
            repo.private = _is_private(payload, default=repo.private)
        self._json({})

    # -- refs ------------------------------------------------------------------------------------

    def _refs(self, repo_type: str, repo_id: str) -> None:
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            data = {
                "branches": [
                    {"name": name, "ref": f"refs/heads/{name}", "targetCommit": target}
                    for name, target in sorted(repo.branches.items())
                ],
                "converts": [],
                "tags": [
                    {"name": name, "ref": f"refs/tags/{name}", "targetCommit": target}
                    for name, target in sorted(repo.tags.items())
                ],
                "pullRequests": [],
            }
        self._json(data)

    def _create_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        payload = self.json_body()
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=True)
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            if branch.startswith("refs/") or not branch:
                raise HubError(400, f"Invalid branch name: {branch}")
            start = payload.get("startingPoint") or "main"
            repo.branches[branch] = self._commit(repo, start).id
        self._json({})

    def _create_tag(self, repo_type: str, repo_id: str, revision: str) -> None:
        payload = self.json_body()
        tag = payload.get("tag") or ""
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=True)
            commit = self._commit(repo, revision)
            if not tag or tag.startswith("refs/"):
                raise HubError(400, f"Invalid tag name: {tag!r}")
            if tag in repo.tags:
                raise HubError(409, f"Tag {tag} already exists")
            repo.tags[tag] = commit.id
        self._json({})

    def _delete_ref(self, repo_type: str, repo_id: str, kind: str, name: str) -> None:
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=True)
            refs = repo.branches if kind == "branch" else repo.tags
            if name not in refs:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            if kind == "branch" and name == "main":
                raise HubError(403, "Cannot delete the main branch")
            del refs[name]
        self._json({})

    def _list_commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            items = [
                {
                    "id": c.id,
                    "authors": [{"user": self.hub.user}],
                    "date": c.date,
                    "title": c.title,
                    "message": c.message,
                }
                for c in repo.history(commit)
            ]
        self._json(items)

    # -- listing ---------------------------------------------------------------------------------

    def _last_commit(self, repo: Repo, commit: Commit, path: str) -> dict[str, str]:
        """The newest commit in `commit`'s history that changed `path` (a file or a folder)."""

        def snapshot(c: Commit) -> list[tuple[str, Entry]]:
            return sorted(
                (p, e) for p, e in c.tree.items() if p == path or p.startswith(path + "/")
            )

        current = snapshot(commit)
        found = commit
        for ancestor in list(repo.history(commit))[1:]:
            if snapshot(ancestor) != current:
                break
            found = ancestor
        return {"id": found.id, "title": found.title, "date": found.date}

    def _describe(
        self, repo: Repo, commit: Commit, path: str, expand: bool
    ) -> dict[str, Any] | None:
        entry = commit.tree.get(path)
        if entry is not None:
            item: dict[str, Any] = {
                "type": "file",
                "oid": entry.oid,
                "size": entry.size,
                "path": path,
            }
            if entry.lfs:
                item["lfs"] = {
                    "oid": entry.sha256,
                    "size": entry.size,
                    "pointerSize": len(entry.pointer),
                }
        elif path == "" or any(p.startswith(path + "/") for p in commit.tree):
            listing = sorted((p, e.oid) for p, e in commit.tree.items() if p.startswith(path + "/"))
            oid = hashlib.sha1(json.dumps(listing).encode()).hexdigest()
            item = {"type": "directory", "oid": oid, "size": 0, "path": path}
        else:
            return None
        if expand:
            item["lastCommit"] = self._last_commit(repo, commit, path)
        return item

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
        cursor = int(self.query.get("cursor", ["0"])[0] or 0)
        path = path.strip("/")
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            if path and (path in commit.tree or self._describe(repo, commit, path, False) is None):
                raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
            prefix = path + "/" if path else ""
            children: set[str] = set()
            for file_path in commit.tree:
                if not file_path.startswith(prefix):
                    continue
                parts = file_path[len(prefix) :].split("/")
                if recursive:
                    for depth in range(1, len(parts) + 1):
                        children.add(prefix + "/".join(parts[:depth]))
                else:
                    children.add(prefix + parts[0])
            ordered = sorted(children)
            page_size = max(1, min(self.hub.page_size, 50) if expand else self.hub.page_size)
            page = ordered[cursor : cursor + page_size]
            items = [self._describe(repo, commit, child, expand) for child in page]
        headers = {}
        if cursor + page_size < len(ordered):
            query = {k: v[0] for k, v in self.query.items()} | {"cursor": str(cursor + page_size)}
            next_url = f"{self.hub.url}{urllib.parse.urlsplit(self.path).path}?"
            headers["Link"] = f'<{next_url}{urllib.parse.urlencode(query)}>; rel="next"'
        self._json(items, headers=headers)

    def _paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        raw = self.body().decode()
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            payload = json.loads(raw or "{}")
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = urllib.parse.parse_qs(raw, keep_blank_values=True)
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            items = [self._describe(repo, commit, p.strip("/"), expand) for p in paths]
        self._json([item for item in items if item is not None])

    # -- uploads ---------------------------------------------------------------------------------

    def _branch_head(self, repo: Repo, revision: str) -> Commit:
        if "create_pr" in self.query and self.query["create_pr"][0] not in ("", "0"):
            raise HubError(400, "Pull requests are not supported by the test server")
        if revision not in repo.branches:
            self._commit(repo, revision)  # 404 RevisionNotFound if it does not exist at all
            raise HubError(400, f"Can only commit to a branch, not to {revision}")
        return repo.commits[repo.branches[revision]]

    def _preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        payload = self.json_body()
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=True)
            head = self._branch_head(repo, revision)
            patterns = self._lfs_patterns(head, payload.get("gitIgnore"))
            files = []
            for item in payload.get("files", []):
                path, size = item["path"], int(item.get("size") or 0)
                lfs = size > LFS_SIZE_THRESHOLD or _matches_lfs(path, patterns)
                existing = head.tree.get(path)
                files.append(
                    {
                        "path": path,
                        "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False,
                        "oid": existing.oid if existing else None,
                    }
                )
        self._json({"files": files, "commitOid": head.id})

    def _lfs_patterns(self, head: Commit, _gitignore: str | None) -> list[str]:
        return self.hub._lfs_patterns(head)

    def _lfs_batch(self, repo_type: str, repo_id: str) -> None:
        payload = self.json_body()
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=payload.get("operation") == "upload")
            if payload.get("operation") != "upload":
                raise HubError(400, "Only the upload operation is supported")
            objects = []
            prefix = REPO_TYPES[repo.repo_type]
            for obj in payload.get("objects", []):
                oid, size = obj["oid"], int(obj["size"])
                item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
                if oid not in repo.lfs_objects:
                    sig = self.hub._sign(f"{repo.repo_type}/{repo_id}/{oid}")
                    upload = f"{self.hub.url}/lfs-upload/{repo.repo_type}/{repo_id}/{oid}?sig={sig}"
                    item["actions"] = {
                        "upload": {"href": upload},
                        "verify": {
                            "href": f"{self.hub.url}/{prefix}{repo_id}.git/info/lfs/objects/verify"
                        },
                    }
                objects.append(item)
        self._json(
            {"transfer": "basic", "objects": objects},
            headers={"Content-Type": "application/vnd.git-lfs+json"},
        )

    def _lfs_put(self, repo_type: str, repo_id: str, oid: str) -> None:
        """The signed upload URL handed out by the LFS batch endpoint (no Hub credentials)."""
        sig = self.query.get("sig", [""])[0]
        if not hmac.compare_digest(sig, self.hub._sign(f"{repo_type}/{repo_id}/{oid}")):
            raise HubError(403, "Bad signature")
        content = self.body()
        if hashlib.sha256(content).hexdigest() != oid:
            raise HubError(400, "Content does not match its oid")
        with self.hub.lock:
            self.hub._store(content)
            repo = self.hub.repos.get((repo_type, repo_id))
            if repo is None:
                raise HubError(404, "Repository not found", "RepoNotFound")
            repo.lfs_objects.add(oid)
        self._send(200, b"", headers={"ETag": f'"{oid}"'})

    def _lfs_verify(self, repo_type: str, repo_id: str) -> None:
        payload = self.json_body()
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=True)
            oid = payload.get("oid", "")
            blob = self.hub.blobs.get(oid) if oid in repo.lfs_objects else None
        if blob is None or len(blob) != int(payload.get("size", -1)):
            raise HubError(404, "Object not found")
        self._json({})

    def _commit_files(self, repo_type: str, repo_id: str, revision: str) -> None:
        lines = [json.loads(line) for line in self.body().splitlines() if line.strip()]
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id, write=True)
            head = self._branch_head(repo, revision)
            header = next((x["value"] for x in lines if x.get("key") == "header"), {})
            parent = header.get("parentCommit")
            if parent and parent != head.id:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(head.tree)
            for line in lines:
                key, value = line.get("key"), line.get("value", {})
                if key == "file":
                    content = value["content"]
                    data = base64.b64decode(content) if value.get("encoding") == "base64" else None
                    if data is None:
                        data = content.encode()
                    sha = self.hub._store(data)
                    tree[value["path"]] = Entry.of(data, sha, lfs=False)
                elif key == "lfsFile":
                    oid = value["oid"]
                    blob = self.hub.blobs.get(oid) if oid in repo.lfs_objects else None
                    if blob is None:
                        raise HubError(422, f"LFS object {oid} was not uploaded ({value['path']})")
                    tree[value["path"]] = Entry.of(blob, oid, lfs=True)
                elif key == "deletedFile":
                    if tree.pop(value["path"], None) is None:
                        raise HubError(404, f"{value['path']} does not exist", "EntryNotFound")
                elif key == "deletedFolder":
                    folder = value["path"].strip("/") + "/"
                    for path in [p for p in tree if p.startswith(folder)]:
                        del tree[path]
                elif key != "header":
                    raise HubError(400, f"Unsupported commit operation: {key}")
            commit = self.hub._new_commit(
                repo, head.id, tree, header.get("summary") or "", header.get("description") or ""
            )
            repo.branches[revision] = commit.id
        prefix = REPO_TYPES[repo_type]
        self._json(
            {
                "success": True,
                "commitOid": commit.id,
                "commitUrl": f"{self.hub.url}/{prefix}{repo_id}/commit/{commit.id}",
                "pullRequestUrl": None,
            }
        )

    # -- downloads -------------------------------------------------------------------------------

    def _resolve(self, method: str, repo_type: str, repo_id: str, rest: list[str]) -> None:
        revision, path = _split_revision(rest)
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            entry = commit.tree.get(path)
            content = self.hub.blobs[entry.sha256] if entry else b""
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        headers = {"X-Repo-Commit": commit.id, "Accept-Ranges": "bytes"}
        if entry.lfs:
            sig = self.hub._sign(entry.sha256)
            name = urllib.parse.quote(path.rsplit("/", 1)[-1])
            location = f"{self.hub.cdn_url}/blobs/{entry.sha256}?sig={sig}&name={name}"
            headers |= {
                "ETag": f'"{entry.oid}"',
                "X-Linked-Etag": f'"{entry.sha256}"',
                "X-Linked-Size": str(entry.size),
                "Location": location,
            }
            return self._send(302, b"", content_type="text/plain", headers=headers, head=True)
        headers["ETag"] = f'"{entry.oid}"'
        self._serve_bytes(method, content, headers)

    def _serve_bytes(self, method: str, content: bytes, headers: dict[str, str]) -> None:
        head = method == "HEAD"
        range_header = self.headers.get("Range")
        if not range_header or not range_header.startswith("bytes="):
            return self._send(200, content, "application/octet-stream", headers, head=head)
        spec = range_header[len("bytes=") :].split(",")[0].strip()
        start_s, _, end_s = spec.partition("-")
        size = len(content)
        if start_s:
            start, end = int(start_s), int(end_s) if end_s else size - 1
        else:
            start, end = max(0, size - int(end_s)), size - 1
        if start >= size or start > end:
            headers["Content-Range"] = f"bytes */{size}"
            return self._send(416, b"", "text/plain", headers, head=head)
        end = min(end, size - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(206, content[start : end + 1], "application/octet-stream", headers, head=head)

    def _cdn_blob(self, method: str, segs: list[str]) -> None:
        if method not in ("GET", "HEAD") or len(segs) != 2 or segs[0] != "blobs":
            raise HubError(404, "Not found")
        sha = segs[1]
        if not hmac.compare_digest(self.query.get("sig", [""])[0], self.hub._sign(sha)):
            raise HubError(403, "Bad signature")
        if self.headers.get("Authorization"):
            raise HubError(400, "The CDN must not receive Hub credentials")
        content = self.hub.blobs.get(sha)
        if content is None:
            raise HubError(404, "Not found")
        self._serve_bytes(method, content, {"ETag": f'"{sha}"'})


def _is_private(payload: dict[str, Any], default: bool) -> bool:
    """Clients send `visibility` ("private", "public", "protected") or, before 2.x, `private`."""
    if payload.get("visibility") is not None:
        return payload["visibility"] != "public"
    if payload.get("private") is not None:
        return bool(payload["private"])
    return default


def _split_revision(segments: list[str]) -> tuple[str, str]:
    """Split `[rev, *path]` URL segments: the revision is URL-quoted (`refs%2Fpr%2F1`), except
    `refs/pr/N` and `refs/convert/x`, which the clients send unquoted."""
    if len(segments) >= 3 and segments[0] == "refs" and segments[1] in ("pr", "convert"):
        revision = "/".join(segments[:3])
        path_segments = segments[3:]
    else:
        revision = urllib.parse.unquote(segments[0]) if segments else "main"
        path_segments = segments[1:]
    return revision, urllib.parse.unquote("/".join(path_segments))
