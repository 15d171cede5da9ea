"""What every command shares: options spelled once, the state behind them, output helpers.

A command body validates its arguments, makes one call on the :class:`annotate.Workspace` the
global options open (:func:`workspace`), and hands the result to :func:`emit`, which knows the
``--json`` switch.

Options spelled once: a command takes its project as :data:`ProjectArg`, the aggregation as
:data:`AggregationOpt`, and uses :data:`JsonOpt`, :data:`NoWaitOpt` and :data:`TaxonomyOpt`
rather than declaring its own.

The output convention, the same for every command:

- ``--json`` (every command has it): the result as JSON on stdout, nothing else there;
  without it, tables and sentences for people. Progress, notices and next steps go to stderr
  either way, so stdout stays clean for a pipe.
- A report command (``agreement``) also has ``--format table|json|html|md``: ``table`` is the
  human output, ``--json`` means ``--format json``; every format goes to stdout unless
  ``--out FILE`` says where to write (and the command then says where it wrote).
- A failing command prints one sentence (and the fix, where it helps) on stderr and exits
  non-zero; a usage mistake exits with 2.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

try:  # Typer 0.20+ carries its own Click, whose errors all derive from TyperException.
    from typer.exceptions import TyperException as _UsageErrorBase
except ImportError:  # pragma: no cover - older Typer on the Click package
    from click import ClickException as _UsageErrorBase

from annotate.aggregation import Aggregation
from annotate.config import Settings
from annotate.errors import AnnotateError
from annotate.workspace import Workspace

PROJECT_HELP = "Project name (see 'annotate project list')."
ProjectArg = Annotated[str, typer.Argument(help=PROJECT_HELP)]
AggregationOpt = Annotated[
    Aggregation,
    typer.Option(
        "--aggregation",
        help="How annotations become labels: Dawid-Skene (weighs annotators by their "
        "estimated accuracy) or majority vote.",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout instead of tables.")
]
TaxonomyOpt = Annotated[
    Path | None,
    typer.Option(
        "--taxonomy",
        help="Taxonomy file.",
        show_default="label_config/taxonomy.yaml here, else the packaged default",
    ),
]

NoWaitOpt = Annotated[
    bool,
    typer.Option(
        "--no-wait",
        help="Fail at once, naming who holds it, if another command is working on the project "
        "(default: wait for it, and say so).",
    ),
]

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def progress_bar() -> Progress:
    """A progress bar on stderr (description, bar, done/total, time); off when not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )


def busy(message: str) -> contextlib.AbstractContextManager:
    """A spinner on stderr while ``message`` is being done (nothing when not a terminal)."""
    if stderr.is_terminal:
        return stderr.status(message, spinner="dots")
    return contextlib.nullcontext()


def listed(ids: list[Any], shown: int = 10) -> str:
    """The first ``shown`` ids, comma-separated, and how many more."""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(map(str, ids[:shown])) + more


def say(message: str) -> None:
    """A progress or status line for people, on stderr (stdout stays clean for --json)."""
    stderr.print(message, markup=False, soft_wrap=True)


@dataclass
class AppState:
    """Global options and the workspace they open (lazily: a command that needs neither the
    store nor Label Studio, or ``--help``, writes nothing)."""

    options: dict[str, Any] = field(default_factory=dict)
    verbose: bool = False
    _workspace: Workspace | None = None

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            options = dict(self.options)
            self._workspace = Workspace.open(options.pop("workspace", None), say=say, **options)
        return self._workspace

    def init_workspace(self) -> Workspace:
        """The workspace the options name, made by :meth:`Workspace.init`."""
        options = dict(self.options)
        self._workspace = Workspace.init(options.pop("workspace", None), say=say, **options)
        return self._workspace

    @property
    def settings(self) -> Settings:
        return self.workspace.settings

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace the global options name: what every command body calls."""
    return state(ctx).workspace


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``data`` as JSON on stdout, or hand it to ``render`` for people; flushed, so a
    program reading a pipe gets it now (``ls serve`` keeps running after it)."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        render(data)
    sys.stdout.flush()


def next_steps(steps: list[tuple[str, str]]) -> None:
    """A "Next steps" block on stderr: what to do now, one labelled line each (never a secret:
    say where a password or token is, not what it is)."""
    width = max(len(label) for label, _ in steps)
    say("")
    say("Next steps")
    for label, text in steps:
        say(f"  {label.ljust(width)}  {text}")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """A plain table on stdout; cells are shown as text, never as markup."""
    view = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for index, column in enumerate(columns):
        cells = [row[index] for row in rows if row[index] is not None]
        numeric = bool(cells) and all(isinstance(cell, int | float) for cell in cells)
        view.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        view.add_row(*(_cell(value) for value in row))
    stdout.print(view)


def _cell(value: Any) -> Any:
    from rich.text import Text

    if value is None:
        return Text("–", style="dim")
    if isinstance(value, float):
        return Text(f"{value:,.3f}")
    if isinstance(value, int):
        return Text(f"{value:,}")
    return Text(str(value))


class AnnotateGroup(TyperGroup):
    """Turns user errors into one line on stderr and a non-zero exit code (no traceback).

    ``--verbose`` shows the traceback as well.
    """

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, SystemExit, BrokenPipeError):
            raise
        except _UsageErrorBase:
            raise  # usage mistakes: Click prints the usage line and the problem, exit code 2
        except Exception as error:
            app_state = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
            if app_state.verbose:
                traceback.print_exc()
            typer.echo(f"Error: {describe(error)}", err=True)
            if not isinstance(error, AnnotateError) and not app_state.verbose:
                typer.echo("Run with --verbose for the traceback.", err=True)
            raise typer.Exit(getattr(error, "exit_code", 1)) from None
        finally:
            if isinstance(ctx.obj, AppState) and ctx.parent is None:
                ctx.obj.close()


def describe(error: BaseException) -> str:
    """One sentence for an exception, without secrets."""
    if isinstance(error, AnnotateError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}."
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        return f"The database refused the operation: {reason}."
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"unexpected {type(error).__name__}{': ' + text if text else ''}."


def new_app(name: str, help: str, **extra: Any) -> typer.Typer:
    """A command group with the house settings."""
    return typer.Typer(
        name=name,
        help=help,
        cls=AnnotateGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",
        context_settings={"help_option_names": ["-h", "--help"]},
        **extra,
    )
