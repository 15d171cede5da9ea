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


def render_card(
    name: str,
    version: str,
    taxonomy: Taxonomy,
    stats: Stats,
    provenance: dict[str, Any],
    changelog: dict[str, Any],
    message: str | None,
) -> str:
    """The card of a version whose rows ``stats`` describes."""
    present = [s for s in SPLITS if stats.counts.get(s)]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            metadata=_metadata(name, taxonomy, stats, present),
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
            message=(message or "").strip(),
        )
    )


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


def _metadata(name: str, taxonomy: Taxonomy, stats: Stats, present: list[str]) -> str:
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
        license="other",
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
    """One project's agreement on the category field, as the card lists it.

    >>> agreement_line("round-1", {"krippendorff_alpha": 0.71, "ci95": [0.6, 0.8], "n_items": 40})
    'round-1: α = 0.710 [0.600, 0.800] over 40 posts with two or more annotations'
    >>> agreement_line("round-2", {"krippendorff_alpha": None, "undefined": "one annotator"})
    'round-2: undefined (one annotator)'
    """
    alpha = values.get("krippendorff_alpha")
    if alpha is None:
        return f"{project}: undefined ({values.get('undefined', 'no data')})"
    interval = values.get("ci95")
    shown = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "no interval"
    return (
        f"{project}: α = {alpha:.3f} {shown} over {values['n_items']} posts "
        "with two or more annotations"
    )


def _cell(text: str) -> str:
    """``text`` fit for one cell of a Markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")
