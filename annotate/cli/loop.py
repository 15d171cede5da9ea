"""The labelling loop: sample posts into a project, push tasks, pull annotations, status.

Usage:
    annotate sample round-1 --size 500 --strategy mixed --by platform,month --seed 7
    annotate sample round-1 --size 500 --dry-run
    annotate push round-1
    annotate pull round-1
    annotate pull round-1 --full --json
    annotate status round-1
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from annotate.batches import push as push_tasks
from annotate.cli._shared import JsonOpt, emit, say, state, stderr, table
from annotate.pull import pull as pull_annotations
from annotate.status import project_status

ProjectArg = Annotated[str, typer.Argument(help="Project name (see 'annotate project list').")]
AccountIdsOpt = Annotated[
    bool,
    typer.Option(
        "--send-account-ids",
        help="Show posters' raw account ids to annotators (off: only display names).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("pull")(pull)
    app.command("status")(status)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )


def push_pending(ctx: typer.Context, project: str, send_account_ids: bool) -> dict:
    app_state = state(ctx)
    with _progress() as bar:
        task = bar.add_task("pushing tasks", total=None)
        report = push_tasks(
            app_state.store(),
            app_state.connection(),
            project,
            include_account_id=send_account_ids,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    return report.as_dict()


def push(
    ctx: typer.Context,
    project: ProjectArg,
    send_account_ids: AccountIdsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import the project's recorded tasks that are not in Label Studio yet.

    Safe to rerun after an interruption: tasks Label Studio already has are matched by post
    id first, so no post becomes two tasks.
    """
    data = push_pending(ctx, project, send_account_ids)
    emit(
        data,
        as_json,
        lambda d: say(
            f"Pushed {d['pushed']} tasks to {d['project']!r} in {d['chunks']} requests"
            + (f"; matched {d['reconciled']} already there" if d["reconciled"] else "")
            + "."
        ),
    )


def pull(
    ctx: typer.Context,
    project: ProjectArg,
    full: Annotated[
        bool, typer.Option("--full", help="Reread every task, not only those changed.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pull annotations into the store: new, updated, deleted and skipped, per annotator.

    Incremental by default (only tasks changed since the last successful pull). One
    transaction: a failed pull leaves the store as it was.
    """
    app_state = state(ctx)
    workspace = app_state.workspace()
    with (
        stderr.status("pulling annotations", spinner="dots")
        if stderr.is_terminal
        else nullcontext()
    ):
        report = pull_annotations(
            app_state.store(),
            app_state.connection(),
            project,
            pseudonymise=workspace.pseudonymise,
            full=full,
        )
    data = report.as_dict()

    def render(d: dict) -> None:
        kind = "Full pull" if d["full"] else "Pull"
        say(
            f"{kind} of {d['project']!r}: {d['tasks']} tasks read; {d['new']} new, "
            f"{d['updated']} updated, {d['deleted']} deleted, {d['skipped']} skipped"
            + (f"; {d['with_problems']} with problems" if d["with_problems"] else "")
            + ("" if d["changed"] else " (nothing new)")
            + "."
        )
        rows = [
            [name, c["new"], c["updated"], c["deleted"], c["skipped"], c["unchanged"]]
            for name, c in sorted(d["by_annotator"].items())
        ]
        if rows:
            table(None, ["annotator", "new", "updated", "deleted", "skipped", "unchanged"], rows)

    emit(data, as_json, render)


def status(ctx: typer.Context, project: ProjectArg, as_json: JsonOpt = False) -> None:
    """Per batch and per annotator: tasks, done, skipped, overlap coverage, lead time."""
    report = project_status(state(ctx).store(), project)

    def render(d: dict) -> None:
        say(f"Project {d['project']!r}; last pull {d['last_pull_at'] or 'never'}.")
        table(
            "batches",
            ["batch", "strategy", "tasks", "pushed", "done", "skipped", "overlapping", "coverage"],
            [
                [
                    b["batch"],
                    b["strategy"],
                    b["tasks"],
                    b["pushed"],
                    b["done"],
                    b["skipped"],
                    b["overlapping"],
                    b["overlap_coverage"],
                ]
                for b in d["batches"]
            ],
        )
        if d["annotators"]:
            table(
                "annotators",
                ["annotator", "annotations", "skipped", "median lead time (s)"],
                [
                    [a["annotator"], a["annotations"], a["skipped"], a["median_lead_time"]]
                    for a in d["annotators"]
                ],
            )

    emit(report.as_dict(), as_json, render)
