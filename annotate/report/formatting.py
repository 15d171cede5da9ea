"""Values and numbers as people read them, for the report's pages and plots."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from annotate.agreement import Coefficient


def natural_key(value: Any) -> tuple:
    """Sorts ``ann-2`` before ``ann-10`` and ``9`` before ``10``, whatever their type.

    >>> sorted(["ann-10", "ann-2", 3, "ann-1"], key=natural_key)
    [3, 'ann-1', 'ann-2', 'ann-10']
    """
    parts = re.split(r"(\d+)", str(value))
    # Text and digit runs alternate, so tuples compare text with text and numbers with numbers.
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def show_value(value: Any, names: Mapping[Any, str]) -> str:
    """A value as text: a label's name (and id), ``a + b`` for a set, ``(none)`` for {}."""
    if isinstance(value, frozenset | set | list | tuple):
        if not value:
            return "(none)"
        position = {label: index for index, label in enumerate(names)}  # taxonomy order
        parts = sorted(value, key=lambda part: (position.get(part, len(position)), str(part)))
        return " + ".join(show_value(part, names) for part in parts)
    if value is None:
        return "(nothing)"
    name = names.get(value)
    return str(value) if name is None else f"{name} ({value})"


def short_value(value: Any, names: Mapping[Any, str]) -> str:
    """A label's name alone (plots have little room)."""
    if value is None:
        return "(nothing)"
    return names.get(value, str(value))


def show_number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def show_share(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1%}"


def show_interval(coefficient: Coefficient) -> str:
    ci = coefficient.ci
    return "–" if ci is None else f"{ci.low:.3f} – {ci.high:.3f}"
