"""Agreement coefficients over a long table of one field's annotations.

Notation: a *unit* is an item; ``m_u`` ratings of unit ``u``; ``n_uc`` of them chose value ``c``.
A unit is *pairable* when ``m_u >= 2``; single-rated units are counted (``n_unpairable``) but carry
no agreement. All counting is ``np.bincount`` over flat integer indices.

Percent agreement
    The mean, over pairable items, of the share of agreeing rating pairs:
    ``mean_u sum_c n_uc (n_uc - 1) / (m_u (m_u - 1))``. With two annotators it is the share of
    shared items on which they gave the same value.

Krippendorff's α (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability")
    ``α = 1 - (n - 1) Σ_ck o_ck δ²_ck / Σ_ck n_c n_k δ²_ck`` with the coincidences
    ``o_ck = Σ_u n_uc (n_uk - [c = k]) / (m_u - 1)`` over pairable units, ``n_c = Σ_k o_ck``,
    ``n = Σ_c n_c``. Distances ``δ²``: nominal ``[c ≠ k]``; ordinal ``(P_k - P_c)²`` with the
    mid-ranks ``P_c = Σ_{g<c} n_g + n_c / 2`` (Krippendorff's ``(Σ_{g=c}^{k} n_g - (n_c + n_k)/2)²``
    rewritten); interval ``(x_c - x_k)²``; ratio ``((x_c - x_k) / (x_c + x_k))²``; for sets of
    labels the MASI distance (Passonneau 2006) or the Jaccard distance.

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

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

import numpy as np

from annotate.agreement._table import (
    AgreementDataError,
    EncodedTable,
    ValueCounts,
    _encode,
    pairs_within_groups,
    python_scalar,
)
from annotate.agreement.bootstrap import (
    Statistic,
    UnitStatistics,
    bootstrap_values,
    percentile_interval,
)
from annotate.agreement.results import (
    NO_ANNOTATIONS,
    NO_EXPECTED_DISAGREEMENT,
    NO_PAIRABLE_ITEMS,
    ONE_ANNOTATOR,
    ONE_CATEGORY,
    Coefficient,
    PairwiseKappa,
)

__all__ = [
    "LEVELS",
    "cohen_kappa_pairs",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "percent_agreement",
]

Level = Literal["nominal", "ordinal", "interval", "ratio", "masi", "jaccard"]
Weights = Literal["linear", "quadratic"] | None
LEVELS = ("nominal", "ordinal", "interval", "ratio", "masi", "jaccard")
WEIGHTS = (None, "linear", "quadratic")
Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Rows of a distance matrix computed at once when summing expected disagreement.
DISTANCE_CHUNK = 4_000_000
PAIR_NO_EXPECTED = (
    "both annotators gave one and the same value on every shared item, so expected "
    "disagreement is zero"
)


# -- encoding and checks --------------------------------------------------------------------------


def encode_for_level(
    data: Any,
    level: str,
    *,
    order: Sequence[Hashable] | None = None,
    labels: Sequence[Hashable] | None = None,
) -> EncodedTable:
    """Encode ``data`` as the level of measurement needs it (see :func:`krippendorff_alpha`)."""
    if level not in LEVELS:
        raise AgreementDataError(f"Unknown level {level!r}; use one of {', '.join(LEVELS)}.")
    if level in ("interval", "ratio"):
        return _encode(data, numeric=True)
    if level in ("masi", "jaccard"):
        return _encode(data, multilabel=True, labels=labels)
    table = _encode(data, order=order, labels=labels)
    if level == "ordinal" and not table.ordered:
        raise AgreementDataError(
            "Ordinal data with text values needs their order.",
            "Pass order=[...] with every value from lowest to highest, "
            "e.g. order=['low', 'medium', 'high'].",
        )
    return table


def _check_weights(weights: str | None, table: EncodedTable) -> None:
    if weights not in WEIGHTS:
        raise AgreementDataError(f"Unknown weights {weights!r}; use None, 'linear' or 'quadratic'.")
    if weights is not None and not table.ordered:
        raise AgreementDataError(
            "Weighted coefficients need ordered values.",
            "Pass order=[...] with every value from lowest to highest.",
        )


def _undefined_before_computing(table: EncodedTable) -> str | None:
    """The reason a coefficient cannot be computed at all, or None."""
    if table.n_annotations == 0:
        return NO_ANNOTATIONS
    if table.n_annotators < 2:
        return ONE_ANNOTATOR
    if not table.value_counts.pairable.any():
        return NO_PAIRABLE_ITEMS
    return None


def evaluate(
    table: EncodedTable,
    statistic: Statistic,
    *,
    ci: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Coefficient:
    """A :class:`Coefficient` from a statistic (point estimate, undefined reason, interval)."""
    return evaluate_many(
        table, [statistic], ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed
    )[0]


def evaluate_many(
    table: EncodedTable,
    statistics: Sequence[Statistic],
    *,
    ci: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> list[Coefficient]:
    """Several coefficients of one table; their intervals come from the same resamples."""
    counts = table.value_counts
    n_pairable = int(counts.pairable.sum())
    common = {
        "n_items": table.n_items,
        "n_pairable": n_pairable,
        "n_unpairable": table.n_items - n_pairable,
    }
    reason = _undefined_before_computing(table)
    if reason is not None:
        return [Coefficient(s.name, None, undefined_reason=reason, **common) for s in statistics]
    values, reasons = [], []
    for statistic in statistics:
        if hasattr(statistic, "totals"):  # a shortcut for the hottest path (nominal α)
            totals = statistic.totals(counts)
        else:
            totals = statistic.unit_statistics(counts).totals()
        value = float(statistic.from_totals(totals[np.newaxis, :])[0])
        defined = bool(np.isfinite(value))
        values.append(value if defined else None)
        reasons.append(None if defined else statistic.undefined_reason)
    intervals: list[Any] = [None] * len(statistics)
    wanted = [index for index, value in enumerate(values) if value is not None]
    if ci and wanted:
        resampled = bootstrap_values(
            counts, [statistics[index] for index in wanted], n_resamples=n_resamples, seed=seed
        )
        for index, resampled_values in zip(wanted, resampled, strict=True):
            intervals[index] = percentile_interval(
                resampled_values, confidence=confidence, seed=seed
            )
    return [
        Coefficient(statistic.name, value, undefined_reason=reason, ci=interval, **common)
        for statistic, value, reason, interval in zip(
            statistics, values, reasons, intervals, strict=True
        )
    ]


# -- Krippendorff's alpha -------------------------------------------------------------------------


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
        pairable = counts.pairable[counts.unit]
        values = counts.value[pairable]
        self.origin = float(numbers[np.sort(values)[len(values) // 2]]) if len(values) else 0.0

    def _distance(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return (self.numbers[first] - self.numbers[second]) ** 2

    def unit_statistics(self, counts: ValueCounts) -> UnitStatistics:
        pairable = counts.pairable[counts.unit]
        unit, count = counts.unit[pairable], counts.count[pairable]
        centred = self.numbers[counts.value[pairable]] - self.origin
        observed_unit, observed = _observed_disagreement(counts, self._distance)
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


def ratio_distance(numbers: np.ndarray) -> Distance:
    """``((x_c - x_k) / (x_c + x_k))²`` on value codes; 0 when ``x_c + x_k = 0``."""

    def distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        x, y = numbers[first], numbers[second]
        total = x + y
        ratio = np.divide(x - y, total, out=np.zeros(np.broadcast(x, y).shape), where=total != 0)
        return ratio**2

    return distance


def set_distance(membership: np.ndarray, kind: Literal["masi", "jaccard"]) -> Distance:
    """Distance between label sets given by code (``membership`` shape (V, L)).

    Jaccard ``1 - |A ∩ B| / |A ∪ B|``. MASI (Passonneau 2006) ``1 - J · M`` with monotonicity
    ``M`` = 1 if A = B, 2/3 if one contains the other, 1/3 if they overlap, else 0. Two empty
    sets are at distance 0.
    """
    sizes = membership.sum(axis=1)

    def distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        shared = (membership[first] & membership[second]).sum(axis=-1)
        size_first, size_second = sizes[first], sizes[second]
        union = size_first + size_second - shared
        jaccard = np.divide(shared, union, out=np.ones(np.shape(shared)), where=union > 0)
        if kind == "jaccard":
            return 1 - jaccard
        monotonicity = np.select(
            [
                (shared == size_first) & (shared == size_second),
                shared == np.minimum(size_first, size_second),
                shared > 0,
            ],
            [1.0, 2 / 3, 1 / 3],
            0.0,
        )
        return 1 - jaccard * monotonicity

    return distance


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


# -- percent agreement, Fleiss' kappa, Gwet's AC1/AC2 ---------------------------------------------


def agreement_weights(n_values: int, weights: str | None) -> np.ndarray | None:
    """Shape (V, V) agreement weights on value positions (Gwet 2014); None for identity."""
    if weights is None:
        return None
    positions = np.arange(n_values, dtype=np.float64)
    gap = np.abs(positions[:, np.newaxis] - positions[np.newaxis, :]) / max(n_values - 1, 1)
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


def annotation_pairs(table: EncodedTable) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of annotations of the same item, as row indices of shape (P,) each, the first
    row's annotator code below the second's (rows are sorted by item, then annotator)."""
    first, second = pairs_within_groups(table.item, table.n_items, include_self=False)
    keep = first < second
    return first[keep], second[keep]


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
