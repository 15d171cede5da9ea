"""Quotas: how many posts each stratum gives, by largest remainder within capacities."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

__all__ = ["allocate_quotas"]

Key = TypeVar("Key", bound=Hashable)


def allocate_quotas(
    total: int,
    weights: Mapping[Key, int],
    capacities: Mapping[Key, int],
    order: Sequence[Key] | None = None,
) -> dict[Key, int]:
    """Split ``total`` into whole quotas proportional to ``weights``, none above its capacity.

    Strata whose share would exceed their capacity get their capacity and the rest is shared
    again among the others (water-filling); shares are rounded by largest remainder, ties
    going to the key that comes first in ``order`` (default: the order of ``capacities``).
    Quotas add up to ``min(total, sum of capacities of strata with weight)``. Equal
    allocation is this with every weight 1; proportional uses the strata's sizes.

    >>> allocate_quotas(10, {"a": 50, "b": 30, "c": 20}, {"a": 50, "b": 30, "c": 20})
    {'a': 5, 'b': 3, 'c': 2}
    >>> allocate_quotas(7, {"a": 60, "b": 25, "c": 15}, {"a": 60, "b": 25, "c": 15})
    {'a': 4, 'b': 2, 'c': 1}
    >>> allocate_quotas(9, {"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 50, "c": 50})
    {'a': 1, 'b': 4, 'c': 4}
    """
    keys = list(order) if order is not None else list(capacities)
    quotas = {key: 0 for key in keys}
    active = [key for key in keys if capacities.get(key, 0) > 0 and weights.get(key, 0) > 0]
    remaining = min(total, sum(capacities[key] for key in active))
    while active and remaining > 0:
        weight_sum = sum(weights[key] for key in active)
        full = [key for key in active if remaining * weights[key] >= capacities[key] * weight_sum]
        if not full:
            break
        for key in full:
            quotas[key] = capacities[key]
            remaining -= capacities[key]
        active = [key for key in active if key not in full]
    if not active or remaining <= 0:
        return quotas
    weight_sum = sum(weights[key] for key in active)
    shares = {key: Fraction(remaining * weights[key], weight_sum) for key in active}
    for key in active:
        quotas[key] = math.floor(shares[key])
    leftover = remaining - sum(quotas[key] for key in active)
    position = {key: index for index, key in enumerate(keys)}
    by_remainder = sorted(active, key=lambda key: (-(shares[key] - quotas[key]), position[key]))
    for key in by_remainder[:leftover]:
        quotas[key] += 1
    return quotas
