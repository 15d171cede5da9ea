"""Distances between the values of two annotations, on value codes.

A distance takes two arrays of value codes (any matching shapes) and returns their distances,
elementwise; the factories below close over what the codes stand for (``numbers`` shape (V,),
label-set ``membership`` shape (V, L)). Krippendorff's α uses them as ``δ²``
(:mod:`annotate.agreement.alpha`), Gwet's and Fleiss' weights use the linear distance on value
positions (:mod:`annotate.agreement.kappa`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

__all__ = [
    "Distance",
    "interval_distance",
    "linear_distance",
    "nominal_distance",
    "ratio_distance",
    "set_distance",
]

Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]


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
