"""Small frozen records returned by :mod:`annotate.agreement`; each has ``.as_dict()`` for JSON.

An undefined coefficient has ``value=None`` and says why in ``undefined_reason``; it is never
silently zero or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AgreementSummary",
    "AnnotatorAgreement",
    "Coefficient",
    "ConfidenceInterval",
    "LabelAgreement",
    "LabelConfusion",
    "PairwiseKappa",
    "SpanAgreement",
    "SpanF1",
]

# Reasons shared by every coefficient, so reports can group them.
NO_ANNOTATIONS = "no annotations"
ONE_ANNOTATOR = "only one annotator"
NO_PAIRABLE_ITEMS = "no item has two or more ratings, so no pair of ratings can be compared"
NO_EXPECTED_DISAGREEMENT = (
    "every rating is the same value, so expected disagreement is zero (the coefficient is 0/0)"
)
ONE_CATEGORY = "only one category; pass order= with the field's full list of values"
NO_SHARED_ITEMS = "the two annotators share no item"


def _number(value: float | None) -> float | None:
    """A float for JSON: None stays None, NaN becomes None."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class ConfidenceInterval:
    """A percentile bootstrap interval over items.

    ``n_undefined`` resamples had an undefined coefficient (for example every resampled rating
    the same) and are left out of the percentiles.
    """

    low: float
    high: float
    level: float
    n_resamples: int
    seed: int | None
    n_undefined: int = 0
    method: str = "percentile bootstrap over items"

    def as_list(self) -> list[float]:
        return [self.low, self.high]

    def as_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "n_undefined": self.n_undefined,
            "method": self.method,
        }


@dataclass(frozen=True)
class Coefficient:
    """One agreement coefficient over a field.

    ``n_items`` items were rated; ``n_pairable`` of them have two or more ratings and carry the
    coefficient; ``n_unpairable`` have a single rating and are counted, not used.
    """

    name: str
    value: float | None
    n_items: int
    n_pairable: int
    n_unpairable: int
    undefined_reason: str | None = None
    ci: ConfidenceInterval | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None

    def __float__(self) -> float:
        return math.nan if self.value is None else float(self.value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _number(self.value),
            "n_items": self.n_items,
            "n_pairable": self.n_pairable,
            "n_unpairable": self.n_unpairable,
            "undefined_reason": self.undefined_reason,
            "ci": None if self.ci is None else self.ci.as_dict(),
        }


@dataclass(frozen=True)
class PairwiseKappa:
    """Cohen's κ (weighted when ``weights`` is set) of annotators ``a`` and ``b`` on their ``n``
    shared items; ``percent_agreement`` is the share of those items with the same value."""

    a: Any
    b: Any
    kappa: float | None
    n: int
    percent_agreement: float
    weights: str | None = None
    undefined_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "kappa": _number(self.kappa),
            "n": self.n,
            "percent_agreement": _number(self.percent_agreement),
            "weights": self.weights,
            "undefined_reason": self.undefined_reason,
        }


@dataclass(frozen=True)
class LabelAgreement:
    """Binary agreement on one label of a multi-label field ("label chosen" vs "not chosen").

    ``prevalence`` is the share of annotations that include the label. ``positive_agreement``
    and ``negative_agreement`` are the specific agreements of Uebersax (1990), generalised to
    many raters: the share of rating pairs that agree, among pairs in which at least one rating
    is positive (resp. negative). They are None when no such pair exists.
    """

    label: Any
    alpha: Coefficient
    kappa: Coefficient
    prevalence: float | None
    positive_agreement: float | None
    negative_agreement: float | None
    n_positive: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "alpha": _number(self.alpha.value),
            "kappa": _number(self.kappa.value),
            "prevalence": _number(self.prevalence),
            "positive_agreement": _number(self.positive_agreement),
            "negative_agreement": _number(self.negative_agreement),
            "n_positive": self.n_positive,
            "n_items": self.alpha.n_items,
            "n_pairable": self.alpha.n_pairable,
            "n_unpairable": self.alpha.n_unpairable,
            "alpha_undefined_reason": self.alpha.undefined_reason,
            "kappa_undefined_reason": self.kappa.undefined_reason,
        }


@dataclass(frozen=True)
class LabelConfusion:
    """How often two annotators of the same item chose ``label_a`` and ``label_b``.

    ``count`` pairs of ratings split this way; ``share`` is their part of all disagreeing pairs.
    For a multi-label field ``label_b`` may be None: one annotator chose ``label_a`` and the
    other chose nothing in its place.
    """

    label_a: Any
    label_b: Any
    count: int
    share: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "label_a": self.label_a,
            "label_b": self.label_b,
            "count": self.count,
            "share": self.share,
        }


@dataclass(frozen=True)
class AnnotatorAgreement:
    """One annotator's row of the per-annotator table.

    - ``n_items``: items the annotator rated; ``n_pairable``: of those, items someone else rated.
    - ``loo_agreement``: leave-one-out agreement with the consensus (plurality) of the others.
    - ``pairwise``: agreement with each other annotator they share items with.
    - ``gold_accuracy`` on ``n_gold`` gold items (None without gold items).
    - ``robust_z``: ``(loo_agreement - median) / scale`` across annotators (see the outlier rule
      in :func:`annotate.agreement.annotator_agreement`); ``outlier`` and ``outlier_reason``.
    """

    annotator: Any
    n_items: int
    n_pairable: int
    loo_agreement: float | None
    pairwise: tuple[PairwiseKappa, ...]
    gold_accuracy: float | None
    n_gold: int
    robust_z: float | None
    outlier: bool
    outlier_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "annotator": self.annotator,
            "n_items": self.n_items,
            "n_pairable": self.n_pairable,
            "loo_agreement": _number(self.loo_agreement),
            "gold_accuracy": _number(self.gold_accuracy),
            "n_gold": self.n_gold,
            "robust_z": _number(self.robust_z),
            "outlier": self.outlier,
            "outlier_reason": self.outlier_reason,
            "pairwise": [
                {
                    "other": pair.b if pair.a == self.annotator else pair.a,
                    "kappa": _number(pair.kappa),
                    "percent_agreement": _number(pair.percent_agreement),
                    "n": pair.n,
                }
                for pair in self.pairwise
            ],
        }


@dataclass(frozen=True)
class SpanF1:
    """Pairwise F1 of span annotations (one span label, or all labels when ``label`` is None).

    ``exact_f1`` counts a span as matched when the other annotator has the same start, end and
    label; ``overlap_f1`` when they have an overlapping span of the same label (one-to-one).
    ``n_spans`` spans took part (summed over both sides of every pair). None when no span of this
    label occurs on any shared item.
    """

    label: Any
    exact_f1: float | None
    overlap_f1: float | None
    n_spans: int
    n_exact_matches: int
    n_overlap_matches: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "exact_f1": _number(self.exact_f1),
            "overlap_f1": _number(self.overlap_f1),
            "n_spans": self.n_spans,
            "n_exact_matches": self.n_exact_matches,
            "n_overlap_matches": self.n_overlap_matches,
        }


@dataclass(frozen=True)
class SpanAgreement:
    """Span agreement of a field: ``overall`` (all labels) and ``per_label`` rows."""

    overall: SpanF1
    per_label: tuple[SpanF1, ...]
    n_items: int
    n_pairable: int
    n_unpairable: int
    n_pairs: int
    undefined_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "per_label": [row.as_dict() for row in self.per_label],
            "n_items": self.n_items,
            "n_pairable": self.n_pairable,
            "n_unpairable": self.n_unpairable,
            "n_pairs": self.n_pairs,
            "undefined_reason": self.undefined_reason,
        }


@dataclass(frozen=True)
class AgreementSummary:
    """The headline numbers of a field (what ``annotate agreement --json`` prints).

    ``as_dict()`` has exactly the top-level keys ``percent_agreement``, ``krippendorff_alpha``,
    ``fleiss_kappa``, ``gwet_ac1`` (numbers or null), ``n_items``, ``n_annotators``,
    ``n_annotations``, ``cohen_kappa_pairs`` (``{a, b, kappa, n}`` records), ``ci``
    (``{name: [low, high]}``), plus ``details`` with the full records (names, reasons for
    undefined values, pairable and unpairable counts, interval settings).
    """

    percent_agreement: Coefficient
    krippendorff_alpha: Coefficient
    fleiss_kappa: Coefficient
    gwet_ac1: Coefficient
    n_items: int
    n_annotators: int
    n_annotations: int
    cohen_kappa_pairs: tuple[PairwiseKappa, ...]
    level: str = "nominal"
    weights: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def coefficients(self) -> dict[str, Coefficient]:
        return {
            "percent_agreement": self.percent_agreement,
            "krippendorff_alpha": self.krippendorff_alpha,
            "fleiss_kappa": self.fleiss_kappa,
            "gwet_ac1": self.gwet_ac1,
        }

    def as_dict(self) -> dict[str, Any]:
        coefficients = self.coefficients
        return {
            **{name: _number(coefficient.value) for name, coefficient in coefficients.items()},
            "n_items": self.n_items,
            "n_annotators": self.n_annotators,
            "n_annotations": self.n_annotations,
            "cohen_kappa_pairs": [
                {"a": pair.a, "b": pair.b, "kappa": _number(pair.kappa), "n": pair.n}
                for pair in self.cohen_kappa_pairs
            ],
            "ci": {
                name: coefficient.ci.as_list()
                for name, coefficient in coefficients.items()
                if coefficient.ci is not None
            },
            "details": {
                "level": self.level,
                "weights": self.weights,
                **{name: coefficient.as_dict() for name, coefficient in coefficients.items()},
                "cohen_kappa_pairs": [pair.as_dict() for pair in self.cohen_kappa_pairs],
                **self.details,
            },
        }
