"""Vectorised bootstrap over items.

Every coefficient here is a function of *totals* of per-item sufficient statistics (for α: the
pairable values ``n``, the observed disagreement, the value marginals ``n_c``; for κ and AC1: the
per-item agreement and category shares). A bootstrap resample of items is a vector of item
multiplicities ``w`` (multinomial, summing to the number of items), and its totals are ``w @ S``
for the per-item statistics matrix ``S``. So 1,000 resamples are one matrix product, not 1,000
recomputations.

Items with identical value counts (the same *profile*, e.g. "3 × 'rumour', 1 × 'legitimate'")
have identical statistics, so items are first grouped by profile; resampling items uniformly is
then exactly a multinomial draw over profiles with probabilities proportional to their sizes.
On categorical data a few thousand profiles stand for hundreds of thousands of items.

The interval is the percentile interval (Efron & Tibshirani 1993, ch. 13) of the resampled
coefficients: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles. Resamples in
which the coefficient is undefined are left out and counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from annotate.agreement._table import ValueCounts
from annotate.agreement.results import ConfidenceInterval

__all__ = ["Statistic", "UnitStatistics", "bootstrap_values", "percentile_interval"]

# Largest dense intermediate (elements) built at once; bounds memory at about 160 MB.
DENSE_LIMIT = 20_000_000


@dataclass(frozen=True, eq=False)
class UnitStatistics:
    """Per-unit sufficient statistics of a coefficient, sparse.

    ``row``, ``column``, ``value``: shape (S,) each; unit ``row`` adds ``value`` to total
    ``column``. ``n_rows``: number of units (U, or G profiles); ``n_columns``: K totals.
    """

    row: np.ndarray
    column: np.ndarray
    value: np.ndarray
    n_rows: int
    n_columns: int

    @classmethod
    def from_parts(
        cls,
        parts: Sequence[tuple[np.ndarray, np.ndarray | int, np.ndarray]],
        n_rows: int,
        n_columns: int,
    ) -> UnitStatistics:
        """Concatenate ``(row, column, value)`` parts; an int column applies to every row."""
        rows, columns, values = [], [], []
        for row, column, value in parts:
            rows.append(np.asarray(row, dtype=np.int64))
            columns.append(np.broadcast_to(np.asarray(column, dtype=np.int64), np.shape(row)))
            values.append(np.broadcast_to(np.asarray(value, dtype=np.float64), np.shape(row)))
        return cls(
            np.concatenate(rows), np.concatenate(columns), np.concatenate(values), n_rows, n_columns
        )

    def totals(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Shape (K,): the column sums, each unit weighted by ``weights`` (shape (n_rows,))."""
        value = self.value if weights is None else self.value * weights[self.row]
        return np.bincount(self.column, weights=value, minlength=self.n_columns)

    def dense(self) -> np.ndarray:
        """Shape (n_rows, K)."""
        flat = self.row * self.n_columns + self.column
        cells = np.bincount(flat, weights=self.value, minlength=self.n_rows * self.n_columns)
        return cells.reshape(self.n_rows, self.n_columns)

    @staticmethod
    def stack(parts: Sequence[UnitStatistics]) -> UnitStatistics:
        """Side by side: the columns of ``parts[1]`` follow those of ``parts[0]``, and so on."""
        offsets = np.cumsum([0] + [part.n_columns for part in parts])
        return UnitStatistics(
            np.concatenate([part.row for part in parts]),
            np.concatenate(
                [part.column + offset for part, offset in zip(parts, offsets, strict=False)]
            ),
            np.concatenate([part.value for part in parts]),
            parts[0].n_rows,
            int(offsets[-1]),
        )


class Statistic(Protocol):
    """A coefficient as per-unit statistics plus how to finish it from their totals.

    A statistic may also define ``totals(counts)``: the same column sums as
    ``unit_statistics(counts).totals()``, computed directly (the point estimate's fast path).
    """

    name: str
    undefined_reason: str  # why ``from_totals`` gave NaN on the full data

    def unit_statistics(self, counts: ValueCounts) -> UnitStatistics:
        """Statistics of each unit of ``counts`` (units may be profiles)."""
        ...

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Shape (B, K) totals -> shape (B,) coefficient values, NaN where undefined."""
        ...


def unit_profiles(counts: ValueCounts) -> tuple[ValueCounts, np.ndarray]:
    """Group units with identical value counts.

    Returns ``(profiles, multiplicity)``: one representative unit per profile as a
    :class:`ValueCounts` of G units, and shape (G,) the number of units with that profile.
    """
    n_units = counts.n_units
    within = np.arange(len(counts.unit)) - counts.unit_starts[counts.unit]
    width = int(within.max()) + 1 if len(within) else 1
    max_count = int(counts.count.max()) if len(counts.count) else 1
    # One integer per (value, count) slot; 0 marks an empty slot.
    slot = counts.value.astype(np.int64) * (max_count + 1) + counts.count + 1
    base = counts.n_values * (max_count + 1) + 2
    if width * np.log2(base) < 62:
        # Every unit has at least one triple, so its triples start a non-empty segment.
        key = np.add.reduceat(slot * base ** within.astype(np.int64), counts.unit_starts)
        _, representative, multiplicity = np.unique(key, return_index=True, return_counts=True)
    else:
        padded = np.zeros((n_units, width), dtype=np.int64)
        padded[counts.unit, within] = slot
        _, representative, multiplicity = np.unique(
            padded, axis=0, return_index=True, return_counts=True
        )
    profile_of_unit = np.full(n_units, -1, dtype=np.int64)
    profile_of_unit[representative] = np.arange(len(representative))
    keep = profile_of_unit[counts.unit] >= 0
    unit = profile_of_unit[counts.unit[keep]]
    order = np.argsort(unit, kind="stable")
    profiles = ValueCounts(
        unit=unit[order],
        value=counts.value[keep][order],
        count=counts.count[keep][order],
        ratings=counts.ratings[representative],
        n_values=counts.n_values,
    )
    return profiles, multiplicity


def _resampled_totals(
    statistics: UnitStatistics, multiplicity: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> Iterator[tuple[slice, np.ndarray]]:
    """Totals of ``n_resamples`` bootstrap resamples of the units, in chunks of resamples.

    ``statistics`` has one row per profile; ``multiplicity`` shape (G,) counts each profile's
    units. Yields ``(resamples, totals)``: a slice of resample indices and their (b, K) totals.
    Few profiles: a multinomial draw over profiles per resample, then a matrix product. Many
    profiles (continuous values): uniform draws of units, counted per profile.
    """
    n_profiles, n_columns = statistics.n_rows, statistics.n_columns
    n_units = int(multiplicity.sum())
    dense = statistics.dense() if n_profiles * n_columns <= DENSE_LIMIT else None
    if dense is not None and n_profiles * 8 <= n_units:
        chunk = max(1, DENSE_LIMIT // max(n_profiles, n_columns, 1))
        for start in range(0, n_resamples, chunk):
            stop = min(start + chunk, n_resamples)
            weights = rng.multinomial(n_units, multiplicity / n_units, size=stop - start)
            yield slice(start, stop), weights @ dense
        return
    profile_of_unit = np.repeat(np.arange(n_profiles), multiplicity)
    chunk = max(1, DENSE_LIMIT // max(n_units, n_profiles, n_columns, 1))
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        drawn = profile_of_unit[rng.integers(0, n_units, size=(stop - start, n_units))]
        if dense is not None:
            flat = drawn + (np.arange(stop - start) * n_profiles)[:, np.newaxis]
            weights = np.bincount(flat.ravel(), minlength=(stop - start) * n_profiles)
            yield slice(start, stop), weights.reshape(stop - start, n_profiles) @ dense
        else:
            yield (
                slice(start, stop),
                np.stack(
                    [
                        statistics.totals(np.bincount(row, minlength=n_profiles).astype(float))
                        for row in drawn
                    ]
                ),
            )


def bootstrap_values(
    counts: ValueCounts,
    statistics: Sequence[Statistic],
    *,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> list[np.ndarray]:
    """Coefficients on ``n_resamples`` resamples of the units, all from the same resamples.

    Returns one array of shape (B,) per statistic (NaN where undefined in a resample).
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1.")
    rng = np.random.default_rng(seed)
    profiles, multiplicity = unit_profiles(counts)
    parts = [statistic.unit_statistics(profiles) for statistic in statistics]
    offsets = np.cumsum([0] + [part.n_columns for part in parts])
    values = [np.empty(n_resamples) for _ in statistics]
    stacked = UnitStatistics.stack(parts)
    for resamples, totals in _resampled_totals(stacked, multiplicity, n_resamples, rng):
        for index, statistic in enumerate(statistics):
            columns = totals[:, offsets[index] : offsets[index + 1]]
            values[index][resamples] = statistic.from_totals(columns)
    return values


def percentile_interval(
    values: np.ndarray, *, confidence: float, seed: int | None
) -> ConfidenceInterval | None:
    """The percentile interval of bootstrap values (shape (B,)); None if all are undefined."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1, e.g. 0.95.")
    defined = values[np.isfinite(values)]
    if len(defined) == 0:
        return None
    low, high = np.quantile(defined, [(1 - confidence) / 2, (1 + confidence) / 2])
    return ConfidenceInterval(
        low=float(low),
        high=float(high),
        level=confidence,
        n_resamples=len(values),
        seed=seed,
        n_undefined=len(values) - len(defined),
    )
