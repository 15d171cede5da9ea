"""Agreement on multi-label fields (each value is a set of labels).

Two views:

- per label, a binary field "label chosen / not chosen" for every annotation of the field:
  Krippendorff's α (nominal), Fleiss' κ (Gwet's form for missing ratings), prevalence, and the
  positive and negative specific agreement (Uebersax 1990), generalised to many raters as
  ``PSA = Σ_u p_u (p_u - 1) / Σ_u p_u (m_u - 1)`` and ``NSA`` likewise with ``q_u = m_u - p_u``
  (``p_u`` annotators of item ``u`` chose the label, over pairable items). With two raters these
  are ``2a / (2a + b + c)`` and ``2d / (2d + b + c)``.
- for the whole set, Krippendorff's α with the MASI distance (Passonneau 2006) and with the
  Jaccard distance (:func:`annotate.agreement.krippendorff_alpha` with ``level="masi"`` or
  ``"jaccard"``).

An empty set is an answer ("none of the labels"): it counts as "not chosen" for every label.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotate.agreement._table import EncodedTable, _encode, python_scalar
from annotate.agreement.alpha import _NominalAlpha, alpha_statistic
from annotate.agreement.coefficients import _undefined_before_computing, evaluate_many
from annotate.agreement.kappa import _PairAgreement
from annotate.agreement.results import NO_EXPECTED_DISAGREEMENT, Coefficient, LabelAgreement

__all__ = ["MultiLabelAgreement", "label_agreement", "multilabel_agreement"]


def _binary_totals(table: EncodedTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per label, the totals of the binary field "label chosen" (label ``l`` = row ``l``).

    Returns ``(alpha_totals (L, 4), kappa_totals (L, 5), specific (L, 4), positives (L,))``:
    α totals ``[n, Σ same-value pairs / (m - 1), n_not, n_chosen]``; κ totals ``[U, pairable,
    Σ p_a(u), Σ q_u / m_u, Σ p_u / m_u]``; specific ``[Σ p(p-1), Σ p(m-1), Σ q(q-1), Σ q(m-1)]``.
    """
    counts = table.value_counts
    ratings = counts.ratings.astype(np.float64)
    pairable = counts.pairable
    n_pairable_values = ratings[pairable].sum()
    n_labels = len(table.labels)
    alpha_totals = np.empty((n_labels, 4))
    kappa_totals = np.empty((n_labels, 5))
    specific = np.empty((n_labels, 4))
    positives = np.empty(n_labels)
    pairable_ratings = ratings[pairable]
    for label in range(n_labels):
        chosen = counts.count * table.membership[counts.value, label]
        chosen_per_unit = np.bincount(counts.unit, weights=chosen, minlength=counts.n_units)
        positives[label] = chosen_per_unit.sum()
        chosen_share = (chosen_per_unit / ratings).sum()
        p = chosen_per_unit[pairable]
        q = pairable_ratings - p
        same = p * (p - 1) + q * (q - 1)
        alpha_totals[label] = [
            n_pairable_values,
            (same / (pairable_ratings - 1)).sum(),
            q.sum(),
            p.sum(),
        ]
        kappa_totals[label] = [
            counts.n_units,
            len(p),
            (same / (pairable_ratings * (pairable_ratings - 1))).sum(),
            counts.n_units - chosen_share,
            chosen_share,
        ]
        specific[label] = [
            (p * (p - 1)).sum(),
            (p * (pairable_ratings - 1)).sum(),
            (q * (q - 1)).sum(),
            (q * (pairable_ratings - 1)).sum(),
        ]
    return alpha_totals, kappa_totals, specific, positives


def _share(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator > 0 else None


def label_agreement(data: Any, *, labels: Sequence[Hashable] | None = None) -> list[LabelAgreement]:
    """Binary agreement per label of a multi-label field, in ``labels`` order.

    ``labels``: the field's full label list (labels never chosen are reported, undefined).
    Two annotators, four items; "a" is chosen by both on item 1, by one on items 2 and 3:

    >>> data = [(1, "A", ["a"]), (1, "B", ["a", "b"]), (2, "A", ["a"]), (2, "B", []),
    ...         (3, "A", []), (3, "B", ["a"]), (4, "A", ["b"]), (4, "B", ["b"])]
    >>> row = label_agreement(data)[0]
    >>> row.label, row.prevalence, round(row.positive_agreement, 3), row.negative_agreement
    ('a', 0.5, 0.5, 0.5)
    """
    table = _encode(data, multilabel=True, labels=labels)
    return _label_rows(table)


def _label_rows(table: EncodedTable) -> list[LabelAgreement]:
    n_pairable = int(table.value_counts.pairable.sum())
    common = {
        "n_items": table.n_items,
        "n_pairable": n_pairable,
        "n_unpairable": table.n_items - n_pairable,
    }
    reason = _undefined_before_computing(table)
    if not table.labels:
        return []
    alpha_totals, kappa_totals, specific, positives = _binary_totals(table)
    alphas = _NominalAlpha(2).from_totals(alpha_totals)
    kappas = _PairAgreement("fleiss", 2).from_totals(kappa_totals)
    rows = []
    for index, label in enumerate(table.labels):

        def coefficient(name: str, value: float) -> Coefficient:
            defined = reason is None and bool(np.isfinite(value))
            return Coefficient(
                name,
                float(value) if defined else None,
                undefined_reason=None if defined else reason or NO_EXPECTED_DISAGREEMENT,
                **common,
            )

        rows.append(
            LabelAgreement(
                label=python_scalar(label),
                alpha=coefficient("Krippendorff's alpha (nominal)", alphas[index]),
                kappa=coefficient("Fleiss' kappa", kappas[index]),
                prevalence=_share(positives[index], table.n_annotations),
                positive_agreement=_share(specific[index, 0], specific[index, 1]),
                negative_agreement=_share(specific[index, 2], specific[index, 3]),
                n_positive=int(positives[index]),
            )
        )
    return rows


@dataclass(frozen=True)
class MultiLabelAgreement:
    """Agreement of a multi-label field: per label, and α over whole sets (MASI, Jaccard)."""

    per_label: tuple[LabelAgreement, ...]
    alpha_masi: Coefficient
    alpha_jaccard: Coefficient
    n_items: int
    n_annotators: int
    n_annotations: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_label": [row.as_dict() for row in self.per_label],
            "alpha_masi": self.alpha_masi.as_dict(),
            "alpha_jaccard": self.alpha_jaccard.as_dict(),
            "n_items": self.n_items,
            "n_annotators": self.n_annotators,
            "n_annotations": self.n_annotations,
        }


def multilabel_agreement(
    data: Any,
    *,
    labels: Sequence[Hashable] | None = None,
    ci: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> MultiLabelAgreement:
    """Per-label binary agreement plus α with MASI and Jaccard distances over whole sets.

    ``ci=True`` adds bootstrap intervals (over items) to the two set-level α.

    >>> data = [(1, "A", ["a"]), (1, "B", ["a", "b"]), (2, "A", ["a"]), (2, "B", ["a"]),
    ...         (3, "A", ["b"]), (3, "B", ["b", "c"]), (4, "A", ["c"]), (4, "B", ["c"]),
    ...         (5, "A", ["a", "b"]), (5, "B", ["a", "b"])]
    >>> result = multilabel_agreement(data)
    >>> round(result.alpha_masi.value, 4), round(result.alpha_jaccard.value, 4)
    (0.6327, 0.6949)
    >>> [(row.label, round(row.alpha.value, 2)) for row in result.per_label]
    [('a', 1.0), ('b', 0.64), ('c', 0.57)]
    """
    table = _encode(data, multilabel=True, labels=labels)
    masi, jaccard = evaluate_many(
        table,
        [alpha_statistic(table, "masi"), alpha_statistic(table, "jaccard")],
        ci=ci,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    return MultiLabelAgreement(
        per_label=tuple(_label_rows(table)),
        alpha_masi=masi,
        alpha_jaccard=jaccard,
        n_items=table.n_items,
        n_annotators=table.n_annotators,
        n_annotations=table.n_annotations,
    )
