"""Adjudication commands.

Usage:
    annotate adjudicate round-1
    annotate adjudicate round-1 --max-posterior 0.9 --severity-gap 1 --json
    annotate pull "round-1 adjudication"
"""

from __future__ import annotations

from typing import Annotated

import typer

from annotate.aggregation import Aggregation
from annotate.cli._shared import (
    AggregationOpt,
    JsonOpt,
    NoWaitOpt,
    ProjectArg,
    emit,
    say,
    table,
    workspace,
)


def register(app: typer.Typer) -> None:
    app.command("adjudicate")(adjudicate)


def adjudicate(
    ctx: typer.Context,
    project: ProjectArg,
    max_posterior: Annotated[
        float,
        typer.Option(
            help="A label whose posterior lies between 1-P and P is uncertain (ties included)."
        ),
    ] = 0.8,
    severity_gap: Annotated[
        int,
        typer.Option(min=1, help="Severity answers this many steps apart need a decision."),
    ] = 2,
    aggregation: AggregationOpt = Aggregation.DAWID_SKENE,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Send posts whose aggregate is uncertain to the project's adjudication project.

    Uncertain: a tie or a label posterior below --max-posterior, a severity spread of
    --severity-gap steps or more, a taxonomy rule the aggregate breaks, or an annotator
    asking for an expert. The expert sees every annotator's labels under pseudonyms; pull the
    adjudication project to store the decisions, which then override the aggregate.
    """
    report = workspace(ctx).adjudicate(
        project,
        max_posterior=max_posterior,
        severity_gap=severity_gap,
        aggregation=aggregation,
        wait=not no_wait,
    )

    def render(d: dict) -> None:
        say(
            f"{d['selected']} uncertain posts; {d['sent']} sent to {d['adjudication_project']!r} "
            f"(Label Studio project {d['ls_project_id']}), {d['already_there']} already there."
        )
        if d["reasons"]:
            table(None, ["reason (kind)", "posts"], sorted(d["reasons"].items()))
        say(f"Then: annotate pull {d['adjudication_project']!r}")

    emit(report.as_dict(), as_json, render)
