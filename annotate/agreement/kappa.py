"""Percent agreement, Fleiss' κ, Gwet's AC1/AC2 and Cohen's κ over a long table of one field.

Notation as in :mod:`annotate.agreement.coefficients`.

Percent agreement
    The mean, over pairable items, of the share of agreeing rating pairs:
    ``mean_u sum_c n_uc (n_uc - 1) / (m_u (m_u - 1))``. With two annotators it is the share of
    shared items on which they gave the same value.

Fleiss' κ, generalised to missing ratings
    Gwet (2014), *Handbook of Inter-Rater Reliability*, 4th ed.: Fleiss' generalised κ for raw
    ratings with missing values, as in Gwet's ``irrCAC`` packages (``fleiss.kappa.raw``):
    ``p_a`` is percent agreement above; ``π_c = (1/U) Σ_u n_uc / m_u`` over all
    ``U`` rated items, so items with any number of raters (including one) inform the category
    shares; ``p_e = Σ_c π_c²``; ``κ = (p_a - p_e) / (1 - p_e)``. With every item rated by the
    same number of annotators it is Fleiss' (1971) κ. With ``weights`` (ordinal data) agreement
    is ``Σ_ck w_ck`` weighted (``p_a`` uses ``Σ_c n_uc (Σ_k w_ck n_uk - 1)``, ``p_e = π' W π``).

Gwet's AC1 / AC2
    Gwet (2008, *Br. J. Math. Stat. Psychol.* 61:29-48) and Gwet (2014), for multiple raters
    with missing ratings (``irrCAC``'s ``gwet.ac1.raw``): ``p_a`` and ``π_c`` as above, ``q``
    categories, ``p_e = (Σ_ck w_ck / (q (q - 1))) Σ_c π_c (1 - π_c)``. AC1 has identity weights;
    AC2 takes ``weights="linear"`` or ``"quadratic"``. ``q`` is the number of possible values, so
    pass ``order=`` with the field's full list of values when some were never chosen.

Cohen's κ, for every pair of annotators who share items
    ``κ = 1 - Σ_ck w_ck O_ck / Σ_ck w_ck E_ck`` over the pair's shared items, ``O`` their
    contingency table and ``E_ck = O_c. O_.k / n``; ``w = 1 - I`` for κ, ``|i - j|`` (linear) or
    ``(i - j)²`` (quadratic) on the values' positions in the ordered value list for weighted κ
    (Cohen 1968; scikit-learn's convention).

Agreement weights for Fleiss and Gwet (Gwet 2014) are on the same positions ``0..q-1``:
linear ``1 - |i - j| / (q - 1)``, quadratic ``1 - (i - j)² / (q - 1)²``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np

from annotate.agreement._table import (
    EncodedTable,
    ValueCounts,
    _encode,
    annotation_pairs,
    python_scalar,
)
from annotate.agreement.bootstrap import UnitStatistics
from annotate.agreement.coefficients import Weights, _check_weights, evaluate
from annotate.agreement.distances import linear_distance
from annotate.agreement.results import (
    NO_EXPECTED_DISAGREEMENT,
    ONE_CATEGORY,
    Coefficient,
    PairwiseKappa,
)

__all__ = ["cohen_kappa_pairs", "fleiss_kappa", "gwet_ac1", "percent_agreement"]

PAIR_NO_EXPECTED = (
    "both annotators gave one and the same value on every shared item, so expected "
    "disagreement is zero"
)


def agreement_weights(n_values: int, weights: str | None) -> np.ndarray | None:
    """Shape (V, V) agreement weights on value positions (Gwet 2014); None for identity."""
    if weights is None:
        return None
    positions = np.arange(n_values)
    gap = linear_distance(positions.astype(np.float64))(
        positions[:, np.newaxis], positions[np.newaxis, :]
    )
    return 1 - (gap if weights == "linear" else gap * gap)


class _PairAgreement:
    """Percent agreement, Fleiss' κ or Gwet's AC1/AC2, from the totals
    ``[U, pairable units, Σ_u p_a(u), Σ_u n_u1 / m_u .. Σ_u n_uV / m_u]``."""

    undefined_reason = NO_EXPECTED_DISAGREEMENT

    def __init__(
        self,
        kind: Literal["percent", "fleiss", "gwet"],
        n_values: int,
        weights: str | None = None,
    ):
        self.kind = kind
        self.n_values = n_values
        self.weights_name = weights
        self.weights = agreement_weights(n_values, weights)
        suffix = f" ({weights} weights)" if weights else ""
        self.name = {
            "percent": "percent agreement" + suffix,
            "fleiss": "Fleiss' kappa" + suffix,
            "gwet": ("Gwet's AC2" if weights else "Gwet's AC1") + suffix,
        }[kind]
        if kind == "gwet" and n_values < 2:
            self.undefined_reason = ONE_CATEGORY

    def unit_statistics(self, counts: ValueCounts) -> UnitStatistics:
        all_units = np.arange(counts.n_units)
        pairable_units = np.flatnonzero(counts.pairable)
        ratings = counts.ratings.astype(np.float64)
        if self.weights is None:
            pairable = counts.pairable[counts.unit]
            unit, count = counts.unit[pairable], counts.count[pairable]
            agreeing = (unit, count * (count - 1))
        else:
            first, second = counts.pairs_of_values(include_self=True)
            unit = counts.unit[first]
            pairable = counts.pairable[unit]
            first, second, unit = first[pairable], second[pairable], unit[pairable]
            weight = self.weights[counts.value[first], counts.value[second]]
            # Σ_c n_c (Σ_k w_ck n_k - 1): the -1 removes each rating's pair with itself.
            agreeing = (
                unit,
                counts.count[first] * (weight * counts.count[second] - (first == second)),
            )
        parts = [
            (all_units, 0, np.ones(counts.n_units)),
            (pairable_units, 1, np.ones(len(pairable_units))),
            (agreeing[0], 2, agreeing[1] / (ratings[agreeing[0]] * (ratings[agreeing[0]] - 1))),
            (counts.unit, 3 + counts.value, counts.count / ratings[counts.unit]),
        ]
        return UnitStatistics.from_parts(parts, counts.n_units, 3 + self.n_values)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        n_items, n_pairable, agreement = totals[:, 0], totals[:, 1], totals[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            observed = np.where(n_pairable > 0, agreement / n_pairable, np.nan)
            shares = totals[:, 3:] / n_items[:, np.newaxis]
        if self.kind == "percent":
            return observed
        if self.kind == "fleiss":
            if self.weights is None:
                chance = (shares * shares).sum(axis=1)
            else:
                chance = np.einsum("bk,kl,bl->b", shares, self.weights, shares)
            defined = chance < 1 - 1e-12
        else:
            q = self.n_values
            if q < 2:
                return np.full(len(totals), np.nan)
            total_weight = q if self.weights is None else self.weights.sum()
            chance = total_weight / (q * (q - 1)) * (shares * (1 - shares)).sum(axis=1)
            defined = chance < 1 - 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(defined, (observed - chance) / (1 - chance), np.nan)


def percent_agreement(
    data: Any,
    *,
    ci: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Coefficient:
    """Percent agreement: the mean over pairable items of the share of agreeing rating pairs.

    >>> data = [(1, "A", "x"), (1, "B", "x"), (1, "C", "y"), (2, "A", "y"), (2, "B", "y"),
    ...         (3, "A", "x")]
    >>> result = percent_agreement(data)
    >>> round(result.value, 4), result.n_pairable, result.n_unpairable
    (0.6667, 2, 1)
    """
    table = _encode(data)
    statistic = _PairAgreement("percent", table.n_values)
    return evaluate(
        table, statistic, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed
    )


def fleiss_kappa(
    data: Any,
    *,
    weights: Weights = None,
    order: Sequence[Hashable] | None = None,
    ci: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Coefficient:
    """Fleiss' κ of a long table, in Gwet's (2014) form for missing ratings and any number of
    raters per item (see the module docstring); equal to Fleiss (1971) on complete data.

    The example on Wikipedia ("Fleiss' kappa", 10 subjects, 14 raters, 5 categories):

    >>> table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    ...          [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
    ...          [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    >>> data = []
    >>> for subject, row in enumerate(table):
    ...     ratings = [category for category, n in enumerate(row, start=1) for _ in range(n)]
    ...     data += [(subject, rater, category) for rater, category in enumerate(ratings)]
    >>> round(fleiss_kappa(data).value, 3)
    0.21
    """
    table = _encode(data, order=order)
    _check_weights(weights, table)
    statistic = _PairAgreement("fleiss", table.n_values, weights)
    return evaluate(
        table, statistic, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed
    )


def gwet_ac1(
    data: Any,
    *,
    weights: Weights = None,
    order: Sequence[Hashable] | None = None,
    ci: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Coefficient:
    """Gwet's AC1 (AC2 with ``weights="linear"`` or ``"quadratic"``) of a long table, with
    missing ratings (Gwet 2008, 2014).

    AC1 depends on the number ``q`` of possible values: pass ``order=`` with the field's full
    list of values when some were never chosen. Gwet's (2014) example data, as
    shipped with ``irrCAC`` (4 raters, 12 units, 5 categories):

    >>> ratings = {"1": "1 2 3 3 2 1 4 1 2 . . .", "2": "1 2 3 3 2 2 4 1 2 5 . .",
    ...            "3": ". 3 3 3 2 3 4 2 2 5 1 3", "4": "1 2 3 3 2 4 4 1 2 5 1 ."}
    >>> data = [(unit, rater, int(value)) for rater, row in ratings.items()
    ...         for unit, value in enumerate(row.split()) if value != "."]
    >>> round(gwet_ac1(data).value, 5)
    0.77544
    """
    table = _encode(data, order=order)
    _check_weights(weights, table)
    statistic = _PairAgreement("gwet", table.n_values, weights)
    return evaluate(
        table, statistic, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed
    )


# -- Cohen's kappa for every pair of annotators ---------------------------------------------------


def disagreement_weights(n_values: int, weights: str | None) -> np.ndarray:
    """Shape (V, V): ``1 - I`` (κ), ``|i - j|`` or ``(i - j)²`` (weighted κ) on value positions."""
    positions = np.arange(n_values, dtype=np.float64)
    gap = np.abs(positions[:, np.newaxis] - positions[np.newaxis, :])
    if weights is None:
        return (gap > 0).astype(np.float64)
    return gap if weights == "linear" else gap * gap


def pairwise_kappas(table: EncodedTable, weights: str | None = None) -> list[PairwiseKappa]:
    """Cohen's κ of every pair of annotators with shared items (see :func:`cohen_kappa_pairs`)."""
    n_annotators, n_values = table.n_annotators, table.n_values
    first, second = annotation_pairs(table)
    pair_key = table.annotator[first] * n_annotators + table.annotator[second]
    pair_ids, pair = np.unique(pair_key, return_inverse=True)
    pair = pair.reshape(-1)
    n_pairs = len(pair_ids)
    value_a, value_b = table.value[first], table.value[second]
    shared = np.bincount(pair, minlength=n_pairs)
    same = np.bincount(pair, weights=(value_a == value_b).astype(np.float64), minlength=n_pairs)
    size = n_pairs * n_values
    margins_a = np.bincount(pair * n_values + value_a, minlength=size).reshape(n_pairs, n_values)
    margins_b = np.bincount(pair * n_values + value_b, minlength=size).reshape(n_pairs, n_values)
    if weights is None:  # w = 1 - I, without building a (V, V) matrix
        observed = shared - same
        expected_weighted = shared * shared - (margins_a * margins_b).sum(axis=1)
    else:
        weight_matrix = disagreement_weights(n_values, weights)
        observed = np.bincount(pair, weights=weight_matrix[value_a, value_b], minlength=n_pairs)
        expected_weighted = np.einsum("pc,ck,pk->p", margins_a, weight_matrix, margins_b)
    expected = expected_weighted / np.maximum(shared, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(expected > 0, 1 - observed / expected, np.nan)
    records = []
    for index, pair_id in enumerate(pair_ids):
        defined = bool(np.isfinite(kappa[index]))
        records.append(
            PairwiseKappa(
                a=python_scalar(table.annotators[pair_id // n_annotators]),
                b=python_scalar(table.annotators[pair_id % n_annotators]),
                kappa=float(kappa[index]) if defined else None,
                n=int(shared[index]),
                percent_agreement=float(same[index] / shared[index]),
                weights=weights,
                undefined_reason=None if defined else PAIR_NO_EXPECTED,
            )
        )
    return records


def cohen_kappa_pairs(
    data: Any,
    *,
    weights: Weights = None,
    order: Sequence[Hashable] | None = None,
) -> list[PairwiseKappa]:
    """Cohen's κ for every pair of annotators who share at least one item.

    One record per pair ``(a, b)`` (``a`` before ``b`` in sorted order) with ``kappa``, the
    number ``n`` of shared items and their ``percent_agreement``; weighted κ with
    ``weights="linear"`` or ``"quadratic"`` (ordered values; text values need ``order=``).
    Pairs without shared items are left out.

    The example on Wikipedia ("Cohen's kappa", 50 grant proposals, readers A and B):

    >>> a = ["yes"] * 25 + ["no"] * 25
    >>> b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    >>> data = [(i, "A", x) for i, x in enumerate(a)] + [(i, "B", x) for i, x in enumerate(b)]
    >>> [(pair.a, pair.b, round(pair.kappa, 3), pair.n) for pair in cohen_kappa_pairs(data)]
    [('A', 'B', 0.4, 50)]
    """
    table = _encode(data, order=order)
    _check_weights(weights, table)
    return pairwise_kappas(table, weights)
