"""The Registry a notebook uses: list, show, diff and pull as typed results, on version folders
made by hand (no store, no publish), and the datasets commands that render them."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotate.config import load_settings
from annotate.errors import AnnotateError, InputError
from annotate.registry import (
    LabelChanges,
    Registry,
    VersionRef,
    VersionStatus,
    changelog,
    diff_labels,
    version_folder,
)
from annotate.registry.manifest import write_manifest
from tests.cli import invoke

V1 = {
    "demo:1": [["fabricated_rumour"], "high"],
    "demo:2": [["legitimate"], None],
    "demo:3": [["extortion"], "medium"],
}
V2 = {
    "demo:1": [["legitimate"], None],  # relabelled
    "demo:3": [["extortion"], "medium"],
    "demo:4": [["extortion", "impersonation"], "low"],  # added; demo:2 removed
}


def make_version(settings, name, version, labels_by_post):
    """A version folder as publish leaves it: one Parquet file, a card and the manifest."""
    folder = version_folder(settings, name, version)
    (folder / "data").mkdir(parents=True)
    ids = sorted(labels_by_post)
    pq.write_table(pa.table({"post_id": ids}), folder / "data" / "train-00000-of-00001.parquet")
    (folder / "README.md").write_text(f"# {name} {version}\n")
    write_manifest(
        folder,
        name=name,
        version=version,
        counts={"train": len(ids), "validation": 0, "test": 0},
        provenance={"taxonomy": {"name": "t", "version": "1.0.0", "sha256": "00"}},
        changelog={"previous": None},
        split=(1.0, 0.0, 0.0),
        seed=0,
        splits_by_post=dict.fromkeys(ids, "train"),
        labels_by_post=labels_by_post,
        withheld=[],
    )
    return folder


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANNOTATE_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.delenv("ANNOTATE_WORKSPACE", raising=False)
    settings = load_settings()
    make_version(settings, "finmis", "1.0.0", V1)
    make_version(settings, "finmis", "1.10.0", V2)
    make_version(settings, "finmis", "1.2.0", V1)
    return Registry(settings)


def test_list_gives_every_version_in_version_order(registry):
    listing = registry.list()
    assert [row.version for row in listing.versions] == ["1.0.0", "1.2.0", "1.10.0"]
    assert all(row.status is VersionStatus.OK for row in listing.versions)
    assert listing.versions[2].rows == {"train": 3, "validation": 0, "test": 0}
    assert listing.notices == []
    row = listing.versions[0].as_dict()
    assert row["status"] == "ok" and row["train"] == 3 and row["problem"] is None
    assert json.loads(invoke("datasets", "list", "--json").stdout) == [
        row.as_dict() | {"path": str(row.path)} for row in listing.versions
    ]


def test_show_verifies_and_leaves_out_the_per_post_maps(registry):
    newest = registry.show("finmis")
    assert (newest.name, newest.version) == ("finmis", "1.10.0")
    data = newest.as_dict()
    assert data["path"] == str(newest.path) and "labels_by_post" not in data
    assert data["rows"]["train"] == 3
    assert registry.show("finmis@1.0.0").version == "1.0.0"


def test_diff_lists_added_removed_relabelled_and_label_counts(registry):
    difference = registry.diff("finmis@1.0.0", "finmis")
    assert (difference.old, difference.new) == ("finmis@1.0.0", "finmis@1.10.0")
    changes = difference.changes
    assert changes.added == ["demo:4"] and changes.removed == ["demo:2"]
    assert [(item.post_id, item.old, item.new) for item in changes.relabelled] == [
        ("demo:1", [["fabricated_rumour"], "high"], [["legitimate"], None])
    ]
    # legitimate: +1 (relabelled) -1 (removed): unchanged, so not listed
    assert changes.label_count_changes == {
        "extortion": 1,
        "fabricated_rumour": -1,
        "impersonation": 1,
    }
    cli = json.loads(invoke("datasets", "diff", "finmis@1.0.0", "finmis@1.10.0", "--json").stdout)
    assert cli == difference.as_dict()
    assert registry.diff("finmis@1.0.0", "finmis@1.2.0").changes == LabelChanges()


def test_the_changelog_counts_what_datasets_diff_lists(registry):
    manifest = {
        "version": "1.0.0",
        "labels_by_post": V1,
        "provenance": {"taxonomy": {"version": "1.0.0", "sha256": "00"}},
    }

    class Taxonomy:
        version, content_hash = "1.0.0", "00"

    entry = changelog(manifest, V2, Taxonomy())
    changes = diff_labels(V1, V2)
    assert (entry["added"], entry["removed"], entry["relabelled"]) == (
        len(changes.added),
        len(changes.removed),
        len(changes.relabelled),
    )
    assert entry["suggested_bump"] == "minor"
    assert changelog(manifest, V1, Taxonomy())["suggested_bump"] == "patch"
    Taxonomy.version, Taxonomy.content_hash = "2.0.0", "11"
    assert changelog(manifest, V1, Taxonomy())["suggested_bump"] == "major"


def test_pull_copies_a_verified_version(registry, tmp_path):
    pulled = registry.pull("finmis@1.2.0", to=tmp_path / "copy")
    assert pulled.path == tmp_path / "copy" and pulled.repo is None
    assert pulled.as_dict() == {
        "name": "finmis",
        "version": "1.2.0",
        "path": str(pulled.path),
        "newest": False,
    }
    again = registry.pull("finmis@1.0.0", to=tmp_path / "copy")  # not empty: a subfolder
    assert again.path == tmp_path / "copy" / "finmis-1.0.0"
    assert (again.path / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("finmis@1.0", "'finmis@1.0', the version '1.0' is not a semantic version"),
        ("finmis@latest", "is not a semantic version"),
    ],
)
def test_a_reference_with_a_bad_version_is_refused(registry, ref, message):
    with pytest.raises(InputError, match=message):
        registry.show(ref)


def test_references_and_missing_versions(registry, tmp_path):
    assert VersionRef.parse("finmis") == VersionRef("finmis", None)
    newest = registry.pull("finmis", to=tmp_path / "x")  # the newest, and it says so
    assert newest.newest is True and newest.version == registry.show("finmis").version
    with pytest.raises(InputError, match="needs a version"):  # the Hub tag is vVERSION
        registry.pull("finmis", to=tmp_path / "y", from_hub="org/finmis")
    with pytest.raises(AnnotateError, match=r"finmis has no version 3\.0\.0"):
        registry.show("finmis@3.0.0")
    with pytest.raises(AnnotateError, match="No dataset 'other'"):
        registry.diff("other@1.0.0", "finmis@1.0.0")
