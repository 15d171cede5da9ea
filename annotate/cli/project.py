"""Label Studio project commands.

Usage:
    annotate project create round-1 --annotators-per-task 3 --overlap 0.2
    annotate project list
    annotate project show round-1 --json
    annotate project sync round-1 --dry-run
"""

from __future__ import annotations

from typing import Annotated

import typer

from annotate.cli._shared import (
    JsonOpt,
    ProjectArg,
    TaxonomyOpt,
    emit,
    new_app,
    say,
    table,
    workspace,
)

app = new_app("project", help="Create and manage Label Studio projects made from the taxonomy.")

NameArg = Annotated[str, typer.Argument(help="Project name (3 to 50 characters).")]


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    taxonomy: TaxonomyOpt = None,
    annotators_per_task: Annotated[
        int,
        typer.Option(
            "--annotators-per-task",
            min=1,
            help="How many annotators label each overlapping task (Label Studio's "
            "maximum_annotations).",
        ),
    ] = 3,
    overlap: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of tasks labelled by that many annotators (for agreement); the rest "
            "get one. Overlapping tasks are served first.",
        ),
    ] = 0.2,
    as_json: JsonOpt = False,
) -> None:
    """Create a Label Studio project from the taxonomy, with overlap for agreement.

    The labelling config is rendered from the taxonomy, the guidelines become the project's
    instructions, and the store records the project with the taxonomy's version and hash.
    """
    info = workspace(ctx).create_project(
        name, taxonomy=taxonomy, annotators_per_task=annotators_per_task, overlap=overlap
    )
    emit(
        info.as_dict(),
        as_json,
        lambda d: say(
            f"Created project {d['name']!r}: Label Studio project {d['ls_project_id']} at "
            f"{d['ls_url']}/projects/{d['ls_project_id']} ({d['taxonomy']}; "
            f"{d['annotators_per_task']} annotators on {d['overlap']:.0%} of tasks)."
        ),
    )


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the projects recorded in the store."""
    projects = [info.as_dict() for info in workspace(ctx).projects()]

    def render(rows: list[dict]) -> None:
        if not rows:
            say("No projects yet: create one with 'annotate project create NAME'.")
            return
        table(
            None,
            ["project", "kind", "Label Studio id", "taxonomy", "annotators", "overlap"],
            [
                [
                    p["name"],
                    p["kind"],
                    p["ls_project_id"],
                    p["taxonomy"],
                    p["annotators_per_task"],
                    p["overlap"],
                ]
                for p in rows
            ],
        )

    emit(projects, as_json, render)


@app.command("show")
def show(
    ctx: typer.Context,
    project: ProjectArg,
    live: Annotated[
        bool,
        typer.Option(
            "--live/--offline",
            help="Also ask Label Studio for the project's counts and settings (by default only "
            "what the store knows, which needs no server).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a project as the store knows it; --live adds Label Studio's counts and settings."""
    info = workspace(ctx).project(project, live=live)

    def render(d: dict) -> None:
        rows = [[key, value] for key, value in d.items() if key != "server"]
        rows += [[f"server.{key}", value] for key, value in d["server"].items()]
        if not live:
            say(
                f"As recorded in the store; 'annotate project show {project!r} --live' asks "
                "Label Studio for its counts."
            )
        table(None, ["", "value"], [[k, None if v is None else str(v)] for k, v in rows])

    emit(info.as_dict(), as_json, render)


@app.command("sync")
def sync(
    ctx: typer.Context,
    project: ProjectArg,
    taxonomy: TaxonomyOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Apply a breaking change even though the project has annotations."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Update a project's labelling config to the current taxonomy.

    Compatible changes are applied; a breaking change on a project with annotations is
    refused (saying what would break) unless --force.
    """
    report = workspace(ctx).sync_project(project, taxonomy=taxonomy, force=force, dry_run=dry_run)

    def render(d: dict) -> None:
        if not d["changed"]:
            say(f"Project {d['name']!r} is up to date ({d['new']}).")
            return
        verb = "Would update" if dry_run else "Updated"
        say(
            f"{verb} project {d['name']!r}: {d['old']} → {d['new']} "
            f"({d['diff']['required_bump']} change, {d['annotations']} annotations)."
        )

    emit(report.as_dict(), as_json, render)
