"""The ``annotate`` command line: a thin shell over the library.

Usage:
    annotate init
    annotate demo-corpus --size 5000 --out exports/demo/posts.jsonl
    annotate ingest exports/demo/posts.jsonl --source demo
    annotate posts stats --json
    annotate taxonomy validate
    annotate project create round-1 --annotators-per-task 3 --overlap 0.2
    annotate sample round-1 --size 500 --strategy mixed --by platform,month
    annotate pull round-1
    annotate agreement round-1 --format html --screenshot
    annotate aggregate round-1
    annotate publish finmis --version 1.0.0 --project round-1
    annotate train finmis@1.0.0
    annotate evaluate exports/models/finmis-1.0.0-category finmis@1.0.0
    annotate config show
    annotate ls serve --port 8080
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from annotate import __version__
from annotate.cli import (
    adjudicate,
    aggregate,
    agreement,
    annotators,
    corpus,
    demo,
    ingest,
    loop,
    ls,
    model,
    posts,
    project,
    publish,
    review,
    taxonomy,
    workspace,
)
from annotate.cli._shared import AppState, new_app, state

app = new_app(
    "annotate",
    help=(
        "Build labelled datasets of financial misinformation around Label Studio: "
        "ingest posts, sample them into projects, pull annotations, measure agreement, "
        "publish versioned Hugging Face datasets."
    ),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"annotate {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace_dir: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace folder (database, settings, secret). [env ANNOTATE_WORKSPACE]",
            show_default=".annotate",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db. "
            "[env ANNOTATE_DATABASE_URL; default: SQLite in the workspace]",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Build labelled datasets of financial misinformation around Label Studio."""
    app_state = state(ctx)
    app_state.options = {"workspace": workspace_dir, "database_url": database_url}
    app_state.verbose = verbose


workspace.register(app)
ingest.register(app)
demo.register(app)
loop.register(app)
agreement.register(app)
aggregate.register(app)
adjudicate.register(app)
review.register(app)
annotators.register(app)
publish.register(app)
model.register(app)
app.add_typer(posts.app)
app.add_typer(corpus.app)
app.add_typer(taxonomy.app)
app.add_typer(project.app)
app.add_typer(workspace.config_app)
app.add_typer(ls.app)


def main() -> None:
    app(prog_name="annotate")


__all__ = ["AppState", "app", "main"]
