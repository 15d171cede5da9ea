"""Recording annotations that did not come from Label Studio: another tool's export, a
vendor's file, a simulation, a test.

Usage::

    from annotate.store import record_annotations

    recorded = record_annotations(
        store,
        "vendor round",
        [
            (("weibo", "4890213"), "ann-1", {"category": ["extortion"], "severity": "high"}),
            {"post": 17, "annotator": "lead@example.com", "labels": {"category": ["legitimate"]},
             "updated_at": datetime(2024, 10, 8, tzinfo=UTC)},
        ],
        pseudonymise=workspace.pseudonymise,   # for annotators given by e-mail
    )
    recorded.annotation_ids                    # the new annotations' ids, in row order

Every command that reads annotations (agreement, aggregate, adjudicate, review-queue, publish)
then treats them like pulled ones. The project is one the store holds without Label Studio:
made on first use, with its taxonomy recorded, and refused if it is a Label Studio project
(whose annotations come from ``annotate pull``). Rows whose post has no task in the project
yet get one, in a new batch per call. Annotators are found by pseudonym or e-mail, or added.
Label Studio ids are required by the schema; what is recorded here gets negative ones, which
Label Studio never uses. Two calls at the same moment on one store may pick the same ids: the
later one then fails as a whole and can be run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from annotate.errors import InputError
from annotate.store.models import (
    Annotation,
    Annotator,
    Batch,
    GoldItem,
    Post,
    Project,
    Task,
    utcnow,
)
from annotate.store.queries import project_and_taxonomy, record_taxonomy

if TYPE_CHECKING:
    from annotate.store import Store
    from annotate.taxonomy import Taxonomy as TaxonomySpec

__all__ = ["RecordedAnnotations", "record_annotations"]

#: A post as the rows name it: ``(source, post_id)`` or its id in the store (``Post.id``).
PostRef = tuple[str, str] | int
#: Columns a row may have besides ``post``, ``annotator`` and ``labels``.
OPTIONAL_COLUMNS = ("updated_at", "created_at", "deleted_at", "skipped", "lead_time")
#: Strategy of the batch the new tasks of a call go into, unless ``batch=`` says another.
DEFAULT_STRATEGY = "recorded"
#: Rows per INSERT and per IN (...) list: well under SQLite's and psycopg's parameter limits.
_CHUNK = 2_000


@dataclass
class RecordedAnnotations:
    """What :func:`record_annotations` wrote (ids are the store's).

    ``task_ids`` maps every post of the rows and of ``gold`` (``Post.id``) to its task in the
    project, new or not; ``annotator_ids`` every annotator as the rows name them;
    ``annotation_ids`` has one id per row, in row order. ``batch_id`` is the new batch, None
    when every post had a task.
    """

    project: str
    project_id: int
    new_project: bool
    batch_id: int | None
    task_ids: dict[int, int] = field(default_factory=dict)
    new_tasks: int = 0
    annotator_ids: dict[str, int] = field(default_factory=dict)
    new_annotators: int = 0
    annotation_ids: list[int] = field(default_factory=list)


@dataclass
class _Row:
    post: PostRef
    annotator: str
    labels: dict[str, Any] | None
    updated_at: datetime | None = None
    created_at: datetime | None = None
    deleted_at: datetime | None = None
    skipped: bool = False
    lead_time: float | None = None


def record_annotations(
    store: Store,
    project: str,
    rows: Iterable[Sequence[Any] | Mapping[str, Any]],
    *,
    taxonomy: TaxonomySpec | None = None,
    batch: str | None = None,
    gold: Mapping[PostRef, Mapping[str, Any]] | None = None,
    pseudonymise: Callable[[str], str] | None = None,
) -> RecordedAnnotations:
    """Record a long table of annotations ``(post, annotator, labels)`` in one transaction.

    - ``rows``: 3-tuples, or mappings (or a pandas DataFrame) with the columns ``post``,
      ``annotator`` and ``labels`` and optionally ``updated_at`` (default: now, the same for
      the whole call, so later rows count as later), ``created_at`` (default: ``updated_at``),
      ``deleted_at``, ``skipped`` (a skipped task: its labels are not kept) and
      ``lead_time`` (seconds). ``post`` is ``(source, post_id)`` or ``Post.id``; the post must
      be in the store. ``labels`` is the normalised labels dict (``{"category": [...],
      "severity": "high", ...}``); the taxonomy's rules it breaks are kept with it, as a pull
      keeps them.
    - ``annotator``: a pseudonym, or an e-mail; an annotator the store knows under either is
      reused. A new one named by e-mail gets ``pseudonymise(email)`` as pseudonym (the
      workspace's :meth:`~annotate.config.Workspace.pseudonymise`), so e-mails never reach a
      report; without ``pseudonymise`` an unknown e-mail is refused.
    - ``taxonomy``: the taxonomy of a new project (default: the one every command uses); for
      an existing project it must be the one recorded on it.
    - ``batch``: the strategy recorded on the new batch (default ``recorded``).
    - ``gold``: known answers by post: those posts' tasks are gold tasks, and the answers are
      recorded unless the post has one already.
    """
    table = _read_rows(rows)
    moment = utcnow()
    with store.transaction() as session:
        new_project = _make_or_check_project(session, project, taxonomy)
        project_row, spec = project_and_taxonomy(session, project)
        post_pk = _post_ids(session, [row.post for row in table] + list(gold or {}))
        gold_pks = {post_pk[ref]: dict(labels) for ref, labels in (gold or {}).items()}
        task_ids, batch_id, new_tasks = _tasks(
            session,
            project_row.id,
            [post_pk[row.post] for row in table] + list(gold_pks),
            gold_pks,
            batch or DEFAULT_STRATEGY,
            moment,
        )
        annotator_ids, new_annotators = _annotators(
            session, [row.annotator for row in table], pseudonymise
        )
        annotation_ids = _annotations(
            session, table, post_pk, task_ids, annotator_ids, spec, moment
        )
        return RecordedAnnotations(
            project=project,
            project_id=project_row.id,
            new_project=new_project,
            batch_id=batch_id,
            task_ids=task_ids,
            new_tasks=new_tasks,
            annotator_ids=annotator_ids,
            new_annotators=new_annotators,
            annotation_ids=annotation_ids,
        )


def _read_rows(rows: Any) -> list[_Row]:
    if hasattr(rows, "columns") and hasattr(rows, "to_dict"):  # a pandas DataFrame
        rows = rows.to_dict("records")
    table = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, Mapping):
            unknown = set(row) - {"post", "annotator", "labels", *OPTIONAL_COLUMNS}
            missing = {"post", "annotator"} - set(row)
            if unknown or missing:
                problem = (
                    f"has no {', '.join(sorted(missing))}"
                    if missing
                    else f"has unknown columns {', '.join(sorted(unknown))} (known: post, "
                    f"annotator, labels, {', '.join(OPTIONAL_COLUMNS)})"
                )
                raise InputError(f"Row {number} of the annotations {problem}.")
            values = dict(row)
        elif isinstance(row, Sequence) and not isinstance(row, str) and len(row) == 3:
            values = dict(zip(("post", "annotator", "labels"), row, strict=True))
        else:
            raise InputError(
                f"Row {number} of the annotations is neither (post, annotator, labels) nor a "
                "mapping with those columns."
            )
        post = values["post"]
        if isinstance(post, list):
            post = tuple(post)
        if not (isinstance(post, int) or (isinstance(post, tuple) and len(post) == 2)):
            raise InputError(
                f"Row {number}: post {post!r} is neither (source, post_id) nor a store id."
            )
        labels = values.get("labels")
        if labels is not None and not isinstance(labels, Mapping):
            raise InputError(f"Row {number}: labels must be a dict of fields, not {labels!r}.")
        skipped = bool(values.get("skipped", False))
        table.append(
            _Row(
                post=post,
                annotator=str(values["annotator"]),
                labels=None if skipped else dict(labels or {}),
                updated_at=values.get("updated_at"),
                created_at=values.get("created_at"),
                deleted_at=values.get("deleted_at"),
                skipped=skipped,
                lead_time=values.get("lead_time"),
            )
        )
    return table


def _make_or_check_project(session: Session, name: str, taxonomy: TaxonomySpec | None) -> bool:
    """Make the project (with its taxonomy) if it is new, or check that annotations from
    elsewhere may go into it; whether it was made now."""
    project = session.exec(select(Project).where(Project.name == name)).first()
    if project is None:
        if taxonomy is None:
            from annotate.taxonomy import load_taxonomy

            taxonomy = load_taxonomy()
        session.add(Project(name=name, taxonomy_id=record_taxonomy(session, taxonomy).id))
        session.flush()
        return True
    if project.ls_project_id is not None:
        raise InputError(
            f"Project {name!r} is a Label Studio project; its annotations come from "
            f"'annotate pull {name}'.",
            hint="Record annotations from elsewhere in a project of their own.",
        )
    if taxonomy is not None:
        _, recorded = project_and_taxonomy(session, name)
        if recorded.content_hash != taxonomy.content_hash:
            raise InputError(
                f"Project {name!r} was made under taxonomy {recorded.ref}, not {taxonomy.ref}.",
                hint="Record these annotations in another project.",
            )
    return False


def _post_ids(session: Session, refs: list[PostRef]) -> dict[PostRef, int]:
    """``{ref: Post.id}`` for every ref; an :class:`InputError` naming the unknown ones."""
    found: dict[PostRef, int] = {}
    ids = sorted({ref for ref in refs if isinstance(ref, int)})
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update(
            (pk, pk) for pk in session.exec(select(Post.id).where(col(Post.id).in_(chunk)))
        )
    by_source: dict[str, set[str]] = {}
    for ref in refs:
        if isinstance(ref, tuple):
            by_source.setdefault(str(ref[0]), set()).add(str(ref[1]))
    for source, post_ids in by_source.items():
        wanted = sorted(post_ids)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for post_id, pk in session.exec(
                select(Post.post_id, Post.id).where(
                    Post.source == source, col(Post.post_id).in_(chunk)
                )
            ):
                found[(source, post_id)] = pk
    keyed = {ref: (str(ref[0]), str(ref[1])) if isinstance(ref, tuple) else ref for ref in refs}
    unknown = [ref for ref, key in keyed.items() if key not in found]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" …" if len(unknown) > 5 else "")
        raise InputError(
            f"{len(unknown)} posts of the annotations are not in the store: {shown}.",
            hint="Ingest them first ('annotate ingest').",
        )
    return {ref: found[key] for ref, key in keyed.items()}


def _tasks(
    session: Session,
    project_id: int,
    post_pks: list[int],
    gold: dict[int, dict[str, Any]],
    strategy: str,
    moment: datetime,
) -> tuple[dict[int, int], int | None, int]:
    """``({Post.id: Task.id}, new batch id, new tasks)``: the posts' tasks, made if missing."""

    def existing() -> dict[int, int]:
        return dict(
            session.exec(select(Task.post_pk, Task.id).where(Task.project_id == project_id)).all()
        )

    task_of = existing()
    new = [pk for pk in dict.fromkeys(post_pks) if pk not in task_of]
    batch_id = None
    if new:
        batch = Batch(
            project_id=project_id, strategy=strategy, params={}, size=len(new), created_at=moment
        )
        session.add(batch)
        session.flush()
        batch_id = batch.id
        for start in range(0, len(new), _CHUNK):
            session.execute(
                insert(Task),
                [
                    {
                        "project_id": project_id,
                        "post_pk": pk,
                        "batch_id": batch_id,
                        "is_gold": pk in gold,
                        "created_at": moment,
                    }
                    for pk in new[start : start + _CHUNK]
                ],
            )
        task_of = existing()
    for pk, labels in gold.items():
        task = session.get(Task, task_of[pk])
        task.is_gold = True
        session.add(task)
        if session.exec(select(GoldItem.id).where(GoldItem.post_pk == pk)).first() is None:
            session.add(GoldItem(post_pk=pk, labels=labels, origin="recorded", created_at=moment))
    session.flush()
    return {pk: task_of[pk] for pk in dict.fromkeys(post_pks)}, batch_id, len(new)


def _annotators(
    session: Session, names: list[str], pseudonymise: Callable[[str], str] | None
) -> tuple[dict[str, int], int]:
    """``({name as given: Annotator.id}, new annotators)``, adding those the store lacks."""
    wanted = list(dict.fromkeys(names))
    rows = session.exec(select(Annotator.id, Annotator.pseudonym, Annotator.email)).all()
    known = {email: pk for pk, _, email in rows if email}
    known.update({pseudonym: pk for pk, pseudonym, _ in rows})  # a pseudonym wins
    missing = [name for name in wanted if name not in known]
    if missing:
        lowest = session.exec(select(func.min(Annotator.ls_user_id))).one() or 0
        next_id = min(lowest, 0) - 1
        for name in missing:
            if "@" in name:
                if pseudonymise is None:
                    raise InputError(
                        f"Annotator {name!r} is an e-mail the store does not know; pass "
                        "pseudonymise= (the workspace's) to give them a pseudonym.",
                        hint="Reports and datasets name annotators by pseudonym only.",
                    )
                row = Annotator(ls_user_id=next_id, email=name, pseudonym=pseudonymise(name))
            else:
                row = Annotator(ls_user_id=next_id, pseudonym=name)
            session.add(row)
            session.flush()
            known[name] = row.id
            next_id -= 1
    return {name: known[name] for name in wanted}, len(missing)


def _annotations(
    session: Session,
    table: list[_Row],
    post_pk: dict[PostRef, int],
    task_ids: dict[int, int],
    annotator_ids: dict[str, int],
    taxonomy: TaxonomySpec,
    moment: datetime,
) -> list[int]:
    """Insert one annotation per row; their ids in row order."""
    from annotate.taxonomy import check_rules

    if not table:
        return []
    lowest = session.exec(select(func.min(Annotation.ls_annotation_id))).one() or 0
    first = min(lowest, 0) - 1
    values = []
    for offset, row in enumerate(table):
        updated = row.updated_at or moment
        problems = None if row.labels is None else check_rules(taxonomy, row.labels) or None
        values.append(
            {
                "ls_annotation_id": first - offset,
                "task_id": task_ids[post_pk[row.post]],
                "annotator_id": annotator_ids[row.annotator],
                "result": None,
                "labels": row.labels,
                "was_cancelled": row.skipped,
                "lead_time": row.lead_time,
                "ls_created_at": row.created_at or updated,
                "ls_updated_at": updated,
                "deleted_at": row.deleted_at,
                "pulled_at": moment,
                "problems": problems,
            }
        )
    for start in range(0, len(values), _CHUNK):
        session.execute(insert(Annotation), values[start : start + _CHUNK])
    last = first - len(table) + 1
    id_of = dict(
        session.exec(
            select(Annotation.ls_annotation_id, Annotation.id).where(
                col(Annotation.ls_annotation_id).between(last, first)
            )
        ).all()
    )
    return [id_of[first - offset] for offset in range(len(table))]
