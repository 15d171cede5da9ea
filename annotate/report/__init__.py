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

Modules: :mod:`~annotate.report.model` (what the report holds), :mod:`~annotate.report.build`
(computing it), :mod:`~annotate.report.plots`, :mod:`~annotate.report.html` (the Jinja2
template ``templates/agreement.html.j2``), :mod:`~annotate.report.markdown`,
:mod:`~annotate.report.files` and :mod:`~annotate.report.chromium` (the screenshot).

Interpretation of α follows Krippendorff (2004), see :func:`interpret_alpha`.
"""

from annotate.report.build import build_report, file_report, interpret_alpha, item_disagreement
from annotate.report.chromium import screenshot
from annotate.report.files import default_report_path, write_report
from annotate.report.html import render_html
from annotate.report.markdown import render_markdown
from annotate.report.model import AgreementReport, BatchTrend, DisagreedItem, Interpretation

__all__ = [
    "AgreementReport",
    "BatchTrend",
    "DisagreedItem",
    "Interpretation",
    "build_report",
    "default_report_path",
    "file_report",
    "interpret_alpha",
    "item_disagreement",
    "render_html",
    "render_markdown",
    "screenshot",
    "write_report",
]
