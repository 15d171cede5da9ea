"""The report as Markdown: the same sections as the HTML page, as tables."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

from annotate import __version__
from annotate.report.formatting import show_interval, show_number, show_share
from annotate.report.model import CONFUSIONS_SHOWN, AgreementReport

__all__ = ["render_markdown"]


def _cell(value: Any) -> str:
    """Text for a Markdown table cell: HTML-escaped (renderers pass raw HTML through), one
    line, pipes escaped."""
    text = html.escape(str(value), quote=False)
    return re.sub(r"\s+", " ", text).replace("|", "\\|").strip()


def _markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(column) for column in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: AgreementReport) -> str:
    """The report as Markdown: the same sections as the HTML page, as tables."""
    show = report.show
    lines = [f"# Agreement on “{_cell(report.field)}”", ""]
    where = [report.source, f"{report.kind}{' (multi-label)' if report.multiple else ''}"]
    if report.taxonomy:
        where.insert(1, f"taxonomy {report.taxonomy}")
    lines += [_cell(" · ".join([*where, f"generated {report.generated_at}"])), ""]
    band = report.interpretation
    if report.summary is not None:
        alpha = report.summary.krippendorff_alpha
        interval = f" ({show_interval(alpha)})" if alpha.ci else ""
        lines += [
            f"**α = {show_number(alpha.value)}**{interval}: **{band.band}**. {band.sentence}",
            "",
        ]
        coefficients = list(report.summary.coefficients.values())
        if report.multilabel is not None:
            coefficients += [report.multilabel.alpha_masi, report.multilabel.alpha_jaccard]
        lines += _markdown_table(
            ["coefficient", "value", "95% interval", "pairable items"],
            [[c.name, show_number(c.value), show_interval(c), c.n_pairable] for c in coefficients],
        )
        summary = report.summary
        counts = (
            f"{summary.n_items} items, {summary.n_annotators} annotators, "
            f"{summary.n_annotations} annotations."
        )
        if report.n_dropped_items:
            counts += (
                f" Left out, with fewer than {report.min_annotators} annotations: "
                f"{report.n_dropped_items} items."
            )
        lines += [counts, ""]
    else:
        lines += [_cell(band.sentence), ""]
    lines += [f"_{_cell(note)}_\n" for note in report.notes]

    if report.spans is not None:
        lines += ["## Span labels", ""]
        lines += _markdown_table(
            ["label", "exact F1", "overlap F1", "spans compared"],
            [
                [
                    show(row.label),
                    show_number(row.exact_f1),
                    show_number(row.overlap_f1),
                    row.n_spans,
                ]
                for row in report.spans.per_label
            ],
        )
    if report.per_label:
        lines += ["## Per label", ""]
        lines += _markdown_table(
            ["label", "α", "κ", "prevalence", "positive agreement", "negative agreement"],
            [
                [
                    show(row.label),
                    show_number(row.alpha.value),
                    show_number(row.kappa.value),
                    show_share(row.prevalence),
                    show_share(row.positive_agreement),
                    show_share(row.negative_agreement),
                ]
                for row in report.per_label
            ],
        )
    if report.summary is not None and report.summary.cohen_kappa_pairs:
        lines += ["## Annotator pairs (Cohen's κ)", ""]
        lines += _markdown_table(
            ["annotator", "other annotator", "κ", "shared items"],
            [
                [pair.a, pair.b, show_number(pair.kappa), pair.n]
                for pair in report.summary.cohen_kappa_pairs
            ],
        )
    if report.annotators:
        lines += ["## Annotators", ""]
        lines += _markdown_table(
            ["annotator", "items", "leave-one-out agreement", "gold accuracy", "outlier"],
            [
                [
                    row.annotator,
                    row.n_items,
                    show_number(row.loo_agreement),
                    show_share(row.gold_accuracy),
                    row.outlier_reason or "",
                ]
                for row in report.annotators
            ],
        )
    if report.confusions:
        lines += ["## Where annotators split", ""]
        lines += _markdown_table(
            ["label", "other label", "pairs", "share"],
            [
                [show(row.label_a), show(row.label_b), row.count, show_share(row.share)]
                for row in report.confusions[:CONFUSIONS_SHOWN]
            ],
        )
    if report.disagreed:
        has_posts = any(item.post for item in report.disagreed)
        lines += ["## Items with the most disagreement", ""]
        lines += _markdown_table(
            ["item", "disagreement", "annotations", *(["post"] if has_posts else [])],
            [
                [
                    item.item,
                    show_number(item.disagreement, 2),
                    "; ".join(f"{name}: {show(value)}" for name, value in item.values)
                    + (f"; gold: {show(item.gold)}" if item.gold is not None else ""),
                    *([item.post.text if item.post else ""] if has_posts else []),
                ]
                for item in report.disagreed
            ],
        )
    if report.trend:
        lines += ["## Across batches", ""]
        lines += _markdown_table(
            ["batch", "items", "α", "95% interval"],
            [
                [row.name, row.n_items, show_number(row.alpha.value), show_interval(row.alpha)]
                for row in report.trend
            ],
        )
    lines.append(
        f"Made by annotate {__version__}. Bands after Krippendorff (2004): α ≥ 0.800 reliable; "
        "0.667 ≤ α < 0.800 tentative conclusions only; below, not reliable."
    )
    return "\n".join(lines) + "\n"
