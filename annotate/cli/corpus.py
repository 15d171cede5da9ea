"""External corpora: Parquet datasets registered by name, sampled where they are.

Usage:
    annotate corpus add lake /data/posts/ --id-field mid --text-field content
    annotate corpus add oct '/data/posts/platform=*/month=2024-10/*.parquet' --source weibo
    annotate corpus list
    annotate corpus show lake --json
    annotate corpus refresh lake
    annotate sample round-1 --size 1000 --from lake --strategy stratified --by platform,month
"""

from __future__ import annotations

from typing import Annotated

import typer

from annotate.cli._shared import JsonOpt, busy, emit, new_app, say, table, workspace

app = new_app(
    "corpus",
    help="Register Parquet corpora (folders, globs, hive partitions) to sample without ingesting.",
)

NameArg = Annotated[str, typer.Argument(help="The corpus's name in this workspace.")]


def _render(data: dict) -> None:
    say(
        f"Corpus {data['name']!r}: {data['rows']:,} posts in {data['files']} files "
        f"({data['bytes'] / 2**20:,.1f} MiB) at {data['uri']}; source {data['source']!r}, "
        f"id {data['id_field']!r}, text {data['text_field']!r}."
    )
    table(None, ["column", "type"], [[c["name"], c["type"]] for c in data["columns"]])
    if data["partitions"]:
        rows = [[key, ", ".join(values)] for key, values in data["partitions"].items()]
        table("partitions", ["column", "values"], rows)
    say(f"Fingerprint {data['fingerprint'][:16]}… (files, sizes, modification times).")
    changed = data.get("changed")
    if changed is not None and not changed.get("matches"):
        say(
            f"The files changed since: {changed['files']} files, {changed['bytes']:,} bytes now. "
            f"Run annotate corpus refresh {data['name']} before sampling."
        )


@app.command(
    "add",
    epilog="Examples: annotate corpus add lake /data/posts/ --id-field mid --text-field content",
)
def add(
    ctx: typer.Context,
    name: NameArg,
    uri: Annotated[
        str,
        typer.Argument(help="A folder of Parquet files (searched recursively), a glob, a file."),
    ],
    id_field: Annotated[str, typer.Option(help="Column holding the post id.")] = "post_id",
    text_field: Annotated[str, typer.Option(help="Column holding the post text.")] = "text",
    source: Annotated[
        str | None,
        typer.Option(help="Source of its posts in the store.", show_default="the corpus's name"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a Parquet dataset without copying it: schema, partitions, rows, fingerprint."""
    with busy(f"reading the footers of {uri}"):
        info = workspace(ctx).add_corpus(
            name, uri, source=source, id_field=id_field, text_field=text_field
        )
    emit(info.as_dict(), as_json, _render)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The registered corpora."""
    data = [info.as_dict() for info in workspace(ctx).corpora()]

    def render(data: list) -> None:
        if not data:
            say("No corpus is registered. Add one with annotate corpus add NAME PATH.")
            return
        rows = [
            [d["name"], d["rows"], d["files"], ", ".join(d["partition_columns"]), d["uri"]]
            for d in data
        ]
        table(None, ["corpus", "posts", "files", "partitions", "uri"], rows)

    emit(data, as_json, render)


@app.command("show")
def show(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """A corpus's schema, partitions, rows and fingerprint, and whether its files changed."""
    emit(workspace(ctx).corpus(name).as_dict(), as_json, _render)


@app.command("refresh")
def refresh(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Scan a corpus's files again (after they changed) and record them as they are now."""
    with busy(f"reading the footers of corpus {name}"):
        info = workspace(ctx).refresh_corpus(name)
    emit(info.as_dict(), as_json, _render)
