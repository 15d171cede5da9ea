"""The report's charts (Matplotlib, no pyplot), as PNG ``data:`` URIs for a self-contained page."""

from __future__ import annotations

import base64
import functools
import io
import math
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from typing import Any

from annotate.report.formatting import natural_key, short_value
from annotate.report.model import (
    CONFUSIONS_SHOWN,
    RELIABLE_ALPHA,
    TENTATIVE_ALPHA,
    AgreementReport,
)

__all__ = ["render_plots"]

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
#: Above this many annotators the heatmap drops the numbers in its cells (they stop fitting).
HEATMAP_NUMBERS_UP_TO = 16


class NoCJKFontWarning(UserWarning):
    """No font with Chinese glyphs was found: Chinese labels in the charts are empty boxes."""


def _plot_fonts() -> dict[str, Any]:
    """Matplotlib settings that draw Latin text in DejaVu Sans and Chinese in a CJK font.

    A list of families makes Matplotlib fall back glyph by glyph (Matplotlib 3.6+).
    """
    return {
        "font.family": ["DejaVu Sans", *cjk_font_families()],
        "font.size": 10,
        "axes.unicode_minus": False,
    }


@functools.cache
def cjk_font_families() -> tuple[str, ...]:
    """The installed CJK font families Matplotlib can use, best first.

    Matplotlib lists fonts from a cache built once; fonts installed after it was built are not
    in it (a common order: use the tool, then install fonts). So when the cache knows no CJK
    font, fontconfig is asked for the files of fonts that cover Chinese and they are added
    for this process. With none at all, one :class:`NoCJKFontWarning` says so (once per
    process), instead of one Matplotlib warning per missing glyph.
    """
    from matplotlib import font_manager

    found = _known_cjk_families(font_manager)
    if not found:
        for path in _fontconfig_files(":lang=zh"):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # unreadable or not a font Matplotlib reads
                continue
        found = _known_cjk_families(font_manager)
    if not found:
        warnings.warn(
            "No CJK font found: Chinese labels in the report's charts will be empty boxes. "
            "Install one (Debian: apt-get install fonts-noto-cjk).",
            NoCJKFontWarning,
            stacklevel=2,
        )
    return found


def _known_cjk_families(font_manager: Any) -> tuple[str, ...]:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FONTS if name in installed)


def _fontconfig_files(pattern: str) -> list[str]:
    """Font files fontconfig knows for ``pattern`` (none when fontconfig is missing)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listed = subprocess.run(
            [fc_list, pattern, "--format", "%{file}\\n"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.strip() for line in listed.splitlines() if line.strip()})


def _png(figure: Any) -> str:
    """A figure as a ``data:`` URI of a PNG, so the page needs no other file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_plots(report: AgreementReport) -> dict[str, str]:
    """The report's charts as data URIs, by name; charts without data are left out."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    plots: dict[str, str] = {}
    fonts = _plot_fonts()
    with matplotlib.rc_context(fonts), warnings.catch_warnings():
        if len(fonts["font.family"]) == 1:  # no CJK font: said once above, not once per glyph
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
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
