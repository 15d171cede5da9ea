"""Pulling annotations from Label Studio into the store.

Annotations are read through the JSON export endpoint (much faster than paging the tasks API)
and mapped with the taxonomy the project was made under. The store keeps one row per Label
Studio annotation id: inserted when new, updated when it changed, marked deleted when it
disappeared. Skipped (cancelled) annotations are kept as skips without labels; drafts are
ignored.

Incremental by default: Label Studio moves a task's ``updated_at`` whenever one of its
annotations is created, updated or deleted, so a pull asks only for the tasks changed since the
newest change the previous pull saw (Label Studio's own clock, so no clock skew), and exports
just those. ``full=True`` rereads everything. A pull reads everything it needs from Label
Studio first and then writes in one transaction: a failed pull leaves the store as it was.
It holds the project's lock (:mod:`annotate.locks`), so two pulls of one project take turns.

Deleting a task does not move any other task, so every pull also checks that the tasks it
did not export are still there: the project's task count less the changed tasks must equal
the store's tasks, and those the last pull found only in Label Studio, less the changed ones.
Only when it does not does the pull list every task id, which takes seconds on a big
project. A task gone from Label Studio is marked deleted in the store (never pushed again,
not counted) and its annotations with it. Tasks Label Studio has and the store does not are
reported (``unknown_task_ids``); ``annotate push --reconcile`` repairs them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import select

from annotate.labelstudio import EXPORT_IDS, LabelStudioConnection, parse_time
from annotate.locks import locks_projects
from annotate.reconcile import task_key, write_adoptions
from annotate.store import Annotation, Annotator, Post, Project, PullRun, Store, Task
from annotate.store.models import utcnow
from annotate.store.queries import project_and_taxonomy, tasks_with_posts
from annotate.taxonomy import Taxonomy as TaxonomySpec
from annotate.taxonomy import check_rules, labels_from_result

EXPORT_CHUNK = EXPORT_IDS  # task ids per export request
KINDS = ("new", "updated", "deleted", "skipped", "unchanged")


@dataclass
class PullReport:
    """What a pull changed. ``new`` … ``unchanged`` count annotations; ``deleted_tasks`` the
    tasks it found gone from Label Studio; ``unknown_task_ids`` the tasks Label Studio has
    and the store does not (their annotations are not pulled)."""

    project: str
    full: bool
    tasks: int = 0
    new: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    unchanged: int = 0
    with_problems: int = 0
    deleted_tasks: int = 0
    unknown_tasks: int = 0
    unknown_task_ids: list[int] = field(default_factory=list)
    adjudications: int = 0
    by_annotator: dict[str, dict[str, int]] = field(default_factory=dict)
    watermark: str | None = None

    @property
    def changed(self) -> int:
        return self.new + self.updated + self.deleted + self.skipped + self.deleted_tasks

    def count(self, annotator: str, kind: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        counts = self.by_annotator.setdefault(annotator, dict.fromkeys(KINDS, 0))
        counts[kind] += 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


@locks_projects("project_name", command="pull")
def pull(
    store: Store,
    connection: LabelStudioConnection,
    project_name: str,
    *,
    pseudonymise: Callable[[str], str],
    full: bool = False,
    progress: Callable[[str], None] | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> PullReport:
    """Bring the store's annotations of a project up to date with Label Studio, holding the
    project's lock (``wait``, ``on_wait``: see :mod:`annotate.locks`)."""
    say = progress or (lambda message: None)
    with store.session() as session:
        project, taxonomy = project_and_taxonomy(session, project_name)
        project_id, ls_project_id = project.id, project.ls_project_id
        is_adjudication = project.kind == "adjudication"
        watermark = None if full else _aware(project.pull_watermark)
        last = session.exec(
            select(PullRun.counts)
            .where(PullRun.project_id == project_id)
            .order_by(PullRun.id.desc())
            .limit(1)
        ).first()
    full = full or watermark is None
    report = PullReport(project=project_name, full=full)
    old_unknown: set[int] | None = None  # unchanged tasks the last pull found only there
    started = utcnow()
    if full:
        say("exporting every task")
        exported = connection.export(ls_project_id)
        present: set[int] | None = {task["id"] for task in exported}
        moments = [parse_time(task.get("updated_at")) for task in exported]
    else:
        # Counted before the changed tasks are listed: a task made in between is then listed
        # but not counted, which errs towards listing every id, never towards missing one.
        total = connection.count_tasks(ls_project_id)
        changed = connection.list_tasks(
            ls_project_id, ("id", "updated_at"), updated_after=watermark
        )
        say(f"{len(changed)} tasks changed since the last pull")
        ids = [task["id"] for task in changed]
        # The changed tasks' listed times, not the exported ones: a task that changes again
        # between the two requests is exported newer than listed, and the watermark must not
        # pass over another task that changed in between.
        moments = [parse_time(task.get("updated_at")) for task in changed]
        if len(ids) > 4 * EXPORT_CHUNK:
            # One export of everything beats many by id; unchanged tasks only get compared.
            exported = connection.export(ls_project_id)
            present = {task["id"] for task in exported}
        else:
            exported = connection.export_by_id(ls_project_id, ids, EXPORT_CHUNK)
            present = None
            old_unknown = _unknown_before(last)
            if old_unknown is not None:
                old_unknown -= set(ids)
                expected = len(old_unknown) + _mapped_besides(store, project_id, ids)
            if old_unknown is None or total - len(ids) != expected:
                say("listing every task to find the deleted ones")
                present = {task["id"] for task in connection.list_tasks(ls_project_id, ("id",))}
    report.tasks = len(exported)
    newest = max((moment for moment in moments if moment is not None), default=None)
    new_watermark = max(filter(None, [newest, watermark]), default=None)
    report.watermark = new_watermark.isoformat() if new_watermark else None
    users: dict[int, dict[str, Any]] | None = None

    def user(user_id: int) -> dict[str, Any]:
        nonlocal users
        if users is None:
            users = connection.users()
        return users.get(user_id, {})

    with store.transaction() as session:
        unknown = _apply(session, project_id, taxonomy, exported, full, report, pseudonymise, user)
        if present is not None:
            _forget_deleted(session, project_id, present, report)
            unknown = present - _mapped(session, project_id)
        elif old_unknown:
            unknown = (unknown | old_unknown) - _mapped(session, project_id)
        report.unknown_task_ids = sorted(unknown)
        report.unknown_tasks = len(unknown)
        if is_adjudication:
            from annotate.adjudication import record_decisions

            session.flush()
            report.adjudications = record_decisions(session, project_id)
        counts = {kind: getattr(report, kind) for kind in KINDS}
        counts.update(
            deleted_tasks=report.deleted_tasks,
            unknown_tasks=report.unknown_tasks,
            unknown_task_ids=report.unknown_task_ids,
        )
        session.add(
            PullRun(
                project_id=project_id,
                full=full,
                started_at=started,
                finished_at=utcnow(),
                watermark=new_watermark,
                tasks=report.tasks,
                counts=counts,
            )
        )
        row = session.get(Project, project_id)
        row.last_pull_at = started
        row.pull_watermark = new_watermark
        session.add(row)
    return report


def _unknown_before(counts: dict[str, Any] | None) -> set[int] | None:
    """The tasks the last pull found in Label Studio and not in the store (None: unknown)."""
    counts = counts or {}
    if "unknown_task_ids" in counts:
        return set(counts["unknown_task_ids"])
    return set() if counts.get("unknown_tasks") == 0 else None


def _mapped_besides(store: Store, project_id: int, ls_ids: list[int]) -> int:
    """How many of the project's tasks the store has in Label Studio, besides ``ls_ids``."""
    active = (
        Task.project_id == project_id,
        Task.ls_task_id.is_not(None),
        Task.deleted_at.is_(None),
    )
    with store.session() as session:
        count = session.exec(select(func.count()).select_from(Task).where(*active)).one()
        for start in range(0, len(ls_ids), 5000):
            chunk = ls_ids[start : start + 5000]
            count -= session.exec(
                select(func.count()).select_from(Task).where(*active, Task.ls_task_id.in_(chunk))
            ).one()
    return count


def _mapped(session, project_id: int) -> set[int]:
    """The Label Studio ids of the project's tasks the store knows (deleted ones too)."""
    return set(
        session.exec(
            select(Task.ls_task_id).where(
                Task.project_id == project_id, Task.ls_task_id.is_not(None)
            )
        )
    )


def _forget_deleted(session, project_id: int, present: set[int], report: PullReport) -> None:
    """Mark the tasks gone from Label Studio deleted, and their annotations with them."""
    rows = session.exec(
        select(Task.id, Task.ls_task_id).where(
            Task.project_id == project_id,
            Task.ls_task_id.is_not(None),
            Task.deleted_at.is_(None),
        )
    ).all()
    gone = [task_pk for task_pk, ls_id in rows if ls_id not in present]
    if not gone:
        return
    now = utcnow()
    report.deleted_tasks = len(gone)
    for start in range(0, len(gone), 5000):
        chunk = gone[start : start + 5000]
        annotations = session.exec(
            select(Annotation.id, Annotator.pseudonym)
            .join(Annotator, Annotator.id == Annotation.annotator_id)
            .where(Annotation.task_id.in_(chunk), Annotation.deleted_at.is_(None))
        ).all()
        for _, pseudonym in annotations:
            report.count(pseudonym, "deleted")
        session.execute(
            update(Annotation)
            .where(Annotation.id.in_([annotation_id for annotation_id, _ in annotations]))
            .values(deleted_at=now),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            update(Task).where(Task.id.in_(chunk)).values(deleted_at=now),
            execution_options={"synchronize_session": False},
        )


def _apply(
    session,
    project_id: int,
    taxonomy: TaxonomySpec,
    exported: list[dict[str, Any]],
    full: bool,
    report: PullReport,
    pseudonymise: Callable[[str], str],
    user: Callable[[int], dict[str, Any]],
) -> set[int]:
    """Store the exported tasks' annotations; the exported tasks the store does not know."""
    ls_ids = [task["id"] for task in exported]
    tasks = _tasks(session, project_id, ls_ids if not full else None)
    _adopt_unmapped(session, project_id, exported, tasks)
    task_ids = [task_id for task_id, _ in tasks.values()]
    # Only the columns that tell a change: loading whole rows would decode every stored
    # result and label set (measured: twice the time of a full pull's store work).
    existing: dict[int, _Stored] = {}
    by_task: dict[int, list[_Stored]] = defaultdict(list)
    columns = (
        Annotation.id,
        Annotation.ls_annotation_id,
        Annotation.task_id,
        Annotation.annotator_id,
        Annotation.ls_updated_at,
        Annotation.was_cancelled,
        Annotation.deleted_at,
    )
    for start in range(0, len(task_ids), 5000):
        chunk = task_ids[start : start + 5000]
        for row in session.exec(select(*columns).where(Annotation.task_id.in_(chunk))):
            stored = _Stored(*row)
            existing[stored.ls_annotation_id] = stored
            by_task[stored.task_id].append(stored)
    mapped = [task for task in exported if task["id"] in tasks]
    annotator_of, pseudonym_of = _annotators(session, mapped, pseudonymise, user)
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    deletions: list[int] = []

    unknown: set[int] = set()
    for task in exported:
        mapped_task = tasks.get(task["id"])
        if mapped_task is None:
            unknown.add(task["id"])
            continue
        task_pk, text = mapped_task
        seen = set()
        for item in task.get("annotations") or []:
            seen.add(item["id"])
            annotator = annotator_of[item.get("completed_by")]
            pseudonym = pseudonym_of[annotator]
            old = existing.get(item["id"])
            if old is not None and not _changed(old, item, task_pk):
                report.count(pseudonym, "unchanged")
                continue
            values = _values(taxonomy, item, text, task_pk, annotator, now)
            if values["problems"]:
                report.with_problems += 1
            if old is None:
                inserts.append(values)
                report.count(pseudonym, "skipped" if values["was_cancelled"] else "new")
            else:
                updates.append({"row_id": old.id, **values})
                kind = "skipped" if values["was_cancelled"] and not old.was_cancelled else "updated"
                report.count(pseudonym, kind)
        for old in by_task.get(task_pk, []):
            if old.ls_annotation_id not in seen and old.deleted_at is None:
                deletions.append(old.id)
                report.count(pseudonym_of[old.annotator_id], "deleted")
    table = Annotation.__table__
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        columns = {key: bindparam(key) for key in updates[0] if key != "row_id"}
        session.execute(
            update(table).where(table.c.id == bindparam("row_id")).values(**columns),
            updates,
            execution_options={"synchronize_session": False},
        )
    if deletions:
        session.execute(
            update(table).where(table.c.id.in_(deletions)).values(deleted_at=now),
            execution_options={"synchronize_session": False},
        )
    return unknown


def _annotators(
    session,
    exported: list[dict[str, Any]],
    pseudonymise: Callable[[str], str],
    user: Callable[[int], dict[str, Any]],
) -> tuple[dict[int, int], dict[int, str]]:
    """``{Label Studio user id: annotator pk}`` for everyone who annotated an exported task,
    adding the people the store does not know yet, and ``{annotator pk: pseudonym}`` for all.

    Another pull (of another project) may add the same person at the same moment: the insert
    leaves an existing row alone and the rows are read back, instead of failing on the unique
    user id.
    """
    wanted = {
        item.get("completed_by") for task in exported for item in task.get("annotations") or []
    }
    rows = session.exec(select(Annotator.ls_user_id, Annotator.id, Annotator.pseudonym)).all()
    known = {ls_user_id for ls_user_id, _, _ in rows}
    missing = sorted(wanted - known)
    if missing:
        new = [
            {
                "ls_user_id": user_id,
                "email": user(user_id).get("email"),
                "pseudonym": pseudonymise(f"ls-user:{user_id}"),
            }
            for user_id in missing
        ]
        session.execute(_insert_new(session, Annotator.__table__), new)
        rows = session.exec(select(Annotator.ls_user_id, Annotator.id, Annotator.pseudonym)).all()
    annotator_of = {ls_user_id: pk for ls_user_id, pk, _ in rows}
    pseudonym_of = {pk: pseudonym for _, pk, pseudonym in rows}
    return annotator_of, pseudonym_of


def _insert_new(session, table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the store's dialect (both have it)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing()


def _tasks(session, project_id: int, ls_ids: list[int] | None) -> dict[int, tuple[int, str]]:
    """``{ls_task_id: (task pk, post text)}`` for the project (only ``ls_ids`` when given)."""
    query = tasks_with_posts(project_id, Task.ls_task_id, Task.id, Post.text).where(
        Task.ls_task_id.is_not(None)
    )
    found: dict[int, tuple[int, str]] = {}
    if ls_ids is None:
        for ls_id, task_pk, text in session.exec(query):
            found[ls_id] = (task_pk, text)
        return found
    for start in range(0, len(ls_ids), 5000):
        chunk = ls_ids[start : start + 5000]
        for ls_id, task_pk, text in session.exec(query.where(Task.ls_task_id.in_(chunk))):
            found[ls_id] = (task_pk, text)
    return found


def _adopt_unmapped(session, project_id, exported, tasks) -> None:
    """Tasks Label Studio has and the store does not (a push interrupted after Label Studio
    made them): match them to the store's unmapped tasks by the post they show."""
    unmapped = [task for task in exported if task["id"] not in tasks]
    if not unmapped:
        return
    rows = session.exec(
        tasks_with_posts(project_id, Task.id, Post.source, Post.post_id, Post.text).where(
            Task.ls_task_id.is_(None)
        )
    ).all()
    by_key = {(source, post_id): (task_pk, text) for task_pk, source, post_id, text in rows}
    adoptions = []
    for task in sorted(unmapped, key=lambda task: task["id"]):
        match = by_key.pop(task_key(task.get("data") or {}), None)
        if match is not None:
            adoptions.append((match[0], task["id"]))
            tasks[task["id"]] = match
    write_adoptions(session, adoptions)


def _values(
    taxonomy: TaxonomySpec,
    item: dict[str, Any],
    text: str,
    task_pk: int,
    annotator_pk: int,
    now: datetime,
) -> dict[str, Any]:
    cancelled = bool(item.get("was_cancelled"))
    result = item.get("result") or []
    labels = None
    problems: list[str] = []
    if not cancelled:
        mapped = labels_from_result(taxonomy, result, text)
        labels = mapped.labels
        problems = [*mapped.problems, *check_rules(taxonomy, labels)]
    return {
        "ls_annotation_id": item["id"],
        "task_id": task_pk,
        "annotator_id": annotator_pk,
        "result": result,
        "labels": labels,
        "was_cancelled": cancelled,
        "lead_time": item.get("lead_time"),
        "ls_created_at": parse_time(item.get("created_at")),
        "ls_updated_at": parse_time(item.get("updated_at")),
        "deleted_at": None,
        "pulled_at": now,
        "problems": problems or None,
    }


class _Stored(NamedTuple):
    id: int
    ls_annotation_id: int
    task_id: int
    annotator_id: int
    ls_updated_at: datetime | None
    was_cancelled: bool
    deleted_at: datetime | None


def _changed(old: _Stored, item: dict[str, Any], task_pk: int) -> bool:
    """Label Studio moves an annotation's updated_at whenever it changes it."""
    return (
        old.deleted_at is not None
        or _aware(old.ls_updated_at) != parse_time(item.get("updated_at"))
        or old.was_cancelled != bool(item.get("was_cancelled"))
        or old.task_id != task_pk
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
