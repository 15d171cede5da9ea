"""Long tables of one field's annotations, as integer codes.

Every function in :mod:`annotate.agreement` starts from a *long table*: one row per annotation,
``(item, annotator, value)``, for one field, in any shape :mod:`annotate.longtable` reads
(tuples, a mapping of columns ``item, annotator, value``, or a pandas DataFrame).

A missing value (``None`` or NaN) drops its row: in a long table, "not rated" is an absent row.
For a multi-label field a value is a collection of labels (list, tuple, set, frozenset); an empty
collection is a real answer ("none of the labels") and is kept.

:func:`_encode` turns any of these into codes once; the mathematics then works on integers:

- ``N`` annotations, ``U`` items (units), ``A`` annotators, ``V`` distinct values,
  ``L`` labels of a multi-label field;
- :class:`ValueCounts` holds, per item, how many annotators chose each value, as ``T`` sparse
  ``(unit, value, count)`` triples (``T <= N``). Every coefficient here is a function of them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from annotate.longtable import (
    LongTableError,
    TableFormat,
    is_number,
    missing_mask,
    sort_key,
)

__all__ = ["AgreementDataError", "EncodedTable", "ValueCounts"]

SET_TYPES = (list, tuple, set, frozenset)
# Dense counting (np.bincount) over flat indices is used while the index space stays within a
# few times the number of rows; beyond that a sort (np.unique) is cheaper in memory.
DENSE_FACTOR = 4
DENSE_MINIMUM = 1 << 22


class AgreementDataError(LongTableError):
    """The annotations cannot be used for agreement as they are (a user-facing error)."""

    exit_code = 2


# Python lists of numbers become numeric arrays; values of any mix of types are ordered by
# sort_key; a missing item or annotator is kept as a value (missing values drop their row).
TABLE = TableFormat(
    keys=(("item", "annotator"),),
    values=("value",),
    error=AgreementDataError,
    native_numbers=True,
    ordering=sort_key,
    keep_missing=True,
)


@dataclass(frozen=True, eq=False)
class ValueCounts:
    """How many annotators gave each value to each unit, as sparse triples.

    Attributes
    ----------
    unit : ndarray, shape (T,)
        Unit (item) code of each triple, sorted ascending; values ascending within a unit.
    value : ndarray, shape (T,)
        Value code of each triple.
    count : ndarray, shape (T,)
        Number of annotators who gave ``value`` to ``unit`` (>= 1).
    ratings : ndarray, shape (U,)
        Number of ratings of each unit, ``m_u`` (>= 1).
    n_values : int
        Size of the value domain, ``V``.
    """

    unit: np.ndarray
    value: np.ndarray
    count: np.ndarray
    ratings: np.ndarray
    n_values: int

    @property
    def n_units(self) -> int:
        return len(self.ratings)

    @cached_property
    def pairable(self) -> np.ndarray:
        """Shape (U,): units with two or more ratings, the only ones that carry agreement."""
        return self.ratings >= 2

    @cached_property
    def unit_starts(self) -> np.ndarray:
        """Shape (U,): index of each unit's first triple."""
        sizes = np.bincount(self.unit, minlength=self.n_units)
        return np.cumsum(sizes) - sizes

    def pairs_of_values(self, *, include_self: bool) -> tuple[np.ndarray, np.ndarray]:
        """Ordered pairs of triples within the same unit: two arrays of shape (P,) into (T,).

        ``P = sum_u k_u**2`` (or ``k_u * (k_u - 1)`` without self pairs), ``k_u`` being the
        number of distinct values in unit ``u``; never a dense (U, V, V) tensor.
        """
        return pairs_within_groups(self.unit, self.n_units, include_self=include_self)


@dataclass(frozen=True, eq=False)
class EncodedTable:
    """A long table of one field's annotations as integer codes.

    Attributes
    ----------
    item, annotator, value : ndarray, shape (N,)
        Codes into ``items``, ``annotators`` and ``values``; rows sorted by item, then annotator.
    items : ndarray, shape (U,)
        Item labels, in code order.
    annotators : ndarray, shape (A,)
        Annotator labels, in code order.
    values : tuple, length V
        Value labels in code order: the ``order=`` given, else sorted (numbers numerically).
        For a multi-label field each value is a frozenset of labels.
    numbers : ndarray, shape (V,), or None
        Numeric value of each code (interval and ratio data).
    labels : tuple, length L, or None
        The labels of a multi-label field.
    membership : ndarray of bool, shape (V, L), or None
        ``membership[v, l]``: label ``l`` is in value set ``v``.
    n_missing : int
        Rows dropped because their value was missing.
    ordered : bool
        The values have a scale order (``order=`` was given, or they are numbers), so ordinal
        distances and weights are meaningful.
    """

    item: np.ndarray
    annotator: np.ndarray
    value: np.ndarray
    items: np.ndarray
    annotators: np.ndarray
    values: tuple
    numbers: np.ndarray | None = None
    labels: tuple | None = None
    membership: np.ndarray | None = None
    n_missing: int = 0
    ordered: bool = False

    @property
    def n_annotations(self) -> int:
        return len(self.item)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_annotators(self) -> int:
        return len(self.annotators)

    @property
    def n_values(self) -> int:
        return len(self.values)

    @property
    def is_multilabel(self) -> bool:
        return self.membership is not None

    @cached_property
    def value_counts(self) -> ValueCounts:
        """The table as per-unit value counts (see :class:`ValueCounts`)."""
        unit, value, count = count_pairs(self.item, self.value, self.n_items, self.n_values)
        ratings = np.bincount(self.item, minlength=self.n_items)
        return ValueCounts(unit, value, count, ratings, self.n_values)

    def value_label(self, code: int) -> Any:
        """The value of a code, JSON-friendly (a sorted list of labels for a multi-label set)."""
        value = self.values[code]
        if isinstance(value, frozenset):
            return sorted(value, key=sort_key)
        return python_scalar(value)


def python_scalar(value: Any) -> Any:
    """A numpy scalar as the equivalent Python scalar (for JSON), anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def count_pairs(
    first: np.ndarray, second: np.ndarray, n_first: int, n_second: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Occurrences of each distinct ``(first, second)`` code pair.

    Parameters: ``first``, ``second`` shape (N,), codes below ``n_first`` and ``n_second``.
    Returns ``(first, second, count)``, each shape (T,), sorted by ``first`` then ``second``.
    """
    flat = first * n_second + second
    size = n_first * n_second
    if size <= max(DENSE_FACTOR * len(flat), DENSE_MINIMUM):
        counts = np.bincount(flat, minlength=size)
        present = np.flatnonzero(counts)
        return (*np.divmod(present, n_second), counts[present])
    present, counts = np.unique(flat, return_counts=True)
    return (*np.divmod(present, n_second), counts)


def pairs_within_groups(
    group: np.ndarray, n_groups: int, *, include_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs of positions that share a group.

    Parameters: ``group`` shape (T,), sorted ascending. Returns ``(first, second)``, each shape
    (P,) with ``P = sum_g size_g**2`` (minus ``T`` without self pairs), positions into (T,).
    """
    sizes = np.bincount(group, minlength=n_groups)
    starts = np.cumsum(sizes) - sizes
    pairs_per_position = sizes[group]
    first = np.repeat(np.arange(len(group)), pairs_per_position)
    block_starts = np.cumsum(pairs_per_position) - pairs_per_position
    offset = np.arange(len(first)) - np.repeat(block_starts, pairs_per_position)
    second = starts[group[first]] + offset
    if not include_self:
        distinct = first != second
        first, second = first[distinct], second[distinct]
    return first, second


def annotation_pairs(table: EncodedTable) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of annotations of the same item, as row indices of shape (P,) each, the first
    row's annotator code below the second's (rows are sorted by item, then annotator)."""
    first, second = pairs_within_groups(table.item, table.n_items, include_self=False)
    keep = first < second
    return first[keep], second[keep]


# -- encoding -------------------------------------------------------------------------------------


def read_present(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The item, annotator and value columns of a long table, shapes (N,), as numpy arrays,
    without the rows whose value is missing; and how many rows that dropped."""
    items, annotators, values = (
        column.to_numpy() if hasattr(column, "to_numpy") else column for column in TABLE.read(data)
    )
    present = ~missing_mask(values)
    n_missing = int(len(values) - present.sum())
    if n_missing:
        items, annotators, values = items[present], annotators[present], values[present]
    return items, annotators, values, n_missing


def _encode(
    data: Any,
    *,
    numeric: bool = False,
    order: Sequence[Hashable] | None = None,
    multilabel: bool | None = None,
    labels: Sequence[Hashable] | None = None,
) -> EncodedTable:
    """Any accepted long table -> :class:`EncodedTable` (integer codes).

    ``numeric``: values must be numbers (interval and ratio data). ``order``: the field's full
    list of values, in scale order for ordinal data; unknown values are an error. ``multilabel``:
    values are collections of labels (default: detected from the first value). ``labels``: the
    full label list of a multi-label field.
    """
    if isinstance(data, EncodedTable):
        return data
    items, annotators, values, n_missing = read_present(data)
    if multilabel is None:
        multilabel = values.dtype == object and len(values) > 0 and isinstance(values[0], SET_TYPES)

    item_code, item_labels = TABLE.factorize(items, "item")
    annotator_code, annotator_labels = TABLE.factorize(annotators, "annotator")
    numbers = label_names = membership = None
    if multilabel:
        if numeric or order is not None:
            raise AgreementDataError(
                "A multi-label field has sets of labels as values; use level='nominal', "
                "'masi' or 'jaccard' and labels=[...] instead of order=."
            )
        value_code, value_labels, label_names, membership = _encode_sets(values, labels)
    elif numeric:
        if order is not None:
            raise AgreementDataError("order= applies to nominal and ordinal data only.")
        numbers = _as_numbers(values)
        value_code, uniques = TABLE.factorize(numbers, "value")
        numbers = uniques.astype(np.float64)
        value_labels = tuple(uniques.tolist())
    else:
        value_code, uniques = TABLE.factorize(values, "value")
        if order is not None:
            value_code, value_labels = _apply_order(value_code, uniques, order)
        else:
            value_labels = tuple(uniques.tolist())
            numeric = all(is_number(value) for value in value_labels)

    table = EncodedTable(
        item=item_code,
        annotator=annotator_code,
        value=value_code,
        items=item_labels,
        annotators=annotator_labels,
        values=value_labels,
        numbers=numbers,
        labels=label_names,
        membership=membership,
        n_missing=n_missing,
        ordered=order is not None or numeric,
    )
    return _sorted_and_checked(table)


def _as_numbers(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "iuf":
        return values.astype(np.float64, copy=False)
    try:
        return np.array([float(value) for value in values], dtype=np.float64)
    except (TypeError, ValueError):
        example = next(value for value in values if not is_number(value))
        raise AgreementDataError(
            f"Interval and ratio data need numeric values; got {example!r}.",
        ) from None


def _apply_order(
    codes: np.ndarray, uniques: np.ndarray, order: Sequence[Hashable]
) -> tuple[np.ndarray, tuple]:
    """Recode values to their position in ``order``; shape (N,) -> (N,)."""
    position = {value: rank for rank, value in enumerate(order)}
    if len(position) != len(order):
        raise AgreementDataError("order= lists a value more than once.")
    unknown = [value for value in uniques if value not in position]
    if unknown:
        raise AgreementDataError(
            f"Value {python_scalar(unknown[0])!r} is not in order={list(order)!r}.",
        )
    rank_of_unique = np.array([position[value] for value in uniques], dtype=np.int64)
    return rank_of_unique[codes], tuple(order)


def _encode_sets(
    values: np.ndarray, labels: Sequence[Hashable] | None
) -> tuple[np.ndarray, tuple, tuple, np.ndarray]:
    """Collections of labels -> (set codes (N,), sets (V,), labels (L,), membership (V, L))."""
    index: dict[frozenset, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        if not isinstance(value, SET_TYPES):
            raise AgreementDataError(
                f"A multi-label value must be a list or set of labels; got {value!r}."
            )
        codes[row] = index.setdefault(frozenset(value), len(index))
    sets = list(index)
    seen_labels = sorted({label for labels_of_set in sets for label in labels_of_set}, key=sort_key)
    if labels is None:
        label_names = tuple(seen_labels)
    else:
        label_names = tuple(labels)
        unknown = [label for label in seen_labels if label not in set(label_names)]
        if unknown:
            raise AgreementDataError(f"Label {unknown[0]!r} is not in labels={list(labels)!r}.")
    column_of = {label: column for column, label in enumerate(label_names)}
    # Set codes in a stable order: by size, then by the labels' positions.
    set_keys = [sorted(column_of[label] for label in labels_of_set) for labels_of_set in sets]
    ranking = sorted(
        range(len(sets)), key=lambda position: (len(set_keys[position]), set_keys[position])
    )
    rank = np.empty(len(sets), dtype=np.int64)
    rank[ranking] = np.arange(len(sets))
    membership = np.zeros((len(sets), len(label_names)), dtype=bool)
    for position, original in enumerate(ranking):
        membership[position, set_keys[original]] = True
    return rank[codes], tuple(sets[original] for original in ranking), label_names, membership


def _sorted_and_checked(table: EncodedTable) -> EncodedTable:
    """Rows sorted by (item, annotator); one annotation per item and annotator."""
    key = table.item * max(table.n_annotators, 1) + table.annotator
    if len(key) and np.any(np.diff(key) < 0):
        order = np.argsort(key, kind="stable")
        key = key[order]
        item, annotator, value = table.item[order], table.annotator[order], table.value[order]
        table = replace(table, item=item, annotator=annotator, value=value)
    repeated = np.flatnonzero(np.diff(key) == 0)
    if len(repeated):
        row = repeated[0]
        raise AgreementDataError(
            f"Annotator {python_scalar(table.annotators[table.annotator[row]])!r} rated item "
            f"{python_scalar(table.items[table.item[row]])!r} more than once.",
            "Keep one annotation per item and annotator (the latest, or the adjudicated one).",
        )
    return table
