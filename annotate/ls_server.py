"""Start and stop a local Label Studio server (the `server` extra) for development and tests.

Used by `annotate ls serve` and by the test suite. The server is a real `label-studio start`
process bound to 127.0.0.1, with its database, media and log file in one data folder:

    data_dir/
      label_studio.sqlite3   Label Studio's own database (created by migrations on first start)
      label-studio.log       stdout and stderr of the server
      token                  the admin user's legacy API token (mode 0600)
      password               the admin user's password for the web UI (mode 0600)

Label Studio creates the admin user, its token and the organisation only on the first start of a
data folder, so the token and password are kept in the folder and reused on later starts.

The token is a secret: it is never printed or logged, and it is left out of `repr()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from annotate.errors import AnnotateError

__all__ = [
    "LabelStudioNotInstalledError",
    "LabelStudioStartError",
    "LocalLabelStudio",
    "find_label_studio_executable",
    "start_label_studio",
]

LOG_FILE_NAME = "label-studio.log"
TOKEN_FILE_NAME = "token"
PASSWORD_FILE_NAME = "password"
DATABASE_FILE_NAME = "label_studio.sqlite3"

# Environment for the server. Label Studio reads every setting NAME from LABEL_STUDIO_NAME first,
# then HEARTEX_NAME, then NAME, so the prefixed names below win over anything inherited.
_QUIET_ENV = {
    # Legacy tokens ("Authorization: Token <key>") are disabled in new organisations unless this
    # is set when the organisation is created, i.e. on the first start of a data folder.
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    # No network: no PyPI "latest version" check at import time (requests.get, 10 s timeout) ...
    "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
    # ... no usage telemetry (POSTs to tele.labelstud.io from a thread per request) ...
    "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    # ... and no Sentry: the open-source settings default to Label Studio's own DSNs.
    "LABEL_STUDIO_SENTRY_DSN": "",
    "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
    # Feature flags from the bundled file, never from LaunchDarkly (already the default).
    "LABEL_STUDIO_FEATURE_FLAGS_OFFLINE": "true",
    # Relative URLs everywhere (the default); an inherited HOST must not change them.
    "LABEL_STUDIO_HOST": "",
    # The bundled SQLite database in the data folder, whatever DJANGO_DB/DATABASE_NAME say.
    "LABEL_STUDIO_DJANGO_DB": "sqlite",
    # Logs reach the log file as they happen (useful when start-up fails).
    "PYTHONUNBUFFERED": "1",
}


class LabelStudioNotInstalledError(AnnotateError):
    """The `label-studio` server package is not installed."""


class LabelStudioStartError(AnnotateError):
    """The Label Studio server did not come up (the message ends with the tail of its log)."""


class _PortTakenError(LabelStudioStartError):
    """Another process listens on the port the server was told to use."""


def find_label_studio_executable() -> Path:
    """Return the `label-studio` script of this Python environment (or the first one on PATH)."""
    # Not resolved: in a virtualenv sys.executable is a symlink and its folder is the venv's bin.
    bin_dir = Path(sys.executable).parent
    for name in ("label-studio", "label-studio.exe"):
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("label-studio")
    if found:
        return Path(found)
    raise LabelStudioNotInstalledError(
        "The Label Studio server is not installed (no `label-studio` executable next to "
        f"{sys.executable} or on PATH). Install the `server` extra: pip install 'annotate[server]'"
    )


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _read_secret(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def _write_secret(path: Path, value: str) -> None:
    """Write a secret readable by the owner only (created with 0600, never world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(value + "\n")


def _resolve_secret(
    data_dir: Path,
    file_name: str,
    given: str | None,
    initialised: bool,
    make: Callable[[], str],
    required: bool = True,
) -> str | None:
    """Reuse, adopt or generate the secret stored in ``data_dir/file_name``.

    None when the folder was initialised without this file and ``required`` is false.
    """
    path = data_dir / file_name
    stored = _read_secret(path)
    if given is None:
        if stored is not None:
            return stored
        if initialised and not required:
            return None
        if initialised:
            raise LabelStudioStartError(
                f"{data_dir} already holds a Label Studio database but no {file_name} file, and "
                f"no {file_name} was given. Label Studio sets the admin {file_name} only on the "
                "first start of a data folder: pass the one it was created with, or use a new "
                "data folder."
            )
        value = make()
    else:
        if initialised and stored is not None and stored != given:
            raise LabelStudioStartError(
                f"{data_dir} was initialised with a different {file_name}; Label Studio would "
                f"ignore the new one. Omit it to reuse the stored one, or use a new data folder."
            )
        value = given
    if value != stored:
        _write_secret(path, value)
    return value


def _http_get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET without proxies (the server is local); return (status, body), never raise on 4xx/5xx."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _has_exited(pid: int) -> bool:
    """Whether a child has exited, without reaping it (so its pid stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


@dataclass
class LocalLabelStudio:
    """A Label Studio server process started by :func:`start_label_studio`."""

    url: str
    port: int
    data_dir: Path
    username: str
    token: str = field(repr=False)
    process: subprocess.Popen = field(repr=False)
    log_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    _log_offset: int = field(default=0, repr=False)

    # -- status -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.process.poll() is None

    def _log_text(self) -> str:
        """What this process wrote to its log file so far, secrets masked."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        with self.log_file.open("rb") as handle:
            handle.seek(self._log_offset)
            text = handle.read().decode("utf-8", errors="replace")
        text = text.replace(self.token, "<token>")
        if self.password:
            text = text.replace(self.password, "<password>")
        return text

    def log_tail(self, lines: int = 40) -> str:
        """The last lines this process wrote to its log file (token and password masked)."""
        return "\n".join(self._log_text().splitlines()[-lines:]) or "(log is empty)"

    def _check_port(self) -> None:
        # `label-studio start` silently moves on to the next port when its port is taken: then
        # this server is not at self.url, and whatever answers there is not ours.
        if f"Port {self.port} is in use" in self._log_text():
            raise self._fail(
                f"Port {self.port} is taken by another process; start again.", _PortTakenError
            )

    def _fail(
        self, message: str, error: type[LabelStudioStartError] = LabelStudioStartError
    ) -> LabelStudioStartError:
        return error(f"{message}\n--- last lines of {self.log_file} ---\n{self.log_tail()}")

    def wait_healthy(self, timeout: float = 180) -> LocalLabelStudio:
        """Poll ``GET /health`` until the server answers, then check the admin token works.

        Raises :class:`LabelStudioStartError` (with the tail of the log) when the process exits,
        when it does not answer within ``timeout`` seconds, or when the token is refused.
        """
        deadline = time.monotonic() + timeout
        while True:
            returncode = self.process.poll()
            if returncode is not None:
                raise self._fail(f"Label Studio exited with code {returncode} while starting.")
            try:
                status, body = _http_get(f"{self.url}/health", timeout=2.0)
            except (OSError, urllib.error.URLError):
                status, body = 0, b""
            if status == 200 and b'"UP"' in body:
                break
            self._check_port()
            if time.monotonic() > deadline:
                raise self._fail(
                    f"Label Studio did not answer {self.url}/health in {timeout:.0f} s."
                )
            time.sleep(0.5)

        self._check_port()
        status, body = _http_get(f"{self.url}/api/current-user/whoami", token=self.token)
        if status != 200:
            raise self._fail(
                f"Label Studio refused the admin token (HTTP {status} from "
                "/api/current-user/whoami). The token is only set when the data folder is first "
                "initialised, with LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true; use a new data "
                "folder."
            )
        email = str(json.loads(body).get("email", ""))
        if email.lower() != self.username.lower():
            raise self._fail(
                f"The stored token belongs to {email!r}, not {self.username!r}: the data folder "
                "was initialised for another user."
            )
        return self

    # -- shutdown ---------------------------------------------------------------------------

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the server's whole process group; kill it if it is still up after ``grace``.

        Safe to call more than once.
        """
        pid = self.process.pid  # start_new_session=True: the server leads its own process group
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while not _has_exited(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        # SIGKILL what is left of the group: the server if it ignored SIGTERM, and any child.
        # The group id cannot have been reused: an exited leader stays an unreaped zombie until
        # wait() below, and a reaped one's id stays reserved while any group member lives.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> LocalLabelStudio:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_label_studio(
    port: int | None = None,
    data_dir: Path | None = None,
    username: str = "admin@example.com",
    password: str | None = None,
    token: str | None = None,
    log_file: Path | None = None,
    *,
    wait: bool = True,
    timeout: float = 180,
    extra_env: Mapping[str, str] | None = None,
) -> LocalLabelStudio:
    """Start `label-studio start` on 127.0.0.1 and return the running server.

    - ``port``: a free port is picked when None (another one if that is taken before use).
    - ``data_dir``: created if missing (a new temporary folder when None). A folder used before
      keeps its user: its stored token and password are reused when none are given.
    - ``password``/``token``: generated when None and stored in ``data_dir`` (mode 0600).
    - ``log_file``: server output, default ``data_dir/label-studio.log`` (appended to).
    - ``wait``: wait for :meth:`LocalLabelStudio.wait_healthy` (stopping the server if it fails);
      with ``wait=False`` the caller calls it.
    - ``extra_env``: more environment for the server, e.g.
      ``{"LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}``.
    """
    executable = find_label_studio_executable()
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="annotate-label-studio-"))
    data_dir = Path(data_dir).absolute()
    # Private: the SQLite database holds the token in clear (as Label Studio's own folder does).
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    initialised = (data_dir / DATABASE_FILE_NAME).exists()

    token = _resolve_secret(
        data_dir, TOKEN_FILE_NAME, token, initialised, lambda: secrets.token_hex(20)
    )
    assert token is not None
    # The password is not checked (only the web UI needs it): a folder initialised elsewhere
    # without a password file still starts, with `password=None` (unknown).
    password = _resolve_secret(
        data_dir,
        PASSWORD_FILE_NAME,
        password,
        initialised,
        lambda: secrets.token_urlsafe(16),
        required=False,
    )
    log_file = Path(log_file).absolute() if log_file else data_dir / LOG_FILE_NAME
    log_file.parent.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env.update(_QUIET_ENV)
    env["LABEL_STUDIO_BASE_DATA_DIR"] = str(data_dir)
    env["LABEL_STUDIO_DATABASE_NAME"] = str(data_dir / DATABASE_FILE_NAME)
    if extra_env:
        env.update(extra_env)
    # The password and token go through the environment, not argv, so that `ps` never shows
    # them (`label-studio start` reads LABEL_STUDIO_PASSWORD / LABEL_STUDIO_USER_TOKEN when the
    # --password / --user-token options are not given).
    env["LABEL_STUDIO_PASSWORD"] = password or secrets.token_urlsafe(16)
    env["LABEL_STUDIO_USER_TOKEN"] = token

    attempts = 3 if port is None and wait else 1
    for attempt in range(1, attempts + 1):
        server = _spawn(
            executable, port or _free_port(), data_dir, username, token, password, log_file, env
        )
        if not wait:
            return server
        try:
            return server.wait_healthy(timeout=timeout)
        except _PortTakenError:
            # Another process took the free port we picked before the server bound it.
            server.stop()
            if attempt == attempts:
                raise
        except BaseException:
            server.stop()
            raise
    raise AssertionError("unreachable")


def _spawn(
    executable: Path,
    port: int,
    data_dir: Path,
    username: str,
    token: str,
    password: str | None,
    log_file: Path,
    env: dict[str, str],
) -> LocalLabelStudio:
    command = [
        str(executable),
        "start",
        "--no-browser",
        # --internal-host is the bind address (default 0.0.0.0); --host is only the public URL
        # prefix and is ignored unless it starts with http(s)://, so it is left at "" (relative).
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--username",
        username,
        "--enable-legacy-api-token",
    ]
    with log_file.open("ab") as log:
        log_offset = log.tell()
        process = subprocess.Popen(
            command,
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills the server and children
        )
    return LocalLabelStudio(
        url=f"http://127.0.0.1:{port}",
        port=port,
        data_dir=data_dir,
        username=username,
        token=token,
        process=process,
        log_file=log_file,
        password=password,
        _log_offset=log_offset,
    )
