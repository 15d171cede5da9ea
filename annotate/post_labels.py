"""A project's labels per post: its annotations, read from the store, aggregated, with the
taxonomy's rules and adjudicated decisions on top.

The estimators are :mod:`annotate.aggregation` (pure); storing the result for publishing is
:mod:`annotate.aggregation_runs`.

``category`` (multi-label) is aggregated per label (binary relevance, Dawid–Skene by default),
``severity`` as one ordinal field; the taxonomy's exclusivity and required-severity rules are
applied to the result, and an adjudicated decision replaces the aggregate of its post.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import select

from annotate.aggregation import Aggregation, BinaryRelevance, Reason, finalize_labels
from annotate.store import Adjudication, Annotation, Annotator, GoldItem, Post, Store, Task
from annotate.store.queries import (
    live_annotations,
    project_and_taxonomy,
    project_gold,
    tasks_with_posts,
)
from annotate.taxonomy import Taxonomy as TaxonomySpec

CATEGORY, SEVERITY = "category", "severity"


@dataclass
class PostLabels:
    """The aggregate of one post: selected labels, per-label posteriors, and why a person
    should look at it (``reasons``; empty when the aggregate is confident)."""

    post_pk: int
    source: str
    post_id: str
    labels: list[str]
    severity: str | None
    label_probs: dict[str, float]
    n_annotators: int
    annotations: list[dict[str, Any]]
    reasons: list[Reason] = field(default_factory=list)
    adjudicated: bool = False
    gold: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": [reason.as_dict() for reason in self.reasons]}


@dataclass
class ProjectLabels:
    """Every annotated post of a project with its labels (``items``, by post id)."""

    project: str
    aggregation: Aggregation
    taxonomy: TaxonomySpec
    items: dict[int, PostLabels]


def violations(taxonomy: TaxonomySpec) -> list[str]:
    """The labels that require a severity (the taxonomy's ``required_when`` on severity)."""
    condition = taxonomy.field(SEVERITY).required_when
    return list(condition.any_of) if condition else []


def project_annotations(store: Store, project_id: int) -> list[tuple[int, str, dict, int]]:
    """``(post_pk, annotator pseudonym, labels, annotation id)`` of the project's labelled,
    non-deleted annotations; the latest per annotator and task."""
    with store.session() as session:
        rows = session.exec(
            live_annotations(
                project_id, Task.post_pk, Annotator.pseudonym, Annotation.labels, Annotation.id
            )
        ).all()
    latest: dict[tuple[int, str], tuple[int, str, dict, int]] = {}
    for post_pk, pseudonym, labels, annotation_id in rows:
        latest[(post_pk, pseudonym)] = (post_pk, pseudonym, labels or {}, annotation_id)
    return list(latest.values())


def project_labels(
    store: Store,
    project_name: str,
    *,
    aggregation: Aggregation | str = Aggregation.DAWID_SKENE,
    min_annotators: int = 1,
) -> ProjectLabels:
    """Aggregate every annotated post of a project (see the module docstring)."""
    aggregation = Aggregation.parse(aggregation)
    with store.session() as session:
        project, taxonomy = project_and_taxonomy(session, project_name)
        project_id = project.id
        gold = dict(session.exec(project_gold(project_id, GoldItem.post_pk, GoldItem.labels)).all())
        decisions = _decisions(session, project_id)
    rows = project_annotations(store, project_id)
    by_post: dict[int, list[tuple[str, dict, int]]] = defaultdict(list)
    for post_pk, pseudonym, labels, annotation_id in rows:
        by_post[post_pk].append((pseudonym, labels, annotation_id))
    by_post = {pk: items for pk, items in by_post.items() if len(items) >= min_annotators}
    if not by_post:
        return ProjectLabels(project_name, aggregation, taxonomy, {})
    with store.session() as session:
        ids = {
            pk: (source, post_id)
            for pk, source, post_id in session.exec(
                tasks_with_posts(project_id, Task.post_pk, Post.source, Post.post_id)
            )
        }
    category = taxonomy.field(CATEGORY)
    exclusive = {label.id for label in category.labels if label.exclusive}
    relevance = BinaryRelevance(base=aggregation.estimator(), exclusive=exclusive)
    table = [
        (pk, pseudonym, tuple(labels.get(CATEGORY) or ()))
        for pk, items in by_post.items()
        for pseudonym, labels, _ in items
    ]
    gold_sets = {
        pk: set(labels.get(CATEGORY) or ()) for pk, labels in gold.items() if pk in by_post
    }
    relevance.fit(table, list(category.label_ids), gold=gold_sets or None)
    probas = {
        item: dict(zip(relevance.classes_, row.tolist(), strict=True))
        for item, row in zip(relevance.items_, relevance.probas_, strict=True)
    }
    severity_ids = list(taxonomy.field(SEVERITY).label_ids)
    gold_severity = {
        pk: labels[SEVERITY]
        for pk, labels in gold.items()
        if pk in by_post and labels.get(SEVERITY) in severity_ids
    }
    severities = _severities(by_post, aggregation, gold_severity, severity_ids)
    items: dict[int, PostLabels] = {}
    for pk, answers in by_post.items():
        label_probs = {label: float(p) for label, p in probas[pk].items()}
        final = finalize_labels(
            label_probs,
            severities.get(pk),
            exclusive=exclusive,
            violations=violations(taxonomy),
        )
        ordered = [label for label in category.label_ids if label in final.labels]
        source, post_id = ids[pk]
        item = PostLabels(
            post_pk=pk,
            source=source,
            post_id=post_id,
            labels=ordered,
            severity=final.severity,
            label_probs=label_probs,
            n_annotators=len(answers),
            annotations=[
                {
                    "annotator": pseudonym,
                    "labels": list(labels.get(CATEGORY) or []),
                    "severity": labels.get(SEVERITY),
                    "needs_expert": bool(labels.get("needs_expert")),
                    "evidence": list(labels.get("evidence") or []),
                    "annotation_id": annotation_id,
                }
                for pseudonym, labels, annotation_id in answers
            ],
            reasons=list(final.reasons),
            gold=pk in gold,
        )
        decision = decisions.get(pk)
        if decision is not None:
            item.labels = list(decision.get(CATEGORY) or [])
            item.severity = decision.get(SEVERITY)
            # The expert's decision is certain: soft labels follow it (one-hot), so that the
            # most likely label is always among the final ones.
            item.label_probs = {label: float(label in item.labels) for label in label_probs}
            item.adjudicated = True
            item.reasons = []
        items[pk] = item
    return ProjectLabels(project_name, aggregation, taxonomy, items)


def _severities(
    by_post, aggregation: Aggregation, gold: dict[int, str], classes: list[str]
) -> dict:
    """One severity per post from the annotators' answers; gold answers anchor Dawid-Skene."""
    known = set(classes)  # a severity outside the taxonomy (pull flags it) is left out
    table = [
        (pk, pseudonym, labels[SEVERITY])
        for pk, items in by_post.items()
        for pseudonym, labels, _ in items
        if labels.get(SEVERITY) in known
    ]
    if not table:
        return {}
    return aggregation.estimator().fit(table, gold=gold or None, classes=classes).labels_


def _decisions(session, project_id: int) -> dict[int, dict[str, Any]]:
    """The latest adjudicated labels per post of the project (from its adjudication project)."""
    rows = session.exec(
        select(Adjudication)
        .where(Adjudication.project_id == project_id)
        .order_by(Adjudication.decided_at, Adjudication.id)
    ).all()
    return {row.post_pk: row.labels or {} for row in rows}
