"""A standing crash test: ingest, push, pull and publish killed with SIGKILL at seeded points,
then run again, end where an uninterrupted run ends (no duplicate post, task or annotation; no
partial version), on the real Label Studio.

Each kill point is a named function (the command dies just before or just after its n-th call),
so a scenario is exact and repeatable; ``ANNOTATE_CRASH_SEED`` picks other points. The killed
command runs as a real process; the rerun too, as a user would run it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter

import pytest
from sqlmodel import func, select

from annotate import demo
from annotate.aggregation_runs import aggregate_project
from annotate.batches import record_batch
from annotate.registry import verify
from annotate.store import Annotation, DatasetVersion, IngestRun, Post, Task
from tests.loop_fixtures import labels, make_loop

pytestmark = pytest.mark.labelstudio

SEED = int(os.environ.get("ANNOTATE_CRASH_SEED", "20261201"))
POINTS_PER_COMMAND = 3

# Runs `annotate ARGS` with one function made deadly: the process kills itself with SIGKILL
# just before or just after the function's n-th call. Module constants can be set first.
KILLER = r"""
import importlib, os, signal, sys

def target(spec):
    module, _, qualname = spec.partition(":")
    owner = importlib.import_module(module)
    *parents, name = qualname.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, name

spec, when, nth, settings, *args = sys.argv[1:]
for assignment in filter(None, settings.split(";")):
    spec_value, _, value = assignment.partition("=")
    owner, name = target(spec_value)
    setattr(owner, name, int(value))
owner, name = target(spec)
real, calls = getattr(owner, name), [0]

def deadly(*positional, **keywords):
    calls[0] += 1
    if when == "before" and calls[0] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
    result = real(*positional, **keywords)
    if when == "after" and calls[0] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(owner, name, deadly)
sys.argv = ["annotate", *args]
from annotate.cli import main
main()
"""

# Kill points per command: (function, before|after, n-th call, module constants to set).
BATCHES = "annotate.ingest.writer:BATCH_SIZE=150"
INGEST_POINTS = [
    ("annotate.ingest.writer:_PostWriter.flush", "before", 2, BATCHES),
    ("annotate.ingest.writer:_PostWriter.flush", "after", 1, BATCHES),
    ("annotate.ingest.writer:_PostWriter.flush", "after", 3, BATCHES),
    ("annotate.ingest:_finish_run", "before", 1, ""),
    ("annotate.ingest:ingest_files", "before", 1, ""),
]
CHUNKS = "annotate.batches:CHUNK_SIZE=25"
PUSH_POINTS = [
    ("annotate.labelstudio:LabelStudioConnection.import_tasks", "before", 2, CHUNKS),
    ("annotate.labelstudio:LabelStudioConnection.import_tasks", "after", 1, CHUNKS),
    ("annotate.labelstudio:LabelStudioConnection.import_tasks", "after", 2, CHUNKS),
    ("annotate.batches:adopt_interrupted", "after", 1, CHUNKS),
]
PULL_POINTS = [  # incremental pulls: the first, full one runs before them
    ("annotate.labelstudio:LabelStudioConnection.count_tasks", "after", 1, ""),
    ("annotate.labelstudio:LabelStudioConnection.list_tasks", "after", 1, ""),
    ("annotate.labelstudio:LabelStudioConnection.export_by_id", "after", 1, ""),
    ("annotate.pull:_apply", "after", 1, ""),
    ("annotate.pull:_apply", "before", 1, ""),
]
PUBLISH_POINTS = [
    ("pyarrow.parquet:ParquetWriter.write_table", "after", 1, ""),
    ("pyarrow.parquet:ParquetWriter.close", "after", 2, ""),
    ("annotate.registry.staging:Staging.promote", "after", 1, ""),
    ("annotate.registry.build:record_version", "before", 1, ""),
]


def chosen(points: list, salt: str) -> list:
    return random.Random(f"{SEED}:{salt}").sample(points, POINTS_PER_COMMAND)


@pytest.fixture(scope="module")
def loop(label_studio, tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash")
    made = make_loop(label_studio, f"sqlite:///{folder}/annotate.db", folder, size=400)
    yield made
    made.store.dispose()


def killed(loop, point, *args: str) -> None:
    """Run the command with a kill point and check it really died there."""
    function, when, nth, settings = point
    result = subprocess.run(
        [sys.executable, "-c", KILLER, function, when, str(nth), settings, *args],
        env={**os.environ, **loop.env},
        cwd=loop.folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -9, (
        f"{args[0]} did not reach {when} call {nth} of {function}: {result.stderr[-2000:]}"
    )


def rerun(loop, *args: str, refused: str | None = None) -> subprocess.CompletedProcess:
    """Run the command again as a user would; it succeeds (or, when the killed run had
    already finished the work, refuses with the sentence ``refused``)."""
    result = subprocess.run(
        [sys.executable, "-m", "annotate", *args],
        env={**os.environ, **loop.env},
        cwd=loop.folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if refused is not None and result.returncode == 1:
        assert refused in result.stderr, result.stderr[-3000:]
    else:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_killed_ingest_reruns_to_the_same_posts(loop):
    corpus = loop.folder / "more.jsonl"
    demo.write_corpus(corpus, size=500, seed=23)
    expected = {(row["post_id"], row["text"]) for row in map(json.loads, corpus.open())}
    for number, point in enumerate(chosen(INGEST_POINTS, "ingest")):
        source = f"crash-{number}"
        killed(loop, point, "ingest", str(corpus), "--source", source)
        rerun(loop, "ingest", str(corpus), "--source", source)
        with loop.store.session() as session:
            stored = session.exec(select(Post.post_id, Post.text).where(Post.source == source))
            rows = list(stored)
            runs = session.exec(select(IngestRun.status).where(IngestRun.source == source)).all()
        assert len(rows) == len(set(rows)) == len(expected), point
        assert {post_id for post_id, _ in rows} == {post_id for post_id, _ in expected}, point
        assert "running" not in runs, point  # the killed run is marked, not left running


def tasks_consistent(loop) -> dict[int, int]:
    """The store's tasks and Label Studio's are one to one: ``{store task: ls task}``."""
    with loop.store.session() as session:
        mapped = dict(
            session.exec(
                select(Task.id, Task.ls_task_id).where(Task.project_id == project_id(loop))
            ).all()
        )
    on_server = loop.ls_tasks()
    assert None not in mapped.values()
    assert sorted(mapped.values()) == [task_id for task_id, _ in on_server]
    posts = Counter((data["source"], data["post_id"]) for _, data in on_server)
    assert max(posts.values()) == 1, "a post became two tasks"
    return mapped


def project_id(loop) -> int:
    from annotate.store.queries import get_project

    with loop.store.session() as session:
        return get_project(session, loop.name).id


def test_a_killed_push_reruns_to_one_task_per_post(loop):
    for number, point in enumerate(chosen(PUSH_POINTS, "push")):
        pks = loop.post_pks(60, offset=60 * number)
        record_batch(loop.store, loop.name, strategy="random", params={}, seed=1, post_pks=pks)
        killed(loop, point, "push", loop.name)
        rerun(loop, "push", loop.name)
        assert len(tasks_consistent(loop)) == 60 * (number + 1), point


def test_a_killed_pull_reruns_to_the_annotations_label_studio_has(loop):
    users = loop.users(2)
    tasks = sorted(tasks_consistent(loop).values())
    rerun(loop, "pull", loop.name)  # the first, full pull: later ones are incremental
    for number, point in enumerate(chosen(PULL_POINTS, "pull")):
        for task_id in tasks[10 * number : 10 * number + 10]:
            for user, category in zip(users, (["legitimate"], ["not_financial"]), strict=True):
                loop.client.annotations.create(
                    id=task_id, result=labels(category), completed_by=user.id
                )
        killed(loop, point, "pull", loop.name)
        rerun(loop, "pull", loop.name)
        exported = loop.connection.export(loop.ls_project_id)
        on_server = {item["id"] for task in exported for item in task.get("annotations") or []}
        with loop.store.session() as session:
            stored = session.exec(
                select(Annotation.ls_annotation_id).where(Annotation.deleted_at.is_(None))
            ).all()
            total = session.exec(select(func.count()).select_from(Annotation)).one()
        assert sorted(stored) == sorted(on_server), point
        assert total == len(on_server) == 20 * (number + 1), point


def test_a_killed_publish_reruns_to_the_version_an_uninterrupted_one_makes(loop):
    aggregate_project(loop.store, loop.name)
    args = ["publish", "finmis", "--project", loop.name]
    rerun(loop, *args, "--version", "0.1.0")  # the reference, uninterrupted
    registry = loop.folder / "exports" / "registry" / "finmis"
    reference = json.loads((registry / "0.1.0" / "manifest.json").read_text())
    for number, point in enumerate(chosen(PUBLISH_POINTS, "publish")):
        version = f"0.1.{number + 1}"
        killed(loop, point, *args, "--version", version)
        # Killed once the version was in place, the publish had done its work: the rerun
        # records the version it finds and refuses to write it again (versions are immutable).
        done = point[0].endswith(("promote", "record_version"))
        rerun(loop, *args, "--version", version, refused="already published" if done else None)
        folder = registry / version
        manifest = verify(folder)  # every file listed and intact, nothing more
        assert same_content(manifest, reference), point
        assert sorted(p.name for p in registry.iterdir() if p.name.startswith(".")) == [], point
        with loop.store.session() as session:
            versions = session.exec(
                select(DatasetVersion.version).where(DatasetVersion.name == "finmis")
            ).all()
        assert sorted(versions) == sorted(p.name for p in registry.iterdir()), point


def same_content(manifest: dict, reference: dict) -> bool:
    """Two manifests of the same rows: equal but for version, time and changelog."""

    def content(document: dict) -> dict:
        kept = {key: value for key, value in document.items() if key not in ("version",)}
        kept["provenance"] = {
            key: value
            for key, value in document["provenance"].items()
            if key not in ("published_at",)
        }
        kept.pop("changelog", None)
        kept["files"] = {
            path: entry for path, entry in document["files"].items() if path != "README.md"
        }
        return kept

    return content(manifest) == content(reference)


def test_the_kill_points_exist():
    """A renamed function or module constant must not silently turn a crash scenario into a
    clean run (the killer would set a constant nothing reads)."""
    import importlib

    for function, _, _, settings in INGEST_POINTS + PUSH_POINTS + PULL_POINTS + PUBLISH_POINTS:
        module, _, qualname = function.partition(":")
        owner = importlib.import_module(module)
        for part in qualname.split("."):
            owner = getattr(owner, part)
        assert callable(owner), function
        for assignment in filter(None, settings.split(";")):
            module, _, name = assignment.partition("=")[0].partition(":")
            assert isinstance(getattr(importlib.import_module(module), name), int), assignment
