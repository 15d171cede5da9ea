"""Inter-annotator agreement over long tables ``(item, annotator, value)``: pure numpy.

Input is one field's annotations as a long table: ``(item, annotator, value)`` tuples, a
mapping of columns ``{"item": ..., "annotator": ..., "value": ...}``, or a pandas DataFrame
with those columns (see :mod:`annotate.longtable`). Values are categories, ordered
categories (``order=[...]``), numbers, or collections of labels (multi-label fields); spans are
``(item, annotator, [(start, end, label), ...])``.

- :func:`summarise`: the headline numbers (percent agreement, Krippendorff's α, Fleiss' κ, Gwet's
  AC1, Cohen's κ per pair) with bootstrap intervals; ``.as_dict()`` is the CLI's JSON.
- Coefficients: :func:`percent_agreement`, :func:`krippendorff_alpha`, :func:`fleiss_kappa`,
  :func:`gwet_ac1`, :func:`cohen_kappa_pairs` (definitions in :mod:`annotate.agreement.alpha`
  and :mod:`annotate.agreement.kappa`; intervals in :mod:`annotate.agreement.bootstrap`).
- Distances between two annotations' values (:func:`nominal_distance`, :func:`linear_distance`,
  :func:`interval_distance`, :func:`ratio_distance`, :func:`set_distance`), and each item's
  mean distance over its annotation pairs, :func:`item_disagreement`.
- Multi-label fields: :func:`label_agreement`, :func:`multilabel_agreement`.
- Spans: :func:`span_agreement`.
- Annotators: :func:`annotator_agreement` (leave-one-out agreement, gold accuracy, outliers) and
  :func:`confusion_pairs` (the label pairs annotators split on most).

Undefined coefficients are returned with ``value=None`` and an ``undefined_reason``.
"""

from annotate.agreement._table import AgreementDataError
from annotate.agreement.alpha import krippendorff_alpha
from annotate.agreement.annotators import annotator_agreement, confusion_pairs
from annotate.agreement.coefficients import LEVELS
from annotate.agreement.distances import (
    interval_distance,
    item_disagreement,
    linear_distance,
    nominal_distance,
    ratio_distance,
    set_distance,
)
from annotate.agreement.kappa import (
    cohen_kappa_pairs,
    fleiss_kappa,
    gwet_ac1,
    percent_agreement,
)
from annotate.agreement.multilabel import (
    MultiLabelAgreement,
    label_agreement,
    multilabel_agreement,
)
from annotate.agreement.results import (
    AgreementSummary,
    AnnotatorAgreement,
    Coefficient,
    ConfidenceInterval,
    LabelAgreement,
    LabelConfusion,
    PairwiseKappa,
    SpanAgreement,
    SpanF1,
)
from annotate.agreement.spans import span_agreement
from annotate.agreement.summary import summarise

__all__ = [
    "LEVELS",
    "AgreementDataError",
    "AgreementSummary",
    "AnnotatorAgreement",
    "Coefficient",
    "ConfidenceInterval",
    "LabelAgreement",
    "LabelConfusion",
    "MultiLabelAgreement",
    "PairwiseKappa",
    "SpanAgreement",
    "SpanF1",
    "annotator_agreement",
    "cohen_kappa_pairs",
    "confusion_pairs",
    "fleiss_kappa",
    "gwet_ac1",
    "interval_distance",
    "item_disagreement",
    "krippendorff_alpha",
    "label_agreement",
    "linear_distance",
    "multilabel_agreement",
    "nominal_distance",
    "percent_agreement",
    "ratio_distance",
    "set_distance",
    "span_agreement",
    "summarise",
]
