"""Reconciling a project's tasks in Label Studio with the store's.

They disagree when a push was interrupted after Label Studio made the tasks (the store never
heard their ids), when two pushes ran at once (before projects had locks: every task made
twice), or when someone imports or deletes tasks in Label Studio by hand. A Label Studio task
belongs to the store's task of the post it shows (``source`` and ``post_id`` in its data):
each post is at most one task of a project.

:func:`adopt_interrupted` is what every push does first: Label Studio tasks newer than any the
store knows are matched to the store's tasks that have no Label Studio id yet.

:func:`reconcile_tasks` (``annotate push --reconcile``) goes through every task of the project:

- a post's only Label Studio task, which the store has not mapped: the store adopts it (also
  when the store thought the post's task deleted);
- a post with several tasks: one is kept (the only one holding annotations or drafts, else
  the one the store knows, else the one holding most, else the oldest); the others are
  deleted when they hold nothing, and *reported, never deleted* when they hold annotations:
  two sets of answers to one post are for a person to merge (keep one task in Label Studio,
  then run it again);
- a task showing a post the project has no task for is none of the store's business: it is
  reported and left alone.

A task is checked again, just before it is deleted, to hold no annotation and no draft.
Adopting resets the project's pull watermark, so the next pull reads every task (adopted
tasks may hold annotations older than the watermark).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import func, update
from sqlmodel import Session, select

from annotate.labelstudio import LabelStudioConnection
from annotate.locks import locks_projects
from annotate.store import Post, Project, Store, Task
from annotate.store.models import utcnow
from annotate.store.queries import get_project, tasks_with_posts

TaskKey = tuple[str | None, str]


def task_key(data: dict[str, Any]) -> TaskKey | None:
    """The post a Label Studio task shows, as ``(source, post_id)``; None for tasks that do
    not come from annotate."""
    post_id = data.get("post_id")
    return None if post_id is None else (data.get("source"), str(post_id))


def write_adoptions(session: Session, adoptions: list[tuple[int, int]]) -> None:
    """Map store tasks to Label Studio tasks: ``(task pk, Label Studio task id)`` pairs."""
    now = utcnow()
    for task_pk, ls_task_id in adoptions:
        session.execute(
            update(Task)
            .where(Task.id == task_pk)
            .values(
                ls_task_id=ls_task_id,
                deleted_at=None,
                pushed_at=func.coalesce(Task.pushed_at, now),
            )
        )


def adopt_interrupted(
    store: Store, connection: LabelStudioConnection, project_id: int, ls_project_id: int
) -> int:
    """Adopt the tasks an interrupted push left in Label Studio: those with ids above every
    id the store knows (one filtered request), matched to the store's unmapped tasks."""
    with store.session() as session:
        newest = session.exec(
            select(func.max(Task.ls_task_id)).where(Task.project_id == project_id)
        ).one()
        unmapped = {
            (source, post_id): task_pk
            for task_pk, source, post_id in session.exec(
                tasks_with_posts(project_id, Task.id, Post.source, Post.post_id).where(
                    Task.ls_task_id.is_(None)
                )
            )
        }
    if not unmapped:
        return 0
    adoptions: dict[int, int] = {}
    for task in sorted(
        connection.list_tasks(ls_project_id, ("id", "data"), id_above=newest),
        key=lambda task: task["id"],
    ):
        task_pk = unmapped.get(task_key(task.get("data") or {}))
        if task_pk is not None:
            adoptions.setdefault(task_pk, task["id"])  # a twin left too stays unknown
    with store.transaction() as session:
        write_adoptions(session, list(adoptions.items()))
    return len(adoptions)


@dataclass
class ReconcileReport:
    """What :func:`reconcile_tasks` did (or, in a dry run, would do).

    ``adopt``: ``{task, source, post_id, ls_task_id, replaces}`` per store task mapped anew
    (``replaces``: the Label Studio id it had, if any); ``delete``: Label Studio ids of empty
    duplicates; ``conflicts``: ``{source, post_id, kept, ls_task_ids, annotations}`` per post
    with several tasks holding annotations (``annotations``: per task id, annotations and
    drafts); ``unrelated``: Label Studio tasks of posts the project has no task for;
    ``unpushed``: store tasks Label Studio has no task for (the push imports them).
    """

    project: str
    dry_run: bool
    adopt: list[dict[str, Any]] = field(default_factory=list)
    delete: list[int] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    unrelated: list[int] = field(default_factory=list)
    unpushed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Stored(NamedTuple):
    pk: int
    ls_task_id: int | None
    deleted: bool


@locks_projects("project_name", command="push --reconcile")
def reconcile_tasks(
    store: Store,
    connection: LabelStudioConnection,
    project_name: str,
    *,
    dry_run: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> ReconcileReport:
    """Make the project's tasks in Label Studio and in the store one to one (see the module
    docstring), holding the project's lock (``wait``, ``on_wait``: :mod:`annotate.locks`)."""
    with store.session() as session:
        project = get_project(session, project_name)
        project_id, ls_project_id = project.id, project.ls_project_id
        stored = {
            (source, post_id): _Stored(task_pk, ls_task_id, deleted_at is not None)
            for task_pk, ls_task_id, deleted_at, source, post_id in session.exec(
                tasks_with_posts(
                    project_id, Task.id, Task.ls_task_id, Task.deleted_at, Post.source, Post.post_id
                )
            )
        }
    by_key: dict[TaskKey | None, list[int]] = defaultdict(list)
    for task in connection.list_tasks(ls_project_id, ("id", "data")):
        by_key[task_key(task.get("data") or {})].append(task["id"])
    several = [
        ls_id for key, ids in by_key.items() if key in stored and len(ids) > 1 for ls_id in ids
    ]
    report = ReconcileReport(project=project_name, dry_run=dry_run)
    _plan(report, by_key, stored, _holdings(connection, ls_project_id, several))
    if dry_run:
        return report
    with store.transaction() as session:
        write_adoptions(session, [(item["task"], item["ls_task_id"]) for item in report.adopt])
        if report.adopt:
            session.execute(
                update(Project).where(Project.id == project_id).values(pull_watermark=None)
            )
    # Checked again right before: an annotator may have started on one meanwhile.
    holdings = _holdings(connection, ls_project_id, report.delete)
    report.delete = [ls_id for ls_id in report.delete if holdings.get(ls_id) == 0]
    connection.delete_tasks(ls_project_id, report.delete)
    return report


def _plan(
    report: ReconcileReport,
    by_key: dict[TaskKey | None, list[int]],
    stored: dict[TaskKey, _Stored],
    holdings: dict[int, int],
) -> None:
    """Fill ``report`` with what to adopt, delete, report (``holdings``: annotations and
    drafts per Label Studio task, known for posts with several tasks)."""
    for key, ids in sorted(by_key.items(), key=lambda item: min(item[1])):
        mine = stored.get(key) if key is not None else None
        if mine is None:
            report.unrelated += sorted(ids)
            continue
        ids = sorted(ids)
        if ids == [mine.ls_task_id] and not mine.deleted:
            continue  # the usual case
        known = mine.ls_task_id if mine.ls_task_id in ids else None
        holding = [ls_id for ls_id in ids if holdings.get(ls_id)]
        if known is not None and (holdings.get(known) or not holding):
            kept = known
        elif holding:
            kept = max(holding, key=lambda ls_id: (holdings[ls_id], -ls_id))
        else:
            kept = ids[0]
        others = [ls_id for ls_id in ids if ls_id != kept]
        report.delete += [ls_id for ls_id in others if not holdings.get(ls_id)]
        busy = [ls_id for ls_id in others if holdings.get(ls_id)]
        if busy:
            report.conflicts.append(
                {
                    "source": key[0],
                    "post_id": key[1],
                    "kept": kept,
                    "ls_task_ids": sorted([kept, *busy]),
                    "annotations": {str(ls_id): holdings.get(ls_id, 0) for ls_id in [kept, *busy]},
                }
            )
        if kept != mine.ls_task_id or mine.deleted:
            report.adopt.append(
                {
                    "task": mine.pk,
                    "source": key[0],
                    "post_id": key[1],
                    "ls_task_id": kept,
                    "replaces": mine.ls_task_id,
                }
            )
    on_server = {key for key in by_key if key is not None}
    report.unpushed = sum(
        1
        for key, mine in stored.items()
        if key not in on_server and mine.ls_task_id is None and not mine.deleted
    )


def _holdings(
    connection: LabelStudioConnection, ls_project_id: int, ids: list[int]
) -> dict[int, int]:
    """Annotations (skips included) and drafts per Label Studio task; tasks gone are left out."""
    return {
        task["id"]: len(task.get("annotations") or []) + len(task.get("drafts") or [])
        for task in connection.export_by_id(ls_project_id, ids)
    }
