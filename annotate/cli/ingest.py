"""Ingest post files into the store.

Usage:
    annotate ingest posts.jsonl
    annotate ingest weibo.csv --source weibo-2024 --encoding gbk
    annotate ingest mixed.csv --encoding gbk --force-encoding
    annotate ingest dump.parquet --id-field mid --text-field content --strict
    annotate ingest saved_dataset/ --json
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from annotate.cli._shared import JsonOpt, emit, say, stderr, table, workspace
from annotate.ingest import Reject


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        rows = task.fields.get("rows", 0)
        elapsed = task.elapsed or 0
        rate = rows / elapsed if elapsed > 0 else 0
        return Text(f"{rows:,} rows  {rate:,.0f} rows/s", style="progress.data.speed")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Post files: .jsonl, .csv, .tsv, .parquet (optionally .gz), or a folder "
            "written by datasets' save_to_disk.",
            show_default=False,
        ),
    ],
    source: Annotated[
        str,
        typer.Option(
            help="Name of the collection the post ids belong to; (source, post_id) is stored "
            "once, so ingesting a file again inserts nothing."
        ),
    ] = "default",
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Stop at the first bad row or conflict and store nothing; a run that completes "
            "is stored whole (one transaction).",
        ),
    ] = False,
    encoding: Annotated[
        str,
        typer.Option(
            help="Text encoding of CSV and JSONL files, e.g. gbk. A file that does not look like "
            "it is refused with the fix."
        ),
    ] = "utf-8",
    force_encoding: Annotated[
        bool,
        typer.Option(
            "--force-encoding",
            help="Read the files as --encoding even when they look like another encoding (say, "
            "a UTF-8 file read as gbk).",
        ),
    ] = False,
    id_field: Annotated[
        str, typer.Option("--id-field", help="Input field holding the post id.")
    ] = "post_id",
    text_field: Annotated[
        str, typer.Option("--text-field", help="Input field holding the post text.")
    ] = "text",
    as_json: JsonOpt = False,
) -> None:
    """Read posts into the store, validated and normalised; ingesting a file again adds nothing.

    Text is normalised (NFC, zero-width and NUL characters removed), lang is read from tags
    such as zh_CN, zh-Hant-HK, cmn or en-US (detected when missing), ids are kept digit for
    digit, and identical texts are grouped. Bad rows are skipped and reported as FILE:LINE:
    reason on stderr and in exports/rejects/, and so are conflicts (an id read again, or already
    stored, with another text: the first text stays); --strict stops at the first one instead.
    A cut-off or damaged file stops the run, naming the file and the last whole line. A run
    left running by a killed ingest is marked interrupted by the next one; ingesting the files
    again stores the rest. Optional fields: platform, account_id, created_at, url, lang, likes,
    reposts, comments, views; any other field is kept in the post's meta.
    """
    ws = workspace(ctx)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        _RowsPerSecond(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, done: int, total: int, rows: int, unit: str) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(Path(name).name, total=total or None, rows=0)
            bar.update(tasks[name], completed=done, total=total or None, rows=rows)

        def on_reject(item: Reject) -> None:
            bar.console.print(str(item), markup=False, highlight=False)

        started = time.perf_counter()
        report = ws.ingest(
            *files,
            source=source,
            strict=strict,
            encoding=encoding,
            force_encoding=force_encoding,
            id_field=id_field,
            text_field=text_field,
            on_reject=on_reject,
            progress=progress,
        )
        seconds = time.perf_counter() - started

    if report.interrupted_runs:
        runs = ", ".join(str(run_id) for run_id in report.interrupted_runs)
        say(f"Ingest run(s) {runs} had stopped without finishing (killed?); marked interrupted.")

    def render(_: dict) -> None:
        rate = report.read / seconds if seconds > 0 else 0
        say(
            f"Ingested {len(report.files)} file(s) into source {source!r} "
            f"in {seconds:.1f} s ({rate:,.0f} rows/s)."
        )
        table(
            None,
            ["", "rows"],
            [
                ["read", report.read],
                ["inserted", report.inserted],
                ["duplicates (same id and text already stored)", report.duplicates],
                ["conflicts (same id, other text: not stored)", report.conflicts],
                ["identical text to another post", report.same_text],
                ["rejected", report.rejected],
            ],
        )
        if report.rejects_file:
            say(f"Rejected and conflicting rows are listed in {report.rejects_file}")

    emit(report.counts(), as_json, render)
