"""Where a project stands: per batch and per annotator, from the store (after a pull)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import select

from annotate.store import Annotation, Annotator, Batch, Store, Task
from annotate.store.queries import get_project, live_annotations


@dataclass
class ProjectStatus:
    """``batches`` and ``annotators`` are lists of rows (dicts) ready for a table or JSON.

    A task is *done* when it has at least one labelled annotation; *overlapping* when it has
    two or more; ``overlap_coverage`` is overlapping tasks over the tasks Label Studio was
    asked to overlap (the project's overlap share of the batch), at most 1. Tasks deleted in
    Label Studio are counted apart (``deleted``) and nowhere else.
    """

    project: str
    last_pull_at: str | None
    batches: list[dict[str, Any]] = field(default_factory=list)
    annotators: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def project_status(store: Store, project_name: str) -> ProjectStatus:
    with store.session() as session:
        project = get_project(session, project_name)
        overlap = project.overlap if project.overlap is not None else 0.0
        status = ProjectStatus(
            project=project.name,
            last_pull_at=project.last_pull_at.isoformat() if project.last_pull_at else None,
        )
        tasks = session.exec(
            select(Task.id, Task.batch_id, Task.ls_task_id, Task.deleted_at).where(
                Task.project_id == project.id
            )
        ).all()
        batch_of = {task_id: batch_id for task_id, batch_id, _, gone in tasks if gone is None}
        pushed = {task_id for task_id, _, ls_id, _ in tasks if ls_id is not None}
        deleted: dict[int | None, int] = defaultdict(int)
        for _, batch_id, _, gone in tasks:
            if gone is not None:
                deleted[batch_id] += 1
        rows = session.exec(
            live_annotations(
                project.id, Annotation, Annotator.pseudonym, skipped=True, oldest_first=False
            )
        ).all()
        batches = {
            row.id: row for row in session.exec(select(Batch).where(Batch.project_id == project.id))
        }
    labelled: dict[int, int] = defaultdict(int)
    skipped: dict[int, int] = defaultdict(int)
    per_annotator: dict[str, dict[str, Any]] = {}
    for annotation, pseudonym in rows:
        entry = per_annotator.setdefault(
            pseudonym, {"annotator": pseudonym, "annotations": 0, "skipped": 0, "lead": []}
        )
        if annotation.was_cancelled:
            skipped[annotation.task_id] += 1
            entry["skipped"] += 1
        else:
            labelled[annotation.task_id] += 1
            entry["annotations"] += 1
            if annotation.lead_time is not None:
                entry["lead"].append(annotation.lead_time)
    by_batch: dict[int | None, list[int]] = defaultdict(list)
    for task_id, batch_id in batch_of.items():
        by_batch[batch_id].append(task_id)
    for batch_id in deleted:
        by_batch.setdefault(batch_id, [])
    for batch_id, task_ids in sorted(by_batch.items(), key=lambda item: item[0] or 0):
        batch = batches.get(batch_id)
        expected = round(overlap * len(task_ids))
        overlapping = sum(1 for task_id in task_ids if labelled[task_id] >= 2)
        status.batches.append(
            {
                "batch": batch_id,
                "strategy": batch.strategy if batch else None,
                "tasks": len(task_ids),
                "pushed": sum(1 for task_id in task_ids if task_id in pushed),
                "done": sum(1 for task_id in task_ids if labelled[task_id] >= 1),
                "skipped": sum(1 for task_id in task_ids if skipped[task_id] >= 1),
                "overlapping": overlapping,
                "overlap_coverage": min(1.0, overlapping / expected) if expected else None,
                "deleted": deleted[batch_id],
            }
        )
    for entry in sorted(per_annotator.values(), key=lambda item: item["annotator"]):
        lead = entry.pop("lead")
        entry["median_lead_time"] = statistics.median(lead) if lead else None
        status.annotators.append(entry)
    return status
