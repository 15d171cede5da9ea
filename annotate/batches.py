"""Batches: recording a sample in the store and pushing its tasks to Label Studio.

A batch is recorded first (one transaction: the batch row and one task row per post, without
a Label Studio id). Pushing then imports the tasks that have no Label Studio id yet, in chunks,
and writes each chunk's ids back as soon as Label Studio returns them. If a push is
interrupted, rerunning it first reconciles with the tasks already in the project (by source
and post id) and then imports only what is missing, so a post never becomes two tasks.

Sampling and pushing hold the project's lock (:mod:`annotate.locks`): two runs on one project
at once take turns instead of both importing the same tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, update
from sqlmodel import Session, select

from annotate.errors import AnnotateError

if TYPE_CHECKING:
    from annotate.engines.sampler import CorpusSampler
from annotate.labelstudio import LabelStudioConnection
from annotate.locks import locks_projects, project_lock
from annotate.reconcile import ReconcileReport, adopt_interrupted, reconcile_tasks
from annotate.sampling import (
    Lexicon,
    SamplingParams,
    load_gold,
    load_lexicon,
    read_candidates,
    read_gold_candidates,
    read_sent,
    select_batch,
)
from annotate.store import Batch, GoldItem, Post, Store, Task
from annotate.store.models import utcnow
from annotate.store.queries import get_project, project_and_taxonomy, tasks_with_posts

#: Tasks per import request. Label Studio re-spreads a project's overlap over all its tasks
#: after every import, so many small requests cost far more than a few large ones
#: (measured: 20 x 500 tasks take 3-5x one request of 10,000).
CHUNK_SIZE = 10_000
#: The only post fields a task carries. Never meta: it holds hidden fields such as the demo
#: corpus's true_labels, which must not reach annotators.
TASK_FIELDS = ("text", "platform", "created_at", "account", "post_id", "source", "batch_id")


@dataclass
class PushReport:
    """``reconciled``: tasks an interrupted push left in Label Studio, adopted first;
    ``reconcile``: what ``reconcile=True`` did (see :mod:`annotate.reconcile`); ``pending``:
    in a dry run, at most how many tasks a push would import."""

    project: str
    pushed: int = 0
    reconciled: int = 0
    chunks: int = 0
    dry_run: bool = False
    pending: int = 0
    reconcile: ReconcileReport | None = None
    #: What ``--pre-annotate`` attached (:class:`annotate.suggestions.PreAnnotationReport`).
    suggestions: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "reconcile": self.reconcile.as_dict() if self.reconcile else None,
            "suggestions": self.suggestions.as_dict() if self.suggestions else None,
        }


@dataclass
class RecordedBatch:
    batch_id: int
    project: str
    tasks: int
    gold: int
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_batch(
    store: Store,
    project_name: str,
    *,
    strategy: str,
    params: dict[str, Any],
    seed: int | None,
    post_pks: Sequence[int],
    gold_pks: Sequence[int] = (),
    gold_labels: dict[int, dict[str, Any]] | None = None,
) -> RecordedBatch:
    """Record a batch and its tasks (no Label Studio ids yet) in one transaction.

    ``post_pks`` are in task order; ``gold_pks`` (a subset of them, or extra posts appended
    after them) are recorded as gold, with their known answers in ``gold_labels``. Posts that
    already are tasks of the project are refused: each post is at most one task per project.
    ``params["rank_version"]`` says how the posts were ranked (:mod:`annotate.sampling.
    ranking`; 1 when absent), as every sampler's ``SamplingParams.as_dict()`` records it.
    """
    regular = set(post_pks)
    all_pks = [*post_pks, *(pk for pk in gold_pks if pk not in regular)]
    if len(set(all_pks)) != len(all_pks):
        raise AnnotateError("A batch lists the same post twice.")
    if not all_pks:
        raise AnnotateError("The batch is empty: no post matched.", hint="Loosen --where.")
    with store.transaction() as session:
        project = get_project(session, project_name)
        taken = set(
            session.exec(
                select(Task.post_pk).where(Task.project_id == project.id, Task.post_pk.in_(all_pks))
            )
        )
        if taken:
            raise AnnotateError(
                f"{len(taken)} of these posts are already tasks of project {project_name!r}."
            )
        post_ids = {
            pk: post_id
            for pk, post_id in session.exec(
                select(Post.id, Post.post_id).where(Post.id.in_(all_pks))
            )
        }
        gold = set(gold_pks)
        batch = Batch(
            project_id=project.id,
            strategy=strategy,
            params={
                **params,
                "post_ids": [post_ids[pk] for pk in all_pks if pk not in gold],
                "gold_post_ids": [post_ids[pk] for pk in all_pks if pk in gold],
            },
            seed=seed,
            size=len(all_pks),
            rank_version=params.get("rank_version", 1),
        )
        session.add(batch)
        session.flush()
        now = utcnow()
        for pk, labels in (gold_labels or {}).items():
            known = session.exec(select(GoldItem).where(GoldItem.post_pk == pk)).first()
            if known is None:
                session.add(GoldItem(post_pk=pk, labels=labels, origin=params.get("gold")))
            else:
                known.labels = labels
                session.add(known)
        session.add_all(
            Task(
                project_id=project.id,
                post_pk=pk,
                batch_id=batch.id,
                is_gold=pk in gold,
                created_at=now,
            )
            for pk in all_pks
        )
        return RecordedBatch(
            batch_id=batch.id,
            project=project_name,
            tasks=len(all_pks),
            gold=len(gold_pks),
            params=batch.params,
        )


@dataclass
class SampleResult:
    """A sampled batch: how it was composed and, unless it was a dry run, its record."""

    project: str
    dry_run: bool
    selection: dict[str, Any]
    batch: RecordedBatch | None = None
    #: Tasks an earlier, interrupted run left unpushed, pushed first (by :func:`sample`).
    earlier_push: PushReport | None = None
    push: PushReport | None = None
    #: The model's suggestions attached to the batch's tasks (``--pre-annotate``), if any:
    #: a :class:`annotate.suggestions.PreAnnotationReport`.
    suggestions: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "dry_run": self.dry_run,
            "batch": self.batch.as_dict() if self.batch else None,
            **self.selection,
            "earlier_push": self.earlier_push.as_dict() if self.earlier_push else None,
            "push": self.push.as_dict() if self.push else None,
            "suggestions": self.suggestions.as_dict() if self.suggestions else None,
        }


def sample_batch(
    store: Store,
    project_name: str,
    params: SamplingParams,
    *,
    lexicon: Lexicon | None = None,
    gold_file: Path | None = None,
    dry_run: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    corpus: CorpusSampler | None = None,
) -> SampleResult:
    """Choose the next batch for a project (see :mod:`annotate.sampling`) and record it.

    Posts already sent to the project are never candidates. Gold posts from ``gold_file``
    (known answers, checked against the project's taxonomy) are mixed in at
    ``params.gold_rate`` and recorded as gold; nothing in the task says so. Holds the
    project's lock unless it is a dry run (``wait``, ``on_wait``: see :mod:`annotate.locks`).
    ``corpus``: sample from an external corpus instead of the store's posts
    (:mod:`annotate.engines.sampler`).
    """
    lock = (
        contextlib.nullcontext()
        if dry_run
        else project_lock(store, project_name, command="sample", wait=wait, on_wait=on_wait)
    )
    with lock:
        return _sample_batch(store, project_name, params, lexicon, gold_file, dry_run, corpus)


def _sample_batch(
    store: Store,
    project_name: str,
    params: SamplingParams,
    lexicon: Lexicon | None,
    gold_file: Path | None,
    dry_run: bool,
    corpus: CorpusSampler | None = None,
) -> SampleResult:
    with store.session() as session:
        project, taxonomy = project_and_taxonomy(session, project_name)
        project_id = project.id
    if lexicon is None and params.uses_lexicon:
        lexicon = load_lexicon()
    gold_items = load_gold(gold_file, taxonomy) if gold_file is not None else []
    if params.gold_size and not gold_items:
        raise AnnotateError("--gold-rate needs gold posts.", hint="Pass --gold FILE.")
    sent = read_sent(store, project_id) if params.dedupe else ()
    if corpus is None:
        gold = read_gold_candidates(store, gold_items, exclude_project_id=project_id)
        candidates = read_candidates(store, params.where, exclude_project_id=project_id)
        selection = select_batch(candidates, params, lexicon, gold, sent)
    else:
        selection = corpus.select(params, lexicon, gold_items, project_id, sent)
        selection = corpus.store_posts(selection, write=not dry_run)
    result = SampleResult(project=project_name, dry_run=dry_run, selection=selection.as_dict())
    if corpus is not None:
        result.selection["corpus"] = corpus.describe()
    if dry_run:
        return result
    labels_by_key = {(item.source, item.post_id): item.labels for item in gold_items}
    picks = {pick.pk: pick for pick in selection.picks}
    gold_labels = {
        pk: labels_by_key[(picks[pk].source, picks[pk].post_id)] for pk in selection.gold_pks
    }
    result.batch = record_batch(
        store,
        project_name,
        strategy=params.strategy,
        params={
            **params.as_dict(),
            **({"gold": str(gold_file)} if gold_file else {}),
            **({"corpus": corpus.corpus.name, "engine": corpus.engine.name} if corpus else {}),
        },
        seed=params.seed,
        post_pks=selection.task_pks,
        gold_pks=selection.gold_pks,
        gold_labels=gold_labels,
    )
    return result


def sample(
    store: Store,
    connection: LabelStudioConnection,
    project_name: str,
    params: SamplingParams,
    *,
    lexicon: Lexicon | None = None,
    gold_file: Path | None = None,
    dry_run: bool = False,
    include_account_id: bool = False,
    progress: Callable[[int, int], None] | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    corpus: CorpusSampler | None = None,
) -> SampleResult:
    """What ``annotate sample`` does: push the tasks an interrupted run left unpushed, choose
    and record the next batch, and push it, holding the project's lock throughout (a dry run
    only chooses, and takes no lock)."""
    if dry_run:
        return sample_batch(
            store,
            project_name,
            params,
            lexicon=lexicon,
            dry_run=True,
            gold_file=gold_file,
            corpus=corpus,
        )
    with project_lock(store, project_name, command="sample", wait=wait, on_wait=on_wait):
        pushing = {"include_account_id": include_account_id, "progress": progress}
        earlier = push(store, connection, project_name, **pushing)
        result = sample_batch(
            store, project_name, params, lexicon=lexicon, gold_file=gold_file, corpus=corpus
        )
        result.earlier_push = earlier
        result.push = push(store, connection, project_name, **pushing)
        return result


def task_data(
    post: Post | _PostForTask, batch_id: int | None, include_account_id: bool = False
) -> dict:
    """What annotators see of a post: text and display metadata, never hidden fields."""
    meta = post.meta or {}
    account = str(meta.get("account_name") or "")
    if include_account_id and post.account_id:
        account = f"{account} ({post.account_id})" if account else post.account_id
    created = ""
    if post.created_at is not None:
        moment = post.created_at
        if moment.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
            moment = moment.replace(tzinfo=UTC)
        created = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = {
        "text": post.text,
        "platform": post.platform or "",
        "created_at": created,
        "account": account,
        "post_id": post.post_id,
        "source": post.source,
        "batch_id": batch_id,
    }
    assert tuple(data) == TASK_FIELDS
    return data


@locks_projects("project_name", command="push")
def push(
    store: Store,
    connection: LabelStudioConnection,
    project_name: str,
    *,
    chunk_size: int | None = None,
    include_account_id: bool = False,
    progress: Callable[[int, int], None] | None = None,
    reconcile: bool = False,
    dry_run: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> PushReport:
    """Import the project's tasks that have no Label Studio id yet, chunk by chunk, holding
    the project's lock (``wait``, ``on_wait``: see :mod:`annotate.locks`).

    ``reconcile``: first make the project's tasks in Label Studio and in the store one to
    one (:func:`annotate.reconcile.reconcile_tasks`). ``dry_run``: change nothing, report.
    """
    report = PushReport(project=project_name, dry_run=dry_run)
    if reconcile:
        report.reconcile = reconcile_tasks(store, connection, project_name, dry_run=dry_run)
    with store.session() as session:
        project = get_project(session, project_name)
        project_id, ls_project_id = project.id, project.ls_project_id
        pending = _pending(session, project_id)
    if dry_run:
        report.pending = report.reconcile.unpushed if report.reconcile else len(pending)
        return report
    if not pending:
        return report
    # Tasks an earlier push made in Label Studio before it was interrupted, before the store
    # heard their ids: matched by post, so that no post becomes two tasks.
    report.reconciled = adopt_interrupted(store, connection, project_id, ls_project_id)
    if report.reconciled:
        with store.session() as session:
            pending = _pending(session, project_id)
    total = len(pending)
    done = 0
    table = Task.__table__
    chunk_size = chunk_size or CHUNK_SIZE  # read at call time: tests set the module's
    for start in range(0, total, chunk_size):
        chunk = pending[start : start + chunk_size]
        ids = connection.import_tasks(
            ls_project_id,
            [task_data(post, batch_id, include_account_id) for _, batch_id, post in chunk],
        )
        with store.transaction() as session:
            now = utcnow()
            session.execute(
                update(table)
                .where(table.c.id == bindparam("task_pk"))
                .values(ls_task_id=bindparam("ls_id"), pushed_at=now),
                [
                    {"task_pk": task_pk, "ls_id": ls_task_id}
                    for (task_pk, _, _), ls_task_id in zip(chunk, ids, strict=True)
                ],
                execution_options={"synchronize_session": False},
            )
        done += len(chunk)
        report.pushed += len(chunk)
        report.chunks += 1
        if progress is not None:
            progress(done, total)
    return report


class _PostForTask(NamedTuple):
    """The columns :func:`task_data` reads (whole ORM rows cost more than the request)."""

    text: str
    platform: str | None
    created_at: Any
    account_id: str | None
    meta: dict[str, Any] | None
    post_id: str
    source: str


def _pending(session: Session, project_id: int) -> list[tuple[int, int | None, _PostForTask]]:
    """``(task pk, batch id, post columns)`` of the project's tasks without a Label Studio id."""
    rows = session.exec(
        tasks_with_posts(
            project_id,
            Task.id,
            Task.batch_id,
            Post.text,
            Post.platform,
            Post.created_at,
            Post.account_id,
            Post.meta,
            Post.post_id,
            Post.source,
        )
        .where(Task.ls_task_id.is_(None))
        .order_by(Task.id)
    ).all()
    return [(task_pk, batch_id, _PostForTask(*post)) for task_pk, batch_id, *post in rows]
