"""Stored aggregation runs: the labels a dataset version publishes, computed once per project.

Usage::

    report = aggregate_project(store, "round-1", aggregation=Aggregation.DAWID_SKENE)
    run = fresh_run(store, "round-1", Aggregation.MAJORITY)  # None: stale or never aggregated
    run = ensure_aggregated(store, "round-1", Aggregation.DAWID_SKENE, on_stale=print)

``aggregate_project`` runs :func:`annotate.post_labels.project_labels` (aggregation, rules,
adjudicated decisions) and writes one :class:`~annotate.store.Aggregate` row per post of the
project: the labels, the soft labels, the annotations under pseudonyms, the evidence spans,
the post's near-duplicate group among the project's posts, and an agreement summary on the
run. A run and its rows keep the aggregation's value in their ``method`` column. Publishing
reads these rows instead of aggregating again, so a version of a million
posts streams from the store.

A run records a fingerprint of what it read (annotations, adjudications, gold answers, tasks).
When the fingerprint no longer matches the store, the run is stale and
:func:`ensure_aggregated` aggregates again: nothing published lags behind a pull.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, func, insert
from sqlmodel import select

from annotate.aggregation import Aggregation
from annotate.errors import AnnotateError
from annotate.locks import locks_projects
from annotate.post_labels import project_labels
from annotate.store import (
    Adjudication,
    Aggregate,
    AggregationRun,
    Annotation,
    GoldItem,
    Post,
    Store,
    Task,
)
from annotate.store.models import utcnow
from annotate.store.queries import get_project, project_gold, tasks_with_posts

# Rows per INSERT: well under SQLite's and psycopg's parameter limits.
_CHUNK = 5_000


@dataclass
class AggregationReport:
    """What a run stored; ``method`` is the aggregation's value, as in the stored rows."""

    project: str
    method: str
    run_id: int
    items: int
    labelled: int
    adjudicated: int
    flagged: int
    near_duplicate_groups: int
    agreement: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def inputs_fingerprint(session, project_id: int) -> dict[str, Any]:
    """What an aggregate of the project depends on, in a few numbers: changes with every
    pulled, updated or deleted annotation, every decision, gold answer and task."""
    annotations = session.exec(
        select(
            func.count(Annotation.id),
            func.max(Annotation.id),
            func.max(Annotation.pulled_at),
            func.count(Annotation.deleted_at),
            func.max(Annotation.deleted_at),
        )
        .join(Task, Task.id == Annotation.task_id)
        .where(Task.project_id == project_id)
    ).one()
    decisions = session.exec(
        select(func.count(Adjudication.id), func.max(Adjudication.decided_at)).where(
            Adjudication.project_id == project_id
        )
    ).one()
    gold = session.exec(
        project_gold(project_id, func.count(GoldItem.id), func.max(GoldItem.created_at))
    ).one()
    tasks = session.exec(
        select(func.count(Task.id), func.max(Task.id), func.max(Task.batch_id)).where(
            Task.project_id == project_id
        )
    ).one()
    return {
        "annotations": [_plain(value) for value in annotations],
        "adjudications": [_plain(value) for value in decisions],
        "gold": [_plain(value) for value in gold],
        "tasks": [_plain(value) for value in tasks],
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        # SQLite returns naive times, PostgreSQL aware ones: compare them as UTC wall time.
        return value.replace(tzinfo=None).isoformat()
    return value


@locks_projects("project_name", command="aggregate")
def aggregate_project(
    store: Store,
    project_name: str,
    *,
    aggregation: Aggregation | str = Aggregation.DAWID_SKENE,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> AggregationReport:
    """Aggregate a project and replace its stored aggregates for ``aggregation`` (one
    transaction: a failed run leaves the previous aggregates in place), holding the project's
    lock (``wait``, ``on_wait``: see :mod:`annotate.locks`)."""
    from annotate.splits import near_duplicate_groups

    aggregation = Aggregation.parse(aggregation)
    started = utcnow()
    with store.session() as session:
        project = get_project(session, project_name)
        project_id, taxonomy_id = project.id, project.taxonomy_id
        inputs = inputs_fingerprint(session, project_id)
    aggregated = project_labels(store, project_name, aggregation=aggregation)
    pks = sorted(aggregated.items)
    texts: dict[int, str] = {}
    tasks: dict[int, tuple[int | None, bool]] = {}
    with store.session() as session:
        for post_pk, batch_id, is_gold, text in session.exec(
            tasks_with_posts(project_id, Task.post_pk, Task.batch_id, Task.is_gold, Post.text)
        ):
            tasks[post_pk] = (batch_id, is_gold)
            if post_pk in aggregated.items:
                texts[post_pk] = text
    near = near_duplicate_groups([texts[pk] for pk in pks])
    # A group's key is its smallest post id (pks are sorted: the first member seen).
    first: dict[int, int] = {}
    near_key = [first.setdefault(group, pk) for group, pk in zip(near, pks, strict=True)]
    category_ids = list(aggregated.taxonomy.field("category").label_ids)
    rows = []
    for pk, key in zip(pks, near_key, strict=True):
        item = aggregated.items[pk]
        agreeing = sum(1 for a in item.annotations if sorted(a["labels"]) == sorted(item.labels))
        batch_id, is_gold = tasks.get(pk, (None, False))
        rows.append(
            {
                "project_id": project_id,
                "method": aggregation.value,
                "post_pk": pk,
                "labels": item.labels,
                "severity": item.severity,
                "label_probs": [round(item.label_probs.get(c, 0.0), 6) for c in category_ids],
                "n_annotators": item.n_annotators,
                # One annotator agrees with nobody: not measurable, not 1.0.
                "item_agreement": (
                    agreeing / item.n_annotators if item.n_annotators >= 2 else None
                ),
                "annotations": [
                    {
                        "annotator": a["annotator"],
                        "labels": a["labels"],
                        "severity": a["severity"] or "",
                    }
                    for a in item.annotations
                ],
                "evidence": [
                    {
                        "annotator": a["annotator"],
                        "start": span["start"],
                        "end": span["end"],
                        "label": span["label"],
                    }
                    for a in item.annotations
                    for span in a.get("evidence", [])
                ],
                "reasons": [reason.as_dict() for reason in item.reasons],
                "adjudicated": item.adjudicated,
                "gold": bool(is_gold),
                "batch_id": batch_id,
                "near_group": key,
            }
        )
    agreement = agreement_summary(store, project_name)
    with store.transaction() as session:
        session.execute(
            delete(Aggregate).where(
                Aggregate.project_id == project_id, Aggregate.method == aggregation.value
            )
        )
        run = AggregationRun(
            project_id=project_id,
            method=aggregation.value,
            taxonomy_id=taxonomy_id,
            inputs=inputs,
            items=len(rows),
            agreement=agreement,
            started_at=started,
        )
        session.add(run)
        session.flush()
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            session.execute(insert(Aggregate), [{"run_id": run.id, **row} for row in chunk])
        run.finished_at = utcnow()
        session.add(run)
        run_id = run.id
    return AggregationReport(
        project=project_name,
        method=aggregation.value,
        run_id=run_id,
        items=len(rows),
        labelled=sum(1 for row in rows if row["labels"]),
        adjudicated=sum(1 for row in rows if row["adjudicated"]),
        flagged=sum(1 for row in rows if row["reasons"]),
        near_duplicate_groups=len(first),
        agreement=agreement,
    )


def latest_run(session, project_id: int, aggregation: Aggregation | str) -> AggregationRun | None:
    return session.exec(
        select(AggregationRun)
        .where(
            AggregationRun.project_id == project_id,
            AggregationRun.method == Aggregation.parse(aggregation).value,
            AggregationRun.finished_at.is_not(None),
        )
        .order_by(AggregationRun.id.desc())
    ).first()


def fresh_run(
    store: Store, project_name: str, aggregation: Aggregation | str
) -> AggregationRun | None:
    """The project's latest aggregation run for ``aggregation`` if nothing it read has changed
    since; None when there is none or it is stale."""
    with store.session() as session:
        project = get_project(session, project_name)
        run = latest_run(session, project.id, aggregation)
        if run is None or run.inputs != inputs_fingerprint(session, project.id):
            return None
        session.expunge(run)
        return run


def ensure_aggregated(
    store: Store, project_name: str, aggregation: Aggregation | str, *, on_stale=None
) -> AggregationRun:
    """The project's fresh aggregation run for ``aggregation``, aggregating first when there is
    none (``on_stale(message)`` is told why)."""
    aggregation = Aggregation.parse(aggregation)
    run = fresh_run(store, project_name, aggregation)
    if run is not None:
        return run
    if on_stale is not None:
        with store.session() as session:
            known = latest_run(session, get_project(session, project_name).id, aggregation)
        why = "changed since it was last aggregated" if known else "has not been aggregated yet"
        on_stale(f"Project {project_name!r} {why}; aggregating ({aggregation.value}).")
    aggregate_project(store, project_name, aggregation=aggregation)
    run = fresh_run(store, project_name, aggregation)
    if run is None:
        raise AnnotateError(
            f"Project {project_name!r} changed while it was being aggregated.",
            hint="Run the command again once the pull has finished.",
        )
    return run


def agreement_summary(store: Store, project_name: str) -> dict[str, Any]:
    """Krippendorff's alpha on the category field with a 1,000-resample bootstrap interval,
    and its band: the numbers ``annotate agreement`` reports (:func:`field_summary`)."""
    from annotate.agreement_data import project_table
    from annotate.report.build import alpha_band, field_summary

    try:
        table = project_table(store, project_name, "category")
    except AnnotateError as error:
        return {"undefined": str(error)}
    summary = field_summary(table, ci=True, n_resamples=1000, seed=0)
    alpha = summary.krippendorff_alpha
    return {
        "krippendorff_alpha": alpha.value,
        "ci95": alpha.ci.as_list() if alpha.ci else None,
        "band": alpha_band(alpha.value),
        "n_items": summary.n_items,
        "n_annotators": summary.n_annotators,
    }
