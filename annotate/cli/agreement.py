"""Inter-annotator agreement of a project's field, or of any long-table file.

Usage:
    annotate agreement round-1
    annotate agreement round-1 --field severity --batch 3 --json
    annotate agreement round-1 --format html --screenshot
    annotate agreement round-1 --format md --out reports/round-1.md
    annotate agreement --input labels.csv --json
    annotate agreement --input ratings.jsonl --level ordinal --no-ci
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from annotate.cli._shared import PROJECT_HELP, JsonOpt, emit, say, table, workspace
from annotate.errors import InputError
from annotate.report import (
    AgreementReport,
    default_report_path,
    file_report,
    render_html,
    render_markdown,
    screenshot,
)

DEFAULT_FIELD = "category"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    html = "html"
    md = "md"


class FileLevel(StrEnum):
    nominal = "nominal"
    ordinal = "ordinal"
    interval = "interval"
    ratio = "ratio"


def register(app: typer.Typer) -> None:
    app.command("agreement")(agreement)


def agreement(
    ctx: typer.Context,
    project: Annotated[
        str | None,
        typer.Argument(help=PROJECT_HELP, show_default=False),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="A CSV or JSONL file with item_id, annotator and label columns (or labels, "
            "'|'-separated, for a multi-label field), instead of a project.",
            show_default=False,
        ),
    ] = None,
    field: Annotated[
        str | None,
        typer.Option(help="Taxonomy field to measure.", show_default=DEFAULT_FIELD),
    ] = None,
    batch: Annotated[
        int | None, typer.Option(help="Only this batch's items (see 'annotate status').")
    ] = None,
    min_annotators: Annotated[
        int,
        typer.Option(min=1, help="Leave out items with fewer annotations (they are counted)."),
    ] = 2,
    level: Annotated[
        FileLevel | None,
        typer.Option(
            help="Level of measurement of an --input file's labels (a project's taxonomy says "
            "it for its fields).",
            show_default="nominal",
        ),
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(
            help="For --input --level ordinal with text labels: every label from lowest to "
            "highest, comma-separated, e.g. low,medium,high.",
            show_default=False,
        ),
    ] = None,
    ci: Annotated[
        bool, typer.Option("--ci/--no-ci", help="Bootstrap 95% intervals (1,000 resamples).")
    ] = True,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="Output: tables, JSON, or a report file.")
    ] = ReportFormat.table,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write the --format html, md or json report to this file instead of stdout.",
            show_default="stdout (with --screenshot: exports/reports/<project>-<field>.html)",
        ),
    ] = None,
    reveal: Annotated[
        bool,
        typer.Option(
            "--reveal",
            help="Name annotators as 'pseudonym (e-mail)' from the local store, for a lead's "
            "own report; never for files that leave the team.",
        ),
    ] = False,
    take_screenshot: Annotated[
        bool,
        typer.Option(
            "--screenshot", help="With --format html: also a PNG of the page (needs Chromium)."
        ),
    ] = False,
    suggestions: Annotated[
        bool,
        typer.Option(
            "--suggestions",
            help="Agreement on tasks with and without a model's suggestion (--pre-annotate), "
            "and how often annotators took the suggestion as it was.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Agreement of a field: α, κ, AC1 with intervals, per label, per annotator, per batch.

    Krippendorff's bands: α ≥ 0.800 reliable, 0.667 to 0.800 tentative conclusions only,
    below that not reliable.
    """
    chosen = _check_options(
        project, input_file, field, batch, level, order, output_format, as_json, out
    )
    if reveal and input_file is not None:
        raise InputError("--reveal applies to projects: a file's annotators are as written.")
    if suggestions:
        if project is None:
            raise InputError("--suggestions applies to projects, not to --input files.")
        effect = workspace(ctx).suggestion_effect(project, field=field or DEFAULT_FIELD)
        emit(effect.as_dict(), as_json or chosen is ReportFormat.json, _render_suggestions)
        return
    if take_screenshot and chosen is not ReportFormat.html:
        raise InputError("--screenshot needs --format html.")
    if input_file is not None:
        report = file_report(
            input_file,
            level=(level or FileLevel.nominal).value,
            order=[part.strip() for part in order.split(",")] if order else None,
            min_annotators=min_annotators,
            ci=ci,
        )
    else:
        assert project is not None  # _check_options made sure
        report = workspace(ctx).agreement(
            project,
            field=field or DEFAULT_FIELD,
            batch=batch,
            min_annotators=min_annotators,
            ci=ci,
            reveal=reveal,
        )
        if reveal:
            say("--reveal: this report names annotators by e-mail; keep it within the team.")

    if chosen is ReportFormat.table:
        emit(report.as_dict(), False, lambda _: _render_tables(report))
        return
    text = {
        ReportFormat.html: render_html,
        ReportFormat.md: render_markdown,
        ReportFormat.json: lambda report: _json(report.as_dict()) + "\n",
    }[chosen](report)
    if out is None and not take_screenshot:
        sys.stdout.write(text)  # every format prints unless --out says where to write
        return
    # A screenshot needs a page on disk: without --out it goes to exports/reports/.
    path = out or default_report_path(workspace(ctx).settings.exports, report, chosen.value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    say(f"Wrote {path}. {report.interpretation.sentence}")
    if take_screenshot:
        say(f"Wrote {screenshot(path)}")


def _render_suggestions(d: dict) -> None:
    rows = []
    for name in ("with_suggestions", "without_suggestions"):
        group = d[name]
        alpha = group["alpha_masi"]
        shown = f"{alpha:.3f}" if alpha is not None else f"n/a ({group['undefined_reason']})"
        rows.append([name.replace("_", " "), group["tasks"], group["items_measured"], shown])
    table(
        f"{d['project']}: {d['field']}",
        ["tasks", "count", "items with 2+ annotators", "alpha (MASI)"],
        rows,
    )
    rate = d["acceptance_rate"]
    say(
        f"Suggestions by {', '.join(d['models']) or 'no model'}: "
        + (
            f"{d['accepted']} of {d['suggested_annotations']} annotations ({rate:.0%}) took "
            "the suggestion as it was."
            if rate is not None
            else "no annotation of a suggested task yet."
        )
    )


def _check_options(
    project: str | None,
    input_file: Path | None,
    field: str | None,
    batch: int | None,
    level: FileLevel | None,
    order: str | None,
    output_format: ReportFormat,
    as_json: bool,
    out: Path | None,
) -> ReportFormat:
    """The output format, after refusing options that do not go together."""
    if project is not None and input_file is not None:
        raise InputError("Give a project or --input FILE, not both.")
    if project is None and input_file is None:
        raise InputError(
            "Give a project name or --input FILE.",
            hint="For example: annotate agreement round-1, or annotate agreement --input "
            "labels.csv.",
        )
    if input_file is not None and (field is not None or batch is not None):
        raise InputError("--field and --batch apply to projects, not to --input files.")
    if project is not None and (level is not None or order is not None):
        raise InputError(
            "--level and --order apply to --input files; a project's taxonomy sets them."
        )
    if order is not None and level is not FileLevel.ordinal:
        raise InputError("--order goes with --level ordinal.")
    chosen = output_format
    if as_json:
        if output_format not in (ReportFormat.table, ReportFormat.json):
            raise InputError(f"--json and --format {output_format.value} do not go together.")
        chosen = ReportFormat.json
    if out is not None and chosen is ReportFormat.table:
        raise InputError("--out needs --format html, md or json.")
    return chosen


def _render_tables(report: AgreementReport) -> None:
    """Headline, per-label and per-annotator tables for people."""
    say(f"Agreement on {report.field!r} ({report.source}).")
    if report.summary is not None:
        coefficients = list(report.summary.coefficients.values())
        if report.multilabel is not None:
            coefficients += [report.multilabel.alpha_masi, report.multilabel.alpha_jaccard]
        table(
            None,
            ["coefficient", "value", "95% low", "95% high", "pairable items"],
            [
                [
                    coefficient.name,
                    coefficient.value,
                    coefficient.ci.low if coefficient.ci else None,
                    coefficient.ci.high if coefficient.ci else None,
                    coefficient.n_pairable,
                ]
                for coefficient in coefficients
            ],
        )
        summary = report.summary
        say(
            f"{summary.n_items} items, {summary.n_annotators} annotators, "
            f"{summary.n_annotations} annotations"
            + (
                f"; left out {report.n_dropped_items} with fewer than {report.min_annotators} "
                "annotations."
                if report.n_dropped_items
                else "."
            )
        )
    say(report.interpretation.sentence)
    for note in report.notes:
        say(note)
    if report.spans is not None:
        table(
            "span labels",
            ["label", "exact F1", "overlap F1", "spans compared"],
            [
                [
                    "all labels" if row.label is None else report.show(row.label),
                    row.exact_f1,
                    row.overlap_f1,
                    row.n_spans,
                ]
                for row in (report.spans.overall, *report.spans.per_label)
            ],
        )
    if report.per_label:
        table(
            "per label",
            ["label", "α", "κ", "prevalence", "positive agr.", "negative agr."],
            [
                [
                    report.show(row.label),
                    row.alpha.value,
                    row.kappa.value,
                    row.prevalence,
                    row.positive_agreement,
                    row.negative_agreement,
                ]
                for row in report.per_label
            ],
        )
    if report.annotators:
        has_gold = any(row.n_gold for row in report.annotators)
        table(
            "per annotator",
            [
                "annotator",
                "items",
                "leave-one-out agr.",
                *(["gold accuracy", "gold items"] if has_gold else []),
                "outlier",
            ],
            [
                [
                    row.annotator,
                    row.n_items,
                    row.loo_agreement,
                    *([row.gold_accuracy, row.n_gold] if has_gold else []),
                    row.outlier_reason or "",
                ]
                for row in report.annotators
            ],
        )


def _json(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"
