"""Krippendorff's α over a long table of one field's annotations, at every level of measurement.

Notation as in :mod:`annotate.agreement.coefficients`.

Krippendorff's α (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability")
    ``α = 1 - (n - 1) Σ_ck o_ck δ²_ck / Σ_ck n_c n_k δ²_ck`` with the coincidences
    ``o_ck = Σ_u n_uc (n_uk - [c = k]) / (m_u - 1)`` over pairable units, ``n_c = Σ_k o_ck``,
    ``n = Σ_c n_c``. Distances ``δ²``: nominal ``[c ≠ k]``; ordinal ``(P_k - P_c)²`` with the
    mid-ranks ``P_c = Σ_{g<c} n_g + n_c / 2`` (Krippendorff's ``(Σ_{g=c}^{k} n_g - (n_c + n_k)/2)²``
    rewritten); interval ``(x_c - x_k)²``; ratio ``((x_c - x_k) / (x_c + x_k))²``; for sets of
    labels the MASI distance (Passonneau 2006) or the Jaccard distance (see
    :mod:`annotate.agreement.distances`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from annotate.agreement._table import EncodedTable, ValueCounts
from annotate.agreement.bootstrap import Statistic, UnitStatistics
from annotate.agreement.coefficients import Level, encode_for_level, evaluate
from annotate.agreement.distances import (
    Distance,
    interval_distance,
    ratio_distance,
    set_distance,
)
from annotate.agreement.results import NO_EXPECTED_DISAGREEMENT, Coefficient

__all__ = ["alpha_statistic", "krippendorff_alpha"]

# Rows of a distance matrix computed at once when summing expected disagreement.
DISTANCE_CHUNK = 4_000_000


def _alpha(n: np.ndarray, observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``1 - (n - 1) observed / expected``; NaN where expected disagreement is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * observed / expected
    return np.where(expected > 0, alpha, np.nan)


def _pairable_values(counts: ValueCounts) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """Column 0 of every α: ``n``, the number of pairable values, as ``m_u`` per pairable unit."""
    units = np.flatnonzero(counts.pairable)
    return [(units, 0, counts.ratings[units])]


def _coincidences(
    counts: ValueCounts, *, same_value: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit coincidences ``o^u_ck = n_uc (n_uk - [c = k]) / (m_u - 1)``, sparse.

    Returns ``(unit, c, k, o)``, each shape (P,), one entry per ordered pair of values present
    in a pairable unit (``c = k`` pairs only with ``same_value``); ``Σ_u o^u`` is Krippendorff's
    coincidence matrix, never built as a dense (U, V, V) tensor.
    """
    first, second = counts.pairs_of_values(include_self=same_value)
    unit = counts.unit[first]
    if same_value:  # pairs of different values exist only in pairable units anyway
        pairable = counts.pairable[unit]
        first, second, unit = first[pairable], second[pairable], unit[pairable]
    coincidences = (
        counts.count[first]
        * (counts.count[second] - (first == second))
        / (counts.ratings[unit] - 1)
    )
    return unit, counts.value[first], counts.value[second], coincidences


def _observed_disagreement(
    counts: ValueCounts, distance: Distance
) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit ``Σ_ck o^u_ck δ²_ck``, sparse: (unit, contribution), shapes (P,)."""
    unit, first_value, second_value, coincidences = _coincidences(counts, same_value=False)
    return unit, coincidences * distance(first_value, second_value)


def _value_marginals(
    counts: ValueCounts, first_column: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_c`` of pairable units as sparse parts: column ``first_column + c``."""
    pairable = counts.pairable[counts.unit]
    return counts.unit[pairable], first_column + counts.value[pairable], counts.count[pairable]


class _NominalAlpha:
    """Nominal α from totals ``[n, Σ_u Σ_c n_uc (n_uc - 1) / (m_u - 1), n_1 .. n_V]``.

    With δ = [c ≠ k]: observed ``Σ_{c≠k} o_ck = n - Σ_c o_cc`` and expected
    ``Σ_{c≠k} n_c n_k = n² - Σ_c n_c²``, so no pair of different values is ever enumerated.
    """

    name = "Krippendorff's alpha (nominal)"
    undefined_reason = NO_EXPECTED_DISAGREEMENT

    def __init__(self, n_values: int):
        self.n_values = n_values

    def unit_statistics(self, counts: ValueCounts) -> UnitStatistics:
        pairable = counts.pairable[counts.unit]
        unit, count = counts.unit[pairable], counts.count[pairable]
        same_value = count * (count - 1) / (counts.ratings[unit] - 1)
        parts = [*_pairable_values(counts), (unit, 1, same_value), _value_marginals(counts, 2)]
        return UnitStatistics.from_parts(parts, counts.n_units, 2 + self.n_values)

    def totals(self, counts: ValueCounts) -> np.ndarray:
        """Shape (K,): the column sums of :meth:`unit_statistics`, without building them."""
        ratings = counts.ratings
        pairable = counts.pairable[counts.unit]
        count = np.where(pairable, counts.count, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            same_value = count * (count - 1) / (ratings[counts.unit] - 1)
        marginals = np.bincount(counts.value, weights=count, minlength=self.n_values)
        n = ratings[counts.pairable].sum()
        return np.concatenate([[n, np.nansum(same_value)], marginals]).astype(np.float64)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        n, same_value, marginals = totals[:, 0], totals[:, 1], totals[:, 2:]
        return _alpha(n, n - same_value, n * n - (marginals * marginals).sum(axis=1))


class _IntervalAlpha:
    """Interval α from totals ``[n, observed, S1, S2]``.

    ``S1 = Σ n_c (x_c - x0)``, ``S2 = Σ n_c (x_c - x0)²`` over pairable values give the expected
    ``Σ_ck n_c n_k (x_c - x_k)² = 2 (n S2 - S1²)`` in O(N); ``x0`` is a data value, which keeps
    the subtraction accurate and makes it exactly zero when every value is the same.
    """

    name = "Krippendorff's alpha (interval)"
    undefined_reason = NO_EXPECTED_DISAGREEMENT

    def __init__(self, numbers: np.ndarray, counts: ValueCounts):
        self.numbers = numbers
        self.distance = interval_distance(numbers)
        pairable = counts.pairable[counts.unit]
        values = counts.value[pairable]
        self.origin = float(numbers[np.sort(values)[len(values) // 2]]) if len(values) else 0.0

    def unit_statistics(self, counts: ValueCounts) -> UnitStatistics:
        pairable = counts.pairable[counts.unit]
        unit, count = counts.unit[pairable], counts.count[pairable]
        centred = self.numbers[counts.value[pairable]] - self.origin
        observed_unit, observed = _observed_disagreement(counts, self.distance)
        parts = [
            *_pairable_values(counts),
            (observed_unit, 1, observed),
            (unit, 2, count * centred),
            (unit, 3, count * centred * centred),
        ]
        return UnitStatistics.from_parts(parts, counts.n_units, 4)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        n, observed, first_moment, second_moment = totals.T
        return _alpha(n, observed, 2 * (n * second_moment - first_moment * first_moment))


class _OrdinalAlpha:
    """Ordinal α from totals ``[n, n_1 .. n_V, o_11 .. o_VV]``.

    The ordinal distance depends on the marginals, so a resample needs its own coincidence
    matrix: ``V²`` totals (ordinal scales are short). With the mid-ranks ``P_c``, observed is
    ``Σ_ck o_ck (P_k - P_c)²`` and expected ``Σ_ck n_c n_k (P_k - P_c)² = 2 n Σ_c n_c (P_c - P̄)²``.
    """

    name = "Krippendorff's alpha (ordinal)"
    undefined_reason = NO_EXPECTED_DISAGREEMENT

    def __init__(self, n_values: int):
        self.n_values = n_values

    def unit_statistics(self, counts: ValueCounts) -> UnitStatistics:
        n_values = self.n_values
        unit, first_value, second_value, coincidences = _coincidences(counts, same_value=True)
        cell = 1 + n_values + first_value * n_values + second_value
        parts = [*_pairable_values(counts), _value_marginals(counts, 1), (unit, cell, coincidences)]
        return UnitStatistics.from_parts(parts, counts.n_units, 1 + n_values + n_values * n_values)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        n_values = self.n_values
        n = totals[:, 0]
        marginals = totals[:, 1 : 1 + n_values]
        coincidences = totals[:, 1 + n_values :].reshape(-1, n_values, n_values)
        midranks = np.cumsum(marginals, axis=1) - marginals / 2
        distances = (midranks[:, np.newaxis, :] - midranks[:, :, np.newaxis]) ** 2
        observed = (coincidences * distances).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_rank = (marginals * midranks).sum(axis=1) / n
        spread = (marginals * (midranks - mean_rank[:, np.newaxis]) ** 2).sum(axis=1)
        return _alpha(n, observed, np.where(n > 0, 2 * n * spread, 0.0))


class _DistanceAlpha:
    """α for a fixed distance between value codes (ratio, MASI, Jaccard).

    Totals ``[n, observed, n_1 .. n_V]``; expected ``Σ_ck n_c n_k δ²_ck`` is summed over the
    values that occur, a block of distance rows at a time (never more than ``DISTANCE_CHUNK``).
    """

    undefined_reason = NO_EXPECTED_DISAGREEMENT

    def __init__(self, name: str, n_values: int, distance: Distance):
        self.name = name
        self.n_values = n_values
        self.distance = distance

    def unit_statistics(self, counts: ValueCounts) -> UnitStatistics:
        observed_unit, observed = _observed_disagreement(counts, self.distance)
        parts = [
            *_pairable_values(counts),
            (observed_unit, 1, observed),
            _value_marginals(counts, 2),
        ]
        return UnitStatistics.from_parts(parts, counts.n_units, 2 + self.n_values)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        n, observed, marginals = totals[:, 0], totals[:, 1], totals[:, 2:]
        return _alpha(n, observed, self.expected_disagreement(marginals))

    def expected_disagreement(self, marginals: np.ndarray) -> np.ndarray:
        """Shape (B, V) marginals -> (B,) ``Σ_ck n_c n_k δ²_ck``."""
        used = np.flatnonzero(marginals.any(axis=0))
        used_marginals = marginals[:, used]
        expected = np.zeros(len(marginals))
        rows = max(1, DISTANCE_CHUNK // max(len(used), 1))
        for start in range(0, len(used), rows):
            block = used[start : start + rows]
            distances = self.distance(block[:, np.newaxis], used[np.newaxis, :])
            expected += np.einsum(
                "br,rk,bk->b", marginals[:, block], distances, used_marginals, optimize=True
            )
        return expected


def alpha_statistic(table: EncodedTable, level: str) -> Statistic:
    """The α statistic of an encoded table at a level of measurement."""
    if level == "nominal":
        return _NominalAlpha(table.n_values)
    if level == "ordinal":
        return _OrdinalAlpha(table.n_values)
    if level == "interval":
        return _IntervalAlpha(table.numbers, table.value_counts)
    if level == "ratio":
        return _DistanceAlpha(
            "Krippendorff's alpha (ratio)", table.n_values, ratio_distance(table.numbers)
        )
    return _DistanceAlpha(
        f"Krippendorff's alpha ({level.upper() if level == 'masi' else level} distance)",
        table.n_values,
        set_distance(table.membership, level),  # type: ignore[arg-type]
    )


def krippendorff_alpha(
    data: Any,
    level: Level = "nominal",
    *,
    order: Sequence[Hashable] | None = None,
    labels: Sequence[Hashable] | None = None,
    ci: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Coefficient:
    """Krippendorff's α of a long table ``(item, annotator, value)``, with missing ratings.

    ``level``: ``"nominal"``, ``"ordinal"`` (numbers, or text values with ``order=[...]`` from
    lowest to highest), ``"interval"``, ``"ratio"`` (numbers), or ``"masi"`` / ``"jaccard"``
    for a multi-label field (values are collections of labels; ``labels=`` the full label list).
    ``ci=True`` adds a percentile bootstrap interval over items (``n_resamples`` resamples,
    ``seed``; see :mod:`annotate.agreement.bootstrap`).

    Krippendorff's (2011) worked example with missing data (4 observers, 12 units):

    >>> rows = {"A": "1 2 3 3 2 1 4 1 2 . . .", "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    ...         "C": ". 3 3 3 2 3 4 2 2 5 1 .", "D": "1 2 3 3 2 4 4 1 2 5 1 ."}
    >>> data = [(unit, observer, int(value)) for observer, row in rows.items()
    ...         for unit, value in enumerate(row.split()) if value != "."]
    >>> for level in ("nominal", "ordinal", "interval", "ratio"):
    ...     print(level, round(krippendorff_alpha(data, level).value, 3))
    nominal 0.743
    ordinal 0.815
    interval 0.849
    ratio 0.797
    >>> alpha = krippendorff_alpha(data)
    >>> alpha.n_items, alpha.n_pairable, alpha.n_unpairable
    (12, 11, 1)
    >>> words = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    >>> named = [(unit, observer, words[value]) for unit, observer, value in data]
    >>> round(krippendorff_alpha(named, "ordinal", order=list(words.values())).value, 3)
    0.815
    >>> krippendorff_alpha([(1, "A", "x"), (1, "B", "x"), (2, "A", "x")]).undefined_reason
    'every rating is the same value, so expected disagreement is zero (the coefficient is 0/0)'
    """
    table = encode_for_level(data, level, order=order, labels=labels)
    return evaluate(
        table,
        alpha_statistic(table, level),
        ci=ci,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
