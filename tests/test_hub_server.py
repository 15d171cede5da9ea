"""The Hub-protocol test server, used through the real `huggingface_hub` and `datasets` clients.

Publishing a dataset version is `DatasetDict.push_to_hub` then `HfApi.create_tag`; pulling one is
`load_dataset(repo, revision=tag)`. These tests make sure the test server speaks enough of the Hub
protocol for both, so that publishing code can be tested without any network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from huggingface_hub import CommitOperationAdd, HfApi, HfFileSystem, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.hub_server import HubServer, hub_environment, start_hub_server

REPO = "test-user/claims"
FEATURES = Features(
    {
        "text": Value("string"),
        "label": ClassLabel(names=["accurate", "misleading", "false"]),
        "annotators": Value("int32"),
    }
)
V1 = {
    "train": {"text": ["rates up", "stocks double"], "label": [0, 2], "annotators": [3, 3]},
    "test": {"text": ["gold soars"], "label": [1], "annotators": [2]},
}
V2 = {
    "train": {
        "text": ["rates up", "stocks double", "bank fails"],
        "label": [0, 1, 2],
        "annotators": [3, 4, 3],
    },
    "test": {"text": ["gold soars", "oil drops"], "label": [1, 0], "annotators": [2, 2]},
}


@dataclass(frozen=True)
class Published:
    hub: HubServer
    api: HfApi
    cache: Path
    commits: dict[str, str]  # tag -> commit id


def _dataset_dict(rows: dict[str, dict[str, list]]) -> DatasetDict:
    return DatasetDict(
        {split: Dataset.from_dict(data, features=FEATURES) for split, data in rows.items()}
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A Hub test server, with both clients pointed at it and caches in a temporary folder."""
    cache = tmp_path_factory.mktemp("hf-cache")
    with start_hub_server() as server, hub_environment(server, cache_dir=cache):
        yield server
    assert not server.unhandled, f"requests the test server did not handle: {server.unhandled}"


@pytest.fixture(scope="module")
def published(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """Two versions of a private dataset, pushed with `push_to_hub` and tagged v1.0.0, v1.1.0."""
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo(REPO, repo_type="dataset", private=True)
    commits = {}
    for tag, rows in (("v1.0.0", V1), ("v1.1.0", V2)):
        info = _dataset_dict(rows).push_to_hub(REPO, private=True, token=hub.token)
        api.create_tag(REPO, tag=tag, repo_type="dataset", token=hub.token)
        commits[tag] = info.oid
    return Published(hub, api, tmp_path_factory.mktemp("downloads"), commits)


# -- publishing and pulling versions -------------------------------------------------------------


@pytest.mark.parametrize(("tag", "rows"), [("v1.0.0", V1), ("v1.1.0", V2)])
def test_load_dataset_at_a_tag_returns_that_version(
    published: Published, tag: str, rows: dict
) -> None:
    loaded = datasets.load_dataset(REPO, revision=tag, token=published.hub.token)
    assert set(loaded) == {"train", "test"}
    for split, data in rows.items():
        assert loaded[split].features == FEATURES
        assert loaded[split].to_dict() == data


def test_refs_list_main_and_both_tags(published: Published) -> None:
    refs = published.api.list_repo_refs(REPO, repo_type="dataset")
    assert [b.name for b in refs.branches] == ["main"]
    tags = {t.name: t.target_commit for t in refs.tags}
    assert tags == published.commits
    assert refs.branches[0].target_commit == published.commits["v1.1.0"]
    assert published.commits["v1.0.0"] != published.commits["v1.1.0"]


def test_tree_lists_parquet_shards_as_lfs_and_the_card(published: Published) -> None:
    files = {
        f.path: f
        for f in published.api.list_repo_tree(
            REPO, repo_type="dataset", revision="v1.0.0", recursive=True
        )
    }
    assert {"README.md", "data/train-00000-of-00001.parquet"} <= set(files)
    assert "data/test-00000-of-00001.parquet" in files
    assert files["data"].__class__.__name__ == "RepoFolder"
    assert files["README.md"].lfs is None
    shard = files["data/train-00000-of-00001.parquet"]
    assert shard.lfs is not None
    assert shard.lfs.size == shard.size > 0
    top = [f.path for f in published.api.list_repo_tree(REPO, repo_type="dataset")]
    assert top == [".gitattributes", "README.md", "data"]


def test_hf_hub_download_of_the_card_at_a_tag(published: Published) -> None:
    cards = {
        tag: Path(
            hf_hub_download(
                REPO,
                "README.md",
                repo_type="dataset",
                revision=tag,
                token=published.hub.token,
                cache_dir=published.cache,
            )
        ).read_text()
        for tag in published.commits
    }
    assert "ClassLabel" not in cards["v1.0.0"]  # the card holds class names, not Python types
    assert "misleading" in cards["v1.0.0"]
    assert "num_examples: 3" not in cards["v1.0.0"]  # v1: 2 train rows, 1 test row
    assert "num_examples: 1" in cards["v1.0.0"]
    assert "num_examples: 3" in cards["v1.1.0"]  # v2: 3 train rows, 2 test rows
    assert "num_examples: 1" not in cards["v1.1.0"]


def test_lfs_file_downloads_through_the_cdn_redirect(published: Published) -> None:
    path = "data/train-00000-of-00001.parquet"
    local = hf_hub_download(
        REPO,
        path,
        repo_type="dataset",
        revision="v1.0.0",
        token=published.hub.token,
        cache_dir=published.cache,
    )
    expected = published.hub.file_content(REPO, path, revision="v1.0.0")
    assert Path(local).read_bytes() == expected
    [info] = published.api.get_paths_info(REPO, [path], repo_type="dataset", revision="v1.0.0")
    assert info.lfs is not None
    assert info.lfs.sha256 == hashlib.sha256(expected).hexdigest()


def test_hf_file_system_reads_ranges_of_an_lfs_file(published: Published) -> None:
    fs = HfFileSystem(endpoint=published.hub.url, token=published.hub.token)
    path = f"datasets/{REPO}@v1.1.0/data/train-00000-of-00001.parquet"
    expected = published.hub.file_content(REPO, "data/train-00000-of-00001.parquet", "v1.1.0")
    with fs.open(path, "rb") as f:
        assert f.read(4) == b"PAR1"
        f.seek(len(expected) - 4)
        assert f.read() == b"PAR1"
    assert fs.cat_file(path) == expected
    assert sorted(fs.ls(f"datasets/{REPO}@v1.0.0/data", detail=False)) == [
        f"datasets/{REPO}@v1.0.0/data/test-00000-of-00001.parquet",
        f"datasets/{REPO}@v1.0.0/data/train-00000-of-00001.parquet",
    ]


# -- access control and errors -------------------------------------------------------------------


def test_anonymous_access_to_the_private_repo_is_refused(
    published: Published, tmp_path: Path
) -> None:
    anonymous = HfApi(endpoint=published.hub.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.dataset_info(REPO)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.list_repo_refs(REPO, repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(
            REPO, "README.md", repo_type="dataset", token=False, cache_dir=tmp_path / "c"
        )
    with pytest.raises(HfHubHTTPError):  # nor may anyone anonymous write
        anonymous.create_tag(REPO, tag="anonymous", repo_type="dataset")
    assert "anonymous" not in {
        t.name for t in published.api.list_repo_refs(REPO, repo_type="dataset").tags
    }


def test_a_wrong_token_is_refused(published: Published, tmp_path: Path) -> None:
    wrong = HfApi(endpoint=published.hub.url, token="hf_wrong")
    with pytest.raises(HfHubHTTPError) as err:
        wrong.dataset_info(REPO)
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError):
        wrong.create_tag(REPO, tag="v9.9.9", repo_type="dataset")
    with pytest.raises(HfHubHTTPError):
        hf_hub_download(
            REPO, "README.md", repo_type="dataset", token="hf_wrong", cache_dir=tmp_path / "c"
        )


def test_missing_revisions_and_entries(published: Published) -> None:
    api = published.api
    for revision in ("v9.9.9", "refs/convert/parquet", "refs/pr/1", "0" * 40):
        with pytest.raises(RevisionNotFoundError):
            api.dataset_info(REPO, revision=revision)
        with pytest.raises(RevisionNotFoundError):
            api.list_repo_tree(REPO, repo_type="dataset", revision=revision).__next__()
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            REPO, "README.md", repo_type="dataset", revision="v9.9.9", token=published.hub.token
        )
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(
            REPO, "nope.txt", repo_type="dataset", revision="v1.0.0", token=published.hub.token
        )
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("test-user/does-not-exist")


def test_tags_and_commits_resolve_as_revisions(published: Published) -> None:
    api = published.api
    v1 = published.commits["v1.0.0"]
    assert api.dataset_info(REPO, revision="v1.0.0").sha == v1
    assert api.dataset_info(REPO, revision=v1).sha == v1
    assert api.dataset_info(REPO).sha == published.commits["v1.1.0"]
    info = api.dataset_info(REPO, revision="v1.0.0")
    assert info.private is True
    assert info.card_data is not None
    assert {s.rfilename for s in info.siblings} >= {"README.md", ".gitattributes"}
    history = [c.commit_id for c in api.list_repo_commits(REPO, repo_type="dataset")]
    assert history[0] == published.commits["v1.1.0"]
    assert v1 in history
    with pytest.raises(HfHubHTTPError) as err:  # tags are immutable
        api.create_tag(REPO, tag="v1.0.0", repo_type="dataset", revision="main")
    assert err.value.response.status_code == 409
    assert api.dataset_info(REPO, revision="v1.0.0").sha == v1


# -- lower-level upload paths --------------------------------------------------------------------


def test_upload_folder_with_lfs_and_regular_files(hub: HubServer, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    repo = "test-user/folder-upload"
    api.create_repo(repo, repo_type="dataset", private=True)
    folder = tmp_path / "version"
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict(V1["train"], features=FEATURES).to_parquet(
        folder / "data" / "train-00000-of-00001.parquet"
    )
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# Claims\n")
    big = b"0123456789abcdef" * (10 * 1024 * 1024 // 16 + 1)  # just over the 10 MB threshold
    (folder / "big.txt").write_bytes(big)
    before = len([r for r in hub.requests if r[1].startswith("/lfs-upload/")])

    api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder)

    uploads = [r for r in hub.requests if r[1].startswith("/lfs-upload/")][before:]
    assert len(uploads) == 2  # the parquet shard (by .gitattributes) and the big file
    files = {f.path: f for f in api.list_repo_tree(repo, repo_type="dataset", recursive=True)}
    assert files["data/train-00000-of-00001.parquet"].lfs is not None
    assert files["big.txt"].lfs is not None
    assert files["README.md"].lfs is None
    assert hub.file_content(repo, "big.txt") == big
    loaded = datasets.load_dataset(repo, token=hub.token, split="train")
    assert loaded.to_dict() == V1["train"]
    assert loaded.features == FEATURES


def test_commit_with_a_stale_parent_is_refused(hub: HubServer) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    repo = "test-user/parent-check"
    api.create_repo(repo, repo_type="dataset")
    first = api.dataset_info(repo).sha
    api.upload_file(path_or_fileobj=b"one", path_in_repo="a.txt", repo_id=repo, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(
            repo,
            operations=[CommitOperationAdd(path_in_repo="b.txt", path_or_fileobj=b"two")],
            commit_message="stale",
            repo_type="dataset",
            parent_commit=first,
        )
    assert err.value.response.status_code == 412
    assert hub.file_content(repo, "a.txt") == b"one"
    # a public repo can be read anonymously
    anonymous = HfApi(endpoint=hub.url, token=False)
    assert [f.path for f in anonymous.list_repo_tree(repo, repo_type="dataset")] == [
        ".gitattributes",
        "a.txt",
    ]


def test_branches_and_paginated_tree(hub: HubServer) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    repo = "test-user/branches"
    api.create_repo(repo, repo_type="dataset", private=True)
    api.create_branch(repo, branch="draft", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as err:
        api.create_branch(repo, branch="draft", repo_type="dataset")
    assert err.value.response.status_code == 409
    api.create_branch(repo, branch="draft", repo_type="dataset", exist_ok=True)
    api.create_commit(
        repo,
        operations=[
            CommitOperationAdd(path_in_repo=f"files/{i:02d}.txt", path_or_fileobj=str(i).encode())
            for i in range(7)
        ],
        commit_message="seven files",
        repo_type="dataset",
        revision="draft",
    )
    assert [f.path for f in api.list_repo_tree(repo, repo_type="dataset")] == [".gitattributes"]
    hub.page_size = 3
    try:
        listed = [
            f.path
            for f in api.list_repo_tree(
                repo, "files", repo_type="dataset", revision="draft", expand=True
            )
        ]
    finally:
        hub.page_size = 1000
    assert listed == [f"files/{i:02d}.txt" for i in range(7)]
    assert hub.file_content(repo, "files/03.txt", revision="draft") == b"3"
    refs = api.list_repo_refs(repo, repo_type="dataset")
    assert {b.name for b in refs.branches} == {"main", "draft"}
    api.delete_branch(repo, branch="draft", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(repo, revision="draft")


def test_hub_environment_patches_and_restores_the_clients(hub: HubServer) -> None:
    import huggingface_hub.constants as hf_constants

    assert hf_constants.ENDPOINT == hub.url == datasets.config.HF_ENDPOINT
    assert hf_constants.HF_HUB_DISABLE_XET is True
    with start_hub_server() as other:
        with hub_environment(other):
            assert hf_constants.ENDPOINT == other.url == datasets.config.HF_ENDPOINT
            assert hf_constants.HUGGINGFACE_CO_URL_TEMPLATE.startswith(other.url + "/")
        assert hf_constants.ENDPOINT == hub.url == datasets.config.HF_ENDPOINT
        assert hf_constants.HUGGINGFACE_CO_URL_TEMPLATE.startswith(hub.url + "/")
