"""The evaluation report: a precision–recall plot per label (PNG) and an HTML page with the
scores, the majority-class baseline, the annotators' ceiling and the plot. Post text is
untrusted: everything shown is escaped."""

from __future__ import annotations

import base64
import math
from html import escape
from pathlib import Path
from typing import Any

from annotate.baseline.evaluation import Evaluation


def write_evaluation_report(evaluation: Evaluation, folder: Path, stem: str) -> dict[str, str]:
    """Write ``stem.png`` (the curves) and ``stem.html`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{stem}.png"
    html = folder / f"{stem}.html"
    png.write_bytes(plot_curves(evaluation))
    html.write_text(render_html(evaluation, png.read_bytes()), encoding="utf-8")
    return {"html": str(html), "png": str(png)}


def plot_curves(evaluation: Evaluation) -> bytes:
    """The precision–recall curve of every label present, one panel each, as a PNG."""
    import io

    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    labels = [row.label for row in evaluation.per_label if row.label in evaluation.curves]
    columns = 3
    rows = max(1, math.ceil(len(labels) / columns))
    figure = Figure(figsize=(4 * columns, 3.2 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    scores = {row.label: row for row in evaluation.per_label}
    ceiling = evaluation.ceiling.per_label if evaluation.ceiling else {}
    for index, panel in enumerate(axes.flat):
        if index >= len(labels):
            panel.set_visible(False)
            continue
        label = labels[index]
        precision, recall = evaluation.curves[label]
        panel.step(recall, precision, where="post", color="#1f5fa8")
        row = scores[label]
        panel.plot([row.recall], [row.precision], "o", color="#c0392b", label="at threshold")
        agreed = (ceiling.get(label) or {}).get("f1")
        if agreed is not None:
            panel.axhline(agreed, linestyle=":", color="#777", label="annotators' F1")
        panel.set_title(f"{label} (F1 {row.f1:.2f}, n={row.support})", fontsize=9)
        panel.set_xlim(0, 1.02)
        panel.set_ylim(0, 1.05)
        panel.set_xlabel("recall")
        panel.set_ylabel("precision")
        if index == 0:
            panel.legend(fontsize=7, loc="lower left")
    figure.suptitle(f"{evaluation.model_version} on {evaluation.dataset} ({evaluation.split})")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def render_html(evaluation: Evaluation, png: bytes) -> str:
    """The report page, the PNG inlined so the page is one file."""
    ceiling = evaluation.ceiling.per_label if evaluation.ceiling else {}
    rows = "".join(
        "<tr>"
        + _cells(
            row.label,
            "absent" if row.absent else _number(row.precision),
            "" if row.absent else _number(row.recall),
            "" if row.absent else _number(row.f1),
            row.support,
            _number((ceiling.get(row.label) or {}).get("f1")),
        )
        + "</tr>"
        for row in evaluation.per_label
    )
    majority = evaluation.majority
    errors = "".join(
        "<tr>"
        + _cells(
            error["post_id"],
            ", ".join(error["labels"]) or "(none)",
            error["label"],
            _number(error["probability"]),
            error["text"][:300],
        )
        + "</tr>"
        for error in evaluation.errors
    )
    source = escape(evaluation.ceiling.source) if evaluation.ceiling else "not available"
    image = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(evaluation.model_version)} on {escape(evaluation.dataset)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}</style>
</head><body>
<h1>{escape(evaluation.model_version)} on {escape(evaluation.dataset)}, split
{escape(evaluation.split)}</h1>
<p>{evaluation.posts} posts. Macro-F1 {_number(evaluation.macro.f1)} (over labels present),
micro-F1 {_number(evaluation.micro.f1)}. Majority-class baseline (always
<code>{escape(str(majority.get("label")))}</code>): macro-F1 {_number(majority.get("macro_f1"))},
micro-F1 {_number(majority.get("micro_f1"))}. Annotators' F1 with each other (ceiling):
macro {_number(evaluation.ceiling.macro_f1 if evaluation.ceiling else None)}, from {source}.</p>
<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th>
<th>annotators' F1</th></tr>{rows}</table>
<h2>Precision–recall per label</h2>
<img alt="precision-recall curves" src="data:image/png;base64,{image}" style="max-width:100%">
<h2>Worst errors</h2>
<table><tr><th>post</th><th>labels</th><th>worst label</th><th>probability</th><th>text</th>
</tr>{errors}</table>
</body></html>
"""


def _cells(*values: Any) -> str:
    return "".join(f"<td>{escape(str(value))}</td>" for value in values)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
