"""The local registry when something went wrong: a broken version among good ones, files a
manifest does not list, leftovers of a publish that was killed.

Runs on SQLite and on PostgreSQL (the ``workspace`` fixture of test_publish).
"""

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import datasets
from sqlmodel import select
from test_publish import annotate_posts, workspace  # noqa: F401 (a fixture)

from annotate.config import load_settings
from annotate.registry import publish, version_folder
from annotate.store import DatasetVersion
from tests.cli import invoke


def publish_two_versions(settings, space, store, posts):
    """finmis 1.0.0 (500 posts) and 1.1.0 (100 more)."""
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    annotate_posts(store, "round-1", posts[500:600])
    publish(store, settings, space, "finmis", "1.1.0", projects=["round-1"])
    return version_folder(settings, "finmis", "1.0.0"), version_folder(settings, "finmis", "1.1.0")


def one_error_line(result) -> str:
    """The failing command's stderr, checked to be one sentence of ours (no traceback)."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert not lines[0].startswith("Error: unexpected") and "Traceback" not in result.output
    return lines[0]


def test_a_truncated_manifest_breaks_one_version_not_the_registry(workspace, tmp_path):  # noqa: F811
    settings, space, store, posts = workspace
    good, broken = publish_two_versions(settings, space, store, posts)
    manifest = broken / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:200])  # a copy cut short

    listed = invoke("datasets", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["version"]: row for row in json.loads(listed.stdout)}
    assert rows["1.0.0"]["status"] == "ok" and rows["1.0.0"]["train"] > 300
    assert rows["1.1.0"]["status"] == "broken" and rows["1.1.0"]["path"] == str(broken)
    assert str(manifest) in rows["1.1.0"]["problem"]
    assert "not valid JSON" in rows["1.1.0"]["problem"]
    human = invoke("datasets", "list")
    assert human.exit_code == 0 and "broken" in human.stdout
    assert str(manifest) in human.output

    for command in (["show", "finmis@1.1.0"], ["pull", "finmis@1.1.0", "--to", tmp_path / "c"]):
        error = one_error_line(invoke("datasets", *command))
        assert str(manifest) in error and "not valid JSON" in error
    assert not (tmp_path / "c").exists()
    shown = invoke("datasets", "show", "finmis@1.0.0", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["version"] == "1.0.0"
    newest = invoke("datasets", "show", "finmis", "--json")  # the newest good version
    assert newest.exit_code == 0 and json.loads(newest.stdout)["version"] == "1.0.0"

    # A new version is still published; its changelog is against 1.0.0, and it says so.
    annotate_posts(store, "round-1", posts[600:700])
    args = ["publish", "finmis", "--version", "1.2.0", "--project", "round-1"]
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert str(broken) in dry.stderr and "changelog is against 1.0.0" in dry.stderr
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changelog"]["previous"] == "1.0.0"
    assert report["changelog"]["broken_skipped"] == ["1.1.0"]
    before = json.loads((good / "manifest.json").read_text())["labels_by_post"]
    after = json.loads((version_folder(settings, "finmis", "1.2.0") / "manifest.json").read_text())
    assert report["changelog"]["added"] == len(set(after["labels_by_post"]) - set(before))
    assert any(str(broken) in notice and "1.0.0" in notice for notice in report["notices"])
    loaded = datasets.load_dataset(report["path"])
    assert sum(map(len, loaded.values())) == sum(report["rows"].values())


def test_every_kind_of_unreadable_manifest_is_listed_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANNOTATE_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.delenv("ANNOTATE_WORKSPACE", raising=False)
    cases = {
        "1.0.0": None,  # no manifest at all
        "1.0.1": b"[1, 2]",
        "1.0.2": b'{"name": "finmis", "version": "1.0.2"}',
        "1.0.3": b'{"name": "finmis", "version": "1.0.3", "rows": {}, "provenance": {}, '
        b'"changelog": {}, "splits_by_post": {}, "labels_by_post": {}, '
        b'"files": {"../../secret.key": {"sha256": "00", "bytes": 1}}}',
    }
    for version, content in cases.items():
        folder = tmp_path / "registry" / "finmis" / version
        folder.mkdir(parents=True)
        if content is not None:
            (folder / "manifest.json").write_bytes(content)
    listed = invoke("datasets", "list", "--json")
    assert listed.exit_code == 0, listed.output
    problems = {row["version"]: row["problem"] for row in json.loads(listed.stdout)}
    assert "no manifest.json" in problems["1.0.0"]
    assert "is not a JSON object" in problems["1.0.1"]
    assert "lacks files, rows" in problems["1.0.2"]
    assert "outside the version folder ('../../secret.key')" in problems["1.0.3"]
    assert all(str(tmp_path / "registry" / "finmis" / v) in p for v, p in problems.items())
    error = one_error_line(invoke("datasets", "show", "finmis"))
    assert "No version of finmis can be used" in error


def inject_rows(folder, rows: int = 5):
    """A second train file in ``folder`` with ``rows`` made-up rows of the version's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(folder / "data" / "train-00000-of-00001.parquet").slice(0, rows)
    ids = [f"injected:{number}" for number in range(rows)]
    table = table.set_column(0, "post_id", pa.array(ids))
    path = folder / "data" / "train-00001-of-00001.parquet"
    pq.write_table(table, path)
    return path


def test_files_the_manifest_does_not_list_are_refused(workspace, tmp_path):  # noqa: F811
    settings, space, store, _ = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    folder = version_folder(settings, "finmis", "1.0.0")
    listed = set(json.loads((folder / "manifest.json").read_text())["files"]) | {"manifest.json"}
    extra = folder / "extra.txt"
    extra.write_text("not part of the version\n")
    injected = inject_rows(folder)
    both = one_error_line(invoke("datasets", "show", "finmis@1.0.0"))
    assert str(extra) in both and str(injected) in both and "not listed in the manifest" in both

    for added, other in ((extra, injected), (injected, extra)):
        other.rename(tmp_path / other.name)  # one at a time
        shown = one_error_line(invoke("datasets", "show", "finmis@1.0.0"))
        assert str(added) in shown and "not listed in the manifest" in shown
        copy = tmp_path / f"copy-{added.name}"
        error = one_error_line(invoke("datasets", "pull", "finmis@1.0.0", "--to", copy))
        assert str(added) in error and not copy.exists()
        row = json.loads(invoke("datasets", "list", "--json").stdout)[0]
        assert row["status"] == "broken" and str(added) in row["problem"]
        (tmp_path / other.name).rename(other)
    extra.unlink()
    injected.unlink()

    pulled = invoke("datasets", "pull", "finmis@1.0.0", "--to", tmp_path / "copy", "--json")
    assert pulled.exit_code == 0, pulled.output
    copy = tmp_path / "copy"
    assert {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()} == listed
    assert "injected:0" not in datasets.load_dataset(str(copy), split="train")["post_id"]


def staging(registry, suffix, owner=None, age=0.0):
    """A hidden staging folder as a publish leaves it: a partial data file and, unless
    ``owner`` is None, the owner file (host and pid) that a running publish holds locked."""
    folder = registry / "finmis" / f".1.0.0-{suffix}"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 cut short")
    if owner is not None:
        (folder / ".publishing").write_text(json.dumps(owner))
    for path in [*folder.rglob("*"), folder]:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    return folder


def test_abandoned_staging_folders_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    registry = tmp_path / "registry"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANNOTATE_REGISTRY", str(registry))
    monkeypatch.delenv("ANNOTATE_WORKSPACE", raising=False)
    here = socket.gethostname()
    killed = staging(registry, "killed", {"host": here, "pid": 4_000_000})
    running = staging(registry, "running", {"host": here, "pid": os.getpid()})
    elsewhere = staging(registry, "away", {"host": "other-host", "pid": 12})
    older_tool_stale = staging(registry, "stale", age=2 * 3600)
    older_tool_fresh = staging(registry, "fresh")
    with (running / ".publishing").open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running publish holds
        listed = invoke("datasets", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []  # no partial version is ever listed
    assert not killed.exists() and not older_tool_stale.exists()
    assert running.exists() and elsewhere.exists() and older_tool_fresh.exists()
    assert f"Removed {killed}" in listed.stderr and f"Removed {older_tool_stale}" in listed.stderr
    assert str(elsewhere) in listed.stderr and "other-host" in listed.stderr
    assert str(running) not in listed.stderr


def recorded_versions(store):
    with store.session() as session:
        rows = session.exec(select(DatasetVersion)).all()
        return {row.version: (row.location, row.manifest) for row in rows}


def test_version_folders_missing_from_the_store_are_adopted_or_reported(workspace):  # noqa: F811
    settings, space, store, posts = workspace
    good, damaged = publish_two_versions(settings, space, store, posts)
    before = recorded_versions(store)
    # A publish killed between renaming its folder into place and recording it in the store.
    with store.transaction() as session:
        for row in session.exec(select(DatasetVersion)).all():
            session.delete(row)
    # ... and one such folder damaged since: same size, other bytes (only checksums see it).
    data = damaged / "data" / "train-00000-of-00001.parquet"
    content = bytearray(data.read_bytes())
    content[len(content) // 2] ^= 0xFF
    data.write_bytes(bytes(content))

    listed = invoke("datasets", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert recorded_versions(store) == {"1.0.0": before["1.0.0"]}  # adopted from its manifest
    assert f"Adopted finmis 1.0.0 at {good}" in listed.stderr
    row = {row["version"]: row for row in json.loads(listed.stdout)}["1.1.0"]
    assert row["status"] == "broken" and str(data) in row["problem"]
    assert f"delete {damaged}" in row["problem"]
    human = invoke("datasets", "list")
    assert f"delete {damaged}" in human.stderr and "Adopted" not in human.stderr  # done before

    again = one_error_line(
        invoke("publish", "finmis", "--version", "1.0.0", "--project", "round-1")
    )
    assert "already published" in again
    annotate_posts(store, "round-1", posts[600:700])
    report = publish(store, settings, space, "finmis", "1.2.0", projects=["round-1"])
    assert report.changelog["previous"] == "1.0.0"
    assert any(f"delete {damaged}" in notice for notice in report.notices)
    assert set(recorded_versions(store)) == {"1.0.0", "1.2.0"}


KILL_WHILE_WRITING = """
import os, sys, time
import pyarrow.parquet as pq
from annotate.cli import main

marker, args = sys.argv[1], sys.argv[2:]
write = pq.ParquetWriter.write_table

def write_then_wait(self, *a, **k):  # the first rows of a split are on disk
    write(self, *a, **k)
    open(marker, "w").close()
    time.sleep(600)

pq.ParquetWriter.write_table = write_then_wait
sys.argv = ["annotate", *args]
main()
"""


def test_a_publish_killed_while_writing_leaves_no_version_and_the_rerun_is_whole(
    workspace,  # noqa: F811
    tmp_path,
):
    settings, space, store, _ = workspace
    # The reference: the same version published without interruption, in another registry.
    elsewhere = load_settings(registry=tmp_path / "reference")
    reference = Path(publish(store, elsewhere, space, "finmis", "1.0.0", projects=["round-1"]).path)
    with store.transaction() as session:
        session.delete(session.exec(select(DatasetVersion)).one())

    marker = tmp_path / "writing"
    args = ["publish", "finmis", "--version", "1.0.0", "--project", "round-1"]
    child = subprocess.Popen([sys.executable, "-c", KILL_WHILE_WRITING, marker, *args])
    deadline = time.monotonic() + 240
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the publish never started writing"
    child.send_signal(signal.SIGKILL)
    child.wait()
    parent = settings.effective_registry / "finmis"
    leftovers = [p for p in parent.iterdir() if p.name.startswith(".1.0.0-")]
    assert len(leftovers) == 1 and list(leftovers[0].rglob("*.parquet"))
    assert not (parent / "1.0.0").exists() and recorded_versions(store) == {}
    assert "No dataset 'finmis'" in one_error_line(invoke("datasets", "show", "finmis"))

    rerun = invoke(*args)
    assert rerun.exit_code == 0, rerun.output
    assert f"Removed {leftovers[0]}" in rerun.stderr
    assert sorted(p.name for p in parent.iterdir()) == ["1.0.0"]
    listed = json.loads(invoke("datasets", "list", "--json").stdout)
    assert [(row["version"], row["status"]) for row in listed] == [("1.0.0", "ok")]
    # Equal to the uninterrupted publish, but for the moment it was published.
    published = version_folder(settings, "finmis", "1.0.0")
    ours, theirs = (json.loads((f / "manifest.json").read_text()) for f in (published, reference))
    for manifest in (ours, theirs):
        del manifest["provenance"]["published_at"], manifest["files"]["README.md"]
    assert ours == theirs
    assert set(recorded_versions(store)) == {"1.0.0"}
    loaded = datasets.load_dataset(str(published))
    assert {split: len(part) for split, part in loaded.items()} == ours["rows"]
