"""Chinese chart labels find a CJK font even when Matplotlib's font cache predates the fonts,
and a machine with no CJK font gets one warning, not one per glyph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Builds a Matplotlib font cache in MPLCONFIGDIR that knows no CJK font (as one built before
# the fonts were installed), for the second script to start from.
STALE_CACHE = """
import json, os
import matplotlib
from matplotlib import font_manager
manager = font_manager.FontManager()
manager.ttflist = [f for f in manager.ttflist if "CJK" not in f.name and "Hei" not in f.name]
# The file Matplotlib reads its font list from (font_manager._load_fontmanager).
name = f"fontlist-v{font_manager.FontManager.__version__}.json"
font_manager.json_dump(manager, os.path.join(matplotlib.get_cachedir(), name))
print(json.dumps(sorted({f.name for f in manager.ttflist})))
"""

# Draws the report's charts for Chinese labels and reports every warning.
CHARTS = """
import json, warnings
from annotate.agreement_data import FieldTable
from annotate.report import build_report
from annotate.report.plots import render_plots
rows = [(item, a, ("谣言" if (item + i) % 3 else "合法")) for item in range(30)
        for i, a in enumerate(("甲", "乙", "丙"))]
table = FieldTable(source="fonts", field="category", kind="choices", level="nominal",
                   rows=rows, label_names={"谣言": "编造金融谣言", "合法": "合法信息"})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    plots = render_plots(build_report(table, ci=False))
from matplotlib import rcParams
from annotate.report.plots import cjk_font_families
print(json.dumps({"plots": sorted(plots), "families": list(cjk_font_families()),
                  "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}))
"""


def python(script: str, config: Path, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "MPLCONFIGDIR": str(config), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_stale_font_cache_still_finds_the_cjk_font(tmp_path):
    config = tmp_path / "mpl"
    cached = json.loads(python(STALE_CACHE, config))
    assert not any("CJK" in name for name in cached)
    seen = json.loads(python(CHARTS, config))
    assert seen["plots"] and seen["families"], seen
    assert seen["warnings"] == []  # no "Glyph ... missing from font" warning


def test_no_cjk_font_at_all_warns_once(tmp_path):
    config = tmp_path / "mpl"
    python(STALE_CACHE, config)
    # Without fontconfig on PATH the stale cache is all there is: no CJK font anywhere.
    seen = json.loads(python(CHARTS, config, PATH=str(tmp_path / "empty-bin")))
    assert seen["families"] == []
    assert seen["warnings"] == [
        "NoCJKFontWarning: No CJK font found: Chinese labels in the report's charts will be "
        "empty boxes. Install one (Debian: apt-get install fonts-noto-cjk)."
    ]
