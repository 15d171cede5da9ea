"""The agreement report for leads: one field of a project (or a file), as HTML, Markdown or JSON.

Usage::

    from annotate.agreement_data import post_texts, project_table
    from annotate.report import build_report, screenshot, write_report

    table = project_table(store, "round-1", "category")
    report = build_report(table, texts=lambda items: post_texts(store, items))
    path = write_report(report, Path("exports/reports/round-1-category.html"))
    screenshot(path)  # round-1-category.png next to it, rendered by headless Chromium

:func:`build_report` only computes (with :mod:`annotate.agreement`); the renderers turn the
result into one self-contained HTML page (plots as embedded PNG, no scripts, nothing fetched
from the network, every string from the data escaped by Jinja's autoescaping) or Markdown
(tables only, cells escaped). ``report.as_dict()`` is the JSON document: the top-level numbers of
:meth:`AgreementSummary.as_dict` plus the per-label, per-annotator, confusion, item and batch
sections.

Interpretation of α follows Krippendorff (2004, *Content Analysis*, 2nd ed., p. 241): rely on
variables with α ≥ 0.800, draw only tentative conclusions from 0.667 ≤ α < 0.800, and do not
rely on data below 0.667.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from annotate import __version__, agreement
from annotate.agreement import (
    AgreementSummary,
    AnnotatorAgreement,
    Coefficient,
    LabelAgreement,
    LabelConfusion,
    MultiLabelAgreement,
    SpanAgreement,
    annotator_agreement,
    confusion_pairs,
    krippendorff_alpha,
    label_agreement,
    multilabel_agreement,
    span_agreement,
    summarise,
)
from annotate.agreement_data import FieldTable, PostText, items_by_batch
from annotate.errors import AnnotateError

__all__ = [
    "AgreementReport",
    "BatchTrend",
    "DisagreedItem",
    "Interpretation",
    "build_report",
    "default_report_path",
    "interpret_alpha",
    "item_disagreement",
    "render_html",
    "render_markdown",
    "screenshot",
    "write_report",
]

#: Krippendorff's (2004) thresholds for α.
RELIABLE_ALPHA = 0.800
TENTATIVE_ALPHA = 0.667
#: Fonts tried, in order, for Chinese labels in plots (after DejaVu Sans for Latin text).
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Noto Sans CJK JP",
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--no-sandbox",  # containers and CI run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The report needs no network; background requests would only fail or leak.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: How many label pairs the confusion chart shows.
CONFUSIONS_SHOWN = 12
#: Above this many annotators the heatmap drops the numbers in its cells (they stop fitting).
HEATMAP_NUMBERS_UP_TO = 16


# -- what the report holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpretation:
    """Where α falls on Krippendorff's scale: ``band`` is ``reliable``, ``tentative``,
    ``not reliable`` or ``undefined``; ``sentence`` says so for people."""

    band: str
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"band": self.band, "sentence": self.sentence}


@dataclass(frozen=True)
class DisagreedItem:
    """An item annotators disagreed on: its disagreement (0 to 1), every annotator's value,
    the gold answer if it is a gold item, and the post when the store has it."""

    item: Any
    disagreement: float
    values: tuple[tuple[Any, Any], ...]
    gold: Any = None
    post: PostText | None = None

    def as_dict(self, show: Callable[[Any], str]) -> dict[str, Any]:
        return {
            "item": self.item,
            "disagreement": self.disagreement,
            "values": [{"annotator": name, "value": show(value)} for name, value in self.values],
            "gold": None if self.gold is None else show(self.gold),
            "source": self.post.source if self.post else None,
            "post_id": self.post.post_id if self.post else None,
            "text": self.post.text if self.post else None,
        }


@dataclass(frozen=True)
class BatchTrend:
    """Krippendorff's α of one batch's items."""

    batch: Any
    name: str
    n_items: int
    alpha: Coefficient

    def as_dict(self) -> dict[str, Any]:
        ci = self.alpha.ci
        return {
            "batch": self.batch,
            "name": self.name,
            "n_items": self.n_items,
            "krippendorff_alpha": self.alpha.value,
            "ci": None if ci is None else ci.as_list(),
            "undefined_reason": self.alpha.undefined_reason,
        }


@dataclass(frozen=True)
class AgreementReport:
    """Everything the report shows about one field; ``as_dict()`` is the JSON document.

    ``summary`` is None for span fields, which have ``spans`` (pairwise F1) instead.
    """

    source: str
    field: str
    kind: str
    level: str
    multiple: bool
    generated_at: str
    summary: AgreementSummary | None
    interpretation: Interpretation
    per_label: tuple[LabelAgreement, ...] = ()
    multilabel: MultiLabelAgreement | None = None
    spans: SpanAgreement | None = None
    annotators: tuple[AnnotatorAgreement, ...] = ()
    confusions: tuple[LabelConfusion, ...] = ()
    disagreed: tuple[DisagreedItem, ...] = ()
    trend: tuple[BatchTrend, ...] = ()
    label_names: Mapping[Any, str] = field(default_factory=dict)
    n_dropped_items: int = 0
    min_annotators: int = 2
    project: str | None = None
    batch: int | None = None
    taxonomy: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """A short name for files: the project (or file stem), the batch, and the field."""
        base = self.project if self.project else Path(self.source).stem
        batch = f"-batch-{self.batch}" if self.batch is not None else ""
        return f"{base}{batch}-{self.field}"

    @property
    def alpha(self) -> Coefficient | None:
        return self.summary.krippendorff_alpha if self.summary else None

    def show(self, value: Any) -> str:
        """A value as people read it: label names, ``a + b`` for label sets."""
        return show_value(value, self.label_names)

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = self.summary.as_dict() if self.summary else {}
        document.update(
            {
                "source": self.source,
                "project": self.project,
                "batch": self.batch,
                "field": self.field,
                "kind": self.kind,
                "level": self.level,
                "multiple": self.multiple,
                "taxonomy": self.taxonomy,
                "generated_at": self.generated_at,
                "min_annotators": self.min_annotators,
                "n_dropped_items": self.n_dropped_items,
                "interpretation": self.interpretation.as_dict(),
                "per_label": [row.as_dict() for row in self.per_label],
                "annotators": [row.as_dict() for row in self.annotators],
                "confusions": [row.as_dict() for row in self.confusions],
                "most_disagreed": [item.as_dict(self.show) for item in self.disagreed],
                "trend": [row.as_dict() for row in self.trend],
                "notes": list(self.notes),
            }
        )
        if self.multilabel is not None:
            document["multilabel"] = {
                "alpha_masi": self.multilabel.alpha_masi.as_dict(),
                "alpha_jaccard": self.multilabel.alpha_jaccard.as_dict(),
            }
        if self.spans is not None:
            document["spans"] = self.spans.as_dict()
            document.update(
                n_items=self.spans.n_items,
                n_pairable=self.spans.n_pairable,
                n_unpairable=self.spans.n_unpairable,
            )
        return document


# -- computing ------------------------------------------------------------------------------------


def interpret_alpha(alpha: Coefficient) -> Interpretation:
    """Krippendorff's band for α, with a warning when the interval reaches a lower band."""
    if alpha.value is None:
        return Interpretation("undefined", f"α is undefined: {alpha.undefined_reason}.")
    shown = round(alpha.value, 3)  # band what people read, so 0.7996 shown as 0.800 is reliable
    if shown >= RELIABLE_ALPHA:
        band, sentence, floor = "reliable", "α ≥ 0.800: reliable.", RELIABLE_ALPHA
    elif shown >= TENTATIVE_ALPHA:
        band, floor = "tentative", TENTATIVE_ALPHA
        sentence = "0.667 ≤ α < 0.800: tentative conclusions only."
    else:
        band, floor = "not reliable", -math.inf
        sentence = (
            "α < 0.667: not reliable; clarify the guidelines or retrain annotators before "
            "using these labels."
        )
    if alpha.ci is not None and alpha.ci.low < floor:
        sentence += (
            f" The {alpha.ci.level:.0%} interval reaches down to {alpha.ci.low:.3f}, "
            "below this band: more overlapping items would settle it."
        )
    return Interpretation(band, sentence)


def item_disagreement(
    rows: Iterable[tuple[Any, Any, Any]],
    *,
    kind: str,
    multiple: bool = False,
    order: Sequence[Any] | None = None,
) -> dict[Any, float]:
    """Per item with two or more annotations, the mean disagreement of its annotation pairs.

    A pair's disagreement is, for label sets, the Jaccard distance; for ordered values (an
    ``ordinal`` field, or ``numeric``) the gap between them over the widest gap possible;
    otherwise 1 when the values differ. 0 is full agreement, 1 the most there can be. The
    distances are those of :mod:`annotate.agreement.distances`.

    >>> rows = [(1, "A", "x"), (1, "B", "x"), (2, "A", "x"), (2, "B", "y"), (2, "C", "y")]
    >>> item_disagreement(rows, kind="choices")
    {1: 0.0, 2: 0.6666666666666666}
    >>> item_disagreement([(1, "A", {"a"}), (1, "B", {"a", "b"})], kind="choices", multiple=True)
    {1: 0.5}
    """
    if multiple:
        return agreement.item_disagreement(rows, "jaccard")
    if kind in ("ordinal", "numeric"):
        return agreement.item_disagreement(rows, "linear", order=order)
    return agreement.item_disagreement(rows, "nominal")


def build_report(
    table: FieldTable,
    *,
    ci: bool = True,
    n_resamples: int = 1000,
    seed: int | None = 0,
    n_disagreed: int = 10,
    min_items: int = 20,
    texts: Callable[[list[Any]], Mapping[Any, PostText]] | None = None,
) -> AgreementReport:
    """Compute the report of one field's long table (see :class:`AgreementReport`).

    ``ci``: bootstrap intervals (``n_resamples``, ``seed``) for the headline coefficients and
    the per-batch α. ``n_disagreed``: how many of the most-disagreed items to list, with their
    posts from ``texts(items)`` when given. ``min_items``: pairable items an annotator needs
    before they can be flagged as an outlier (see :func:`annotate.agreement.annotator_agreement`).
    """
    if not table.rows:
        detail = (
            f"; {table.n_dropped_items} items have fewer than {table.min_annotators} annotations"
            if table.dropped_rows
            else ""
        )
        raise AnnotateError(
            f"No item of {table.source} has {table.min_annotators} or more annotations of field "
            f"{table.field!r}{detail}.",
            hint="Agreement needs items labelled by several annotators: pull the latest "
            "annotations, or raise the project's overlap.",
        )
    common = {
        "source": table.source,
        "field": table.field,
        "kind": table.kind,
        "level": table.level,
        "multiple": table.multiple,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "label_names": dict(table.label_names),
        "n_dropped_items": table.n_dropped_items,
        "min_annotators": table.min_annotators,
        "project": table.project,
        "batch": table.batch,
        "taxonomy": table.taxonomy,
        "notes": tuple(table.notes),
    }
    if table.kind == "spans":
        spans = span_agreement(table.rows, labels=table.labels)
        f1 = spans.overall.overlap_f1
        sentence = (
            f"Overlap F1 of {table.field!r} spans: {f1:.3f} (exact {spans.overall.exact_f1:.3f})."
            if f1 is not None
            else f"Span F1 is undefined: {spans.undefined_reason or 'no spans were marked'}."
        )
        return AgreementReport(
            summary=None,
            interpretation=Interpretation("not applicable", sentence),
            spans=spans,
            **common,
        )

    resampling = {"ci": ci, "n_resamples": n_resamples, "seed": seed}
    set_labels = table.labels if table.multiple else None
    summary = summarise(table.rows, table.level, order=table.order, labels=set_labels, **resampling)
    multilabel = None
    per_label: tuple[LabelAgreement, ...] = ()
    if table.multiple:
        multilabel = multilabel_agreement(table.rows, labels=table.labels, **resampling)
        per_label = multilabel.per_label
    elif table.kind != "numeric":
        # Each category as its own yes/no question: which categories annotators share.
        as_sets = [(item, annotator, [value]) for item, annotator, value in table.rows]
        per_label = tuple(label_agreement(as_sets, labels=table.labels))

    annotators = annotator_agreement(
        table.rows + table.gold_rows(),
        gold=table.gold or None,
        order=table.order,
        min_items=min_items,
    )
    confusions = (
        confusion_pairs(table.rows, order=table.order, labels=set_labels)
        if table.kind != "numeric"
        else []
    )

    scores = item_disagreement(
        table.rows, kind=table.kind, multiple=table.multiple, order=table.order
    )
    values_of: dict[Any, list[tuple[Any, Any]]] = defaultdict(list)
    for item, annotator, value in table.rows:
        values_of[item].append((annotator, value))
    # Among equal disagreement, items more people looked at say more.
    worst = sorted(
        (item for item, score in scores.items() if score > 0),
        key=lambda item: (-scores[item], -len(values_of[item]), natural_key(item)),
    )[:n_disagreed]
    posts = texts(worst) if texts is not None and worst else {}
    disagreed = tuple(
        DisagreedItem(
            item=item,
            disagreement=scores[item],
            values=tuple(sorted(values_of[item], key=lambda pair: natural_key(pair[0]))),
            gold=table.gold.get(item),
            post=posts.get(item),
        )
        for item in worst
    )

    trend = []
    batches = items_by_batch(table)
    if len(batches) >= 2:
        for batch in sorted(batches, key=lambda batch: (batch is None, natural_key(batch))):
            rows = batches[batch]
            alpha = krippendorff_alpha(
                rows, table.level, order=table.order, labels=set_labels, **resampling
            )
            name = "no batch" if batch is None else table.batch_names.get(batch, str(batch))
            trend.append(BatchTrend(batch, name, len({row[0] for row in rows}), alpha))

    return AgreementReport(
        summary=summary,
        interpretation=interpret_alpha(summary.krippendorff_alpha),
        per_label=per_label,
        multilabel=multilabel,
        annotators=tuple(sorted(annotators, key=lambda row: natural_key(row.annotator))),
        confusions=tuple(confusions),
        disagreed=disagreed,
        trend=tuple(trend),
        **common,
    )


# -- showing values -------------------------------------------------------------------------------


def natural_key(value: Any) -> tuple:
    """Sorts ``ann-2`` before ``ann-10`` and ``9`` before ``10``, whatever their type.

    >>> sorted(["ann-10", "ann-2", 3, "ann-1"], key=natural_key)
    [3, 'ann-1', 'ann-2', 'ann-10']
    """
    parts = re.split(r"(\d+)", str(value))
    # Text and digit runs alternate, so tuples compare text with text and numbers with numbers.
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def show_value(value: Any, names: Mapping[Any, str]) -> str:
    """A value as text: a label's name (and id), ``a + b`` for a set, ``(none)`` for {}."""
    if isinstance(value, frozenset | set | list | tuple):
        if not value:
            return "(none)"
        position = {label: index for index, label in enumerate(names)}  # taxonomy order
        parts = sorted(value, key=lambda part: (position.get(part, len(position)), str(part)))
        return " + ".join(show_value(part, names) for part in parts)
    if value is None:
        return "(nothing)"
    name = names.get(value)
    return str(value) if name is None else f"{name} ({value})"


def short_value(value: Any, names: Mapping[Any, str]) -> str:
    """A label's name alone (plots have little room)."""
    if value is None:
        return "(nothing)"
    return names.get(value, str(value))


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _interval(coefficient: Coefficient) -> str:
    ci = coefficient.ci
    return "–" if ci is None else f"{ci.low:.3f} – {ci.high:.3f}"


# -- plots ----------------------------------------------------------------------------------------


def _plot_fonts() -> dict[str, Any]:
    """Matplotlib settings that draw Latin text in DejaVu Sans and Chinese in a CJK font.

    A list of families makes Matplotlib fall back glyph by glyph (Matplotlib 3.6+).
    """
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    cjk = [name for name in CJK_FONTS if name in installed]
    return {"font.family": ["DejaVu Sans", *cjk], "font.size": 10, "axes.unicode_minus": False}


def _png(figure: Any) -> str:
    """A figure as a ``data:`` URI of a PNG, so the page needs no other file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(report: AgreementReport) -> dict[str, str]:
    """The report's charts as data URIs, by name; charts without data are left out."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    plots: dict[str, str] = {}
    with matplotlib.rc_context(_plot_fonts()):
        rows = [row for row in report.per_label if row.alpha.value is not None]
        if rows:
            figure = Figure(figsize=(7, 0.38 * len(rows) + 1.2))
            axes = figure.subplots()
            names = [short_value(row.label, report.label_names) for row in rows]
            values = [row.alpha.value for row in rows]
            colours = [_band_colour(value) for value in values]
            axes.barh(range(len(rows)), values, color=colours)
            axes.set_yticks(range(len(rows)), names)
            axes.invert_yaxis()
            for threshold in (TENTATIVE_ALPHA, RELIABLE_ALPHA):
                axes.axvline(threshold, color="#555", linestyle="--", linewidth=0.8)
            axes.set_xlim(min(0.0, *values) - 0.05, 1.0)
            axes.set_xlabel("Krippendorff's α (label chosen / not chosen)")
            plots["per_label"] = _png(figure)

        pairs = report.summary.cohen_kappa_pairs if report.summary else ()
        if pairs:
            plots["heatmap"] = _heatmap(Figure, pairs)

        if report.confusions:
            shown = report.confusions[:CONFUSIONS_SHOWN]
            figure = Figure(figsize=(7, 0.38 * len(shown) + 1.2))
            axes = figure.subplots()
            names = [
                f"{short_value(row.label_a, report.label_names)} ↔ "
                f"{short_value(row.label_b, report.label_names)}"
                for row in shown
            ]
            axes.barh(range(len(shown)), [row.count for row in shown], color="#4c72b0")
            axes.set_yticks(range(len(shown)), names)
            axes.invert_yaxis()
            axes.set_xlabel("disagreeing annotation pairs")
            plots["confusions"] = _png(figure)

        if report.trend:
            figure = Figure(figsize=(7, 3.2))
            axes = figure.subplots()
            positions = list(range(len(report.trend)))
            values = [float(row.alpha) for row in report.trend]
            low = [row.alpha.ci.low if row.alpha.ci else math.nan for row in report.trend]
            high = [row.alpha.ci.high if row.alpha.ci else math.nan for row in report.trend]
            axes.fill_between(positions, low, high, color="#4c72b0", alpha=0.15, linewidth=0)
            axes.plot(positions, values, marker="o", color="#4c72b0")
            axes.axhline(RELIABLE_ALPHA, color="#2e7d32", linestyle="--", linewidth=0.8)
            axes.axhline(TENTATIVE_ALPHA, color="#ef8f00", linestyle="--", linewidth=0.8)
            axes.set_xticks(positions, [row.name for row in report.trend], rotation=20)
            finite = [value for value in [*values, *low] if math.isfinite(value)]
            axes.set_ylim(min(0.0, *finite) - 0.05 if finite else 0.0, 1.02)
            axes.set_ylabel("Krippendorff's α")
            plots["trend"] = _png(figure)
    return plots


def _heatmap(figure_class: Any, pairs: Sequence[Any]) -> str:
    """Cohen's κ of every annotator pair as a symmetric grid (blank: no shared items)."""
    import numpy as np

    names = sorted({pair.a for pair in pairs} | {pair.b for pair in pairs}, key=natural_key)
    index = {name: position for position, name in enumerate(names)}
    grid = np.full((len(names), len(names)), np.nan)
    for pair in pairs:
        if pair.kappa is not None:
            grid[index[pair.a], index[pair.b]] = grid[index[pair.b], index[pair.a]] = pair.kappa
    size = max(3.5, 0.5 * len(names) + 2)
    figure = figure_class(figsize=(size + 1, size))
    axes = figure.subplots()
    image = axes.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(names)), [str(name) for name in names], rotation=45, ha="right")
    axes.set_yticks(range(len(names)), [str(name) for name in names])
    if len(names) <= HEATMAP_NUMBERS_UP_TO:
        for (row, column), value in np.ndenumerate(grid):
            if math.isfinite(value):
                axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes, label="Cohen's κ (below 0 shown as 0)")
    return _png(figure)


def _band_colour(alpha: float | None) -> str:
    if alpha is None:
        return "#9e9e9e"
    if alpha >= RELIABLE_ALPHA:
        return "#2e7d32"
    return "#ef8f00" if alpha >= TENTATIVE_ALPHA else "#c62828"


# -- HTML -----------------------------------------------------------------------------------------

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="annotate {{ version }}">
<title>Agreement: {{ r.source }} · {{ r.field }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Noto Sans SC",
         "PingFang SC", "Microsoft YaHei", sans-serif; color: #1f2328; background: #fff;
         max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; line-height: 1.45; }
  h1 { font-size: 1.6em; margin-bottom: 0.2em; }
  h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #d0d7de;
       padding-bottom: 0.2em; }
  .meta { color: #57606a; font-size: 0.92em; }
  .headline { display: flex; gap: 24px; align-items: center; margin: 20px 0;
              padding: 16px 20px; border-radius: 8px; background: #f6f8fa; }
  .alpha { font-size: 2.6em; font-weight: 700; white-space: nowrap; }
  .band { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff;
          font-weight: 600; }
  .band-reliable { background: #2e7d32; } .band-tentative { background: #b26a00; }
  .band-not-reliable { background: #c62828; } .band-undefined, .band-spans { background: #6e7781; }
  table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.92em; }
  th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
  th { background: #f6f8fa; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  tr.outlier td { background: #fff1f0; }
  img { max-width: 100%; height: auto; }
  blockquote { margin: 4px 0; padding: 4px 10px; border-left: 3px solid #d0d7de;
               white-space: pre-wrap; word-break: break-word; color: #24292f; }
  .note { color: #57606a; font-size: 0.9em; }
  footer { margin-top: 3em; color: #57606a; font-size: 0.85em; }
</style>
</head>
<body>
<h1>Agreement on “{{ r.field }}”</h1>
<p class="meta">{{ r.source }}{% if r.taxonomy %} · taxonomy {{ r.taxonomy }}{% endif %}
 · {{ r.kind }}{% if r.multiple %} (multi-label){% endif %} · level {{ r.level }}
 · generated {{ r.generated_at }}</p>

<section class="headline">
{% if r.summary %}
  <div class="alpha">α = {{ num(r.alpha.value) }}</div>
  <div>
    <span class="band band-{{ r.interpretation.band | replace(' ', '-') }}">
      {{ r.interpretation.band }}</span>
    {% if r.alpha.ci %}<span class="meta"> {{ "%.0f" % (r.alpha.ci.level * 100) }}% interval
      {{ interval(r.alpha) }}</span>{% endif %}
    <p>{{ r.interpretation.sentence }}</p>
  </div>
{% else %}
  <div><span class="band band-spans">spans</span><p>{{ r.interpretation.sentence }}</p></div>
{% endif %}
</section>

{% if r.summary %}
<table>
  <tr><th>coefficient</th><th>value</th><th>95% interval</th><th>pairable items</th>
      <th>note</th></tr>
  {% for c in r.summary.coefficients.values() %}
  <tr><td>{{ c.name }}</td><td class="num">{{ num(c.value) }}</td>
      <td class="num">{{ interval(c) }}</td><td class="num">{{ c.n_pairable }}</td>
      <td>{{ c.undefined_reason or "" }}</td></tr>
  {% endfor %}
  {% if r.multilabel %}
  {% for c in [r.multilabel.alpha_masi, r.multilabel.alpha_jaccard] %}
  <tr><td>{{ c.name }}</td><td class="num">{{ num(c.value) }}</td>
      <td class="num">{{ interval(c) }}</td><td class="num">{{ c.n_pairable }}</td>
      <td>{{ c.undefined_reason or "" }}</td></tr>
  {% endfor %}
  {% endif %}
</table>
<p class="meta">{{ r.summary.n_items }} items, {{ r.summary.n_annotators }} annotators,
 {{ r.summary.n_annotations }} annotations.
 {% if r.n_dropped_items %}Left out, with fewer than {{ r.min_annotators }} annotations:
 {{ r.n_dropped_items }} items.{% endif %}</p>
{% endif %}
{% for note in r.notes %}<p class="note">{{ note }}</p>{% endfor %}

{% if r.spans %}
<h2>Span labels</h2>
<table>
  <tr><th>label</th><th>exact F1</th><th>overlap F1</th><th>spans compared</th></tr>
  {% for row in r.spans.per_label %}
  <tr><td>{{ show(row.label) }}</td><td class="num">{{ num(row.exact_f1) }}</td>
      <td class="num">{{ num(row.overlap_f1) }}</td><td class="num">{{ row.n_spans }}</td></tr>
  {% endfor %}
</table>
<p class="meta">{{ r.spans.n_items }} items, {{ r.spans.n_pairable }} with two or more
 annotators, {{ r.spans.n_pairs }} annotator pairs compared.</p>
{% endif %}

{% if r.per_label %}
<h2>Per label</h2>
<p class="note">Each label as a yes/no question. Positive and negative specific agreement:
 of the annotator pairs where at least one chose (did not choose) the label, the share that
 agree.</p>
{% if plots.per_label %}<img alt="Krippendorff's alpha per label" src="{{ plots.per_label }}">
{% endif %}
<table>
  <tr><th>label</th><th>α</th><th>κ</th><th>prevalence</th><th>positive agreement</th>
      <th>negative agreement</th><th>chosen</th></tr>
  {% for row in r.per_label %}
  <tr><td>{{ show(row.label) }}</td><td class="num">{{ num(row.alpha.value) }}</td>
      <td class="num">{{ num(row.kappa.value) }}</td>
      <td class="num">{{ share(row.prevalence) }}</td>
      <td class="num">{{ share(row.positive_agreement) }}</td>
      <td class="num">{{ share(row.negative_agreement) }}</td>
      <td class="num">{{ row.n_positive }}</td></tr>
  {% endfor %}
</table>
{% endif %}

{% if plots.heatmap %}
<h2>Annotator pairs</h2>
<p class="note">Cohen's κ of every pair of annotators on the items they share (blank: no
 shared items).</p>
<img alt="Cohen's kappa of every pair of annotators" src="{{ plots.heatmap }}">
{% endif %}

{% if r.annotators %}
<h2>Annotators</h2>
<p class="note">Leave-one-out agreement: how often an annotator chose what the others chose on
 the same item. Outliers are far below the others (robust z-score).</p>
<table>
  <tr><th>annotator</th><th>items</th><th>pairable</th><th>leave-one-out agreement</th>
      <th>robust z</th>{% if has_gold %}<th>gold accuracy</th><th>gold items</th>{% endif %}
      <th>outlier</th></tr>
  {% for row in r.annotators %}
  <tr{% if row.outlier %} class="outlier"{% endif %}><td>{{ row.annotator }}</td>
      <td class="num">{{ row.n_items }}</td><td class="num">{{ row.n_pairable }}</td>
      <td class="num">{{ num(row.loo_agreement) }}</td>
      <td class="num">{{ num(row.robust_z, 1) }}</td>
      {% if has_gold %}<td class="num">{{ share(row.gold_accuracy) }}</td>
      <td class="num">{{ row.n_gold }}</td>{% endif %}
      <td>{{ row.outlier_reason or "" }}</td></tr>
  {% endfor %}
</table>
{% endif %}

{% if r.confusions %}
<h2>Where annotators split</h2>
{% if plots.confusions %}<img alt="Label pairs annotators split on" src="{{ plots.confusions }}">
{% endif %}
<table>
  <tr><th>label</th><th>other label</th><th>pairs</th><th>share</th></tr>
  {% for row in r.confusions[:confusions_shown] %}
  <tr><td>{{ show(row.label_a) }}</td><td>{{ show(row.label_b) }}</td>
      <td class="num">{{ row.count }}</td><td class="num">{{ share(row.share) }}</td></tr>
  {% endfor %}
</table>
{% endif %}

{% if r.disagreed %}
<h2>Items with the most disagreement</h2>
<table>
  <tr><th>item</th><th>disagreement</th><th>annotations</th>
      {% if has_posts %}<th>post</th>{% endif %}</tr>
  {% for item in r.disagreed %}
  <tr><td>{{ item.item }}{% if item.post %}<br><span class="meta">{{ item.post.source }} /
      {{ item.post.post_id }}</span>{% endif %}</td>
      <td class="num">{{ num(item.disagreement, 2) }}</td>
      <td>{% for name, value in item.values %}{{ name }}: {{ show(value) }}<br>{% endfor %}
          {% if item.gold is not none %}<strong>gold: {{ show(item.gold) }}</strong>{% endif %}</td>
      {% if has_posts %}<td>{% if item.post %}<blockquote>{{ item.post.text }}</blockquote>
      {% endif %}</td>{% endif %}</tr>
  {% endfor %}
</table>
{% endif %}

{% if r.trend %}
<h2>Across batches</h2>
{% if plots.trend %}<img alt="Krippendorff's alpha per batch" src="{{ plots.trend }}">{% endif %}
<table>
  <tr><th>batch</th><th>items</th><th>α</th><th>95% interval</th></tr>
  {% for row in r.trend %}
  <tr><td>{{ row.name }}</td><td class="num">{{ row.n_items }}</td>
      <td class="num">{{ num(row.alpha.value) }}</td>
      <td class="num">{{ interval(row.alpha) }}</td></tr>
  {% endfor %}
</table>
{% endif %}

<footer>Made by annotate {{ version }}. Bands after Krippendorff (2004): α ≥ 0.800 reliable;
 0.667 ≤ α &lt; 0.800 tentative conclusions only; below, not reliable. Intervals: percentile
 bootstrap over items.{% if r.project %} Annotators are pseudonymised.{% endif %}</footer>
</body>
</html>
"""


def render_html(report: AgreementReport) -> str:
    """The report as one self-contained HTML page (charts embedded, no scripts, no links out).

    Every string from the data goes through Jinja's autoescaping, so a post containing
    markup shows as text.
    """
    from jinja2 import Environment, StrictUndefined

    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    template = environment.from_string(HTML_TEMPLATE)
    return template.render(
        r=report,
        plots=_plots(report),
        version=__version__,
        has_gold=any(row.n_gold for row in report.annotators),
        has_posts=any(item.post for item in report.disagreed),
        confusions_shown=CONFUSIONS_SHOWN,
        num=_number,
        share=_share,
        interval=_interval,
        show=report.show,
    )


# -- Markdown -------------------------------------------------------------------------------------


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
        interval = f" ({_interval(alpha)})" if alpha.ci else ""
        lines += [f"**α = {_number(alpha.value)}**{interval}: **{band.band}**. {band.sentence}", ""]
        coefficients = list(report.summary.coefficients.values())
        if report.multilabel is not None:
            coefficients += [report.multilabel.alpha_masi, report.multilabel.alpha_jaccard]
        lines += _markdown_table(
            ["coefficient", "value", "95% interval", "pairable items"],
            [[c.name, _number(c.value), _interval(c), c.n_pairable] for c in coefficients],
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
                [show(row.label), _number(row.exact_f1), _number(row.overlap_f1), row.n_spans]
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
                    _number(row.alpha.value),
                    _number(row.kappa.value),
                    _share(row.prevalence),
                    _share(row.positive_agreement),
                    _share(row.negative_agreement),
                ]
                for row in report.per_label
            ],
        )
    if report.summary is not None and report.summary.cohen_kappa_pairs:
        lines += ["## Annotator pairs (Cohen's κ)", ""]
        lines += _markdown_table(
            ["annotator", "other annotator", "κ", "shared items"],
            [
                [pair.a, pair.b, _number(pair.kappa), pair.n]
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
                    _number(row.loo_agreement),
                    _share(row.gold_accuracy),
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
                [show(row.label_a), show(row.label_b), row.count, _share(row.share)]
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
                    _number(item.disagreement, 2),
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
                [row.name, row.n_items, _number(row.alpha.value), _interval(row.alpha)]
                for row in report.trend
            ],
        )
    lines.append(
        f"Made by annotate {__version__}. Bands after Krippendorff (2004): α ≥ 0.800 reliable; "
        "0.667 ≤ α < 0.800 tentative conclusions only; below, not reliable."
    )
    return "\n".join(lines) + "\n"


# -- files ----------------------------------------------------------------------------------------


def default_report_path(exports: Path, report: AgreementReport, suffix: str) -> Path:
    """``exports/reports/<project>-<field>.<suffix>``, with a file-system-safe name."""
    safe = re.sub(r"[^\w.-]+", "-", report.name).strip("-.") or "report"
    return exports / "reports" / f"{safe}.{suffix}"


def write_report(report: AgreementReport, path: Path) -> Path:
    """Write the report as HTML (``.html``/``.htm``) or Markdown (anything else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    is_html = path.suffix.lower() in (".html", ".htm")
    text = render_html(report) if is_html else render_markdown(report)
    path.write_text(text, encoding="utf-8")
    return path


def chromium_executable() -> str:
    """The installed Chromium (or Chrome), found on PATH."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AnnotateError(
        "--screenshot needs Chromium, and none is installed.",
        hint="Install it (e.g. apt-get install chromium), or leave out --screenshot.",
    )


def screenshot(html_path: Path, png_path: Path | None = None, *, width: int = 1200) -> Path:
    """Render an HTML report in headless Chromium to a full-page PNG (default: next to it).

    Uses the installed Chromium through Playwright (no browser download); the page may not
    fetch anything from the network, and any dialog it opens is dismissed.
    """
    executable = chromium_executable()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise AnnotateError(
            "--screenshot needs the playwright package.",
            hint="pip install playwright (it drives the installed Chromium; nothing else is "
            "downloaded).",
        ) from None
    png_path = png_path or html_path.with_suffix(".png")

    def local_only(route: Any) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            route.abort()

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=list(CHROMIUM_FLAGS)
            )
            try:
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.route("**/*", local_only)
                page.on("dialog", lambda dialog: dialog.dismiss())
                page.goto(html_path.resolve().as_uri(), wait_until="load")
                page.screenshot(path=str(png_path), full_page=True)
            finally:
                browser.close()
    except PlaywrightError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
        raise AnnotateError(f"Chromium could not render {html_path}: {reason}") from None
    return png_path
