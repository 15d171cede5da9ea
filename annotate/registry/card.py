"""The dataset card of a version (``README.md``): YAML metadata the Hub and ``datasets`` read,
then prose and tables from the template ``templates/card.md.j2`` shipped with the package.

Also the version's features (:func:`features`), which the card's metadata describes and the
Parquet files follow.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from annotate.registry.manifest import SPLITS

if TYPE_CHECKING:
    from jinja2 import Environment

    from annotate.registry.write import Stats
    from annotate.taxonomy import Taxonomy

TEMPLATE = "card.md.j2"


def features(taxonomy: Taxonomy) -> Any:
    """The ``datasets.Features`` of a version's rows (``.arrow_schema``: the Parquet schema):
    categories and severities as class labels, in the taxonomy's order."""
    from datasets import ClassLabel, Features, Sequence, Value

    categories = list(taxonomy.field("category").label_ids)
    severities = list(taxonomy.field("severity").label_ids)
    return Features(
        {
            "post_id": Value("string"),
            "text": Value("string"),
            "platform": Value("string"),
            "account": Value("string"),
            "created_at": Value("string"),
            "labels": Sequence(ClassLabel(names=categories)),
            "label_probs": Sequence(Value("float32")),
            "severity": ClassLabel(names=severities),
            "n_annotators": Value("int32"),
            "item_agreement": Value("float32"),
            "annotations": [
                {
                    "annotator": Value("string"),
                    "labels": Sequence(Value("string")),
                    "severity": Value("string"),
                }
            ],
            "evidence": [
                {
                    "annotator": Value("string"),
                    "start": Value("int32"),
                    "end": Value("int32"),
                    "label": Value("string"),
                }
            ],
            "adjudicated": Value("bool"),
            "gold": Value("bool"),
            "batch": Value("int32"),
        }
    )


#: What each column of a version holds, as the card's field table explains it.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("post_id", "string", "The post's id on its platform, as ingested."),
    ("text", "string", "The post as posted."),
    ("platform", "string", "Where it was posted (weibo, wechat, ...)."),
    (
        "account",
        "string",
        "A keyed hash of the posting account: the same account has the same "
        "value within this registry, and the account cannot be recovered from it.",
    ),
    ("created_at", "string", "When it was posted (ISO 8601, as ingested)."),
    (
        "labels",
        "list of class labels",
        "The aggregated category labels (see the taxonomy); "
        "an adjudicated post carries the expert's decision.",
    ),
    (
        "label_probs",
        "list of float32",
        "One probability per category label, in the "
        "taxonomy's order: the aggregation's posterior (soft labels for training). After "
        "adjudication it follows the decision: 1 for the decided labels, 0 for the others.",
    ),
    ("severity", "class label", "The aggregated severity (none for posts without a violation)."),
    ("n_annotators", "int32", "How many annotators labelled the post."),
    (
        "item_agreement",
        "float32 or null",
        "The share of annotator pairs that agree on the "
        "post's categories; null when fewer than two annotators labelled it (not measurable).",
    ),
    (
        "annotations",
        "list",
        "Each annotator's answer: a keyed pseudonym (never an identity), "
        "the labels and the severity they chose.",
    ),
    (
        "evidence",
        "list",
        "Spans of the text annotators marked as evidence: annotator, start and "
        "end offsets (characters), label.",
    ),
    ("adjudicated", "bool", "An expert decided the labels (the annotators disagreed)."),
    ("gold", "bool", "A control post with known labels, used to check annotators."),
    ("batch", "int32", "The sampling batch the post came in (see Provenance)."),
)


def render_card(
    name: str,
    version: str,
    taxonomy: Taxonomy,
    stats: Stats,
    provenance: dict[str, Any],
    changelog: dict[str, Any],
    message: str | None,
    *,
    license: str = "other",
    demo: bool = False,
) -> str:
    """The card of a version whose rows ``stats`` describes; ``demo``: made from the demo
    corpus, which the card says first."""
    present = [s for s in SPLITS if stats.counts.get(s)]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            metadata=_metadata(name, taxonomy, stats, present, license),
            name=name,
            version=version,
            taxonomy=taxonomy,
            category=taxonomy.field("category"),
            present=present,
            stats=stats,
            agreement=[
                agreement_line(project, values)
                for project, values in provenance.get("agreement", {}).items()
            ],
            provenance=provenance,
            cut=provenance.get("splits") or {},
            changelog=changelog,
            changes=changelog_rows(changelog),
            message=(message or "").strip(),
            license=license,
            demo=demo,
            fields=FIELDS,
        )
    )


# The changelog's counts a card's table shows, and what each row is called there.
_COUNTED = (
    ("added", "added"),
    ("removed", "removed"),
    ("newly_left_out", "left out (no aggregate)"),
)


def changelog_rows(changelog: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The changelog as table rows ``(change, detail, posts)``: added, removed, left out, and
    the relabelled posts grouped by their labels before and after (post ids are in the
    manifest, not the card).

    >>> changelog_rows({"added": 3, "removed": 0, "relabelled": 1, "relabelled_by_change": [
    ...     {"old": [["rumour"], "high"], "new": [["legit"], None], "posts": 1}]})
    [('added', '', 3), ('relabelled', 'rumour (high) → legit', 1)]
    """
    rows = [(shown, "", changelog[key]) for key, shown in _COUNTED if changelog.get(key)]
    for moved in changelog.get("relabelled_by_change", []):
        rows.append(
            (
                "relabelled",
                f"{labels_text(moved['old'])} → {labels_text(moved['new'])}",
                moved["posts"],
            )
        )
    return rows


def labels_text(pair: Any) -> str:
    """``[labels, severity]`` as people read it: ``rumour, incitement (high)``."""
    labels, severity = pair
    shown = ", ".join(labels) or "no label"
    return f"{shown} ({severity})" if severity else shown


@cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    # Markdown, not HTML: nothing to escape but the pipes of a table cell (the cell filter).
    environment = Environment(
        loader=PackageLoader("annotate.registry", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = _cell
    environment.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, indent=2)
    return environment


def _metadata(name: str, taxonomy: Taxonomy, stats: Stats, present: list[str], license: str) -> str:
    """The card's YAML metadata: what the Hub shows and ``datasets`` loads (features, splits
    and their sizes)."""
    from datasets import DatasetInfo
    from huggingface_hub import DatasetCardData

    counts, sizes = stats.counts, stats.sizes
    info = DatasetInfo(features=features(taxonomy))._to_yaml_dict()
    info["splits"] = [
        {"name": s, "num_bytes": sizes[s], "num_examples": counts[s]} for s in present
    ]
    # Sizes also tell datasets' cache apart: it keys a local folder on its name and this
    # metadata, not on the files (see the README's note on loading versions).
    info["download_size"] = stats.download_size
    info["dataset_size"] = sum(sizes[s] for s in present)
    card = DatasetCardData(
        language=["zh", "en"],
        license=license,
        task_categories=["text-classification"],
        task_ids=["multi-label-classification"],
        size_categories=[size_category(sum(counts.values()))],
        pretty_name=f"{name} (financial misinformation, {taxonomy.name} {taxonomy.version})",
        annotations_creators=["expert-generated"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in present],
            }
        ],
        dataset_info=info,
    )
    return card.to_yaml()


_SIZE_TIERS = ("1K", "10K", "100K", "1M", "10M", "100M", "1B", "10B", "100B", "1T")


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` value for a dataset of ``rows`` rows.

    >>> size_category(999), size_category(120_000), size_category(1_000_000)
    ('n<1K', '100K<n<1M', '1M<n<10M')
    """
    bound = 1_000
    for number, tier in enumerate(_SIZE_TIERS):
        if rows < bound:
            return f"{_SIZE_TIERS[number - 1]}<n<{tier}" if number else f"n<{tier}"
        bound *= 10
    return f"n>{_SIZE_TIERS[-1]}"


def agreement_line(project: str, values: dict[str, Any]) -> str:
    """One project's agreement on the category field, as the card lists it: the numbers and
    band of ``annotate agreement`` (the same computation, bootstrap and seed).

    >>> line = agreement_line(
    ...     "round-1", {"krippendorff_alpha": 0.71, "ci95": [0.6, 0.8], "n_items": 40}
    ... )
    >>> line[:48]
    'round-1: α = 0.710 (95% interval 0.600 – 0.800) '
    >>> line[48:]
    'over 40 posts with two or more annotations: tentative conclusions only (0.667 ≤ α < 0.800)'
    >>> agreement_line("round-2", {"krippendorff_alpha": None, "undefined": "one annotator"})
    'round-2: undefined (one annotator)'
    """
    from annotate.report.build import alpha_band

    alpha = values.get("krippendorff_alpha")
    if alpha is None:
        return f"{project}: undefined ({values.get('undefined', 'no data')})"
    interval = values.get("ci95")
    shown = f" (95% interval {interval[0]:.3f} – {interval[1]:.3f})" if interval else ""
    band = values.get("band") or alpha_band(alpha)
    return (
        f"{project}: α = {alpha:.3f}{shown} over {values['n_items']} posts "
        f"with two or more annotations: {BANDS[band]}"
    )


#: What each of Krippendorff's bands means for the labels, as the card says it.
BANDS = {
    "reliable": "reliable (α ≥ 0.800)",
    "tentative": "tentative conclusions only (0.667 ≤ α < 0.800)",
    "not reliable": "not reliable (α < 0.667): use these labels with care, and read the "
    "agreement report before training on them",
    "undefined": "undefined",
}


def _cell(text: str) -> str:
    """``text`` fit for one cell of a Markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")
