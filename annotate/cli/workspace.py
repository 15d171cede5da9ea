"""Workspace commands.

Usage:
    annotate init
    annotate --workspace team/.annotate init
    annotate config show
    annotate config show --json
"""

from __future__ import annotations

from pathlib import Path

import typer

from annotate.cli._shared import JsonOpt, emit, new_app, say, state, table

config_app = new_app("config", help="Show the effective settings.")


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Create the workspace: settings, pseudonymisation secret, a migrated database, and
    label_config/ (taxonomy, guidelines, risk lexicon) to edit, beside the workspace.

    Safe to run again: nothing that exists is overwritten.
    """
    ws = state(ctx).init_workspace()
    result = ws.init_report.as_dict()
    secret = ws.folder.secret_path

    def render(data: dict) -> None:
        verb = "Created" if data["created"] else "Workspace already exists:"
        say(f"{verb} {data['workspace']}/")
        say(f"  settings  {data['config']}")
        say(f"  database  {data['database']} (schema {data['schema']})")
        say(f"  secret    {secret} (mode 0600)")
        for path in map(Path, data["label_config"]):
            if path.suffix == ".xml":
                note = "generated from taxonomy.yaml by 'annotate taxonomy render'; do not edit"
            else:
                note = "edit it; this copy wins over the packaged one"
            say(f"  copied    {path} ({note})")
        if data["label_config"]:
            say(
                "Labels live in label_config/taxonomy.yaml: edit it, then run "
                "'annotate taxonomy validate' and 'annotate taxonomy render'."
            )

    emit(result, as_json, render)


@config_app.command("show")
def show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the effective settings and where each came from; secrets are masked."""
    app_state = state(ctx)
    data = app_state.workspace.config(app_state.options)

    def render(data: dict) -> None:
        rows = [[name, item["value"], item["source"]] for name, item in data.items()]
        table(None, ["setting", "value", "from"], rows)

    emit(data, as_json, render)
