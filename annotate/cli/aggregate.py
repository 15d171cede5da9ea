"""Aggregating a project's annotations into the labels a dataset version publishes.

Usage:
    annotate aggregate round-1
    annotate aggregate round-1 --aggregation majority --json
"""

from __future__ import annotations

import typer

from annotate.aggregation import Aggregation
from annotate.cli._shared import (
    AggregationOpt,
    JsonOpt,
    NoWaitOpt,
    ProjectArg,
    busy,
    emit,
    say,
    workspace,
)


def register(app: typer.Typer) -> None:
    app.command("aggregate")(aggregate)


def aggregate(
    ctx: typer.Context,
    project: ProjectArg,
    aggregation: AggregationOpt = Aggregation.DAWID_SKENE,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Aggregate a project's annotations and store the result for publishing.

    One label set per post (Dawid-Skene per label by default, the taxonomy's rules applied,
    adjudicated decisions on top), soft labels, the annotations under pseudonyms, each
    post's near-duplicate group and the project's agreement. 'annotate publish' uses the
    stored result and aggregates again by itself when a pull or a decision came later.
    """
    with busy(f"aggregating {project} ({aggregation.value})"):
        report = workspace(ctx).aggregate(project, aggregation=aggregation, wait=not no_wait)

    def render(d: dict) -> None:
        say(
            f"Aggregated {d['items']} posts of {d['project']!r} ({d['method']}): "
            f"{d['labelled']} with labels, {d['adjudicated']} adjudicated, "
            f"{d['flagged']} flagged for a closer look, {d['near_duplicate_groups']} "
            "near-duplicate groups."
        )
        alpha = d["agreement"].get("krippendorff_alpha")
        if alpha is not None:
            low, high = d["agreement"]["ci95"] or (float("nan"), float("nan"))
            say(f"Krippendorff's α on the category field: {alpha:.3f} [{low:.3f}, {high:.3f}]")

    emit(report.as_dict(), as_json, render)
