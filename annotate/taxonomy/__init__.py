"""The taxonomy: fields and labels, their rules, and what Label Studio makes of them (pure).

``label_config/taxonomy.yaml`` is the single source of truth. This package loads and validates
it, renders it to a Label Studio labelling config, maps Label Studio results to normalised
labels and back, checks the taxonomy's rules on every annotation, and compares two versions.

Normalised labels are a dict ``{field: value}``:

============  ==============================================================
kind          value
============  ==============================================================
choices       ``[label, ...]`` in taxonomy order when ``multiple``, else ``label`` or None
ordinal       ``label`` or None (labels are listed from lowest to highest)
spans         ``[{"start", "end", "label", "text"}, ...]`` (code-point offsets)
flag          True or False
text          a string or None
============  ==============================================================

The package keeps one concern per module: :mod:`~annotate.taxonomy.model` (fields, labels,
validation), :mod:`~annotate.taxonomy.loading` (YAML files and the packaged default),
:mod:`~annotate.taxonomy.render` (Label Studio XML), :mod:`~annotate.taxonomy.results` (Label
Studio results and rules) and :mod:`~annotate.taxonomy.diff`. Import from here.
"""

from annotate.taxonomy.diff import TaxonomyDiff, diff_taxonomies
from annotate.taxonomy.loading import (
    GUIDELINES_FILE,
    RENDERED_FILE,
    TAXONOMY_FILE,
    copy_label_config,
    default_taxonomy_path,
    load_guidelines,
    load_taxonomy,
    packaged_label_config,
    parse_taxonomy,
)
from annotate.taxonomy.model import (
    IDENTIFIER,
    RESERVED_HOTKEYS,
    TEXT_NAME,
    Bilingual,
    Condition,
    Field,
    FieldKind,
    Label,
    Taxonomy,
    TaxonomyError,
    taxonomy_ref,
)
from annotate.taxonomy.render import TASK_DATA_FIELDS, guidelines_html, render_label_config
from annotate.taxonomy.results import (
    LS_TYPE,
    MappedAnnotation,
    check_rules,
    labels_from_result,
    repair_span,
    result_from_labels,
)

__all__ = [
    "GUIDELINES_FILE",
    "IDENTIFIER",
    "LS_TYPE",
    "RENDERED_FILE",
    "RESERVED_HOTKEYS",
    "TASK_DATA_FIELDS",
    "TAXONOMY_FILE",
    "TEXT_NAME",
    "Bilingual",
    "Condition",
    "Field",
    "FieldKind",
    "Label",
    "MappedAnnotation",
    "Taxonomy",
    "TaxonomyDiff",
    "TaxonomyError",
    "check_rules",
    "copy_label_config",
    "default_taxonomy_path",
    "diff_taxonomies",
    "guidelines_html",
    "labels_from_result",
    "load_guidelines",
    "load_taxonomy",
    "packaged_label_config",
    "parse_taxonomy",
    "render_label_config",
    "repair_span",
    "result_from_labels",
    "taxonomy_ref",
]
