"""Distances between the values of two annotations, and each item's mean distance.

A distance takes two arrays of value codes (any matching shapes) and returns their distances,
elementwise; the factories below close over what the codes stand for (``numbers`` shape (V,),
label-set ``membership`` shape (V, L)). Krippendorff's α uses them as ``δ²``
(:mod:`annotate.agreement.alpha`), Gwet's and Fleiss' weights use the linear distance on value
positions (:mod:`annotate.agreement.kappa`), and :func:`item_disagreement` averages them over
the annotations of each item (the report's most-disagreed items).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

import numpy as np

from annotate.agreement._table import (
    AgreementDataError,
    _encode,
    annotation_pairs,
    python_scalar,
)

__all__ = [
    "Distance",
    "interval_distance",
    "item_disagreement",
    "linear_distance",
    "nominal_distance",
    "ratio_distance",
    "set_distance",
]

Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]
ItemDistance = Literal["nominal", "linear", "jaccard", "masi"]


def nominal_distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``[c ≠ k]``: 0 for the same value, 1 for different ones."""
    return (np.asarray(first) != np.asarray(second)).astype(np.float64)


def linear_distance(scale: np.ndarray) -> Distance:
    """``|x_c - x_k| / (max x - min x)`` on value codes, ``x = scale[code]``: 0 to 1.

    On a scale of one point (or none) every distance is 0.
    """
    spread = float(scale.max() - scale.min()) if len(scale) else 0.0

    def distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        gap = np.abs(scale[first] - scale[second])
        return gap / spread if spread else np.zeros(np.shape(gap))

    return distance


def interval_distance(numbers: np.ndarray) -> Distance:
    """``(x_c - x_k)²`` on value codes, ``x = numbers[code]``."""

    def distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return (numbers[first] - numbers[second]) ** 2

    return distance


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


def item_disagreement(
    data: Any,
    distance: ItemDistance = "nominal",
    *,
    order: Sequence[Hashable] | None = None,
) -> dict[Any, float]:
    """Per item with two or more annotations, the mean distance over its pairs of annotations.

    ``distance``: ``"nominal"`` (:func:`nominal_distance`); ``"linear"``
    (:func:`linear_distance` on the values' positions in ``order=``, or on the numbers
    themselves without it); ``"jaccard"`` or ``"masi"`` for label sets (:func:`set_distance`).
    Every one runs from 0 (all annotations agree) to 1. Items come in sorted order.

    >>> rows = [(1, "A", "x"), (1, "B", "x"), (2, "A", "x"), (2, "B", "y"), (2, "C", "y")]
    >>> item_disagreement(rows)
    {1: 0.0, 2: 0.6666666666666666}
    >>> item_disagreement([(1, "A", 1), (1, "B", 3), (1, "C", 5), (2, "A", 5)], "linear")
    {1: 0.6666666666666666}
    >>> item_disagreement([(1, "A", {"a"}), (1, "B", {"a", "b"})], "jaccard")
    {1: 0.5}
    """
    if distance in ("jaccard", "masi"):
        table = _encode(data, multilabel=True)
        measure = set_distance(table.membership, distance)  # type: ignore[arg-type]
    elif distance == "linear":
        table = _encode(data, order=order) if order is not None else _encode(data, numeric=True)
        scale = table.numbers if order is None else np.arange(table.n_values, dtype=np.float64)
        measure = linear_distance(scale)
    elif distance == "nominal":
        table = _encode(data)
        measure = nominal_distance
    else:
        raise AgreementDataError(
            f"Unknown distance {distance!r}; use 'nominal', 'linear', 'jaccard' or 'masi'."
        )
    first, second = annotation_pairs(table)
    item = table.item[first]
    n_pairs = np.bincount(item, minlength=table.n_items)
    total = np.bincount(
        item, weights=measure(table.value[first], table.value[second]), minlength=table.n_items
    )
    return {
        python_scalar(table.items[code]): float(total[code] / n_pairs[code])
        for code in np.flatnonzero(n_pairs)
    }
