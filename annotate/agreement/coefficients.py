"""What every agreement coefficient shares: levels, encoding, checks and evaluation.

Notation: a *unit* is an item; ``m_u`` ratings of unit ``u``; ``n_uc`` of them chose value ``c``.
A unit is *pairable* when ``m_u >= 2``; single-rated units are counted (``n_unpairable``) but carry
no agreement. All counting is ``np.bincount`` over flat integer indices.

The coefficients, by family: Krippendorff's α in :mod:`annotate.agreement.alpha` (with the
distances of :mod:`annotate.agreement.distances`); percent agreement, Fleiss' κ, Gwet's AC1/AC2
and Cohen's κ in :mod:`annotate.agreement.kappa`. Each is a *statistic*: per-unit totals and a
value from their sums, so :func:`evaluate_many` gives point estimates and bootstrap intervals
for all of them from the same resamples (:mod:`annotate.agreement.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np

from annotate.agreement._table import AgreementDataError, EncodedTable, _encode
from annotate.agreement.bootstrap import Statistic, bootstrap_values, percentile_interval
from annotate.agreement.results import (
    NO_ANNOTATIONS,
    NO_PAIRABLE_ITEMS,
    ONE_ANNOTATOR,
    Coefficient,
)

__all__ = ["LEVELS", "WEIGHTS", "Level", "Weights", "encode_for_level", "evaluate_many"]

Level = Literal["nominal", "ordinal", "interval", "ratio", "masi", "jaccard"]
Weights = Literal["linear", "quadratic"] | None
LEVELS = ("nominal", "ordinal", "interval", "ratio", "masi", "jaccard")
WEIGHTS = (None, "linear", "quadratic")


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
