"""The agreement report for leads: self-contained HTML, escaped posts, Markdown, and the page as
headless Chromium renders it (the ``--screenshot`` PNG)."""

import re
import warnings

import pytest
from PIL import Image, ImageStat

from annotate.agreement import Coefficient, ConfidenceInterval, krippendorff_alpha, summarise
from annotate.agreement_data import post_texts, project_table
from annotate.report import (
    build_report,
    interpret_alpha,
    render_html,
    render_markdown,
)
from annotate.report.markdown import _cell
from annotate.store import open_store
from annotate.taxonomy import load_taxonomy
from tests.agreement_store import SCRIPT_TEXT, fill_project
from tests.browser import chromium
from tests.cli import invoke

CATEGORY_LABELS = load_taxonomy().field("category").label_ids
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Anything the page would fetch: a src/href/url() pointing at another host, or a stylesheet.
REMOTE = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|<link\b""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A store holding the filled project ``round-1``, and the CLI arguments that open it."""
    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{folder}/annotate.db"
    store = open_store(url)
    filled = fill_project(store)
    store.dispose()
    return folder, filled, ["--database-url", url, "--workspace", str(folder / ".annotate")]


@pytest.fixture(scope="module")
def html_report(workspace):
    """``annotate agreement round-1 --format html --screenshot``: the page and its PNG."""
    folder, filled, root = workspace
    page = folder / "round-1.html"
    result = invoke(
        *root, "agreement", "round-1", "--format", "html", "--out", page, "--screenshot"
    )
    assert result.exit_code == 0, result.output
    return filled, page, page.with_suffix(".png")


def test_html_report_is_self_contained_and_shows_posts_as_text(html_report):
    _, page, _ = html_report
    document = page.read_text(encoding="utf-8")
    assert "<script" not in document.lower(), "the report runs no script, own or injected"
    assert not REMOTE.search(document), "the report fetches nothing"
    assert ESCAPED_SCRIPT in document
    assert "http://t.cn/A6x" in document  # a link in a post stays plain text
    images = re.findall(r'<img [^>]*src="([^"]*)"', document)
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)


def test_report_renders_in_chromium_with_the_headline_and_band(html_report):
    filled, page, picture = html_report
    alpha = summarise(filled.field_rows("category"), labels=CATEGORY_LABELS, ci=False)
    band = interpret_alpha(alpha.krippendorff_alpha).band

    image = Image.open(picture).convert("L")
    assert image.width >= 1000 and image.height > 1500, "the whole page, not one screen"
    assert ImageStat.Stat(image).stddev[0] > 20, "the screenshot is blank"

    with chromium() as browser:
        tab = browser.new_page()
        dialogs = []
        tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        tab.goto(page.as_uri())
        text = tab.inner_text("body")
        broken = tab.evaluate(
            "[...document.images].filter(image => !image.complete || !image.naturalWidth).length"
        )
    assert dialogs == [], "markup in a post ran as code"
    assert f"α = {alpha.krippendorff_alpha.value:.3f}" in text
    assert band in {"reliable", "tentative", "not reliable"} and band in text
    assert "<script>alert(1)</script>" in text  # shown to the reader, as text
    assert "编造、传播金融谣言" in text and "ann-4" in text
    assert broken == 0


def test_markdown_report_prints_unless_out_and_escapes_posts(workspace, monkeypatch):
    folder, _, root = workspace
    monkeypatch.chdir(folder)
    printed = invoke(*root, "agreement", "round-1", "--format", "md", "--no-ci")
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith("# Agreement on “category”")
    assert not (folder / "exports" / "reports").exists(), "without --out nothing is written"
    out = folder / "reports" / "round-1.md"
    result = invoke(*root, "agreement", "round-1", "--format", "md", "--no-ci", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"Wrote {out}." in result.stderr
    text = out.read_text(encoding="utf-8")
    made_at = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")  # when it was made
    assert made_at.sub("T", text) == made_at.sub("T", printed.stdout)
    assert ESCAPED_SCRIPT in text and "<script>" not in text
    for heading in ("## Per label", "## Annotators", "## Items with the most", "## Across batches"):
        assert heading in text


@pytest.fixture(scope="module")
def store(workspace):
    folder, _, _ = workspace
    store = open_store(f"sqlite:///{folder}/annotate.db")
    yield store
    store.dispose()


def test_plots_draw_chinese_labels_with_a_cjk_font(store):
    table = project_table(store, "round-1", "category")
    report = build_report(table, ci=False, texts=lambda items: post_texts(store, items))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        document = render_html(report)
    missing = [str(warning.message) for warning in caught if "missing from font" in str(warning)]
    assert missing == []
    assert "编造、传播金融谣言" in document


def test_trend_has_alpha_of_each_batch(store, workspace):
    _, filled, _ = workspace
    report = build_report(project_table(store, "round-1", "category"), ci=False)
    rows = filled.field_rows("category")
    assert [row.batch for row in report.trend] == filled.batches
    for row in report.trend:
        in_batch = [one for one in rows if filled.batch_of[one[0]] == row.batch]
        assert row.alpha.value == pytest.approx(krippendorff_alpha(in_batch).value)
        assert row.n_items == len({item for item, _, _ in in_batch})


def test_most_disagreed_items_come_with_their_posts(store, workspace):
    _, filled, _ = workspace
    table = project_table(store, "round-1", "category")
    report = build_report(table, ci=False, texts=lambda items: post_texts(store, items))
    scores = [item.disagreement for item in report.disagreed]
    assert scores == sorted(scores, reverse=True) and len(scores) == 10
    script = next(item for item in report.disagreed if item.item == filled.script_post)
    assert script.disagreement == 1.0 and script.post.text == SCRIPT_TEXT


@pytest.mark.parametrize(
    ("field", "kind"),
    [("severity", "ordinal"), ("confidence", "ordinal"), ("needs_expert", "flag")],
)
def test_single_valued_fields_get_per_label_rows(store, field, kind):
    table = project_table(store, "round-1", field)
    report = build_report(table, ci=False)
    assert report.kind == kind and report.summary is not None
    assert [row.label for row in report.per_label] == list(table.labels)
    assert "## Per label" in render_markdown(report)


def test_span_fields_report_pairwise_f1(store):
    report = build_report(project_table(store, "round-1", "evidence"), ci=False)
    assert report.summary is None and report.spans is not None
    assert report.spans.overall.exact_f1 == 1.0  # every annotator marked the same span
    assert report.as_dict()["spans"]["overall"]["overlap_f1"] == 1.0
    assert "## Span labels" in render_markdown(report)
    page = render_html(report)  # a span field has no κ heatmap: the page still renders
    assert "Span labels" in page and "Cohen's kappa of every pair" not in page


def alpha_of(value, low=None):
    ci = None if low is None else ConfidenceInterval(low, 0.95, 0.95, 1000, 0)
    reason = "no annotations" if value is None else None
    return Coefficient("alpha", value, 10, 10, 0, undefined_reason=reason, ci=ci)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.95, "reliable"),
        (0.800, "reliable"),
        (0.7996, "reliable"),  # shown as 0.800
        (0.79, "tentative"),
        (0.667, "tentative"),
        (0.6664, "not reliable"),
        (-0.2, "not reliable"),
        (None, "undefined"),
    ],
)
def test_alpha_bands_follow_krippendorff(value, band):
    assert interpret_alpha(alpha_of(value)).band == band


def test_an_interval_reaching_a_lower_band_is_said():
    sentence = interpret_alpha(alpha_of(0.85, low=0.71)).sentence
    assert "reliable" in sentence and "0.710" in sentence


def test_markdown_cells_cannot_break_the_table():
    assert _cell("a|b\n<b>c</b>") == "a\\|b &lt;b&gt;c&lt;/b&gt;"


def test_screenshot_without_chromium_is_a_clear_error(tmp_path, monkeypatch):
    import annotate.report.chromium as chromium_module

    monkeypatch.setattr(chromium_module.shutil, "which", lambda name: None)
    page = tmp_path / "page.html"
    page.write_text("<p>hi</p>", encoding="utf-8")
    with pytest.raises(chromium_module.AnnotateError, match="needs Chromium"):
        chromium_module.screenshot(page)
