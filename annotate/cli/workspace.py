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
from annotate.config import (
    CONFIG_FILE,
    ENV_VARS,
    SECRET_FILE,
    SECRET_SETTINGS,
    URL_SETTINGS,
    ensure_workspace,
    mask_url,
    setting_sources,
)
from annotate.store import open_store, schema_head
from annotate.taxonomy import copy_label_config

config_app = new_app("config", help="Show the effective settings.")


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Create the workspace: settings, pseudonymisation secret, a migrated database, and
    label_config/ (taxonomy, guidelines) to edit in the current folder.

    Safe to run again: nothing that exists is overwritten.
    """
    app_state = state(ctx)
    settings = app_state.settings
    created = ensure_workspace(settings)
    store = open_store(settings.effective_database_url)
    store.dispose()
    copied = copy_label_config(Path("label_config"))
    result = {
        "workspace": str(settings.workspace),
        "created": created,
        "config": str(settings.workspace / CONFIG_FILE),
        "database": mask_url(settings.effective_database_url),
        "schema": schema_head(),
        "label_config": [str(path) for path in copied],
    }

    def render(data: dict) -> None:
        verb = "Created" if data["created"] else "Workspace already exists:"
        say(f"{verb} {data['workspace']}/")
        say(f"  settings  {data['config']}")
        say(f"  database  {data['database']} (schema {data['schema']})")
        say(f"  secret    {settings.workspace / SECRET_FILE} (mode 0600)")
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
    settings = app_state.settings
    sources = setting_sources(settings, app_state.options)
    values: dict[str, str | None] = {}
    for name in ENV_VARS:
        value = getattr(settings, name)
        if name in SECRET_SETTINGS:
            values[name] = "********" if value is not None else None
        elif name == "database_url":
            values[name] = mask_url(settings.effective_database_url)
        elif name in URL_SETTINGS:
            values[name] = None if value is None else mask_url(value)
        elif name == "registry":
            values[name] = str(settings.effective_registry)
        else:
            values[name] = None if value is None else str(value)
    secret = settings.workspace / SECRET_FILE
    values["pseudonym_secret"] = "******** " + (
        f"({secret})" if secret.exists() else "(created on first use)"
    )
    sources["pseudonym_secret"] = "workspace"
    data = {name: {"value": values[name], "source": sources[name]} for name in values}

    def render(data: dict) -> None:
        rows = [[name, item["value"], item["source"]] for name, item in data.items()]
        table(None, ["setting", "value", "from"], rows)

    emit(data, as_json, render)
