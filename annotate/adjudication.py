"""Adjudication: uncertain aggregates go to an expert, whose decision overrides them.

``annotate adjudicate PROJECT`` picks the posts whose aggregate is uncertain (a tie, a label
posterior between ``1 - max_posterior`` and ``max_posterior``, a severity spread of at least
``severity_gap`` steps, a taxonomy rule the aggregate breaks, or an annotator asking for an
expert) and sends them to the project's adjudication project in Label Studio, created on first
use from the same taxonomy. Each task shows the post with every annotator's labels under their
pseudonyms (as text above the post and as predictions the expert can switch between).

``annotate pull`` on the adjudication project stores the decisions: one adjudication per post
(the latest decision), recording who decided, when, and which annotations it overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from annotate.aggregation import Aggregation, Reason, ReasonKind, count_posts_by_kind
from annotate.batches import task_data
from annotate.errors import InputError
from annotate.labelstudio import LabelStudioConnection
from annotate.locks import locks_projects, project_lock
from annotate.post_labels import PostLabels, ProjectLabels, project_labels
from annotate.projects import make_project, project_settings
from annotate.store import Adjudication, Annotation, Post, Project, Store, Task
from annotate.store.models import utcnow
from annotate.store.queries import adjudication_project, live_annotations, project_and_taxonomy
from annotate.taxonomy import load_guidelines, render_label_config, result_from_labels

SUFFIX = " adjudication"


@dataclass
class AdjudicationReport:
    project: str
    adjudication_project: str
    ls_project_id: int | None  # None on a dry run before the project exists
    selected: int
    sent: int
    already_there: int
    reasons: dict[str, int] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def uncertainty(
    item: PostLabels, *, max_posterior: float, severity_gap: int, order
) -> list[Reason]:
    """Why a person should decide this post (empty when the aggregate can stand)."""
    if item.adjudicated:
        return []
    reasons = list(item.reasons)
    for label, probability in item.label_probs.items():
        if 1 - max_posterior < probability < max_posterior:
            reasons.append(Reason(ReasonKind.UNCERTAIN_LABEL, f"P({label}) = {probability:.2f}"))
    given = [order.index(a["severity"]) for a in item.annotations if a["severity"] in order]
    if len(given) >= 2 and max(given) - min(given) >= severity_gap:
        detail = f"severity from {order[min(given)]} to {order[max(given)]}"
        reasons.append(Reason(ReasonKind.SEVERITY_SPREAD, detail))
    experts = [a["annotator"] for a in item.annotations if a["needs_expert"]]
    if experts:
        detail = f"needs an expert ({', '.join(experts)})"
        reasons.append(Reason(ReasonKind.NEEDS_EXPERT, detail))
    return reasons


def select_uncertain(
    aggregated: ProjectLabels, *, max_posterior: float = 0.8, severity_gap: int = 2
) -> list[tuple[PostLabels, list[str]]]:
    if not 0.5 < max_posterior <= 1:
        raise InputError(f"--max-posterior must be above 0.5 and at most 1, not {max_posterior}.")
    order = list(aggregated.taxonomy.field("severity").label_ids)
    chosen = []
    for item in aggregated.items.values():
        reasons = uncertainty(
            item, max_posterior=max_posterior, severity_gap=severity_gap, order=order
        )
        if reasons:
            chosen.append((item, reasons))
    return chosen


@locks_projects("project_name", command="adjudicate")
def adjudicate(
    store: Store,
    connection: LabelStudioConnection | None,
    project_name: str,
    *,
    max_posterior: float = 0.8,
    severity_gap: int = 2,
    aggregation: Aggregation | str = Aggregation.DAWID_SKENE,
    dry_run: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> AdjudicationReport:
    """Send the project's uncertain posts to its adjudication project, holding the project's
    lock (``wait``, ``on_wait``: see :mod:`annotate.locks`). ``dry_run``: say which posts
    and why, send nothing (no Label Studio needed)."""
    aggregated = project_labels(store, project_name, aggregation=aggregation)
    chosen = select_uncertain(aggregated, max_posterior=max_posterior, severity_gap=severity_gap)
    reasons = {item.post_pk: found for item, found in chosen}
    if dry_run:
        report = _would_send(store, project_name, aggregated, reasons)
    else:
        assert connection is not None, "sending needs Label Studio"
        report = send_to_adjudication(
            store, connection, project_name, list(reasons), reasons=reasons, aggregated=aggregated
        )
    report.selected = len(chosen)
    report.reasons = count_posts_by_kind(reasons.values())
    return report


def _would_send(
    store: Store,
    project_name: str,
    aggregated: ProjectLabels,
    reasons: dict[int, list[Reason]],
) -> AdjudicationReport:
    """What :func:`send_to_adjudication` would send: every chosen post not there yet."""
    with store.session() as session:
        parent, _ = project_and_taxonomy(session, project_name)
        found = adjudication_project(session, parent.id)
        there = (
            set(session.exec(select(Task.post_pk).where(Task.project_id == found.id)))
            if found is not None
            else set()
        )
    new = [pk for pk in reasons if pk not in there]
    return AdjudicationReport(
        project=project_name,
        adjudication_project=found.name if found is not None else project_name + SUFFIX,
        ls_project_id=found.ls_project_id if found is not None else None,
        selected=len(reasons),
        sent=0,
        already_there=len(reasons) - len(new),
        items=[
            {
                "post_pk": pk,
                "post_id": aggregated.items[pk].post_id,
                "reasons": [reason.as_dict() for reason in reasons[pk]],
            }
            for pk in new
        ],
    )


def send_to_adjudication(
    store: Store,
    connection: LabelStudioConnection,
    project_name: str,
    post_pks: list[int],
    *,
    reason: Reason | None = None,
    reasons: dict[int, list[Reason]] | None = None,
    aggregated: ProjectLabels | None = None,
) -> AdjudicationReport:
    """Create the adjudication tasks for these posts (those not there yet), with every
    annotator's labels shown under their pseudonyms (``aggregated``: the project's labels per
    post, when the caller has them already)."""
    aggregated = aggregated or project_labels(store, project_name)
    adjudication, ls_project_id = _ensure_project(store, connection, project_name)
    # The adjudication project is a project too: a push of it at the same moment must not
    # import these tasks a second time.
    with project_lock(store, adjudication.name, command="adjudicate"):
        return _send(
            store,
            connection,
            project_name,
            post_pks,
            adjudication,
            ls_project_id,
            aggregated,
            reason,
            reasons,
        )


def _send(
    store: Store,
    connection: LabelStudioConnection,
    project_name: str,
    post_pks: list[int],
    adjudication: Project,
    ls_project_id: int,
    aggregated: ProjectLabels,
    reason: Reason | None,
    reasons: dict[int, list[Reason]] | None,
) -> AdjudicationReport:
    with store.session() as session:
        there = set(session.exec(select(Task.post_pk).where(Task.project_id == adjudication.id)))
        posts = {post.id: post for post in session.exec(select(Post).where(Post.id.in_(post_pks)))}
        for post in posts.values():
            session.expunge(post)
    new = [pk for pk in post_pks if pk not in there and pk in posts]
    report = AdjudicationReport(
        project=project_name,
        adjudication_project=adjudication.name,
        ls_project_id=ls_project_id,
        selected=len(post_pks),
        sent=0,
        already_there=len(post_pks) - len(new),
    )
    if not new:
        return report
    taxonomy = aggregated.taxonomy
    payloads = []
    for pk in new:
        item = aggregated.items.get(pk)
        answers = item.annotations if item else []
        why = (reasons or {}).get(pk) or ([reason] if reason else [])
        summary = "\n".join(
            f"{a['annotator']}: {', '.join(a['labels']) or '–'}"
            + (f" ({a['severity']})" if a["severity"] else "")
            + (" [needs expert]" if a["needs_expert"] else "")
            for a in answers
        )
        data = task_data(posts[pk], None)
        details = "; ".join(reason.detail for reason in why)
        data["annotator_labels"] = (summary + ("\n" if summary else "") + details).strip()
        predictions = []
        for answer in answers:
            labels = {"category": answer["labels"], "severity": answer["severity"]}
            predictions.append(
                {
                    "model_version": answer["annotator"],
                    "result": result_from_labels(taxonomy, labels),
                }
            )
        payloads.append({"data": data, "predictions": predictions})
        report.items.append(
            {
                "post_pk": pk,
                "post_id": posts[pk].post_id,
                "reasons": [reason.as_dict() for reason in why],
            }
        )
    with store.transaction() as session:
        now = utcnow()
        tasks = [Task(project_id=adjudication.id, post_pk=pk, created_at=now) for pk in new]
        session.add_all(tasks)
        session.flush()
        task_ids = [task.id for task in tasks]
    ids = connection.import_tasks(ls_project_id, payloads)
    with store.transaction() as session:
        now = utcnow()
        for task_id, ls_task_id in zip(task_ids, ids, strict=True):
            session.execute(
                update(Task).where(Task.id == task_id).values(ls_task_id=ls_task_id, pushed_at=now)
            )
    report.sent = len(new)
    return report


def _ensure_project(
    store: Store, connection: LabelStudioConnection, project_name: str
) -> tuple[Project, int]:
    """The adjudication project of ``project_name``, created in Label Studio if missing."""
    with store.session() as session:
        parent, taxonomy = project_and_taxonomy(session, project_name)
        found = adjudication_project(session, parent.id)
        if found is not None:
            session.expunge(found)
            return found, found.ls_project_id
        parent_id = parent.id
    name = project_name[: 50 - len(SUFFIX)] + SUFFIX
    wanted = project_settings(taxonomy, load_guidelines(), 1, 0.0)
    wanted["label_config"] = render_label_config(taxonomy, adjudication=True)
    wanted["description"] = f"Adjudication of {project_name!r}; taxonomy {taxonomy.ref}"
    project, _, server = make_project(
        store,
        connection,
        Project(
            name=name,
            kind="adjudication",
            parent_project_id=parent_id,
            annotators_per_task=1,
            overlap=0.0,
        ),
        taxonomy,
        wanted,
    )
    return project, server["id"]


def record_decisions(session: Session, adjudication_project_id: int) -> int:
    """Turn the adjudication project's latest answers into adjudications of the parent.

    Called inside the pull's transaction; returns how many adjudications were written or
    withdrawn (a decision deleted or skipped in Label Studio no longer overrides anything).
    """
    project = session.get(Project, adjudication_project_id)
    parent_id = project.parent_project_id
    rows = session.exec(live_annotations(adjudication_project_id, Task, Annotation)).all()
    latest: dict[int, tuple[Task, Annotation]] = {}
    for task, annotation in rows:
        latest[task.post_pk] = (task, annotation)
    written = 0
    for post_pk, (task, annotation) in latest.items():
        overridden = list(
            session.exec(
                live_annotations(parent_id, Annotation.id, skipped=True).where(
                    Task.post_pk == post_pk
                )
            )
        )
        existing = session.exec(
            select(Adjudication).where(
                Adjudication.project_id == parent_id, Adjudication.post_pk == post_pk
            )
        ).first()
        unchanged = existing is not None and (existing.ls_annotation_id, existing.labels) == (
            annotation.ls_annotation_id,
            annotation.labels,
        )
        if unchanged:
            continue
        row = existing or Adjudication(post_pk=post_pk, project_id=parent_id)
        row.task_id = task.id
        row.decided_by = annotation.annotator_id
        row.labels = annotation.labels
        row.overrides = overridden
        row.ls_annotation_id = annotation.ls_annotation_id
        row.decided_at = annotation.ls_updated_at or utcnow()
        session.add(row)
        written += 1
    adjudicated_here = select(Task.post_pk).where(Task.project_id == adjudication_project_id)
    withdrawn = [
        row
        for row in session.exec(
            select(Adjudication).where(
                Adjudication.project_id == parent_id, Adjudication.post_pk.in_(adjudicated_here)
            )
        )
        if row.post_pk not in latest
    ]
    for row in withdrawn:
        session.delete(row)
    return written + len(withdrawn)
