"""The estimators that turn annotations into labels: majority vote, Dawid–Skene, binary
relevance, the taxonomy's rules, and the reasons a post needs a closer look.

Pure numpy, no IO: this package knows nothing of projects or the store. A project's labels per
post, read from the store, are :mod:`annotate.post_labels`; the runs stored for publishing are
:mod:`annotate.aggregation_runs`. :class:`Aggregation` names the choice between Dawid–Skene and
majority vote everywhere (``aggregation=`` in the library, ``--aggregation`` in the CLI).

Every aggregator takes a long table of annotations ``(item, annotator, label)`` — rows of
3-tuples, a dict of columns, or a DataFrame with columns ``item, annotator, label`` (or
crowd-kit's ``task, worker, label``) — and has the estimator shape:
``fit``, ``fit_predict`` (hard labels, ``{item: label}``), ``fit_predict_proba`` (soft labels,
:class:`SoftLabels`), learned state in attributes ending in ``_``.

Usage::

    from annotate.aggregation import BinaryRelevance, DawidSkene, finalize_labels

    severity = DawidSkene().fit(severity_rows, gold={"post-17": "high"})
    severity.labels_        # {item: label, or None when tied}
    severity.probas_        # (n_items, n_classes): rows follow items_, columns classes_
    severity.errors_        # (n_annotators, n_classes, n_classes): [annotator, true, given]
    severity.gold_accuracy_ # {annotator: GoldScore(n_gold, n_correct)}

    category = BinaryRelevance(exclusive={"legitimate", "not_financial"})
    category.fit(category_rows, labels=CATEGORY_LABELS)   # rows: (item, annotator, set)
    category.probas_        # (n_items, n_labels): P(label present)
    category.labels_        # {item: frozenset of labels}, exclusivity applied

    final = finalize_labels(
        dict(zip(category.classes_, category.probas_[0])),
        severity.labels_.get(category.items_[0]),
        exclusive={"legitimate", "not_financial"},
        violations=VIOLATION_LABELS,
    )                       # FinalLabels(labels, severity, needs_adjudication, reasons)

    Aggregation("majority").estimator()   # MajorityVote(); Aggregation.DAWID_SKENE: DawidSkene()
"""

from annotate.aggregation._common import GoldScore, SoftLabels
from annotate.aggregation._table import AggregationInputError
from annotate.aggregation.binary_relevance import BinaryRelevance
from annotate.aggregation.choice import Aggregation
from annotate.aggregation.dawid_skene import DawidSkene
from annotate.aggregation.majority_vote import MajorityVote
from annotate.aggregation.reasons import Reason, ReasonKind, count_posts_by_kind
from annotate.aggregation.rules import (
    FinalLabels,
    apply_rules,
    check_severity,
    finalize_labels,
    select_labels,
)

__all__ = [
    "Aggregation",
    "AggregationInputError",
    "BinaryRelevance",
    "DawidSkene",
    "FinalLabels",
    "GoldScore",
    "MajorityVote",
    "Reason",
    "ReasonKind",
    "SoftLabels",
    "apply_rules",
    "check_severity",
    "count_posts_by_kind",
    "finalize_labels",
    "select_labels",
]
