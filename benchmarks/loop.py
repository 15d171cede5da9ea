"""Push and pull benchmark: `annotate` against raw Label Studio API requests, in the same run.

Usage:
    python benchmarks/loop.py                        # 10,000 tasks, 3 annotations each
    python benchmarks/loop.py --tasks 1000 --rounds 2
    python benchmarks/loop.py --url http://127.0.0.1:8080 --token TOKEN   # an existing server
    python benchmarks/loop.py --push-rounds 0        # pulls only

Without --url a local Label Studio is started in a temporary folder (about 35 s) and stopped at
the end. The token may also come from LABEL_STUDIO_API_KEY; it is never printed.

What is measured (ours and its peer against the same server, in the same run):

* push: ``annotate.batches.push`` of N recorded tasks (all chunks) into a fresh project, against
  one raw ``POST /api/projects/{id}/import`` of the same task payloads into another fresh project
  (a plain httpx client with the same authentication headers). Rounds alternate which goes first.
* full pull: ``annotate.pull.pull(full=True)`` of a project with N tasks and N x 3 annotations,
  into a store that does not have them yet (inserts every row) and into an up-to-date store
  (compares only), against downloading the raw JSON export of the same project
  (``GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true``) plus ``json.loads``
  of it. Every pull starts from a fresh copy of the store; the order of the three rotates with
  the round, so that none always runs first on a warm or a tired server.
* no-change pull: an incremental pull right after a full pull, as a share of a full pull. It
  asks Label Studio for the project's task count and the tasks changed since the last pull,
  and compares the count with the store's, which is how it notices deleted tasks.
* pull after a deletion (once, at the end): one task deleted in Label Studio, then an
  incremental pull, which lists every task id to find which one went.

The annotated project is built fast: its tasks are imported with their annotations inside the
task payloads (``completed_by`` = one of three users made for the run, which Label Studio's
import honours for members of the organisation; checked on an exported task), in chunks, and the
returned task ids are written to the store's tasks, as a push would.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, update
from sqlmodel import select

from annotate import demo
from annotate.batches import push, record_batch, task_data
from annotate.config import WorkspaceFolder, ensure_workspace, load_settings
from annotate.ingest import ingest_files
from annotate.labelstudio import LabelStudioConnection, connect_to
from annotate.projects import create_project
from annotate.pull import pull
from annotate.store import Post, Store, Task, open_store
from annotate.store.models import utcnow
from annotate.store.queries import get_project, tasks_with_posts
from annotate.taxonomy import load_taxonomy, result_from_labels

TAXONOMY = load_taxonomy()
FIELDS = {item.name: item for item in TAXONOMY.fields}
CATEGORIES = FIELDS["category"].label_ids
VIOLATIONS = tuple(FIELDS["severity"].required_when.any_of)
SEVERITIES = FIELDS["severity"].label_ids
CONFIDENCES = FIELDS["confidence"].label_ids
SPAN_LABELS = FIELDS["evidence"].label_ids
NO_TRUTH = demo.load_demo_data(TAXONOMY).no_truth  # the answer for a post without hidden truth
RATIONALES = ("引用来源不明", "no source given", "标题党", "matches the rumour pattern")
IMPORT_CHUNK = 1000  # tasks (with their annotations) per import request when building the data
SEED = 20240917

TARGET_PUSH = 1.20
TARGET_FULL_PULL = 1.15
TARGET_NO_CHANGE = 0.10


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Clock:
    """Time spent in some of a connection's methods (what the server and HTTP cost)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def wrap(self, connection: LabelStudioConnection, *names: str) -> None:
        for name in names:
            original = getattr(connection, name)

            def timed(*args: Any, _original=original, _name=name, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.seconds[_name] += time.perf_counter() - started

            setattr(connection, name, timed)

    def reset(self) -> None:
        self.seconds.clear()


def raw_client(connection: LabelStudioConnection) -> httpx.Client:
    """A plain httpx client with the connection's authentication headers: the raw peer."""
    headers = connection.client._client_wrapper.get_headers()
    return httpx.Client(base_url=f"{connection.url}/", headers=headers, timeout=900)


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def best_median(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f}"


# ----------------------------------------------------------------------------------- setup


@contextlib.contextmanager
def label_studio(args: argparse.Namespace, folder: Path) -> Iterator[tuple[str, str, bool]]:
    """``(url, token, ours)``: the server given with --url, or a local one started for the run."""
    if args.url:
        token = args.token or os.environ.get("LABEL_STUDIO_API_KEY")
        if not token:
            raise SystemExit("--url needs --token (or LABEL_STUDIO_API_KEY).")
        yield args.url.rstrip("/"), token, False
        return
    from annotate.ls_server import start_label_studio

    log("starting a local Label Studio (about 35 s)")
    started = time.perf_counter()
    server = start_label_studio(data_dir=folder / "label-studio")
    log(f"Label Studio answers at {server.url} after {time.perf_counter() - started:.0f} s")
    try:
        yield server.url, server.token, True
    finally:
        log("stopping Label Studio")
        server.stop()


def server_version(connection: LabelStudioConnection) -> str:
    try:
        answer = connection._request("read the version", "GET", "api/version").json()
        return str(
            answer.get("release") or answer.get("label-studio-os-package", {}).get("version")
        )
    except Exception:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version("label-studio")
        return "unknown"


def make_store(folder: Path, size: int) -> tuple[Store, list[int]]:
    corpus = folder / "posts.jsonl"
    demo.write_corpus(corpus, size=size, seed=SEED)
    store = open_store(f"sqlite:///{folder / 'annotate.db'}")
    report = ingest_files(store, [corpus], source="demo")
    with store.session() as session:
        pks = list(session.exec(select(Post.id).order_by(Post.id)))
    log(f"ingested {report.inserted:,} demo posts ({len(pks):,} in the store)")
    return store, pks


def payloads(store: Store, project: str, batch_id: int) -> list[tuple[int, Post, dict]]:
    """``(task pk, post, task data)`` of a project's tasks in push order (by task id)."""
    with store.session() as session:
        project_id = get_project(session, project).id
        rows = session.exec(tasks_with_posts(project_id, Task.id, Post).order_by(Task.id)).all()
        for _, post in rows:
            session.expunge(post)
    return [(task_pk, post, task_data(post, batch_id)) for task_pk, post in rows]


# ------------------------------------------------------------------------------------ push


@dataclass
class PushRound:
    push: float
    raw: float
    in_requests: float
    chunks: int
    payload_bytes: int


def push_round(
    store: Store,
    connection: LabelStudioConnection,
    clock: Clock,
    pks: list[int],
    run: str,
    number: int,
) -> PushRound:
    ours, peer = f"bench {run} push {number}", f"bench {run} raw {number}"
    create_project(store, connection, ours)
    peer_project = create_project(store, connection, peer).ls_project_id
    batch = record_batch(store, ours, strategy="benchmark", params={}, seed=None, post_pks=pks)
    tasks = [data for _, _, data in payloads(store, ours, batch.batch_id)]
    body = json.dumps(tasks, ensure_ascii=False).encode()

    def raw() -> float:
        with raw_client(connection) as client:
            seconds, response = timed(
                lambda: client.post(f"api/projects/{peer_project}/import", json=tasks)
            )
        response.raise_for_status()
        created = response.json().get("task_count")
        if created != len(tasks):
            raise SystemExit(f"The raw import made {created} tasks, not {len(tasks)}.")
        return seconds

    def ours_push() -> tuple[float, Any]:
        clock.reset()
        return timed(lambda: push(store, connection, ours))

    if number % 2:
        raw_seconds = raw()
        push_seconds, report = ours_push()
    else:
        push_seconds, report = ours_push()
        raw_seconds = raw()
    if report.pushed != len(tasks):
        raise SystemExit(f"push pushed {report.pushed} tasks, not {len(tasks)}.")
    log(
        f"push round {number}: push {push_seconds:.2f} s ({report.chunks} chunks, "
        f"{clock.seconds['import_tasks']:.2f} s in import requests), raw import {raw_seconds:.2f} s"
    )
    return PushRound(
        push=push_seconds,
        raw=raw_seconds,
        in_requests=clock.seconds["import_tasks"],
        chunks=report.chunks,
        payload_bytes=len(body),
    )


# ----------------------------------------------------------------------------- annotations


def make_users(connection: LabelStudioConnection, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        tag = uuid.uuid4().hex[:8]
        user = connection.client.users.create(
            username=f"bench-{tag}", email=f"bench-{tag}@example.com", password=uuid.uuid4().hex
        )
        ids.append(user.id)
    return ids


def fake_annotation(rand: random.Random, post: Post, user_id: int) -> dict[str, Any]:
    """One annotator's answer: mostly the corpus's hidden truth, sometimes not; a few skips."""
    base = {"completed_by": user_id, "lead_time": round(rand.uniform(4, 180), 1)}
    base["ground_truth"] = False
    if rand.random() < 0.02:
        return {**base, "result": [], "was_cancelled": True}
    meta = post.meta or {}
    category = list(meta.get("true_labels") or NO_TRUTH)
    severity = meta.get("true_severity")
    if rand.random() < 0.15:  # disagrees with the truth
        category = [rand.choice(CATEGORIES)]
        severity = None
        if category[0] in VIOLATIONS and rand.random() < 0.3:
            category.append(rand.choice(VIOLATIONS))
            category = list(dict.fromkeys(category))
    labels: dict[str, Any] = {"category": category, "confidence": rand.choice(CONFIDENCES)}
    if any(label in VIOLATIONS for label in category):
        labels["severity"] = severity or rand.choice(SEVERITIES)
        text = post.text
        if rand.random() < 0.4 and len(text) >= 6:
            spans = []
            for _ in range(rand.choice((1, 1, 2))):
                start = rand.randrange(0, len(text) - 4)
                end = min(len(text), start + rand.randint(4, 30))
                spans.append({"start": start, "end": end, "label": rand.choice(SPAN_LABELS)})
            labels["evidence"] = spans
    if rand.random() < 0.03:
        labels["needs_expert"] = True
    if rand.random() < 0.05:
        labels["rationale"] = rand.choice(RATIONALES)
    return {**base, "result": result_from_labels(TAXONOMY, labels, post.text)}


def build_annotated_project(
    store: Store,
    connection: LabelStudioConnection,
    pks: list[int],
    users: list[int],
    per_task: int,
    name: str,
) -> tuple[int, int, int]:
    """Project ``name`` with one task per post and ``per_task`` annotations on each (imported
    with the tasks), mapped in the store as a push would.

    Returns the Label Studio project id, its first task id and the number of annotations.
    """
    ls_project = create_project(store, connection, name).ls_project_id
    batch = record_batch(store, name, strategy="benchmark", params={}, seed=None, post_pks=pks)
    rows = payloads(store, name, batch.batch_id)
    rand = random.Random(SEED)
    table = Task.__table__
    annotations = first_task = 0
    started = time.perf_counter()
    for start in range(0, len(rows), IMPORT_CHUNK):
        chunk = rows[start : start + IMPORT_CHUNK]
        tasks = []
        for _, post, data in chunk:
            annotators = rand.sample(users, per_task) if per_task <= len(users) else users
            items = [fake_annotation(rand, post, user) for user in annotators]
            annotations += len(items)
            tasks.append({"data": data, "annotations": items})
        answer = connection._request(
            f"import {len(tasks)} annotated tasks",
            "POST",
            f"api/projects/{ls_project}/import",
            params={"return_task_ids": "true"},
            json=tasks,
            request_options={"timeout_in_seconds": 900},
        ).json()
        ids = answer.get("task_ids") or []
        if len(ids) != len(chunk) or answer.get("annotation_count") != sum(
            len(task["annotations"]) for task in tasks
        ):
            raise SystemExit(f"The import of annotated tasks answered {answer}.")
        with store.transaction() as session:
            session.execute(
                update(table)
                .where(table.c.id == bindparam("task_pk"))
                .values(ls_task_id=bindparam("new_ls_id"), pushed_at=bindparam("moment")),
                [
                    {"task_pk": task_pk, "new_ls_id": ls_id, "moment": utcnow()}
                    for (task_pk, _, _), ls_id in zip(chunk, ids, strict=True)
                ],
            )
        first_task = first_task or ids[0]
    log(
        f"imported {len(rows):,} tasks with {annotations:,} annotations into project "
        f"{ls_project} in {time.perf_counter() - started:.0f} s"
    )
    return ls_project, first_task, annotations


def check_annotators(
    connection: LabelStudioConnection, ls_project: int, first_task: int, users: list[int]
) -> None:
    """Label Studio kept ``completed_by`` from the import (pull groups by it) and every row."""
    sample = connection.export(ls_project, [first_task])
    by = {item["completed_by"] for task in sample for item in task["annotations"]}
    if not by or not by <= set(users):
        raise SystemExit(f"Label Studio did not keep completed_by: {by} for users {users}.")
    total = connection.get_project(ls_project).get("total_annotations_number")
    log(f"completed_by kept ({sorted(by)}); the server counts {total} annotations")


# ------------------------------------------------------------------------------------ pull


@dataclass
class PullTiming:
    """One pull: total seconds, of which in the export request and in parsing its JSON."""

    seconds: float
    download: float
    parse: float

    @property
    def store(self) -> float:
        return self.seconds - self.download - self.parse


@dataclass
class PullRound:
    order: list[str]
    download: float  # the raw export request
    parse: float  # json.loads of it
    export_bytes: int
    fresh: PullTiming  # full pull into a store without the annotations (inserts)
    again: PullTiming  # full pull into a store that has them (compares)
    no_change: float  # incremental pull right after the full pull
    no_change_query: float  # of which the task count and the updated_at task query
    counts: dict[str, int]

    @property
    def export(self) -> float:
        return self.download + self.parse


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (WAL included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@dataclass
class Puller:
    """Runs the three measurements of a pull round on fresh copies of the stores."""

    folder: Path
    connection: LabelStudioConnection
    clock: Clock
    name: str
    ls_project: int
    pseudonymise: Callable[[str], str]
    tasks: int
    annotations: int

    @property
    def base(self) -> Path:  # the store before any pull
        return self.folder / "base.db"

    @property
    def pulled(self) -> Path:  # the store after a full pull
        return self.folder / "pulled.db"

    def raw_export(self) -> tuple[float, float, int]:
        with raw_client(self.connection) as client:
            download, response = timed(
                lambda: client.get(
                    f"api/projects/{self.ls_project}/export",
                    params={"exportType": "JSON", "download_all_tasks": "true"},
                )
            )
        response.raise_for_status()
        body = response.content
        parse, tasks = timed(lambda: len(json.loads(body)))
        if tasks != self.tasks:
            raise SystemExit(f"The raw export has {tasks} tasks, not {self.tasks}.")
        return download, parse, len(body)

    def full_pull(self, database: Path) -> tuple[PullTiming, Any]:
        store = open_store(f"sqlite:///{database}")
        try:
            self.clock.reset()
            seconds, report = timed(
                lambda: pull(
                    store, self.connection, self.name, pseudonymise=self.pseudonymise, full=True
                )
            )
            download = self.clock.seconds["_request"]
            parse = self.clock.seconds["export"] - download
            return PullTiming(seconds, download, parse), report
        finally:
            store.dispose()

    def fresh(self, number: int) -> tuple[PullTiming, Any]:
        database = self.folder / f"fresh-{number}.db"
        copy_database(self.base, database)
        timing, report = self.full_pull(database)
        if report.new + report.skipped != self.annotations or report.unknown_tasks:
            raise SystemExit(f"The full pull into a new store found {report.as_dict()}.")
        if not self.pulled.exists():
            copy_database(database, self.pulled)
        database.unlink()
        return timing, report

    def again(self, number: int) -> tuple[PullTiming, float, float]:
        database = self.folder / f"again-{number}.db"
        copy_database(self.pulled, database)
        timing, report = self.full_pull(database)
        if report.changed or report.unchanged != self.annotations:
            raise SystemExit(f"The second full pull found {report.as_dict()}.")
        store = open_store(f"sqlite:///{database}")
        try:
            self.clock.reset()
            seconds, report = timed(
                lambda: pull(store, self.connection, self.name, pseudonymise=self.pseudonymise)
            )
            query = self.clock.seconds["count_tasks"] + self.clock.seconds["list_tasks"]
        finally:
            store.dispose()
        if report.full or report.changed or report.tasks:
            raise SystemExit(f"The no-change pull found {report.as_dict()}.")
        database.unlink()
        return timing, seconds, query

    def after_deletion(self) -> tuple[float, float]:
        """An incremental pull after one task was deleted in Label Studio: ``(seconds, of
        which listing tasks)``. Changes the project: run it last."""
        database = self.folder / "deleted.db"
        copy_database(self.pulled, database)
        store = open_store(f"sqlite:///{database}")
        try:
            pull(store, self.connection, self.name, pseudonymise=self.pseudonymise)
            first = min(task["id"] for task in self.connection.list_tasks(self.ls_project, ("id",)))
            self.connection.delete_tasks(self.ls_project, [first])
            self.clock.reset()
            seconds, report = timed(
                lambda: pull(store, self.connection, self.name, pseudonymise=self.pseudonymise)
            )
            listing = self.clock.seconds["count_tasks"] + self.clock.seconds["list_tasks"]
        finally:
            store.dispose()
        if report.full or report.deleted_tasks != 1:
            raise SystemExit(f"The pull after a deletion found {report.as_dict()}.")
        log(
            f"pull after one task was deleted: {seconds:.2f} s ({listing:.2f} s counting and "
            f"listing tasks); {report.deleted} annotations marked deleted"
        )
        database.unlink()
        return seconds, listing


ORDERS = (("raw", "fresh", "again"), ("fresh", "again", "raw"), ("again", "raw", "fresh"))


def pull_round(puller: Puller, number: int) -> PullRound:
    """The raw export, a full pull into a new store and one into an up-to-date store, in an
    order that rotates with the round (the first round must make the up-to-date store)."""
    order = ORDERS[number % len(ORDERS)]
    results: dict[str, Any] = {}
    for step in order:
        if step == "raw":
            results[step] = puller.raw_export()
            download, parse, size = results[step]
            log(
                f"pull round {number}: raw export ({size / 2**20:.1f} MiB) "
                f"{download:.2f} s download + {parse:.2f} s json.loads"
            )
        elif step == "fresh":
            results[step] = puller.fresh(number)
            timing, report = results[step]
            log(
                f"pull round {number}: full pull into a new store {timing.seconds:.2f} s "
                f"({timing.download:.2f} s export request, {timing.parse:.2f} s parse); "
                f"{report.new:,} new, {report.skipped:,} skipped, "
                f"{report.with_problems:,} with problems"
            )
        else:
            results[step] = puller.again(number)
            timing, seconds, query = results[step]
            log(
                f"pull round {number}: full pull again {timing.seconds:.2f} s "
                f"({timing.download:.2f} s export request, {timing.parse:.2f} s parse); "
                f"no-change pull {seconds:.3f} s ({query:.3f} s in the task query)"
            )
    download, parse, size = results["raw"]
    fresh, report = results["fresh"]
    again, no_change, query = results["again"]
    return PullRound(
        order=list(order),
        download=download,
        parse=parse,
        export_bytes=size,
        fresh=fresh,
        again=again,
        no_change=no_change,
        no_change_query=query,
        counts={"new": report.new, "skipped": report.skipped, "problems": report.with_problems},
    )


# --------------------------------------------------------------------------------- summary


def verdict(ratio: float, target: float) -> str:
    return "pass" if ratio <= target else "**fail**"


def summary(
    command: str,
    args: argparse.Namespace,
    version: str,
    pushes: list[PushRound],
    pulls: list[PullRound],
    annotations: int,
    load: tuple[float, float],
    deletion: tuple[float, float],
) -> str:
    med = statistics.median
    push_s = [r.push for r in pushes] or [float("nan")]
    raw_s = [r.raw for r in pushes] or [float("nan")]
    export = [r.export for r in pulls]
    fresh = [r.fresh.seconds for r in pulls]
    again = [r.again.seconds for r in pulls]
    none = [r.no_change for r in pulls]
    push_ratio = med(push_s) / med(raw_s)
    fresh_ratio = med(fresh) / med(export)
    again_ratio = med(again) / med(export)
    none_ratio = med(none) / min(med(fresh), med(again))
    counts = pulls[0].counts
    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}; 1-minute load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end"
    )
    n = f"{args.tasks:,}"
    chunks = pushes[0].chunks if pushes else "–"
    payload = (
        f"Push payload {pushes[0].payload_bytes / 2**20:.1f} MiB." if pushes else "No push rounds."
    )
    raw_peer = "raw JSON export: download + `json.loads`"
    lines = [
        "## Push and pull (`benchmarks/loop.py`)",
        "",
        f"Command: `{command}` ({dt.date.today().isoformat()}; {machine})",
        "",
        f"Label Studio {version} ({'started by the benchmark' if not args.url else args.url}, "
        f"SQLite), {n} demo posts. {len(pushes)} push rounds and {len(pulls)} pull rounds; "
        "within a round the order of ours and the peer rotates. Seconds are best / median; "
        "ratios are of medians.",
        f"Pulled project: {n} tasks with {annotations:,} annotations by 3 annotators "
        f"({counts['skipped']:,} skips, {counts['problems']:,} breaking a taxonomy rule), "
        f"imported with the tasks; its JSON export is {pulls[0].export_bytes / 2**20:.1f} MiB. "
        f"{payload}",
        "",
        "| measurement | seconds | peer | peer seconds | ratio | target | result |",
        "|---|---:|---|---:|---:|---:|---|",
        *(
            [
                f"| `push` of {n} tasks ({chunks} chunks) | {best_median(push_s)} "
                f"| one raw `POST /api/projects/{{id}}/import` of the same tasks "
                f"| {best_median(raw_s)} | {push_ratio:.2f} | ≤ {TARGET_PUSH} "
                f"| {verdict(push_ratio, TARGET_PUSH)} |"
            ]
            if pushes
            else []
        ),
        f"| full `pull` into a store without them ({annotations:,} inserts) "
        f"| {best_median(fresh)} | {raw_peer} | {best_median(export)} | {fresh_ratio:.2f} "
        f"| ≤ {TARGET_FULL_PULL} | {verdict(fresh_ratio, TARGET_FULL_PULL)} |",
        f"| full `pull` into an up-to-date store (compares only) | {best_median(again)} "
        f"| {raw_peer} | {best_median(export)} | {again_ratio:.2f} | ≤ {TARGET_FULL_PULL} "
        f"| {verdict(again_ratio, TARGET_FULL_PULL)} |",
        f"| `pull` with no changes (incremental) | {best_median(none)} "
        f"| the faster full `pull` | {min(med(fresh), med(again)):.2f} (median) "
        f"| {none_ratio:.3f} | ≤ {TARGET_NO_CHANGE} | {verdict(none_ratio, TARGET_NO_CHANGE)} |",
        f"| `pull` after one task was deleted in Label Studio (once) | {deletion[0]:.2f} "
        f"| the faster full `pull` | {min(med(fresh), med(again)):.2f} (median) "
        f"| {deletion[0] / min(med(fresh), med(again)):.3f} | – | – |",
        "",
        "Where the time goes (medians):",
        "",
        (
            f"- `push`: {med([r.in_requests for r in pushes]):.2f} s in its "
            f"{pushes[0].chunks} import requests, "
            f"{med([r.push - r.in_requests for r in pushes]):.2f} s in the store and the "
            "check for tasks an interrupted push left. The peer's single request: "
            f"{med(raw_s):.2f} s."
            if pushes
            else "- `push`: not measured in this run."
        ),
        f"- raw export: {med([r.download for r in pulls]):.2f} s download, "
        f"{med([r.parse for r in pulls]):.2f} s `json.loads`.",
        f"- full `pull` into a new store: {med([r.fresh.download for r in pulls]):.2f} s "
        f"export request, {med([r.fresh.parse for r in pulls]):.2f} s parse, "
        f"{med([r.fresh.store for r in pulls]):.2f} s mapping and writing the store.",
        f"- full `pull` into an up-to-date store: {med([r.again.download for r in pulls]):.2f} s "
        f"export request, {med([r.again.parse for r in pulls]):.2f} s parse, "
        f"{med([r.again.store for r in pulls]):.2f} s mapping and comparing.",
        f"- `pull` with no changes: {med([r.no_change_query for r in pulls]):.3f} s in the "
        "task count and the `updated_at` task query, "
        f"{med([r.no_change - r.no_change_query for r in pulls]):.3f} s in the store.",
        f"- `pull` after a deletion: {deletion[1]:.2f} s counting and listing every task id, "
        f"{deletion[0] - deletion[1]:.2f} s the rest.",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ main


def measure(
    args: argparse.Namespace,
    folder: Path,
    store: Store,
    connection: LabelStudioConnection,
    clock: Clock,
    pks: list[int],
    run: str,
    pseudonymise: Callable[[str], str],
) -> tuple[list[PushRound], list[PullRound], int, tuple[float, float]]:
    pushes = [
        push_round(store, connection, clock, pks, run, number) for number in range(args.push_rounds)
    ]
    users = make_users(connection, max(3, args.annotations_per_task))
    name = f"bench {run} pull"
    ls_project, first_task, annotations = build_annotated_project(
        store, connection, pks, users, args.annotations_per_task, name
    )
    check_annotators(connection, ls_project, first_task, users)
    store.dispose()
    puller = Puller(
        folder, connection, clock, name, ls_project, pseudonymise, len(pks), annotations
    )
    copy_database(folder / "annotate.db", puller.base)
    pulls = [pull_round(puller, number) for number in range(args.rounds)]
    deletion = puller.after_deletion()
    return pushes, pulls, annotations, deletion


def remove_projects(connection: LabelStudioConnection, prefix: str) -> None:
    """Delete the projects this run made on a server it did not start."""
    for project in connection.client.projects.list():
        if (project.title or "").startswith(prefix):
            connection.delete_project(project.id)
            log(f"deleted project {project.id} ({project.title})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--annotations-per-task", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="pull rounds (default 3)")
    parser.add_argument("--push-rounds", type=int, default=3, help="push rounds (default 3)")
    parser.add_argument("--url", help="an existing Label Studio (default: start one)")
    parser.add_argument("--token", help="its API key (default: LABEL_STUDIO_API_KEY)")
    parser.add_argument(
        "--keep-projects", action="store_true", help="keep the projects made on a --url server"
    )
    args = parser.parse_args()
    shown = [part if not part.startswith("--token=") else "--token=…" for part in sys.argv[1:]]
    if "--token" in shown:
        shown[shown.index("--token") + 1] = "…"
    command = shlex.join(["python", "benchmarks/loop.py", *shown])
    print(f"$ {command}", flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="annotate-loop-") as tmp,
        label_studio(args, Path(tmp)) as (url, token, ours),
    ):
        folder = Path(tmp)
        connection = connect_to(url, token)
        clock = Clock()
        clock.wrap(connection, "import_tasks", "export", "list_tasks", "count_tasks", "_request")
        version = server_version(connection)
        settings = load_settings(workspace=folder / ".annotate")
        ensure_workspace(settings)
        pseudonymise = WorkspaceFolder(settings).pseudonymise
        store, pks = make_store(folder, args.tasks)
        run = uuid.uuid4().hex[:6]
        print(
            f"Label Studio {version}; {args.tasks:,} tasks, "
            f"{args.annotations_per_task} annotations per task",
            flush=True,
        )

        load_start = os.getloadavg()[0]
        try:
            pushes, pulls, annotations, deletion = measure(
                args, folder, store, connection, clock, pks, run, pseudonymise
            )
        finally:
            if not ours and not args.keep_projects:
                remove_projects(connection, f"bench {run} ")

    print()
    for number, r in enumerate(pushes):
        print(f"push round {number}: push {r.push:.2f} s, raw import {r.raw:.2f} s")
    for number, r in enumerate(pulls):
        print(
            f"pull round {number}: export {r.download:.2f} + {r.parse:.2f} s, full pull "
            f"{r.fresh.seconds:.2f} s, again {r.again.seconds:.2f} s, "
            f"no change {r.no_change:.3f} s ({', '.join(r.order)})"
        )
        load = (load_start, os.getloadavg()[0])
    print()
    print(summary(command, args, version, pushes, pulls, annotations, load, deletion))


if __name__ == "__main__":
    main()
