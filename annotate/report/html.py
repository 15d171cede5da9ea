"""The report as one self-contained HTML page, from the Jinja2 template
``templates/agreement.html.j2`` shipped with the package."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from annotate import __version__
from annotate.report.formatting import show_interval, show_number, show_share
from annotate.report.model import CONFUSIONS_SHOWN, AgreementReport
from annotate.report.plots import render_plots

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["render_html"]

TEMPLATE = "agreement.html.j2"
PLOTS = ("per_label", "heatmap", "confusions", "trend")


@cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    # autoescape=True, not select_autoescape(): the file name ends in .j2, not .html.
    return Environment(
        loader=PackageLoader("annotate.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
    )


def render_html(report: AgreementReport) -> str:
    """The report as one self-contained HTML page (charts embedded, no scripts, no links out).

    Every string from the data goes through Jinja's autoescaping, so a post containing
    markup shows as text.
    """
    template = _environment().get_template(TEMPLATE)
    drawn = render_plots(report)
    return template.render(
        r=report,
        # Every chart the template may show, None when there is no data for it (a span field
        # has no per-label alpha or heatmap): StrictUndefined would refuse a missing key.
        plots={name: drawn.get(name) for name in PLOTS},
        version=__version__,
        has_gold=any(row.n_gold for row in report.annotators),
        has_posts=any(item.post for item in report.disagreed),
        confusions_shown=CONFUSIONS_SHOWN,
        num=show_number,
        share=show_share,
        interval=show_interval,
        show=report.show,
    )
