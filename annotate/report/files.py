"""Where a report is written, and writing it as HTML or Markdown."""

from __future__ import annotations

import re
from pathlib import Path

from annotate.report.html import render_html
from annotate.report.markdown import render_markdown
from annotate.report.model import AgreementReport

__all__ = ["default_report_path", "write_report"]


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
