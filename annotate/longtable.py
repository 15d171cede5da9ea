"""The long annotation table: reading it in the shapes we accept, and integer-coding it.

Agreement and aggregation both start from one row per annotation, ``(item, annotator,
value)``, given as

- a sequence (or any iterable) of 3-tuples ``[(item, annotator, value), ...]``;
- a mapping of equal-length columns ``{"item": [...], "annotator": [...], "value": [...]}``
  (lists, numpy arrays or pandas Series);
- a pandas DataFrame with those columns (other columns are ignored; pandas is never imported
  here).

A :class:`TableFormat` says what differs between the packages: the column names, the error
raised, and how strict the coding is. :meth:`TableFormat.read` gives the three columns and
:meth:`TableFormat.factorize` codes one of them as integers ``0..K-1`` in the sorted order of
its values, so the mathematics works on numpy arrays and still reports the original values.
:func:`is_missing` and :func:`missing_mask` are the one test of a missing value (None, NaN,
pandas' NA and NaT).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotate.errors import AnnotateError

__all__ = [
    "LongTableError",
    "TableFormat",
    "is_missing",
    "is_number",
    "missing_mask",
    "object_array",
    "sort_key",
]

# Integer columns whose range is within a few times their length are counted, not sorted.
DENSE_FACTOR = 4


class LongTableError(AnnotateError, ValueError):
    """A long annotation table cannot be used as given (base of each package's input error)."""


def is_missing(value: object) -> bool:
    """None, a float NaN (Python or numpy), or pandas' ``NA`` / ``NaT``."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return type(value).__name__ in {"NAType", "NaTType"}


def missing_mask(column: np.ndarray) -> np.ndarray:
    """Shape (N,) -> (N,) bool: which entries of a column are missing (:func:`is_missing`)."""
    if column.dtype.kind == "f":
        return np.isnan(column)
    if column.dtype == object:
        return np.fromiter(map(is_missing, column), dtype=bool, count=len(column))
    return np.zeros(len(column), dtype=bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def sort_key(value: Any) -> tuple[int, Any, Any]:
    """Orders any mix of values: numbers numerically, everything else by type name and text."""
    if is_number(value):
        return (0, float(value), "")
    return (1, type(value).__name__, str(value))


def object_array(values: Iterable[object]) -> np.ndarray:
    """A 1-D object array, element by element (so tuples or sets stay single values)."""
    values = values if isinstance(values, Sequence) else list(values)
    array = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        array[position] = value
    return array


def _is_series(column: object) -> bool:
    return hasattr(column, "factorize") and hasattr(column, "to_numpy")


@dataclass(frozen=True)
class TableFormat:
    """How one package reads and codes its long tables.

    ``keys``: the accepted names of the (item, annotator) columns, first pair first;
    ``values``: the accepted names of the value column, first match wins; ``error``: the
    exception raised for unusable input. ``native_numbers``: a Python list of numbers becomes a
    numeric array (otherwise every list stays Python objects, so values come back as given).
    ``ordering``: a sort key for the distinct values of a column (None: their natural order,
    and a mix that cannot be ordered is an error). ``keep_missing``: missing items, annotators
    or values are coded like any other value (otherwise they are an error).
    """

    keys: tuple[tuple[str, str], ...]
    values: tuple[str, ...]
    error: type[LongTableError]
    native_numbers: bool = False
    ordering: Callable[[Any], Any] | None = None
    keep_missing: bool = False

    @property
    def row_shape(self) -> str:
        item, annotator = self.keys[0]
        return f"({item}, {annotator}, {self.values[0]})"

    # -- reading ----------------------------------------------------------------------------------

    def read(self, data: object) -> tuple[Any, Any, Any]:
        """The item, annotator and value columns of a long table, of equal length.

        Each is a 1-D numpy array, or the pandas Series itself when ``data`` (or a column of a
        mapping) is one: :meth:`factorize` codes it with pandas' own hashing.
        """
        if isinstance(data, str | bytes):
            raise self._not_a_table(data)
        if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # a pandas DataFrame
            names = self._pick_columns([str(name) for name in data.columns])
            return data[names[0]], data[names[1]], data[names[2]]
        if isinstance(data, Mapping):
            names = self._pick_columns([str(name) for name in data])
            columns = [self._as_column(data[name]) for name in names]
            lengths = {name: len(column) for name, column in zip(names, columns, strict=True)}
            if len(set(lengths.values())) > 1:
                raise self.error(
                    f"The columns of the annotation table differ in length: {lengths}."
                )
            return columns[0], columns[1], columns[2]
        if isinstance(data, Iterable):
            return self._rows_to_columns(data)
        raise self._not_a_table(data)

    def _not_a_table(self, data: object) -> LongTableError:
        return self.error(
            f"The annotation table must be rows of {self.row_shape}, a dict of columns or "
            f"a DataFrame, not a {type(data).__name__}."
        )

    def _pick_columns(self, names: list[str]) -> tuple[str, str, str]:
        present = set(names)
        value = next((name for name in self.values if name in present), None)
        for item, annotator in self.keys:
            if item in present and annotator in present and value is not None:
                return item, annotator, value
        expected = " or ".join(
            f"({item}, {annotator}, {'|'.join(self.values)})" for item, annotator in self.keys
        )
        raise self.error(
            f"The annotation table has columns {sorted(present)}; expected {expected}."
        )

    def _rows_to_columns(self, rows: Iterable[object]) -> tuple[Any, Any, Any]:
        rows = rows if isinstance(rows, Sequence) else list(rows)
        for position, row in enumerate(rows):
            if type(row) is tuple and len(row) == 3:
                continue  # the common case, without the slower checks below
            if not isinstance(row, Sequence | np.ndarray) or isinstance(row, str) or len(row) != 3:
                raise self.error(
                    f"Annotation row {position} is {row!r}; every row must be a 3-tuple "
                    f"{self.row_shape}."
                )
        if not rows:
            return self._as_column([]), self._as_column([]), self._as_column([])
        items, annotators, values = zip(*rows, strict=True)
        return self._as_column(items), self._as_column(annotators), self._as_column(values)

    def _as_column(self, column: object) -> Any:
        """A 1-D numpy array (or a pandas Series as it is) from any column."""
        if (isinstance(column, np.ndarray) and column.ndim == 1) or _is_series(column):
            return column
        values = list(column)  # type: ignore[call-overload]
        if self.native_numbers:
            kinds = {type(value) for value in values}
            # np.asarray would silently turn [1, "1"] into two equal strings.
            if kinds <= {int, np.int64, np.int32} or kinds <= {float, int, np.float64}:
                return np.asarray(values)
        return object_array(values)

    # -- coding -----------------------------------------------------------------------------------

    def factorize(self, column: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, uniques)``: each value's index into the sorted distinct values.

        Parameters: ``column`` shape (N,), a numpy array or a pandas Series; ``what`` names its
        values in errors (``"item"``). Returns shapes (N,) and (K,), ``uniques[codes] ==
        column``. Small integer ranges are counted instead of sorted; other numbers and
        fixed-width strings go through ``np.unique``; object columns (Python values) are hashed
        and only their distinct values sorted; a Series is hashed by its own ``factorize``
        (no conversion of Arrow strings to Python objects). Numbers keep their dtype.
        """
        if _is_series(column):
            if self.keep_missing or getattr(column.dtype, "kind", "O") in "biuf":
                column = column.to_numpy()  # pandas' factorize would drop missing values
            else:
                first_codes, distinct_values = column.factorize()
                if (first_codes < 0).any():
                    raise self.error(f"Some {what} values are missing (None or NaN).")
                distinct = distinct_values.tolist()
                order = self.sorted_positions(distinct, what)
                rank = np.empty(len(distinct), dtype=np.intp)
                rank[order] = np.arange(len(distinct))
                return rank[first_codes], object_array([distinct[index] for index in order])
        if not isinstance(column, np.ndarray):
            column = np.asarray(column)
        if column.dtype.kind in "iub" and len(column):
            counted = _count_integers(column)
            if counted is not None:
                return counted
        if column.dtype.kind == "f" and not self.keep_missing and np.isnan(column).any():
            raise self.error(f"Some {what} values are missing (NaN).")
        if column.dtype != object:
            uniques, codes = np.unique(column, return_inverse=True)
            return codes.reshape(-1).astype(np.int64, copy=False), uniques
        try:
            distinct = list(dict.fromkeys(column))
        except TypeError as error:
            raise self.error(
                f"Each {what} must be hashable, such as a str or a number ({error})."
            ) from None
        if not self.keep_missing:
            missing = [value for value in distinct if is_missing(value)]
            if missing:
                raise self.error(f"Some {what} values are missing ({missing[0]!r}).")
        uniques = [distinct[index] for index in self.sorted_positions(distinct, what)]
        code_of = {value: code for code, value in enumerate(uniques)}
        codes = np.fromiter(map(code_of.__getitem__, column), dtype=np.int64, count=len(column))
        return codes, object_array(uniques)

    def sorted_positions(self, values: Sequence[Hashable], what: str) -> list[int]:
        """Positions of ``values`` in sorted order (stable), by :attr:`ordering` if set."""
        if self.ordering is not None:
            key = self.ordering
            return sorted(range(len(values)), key=lambda position: key(values[position]))
        try:
            return sorted(range(len(values)), key=values.__getitem__)
        except TypeError:
            kinds = sorted({type(value).__name__ for value in values})
            raise self.error(
                f"{what.capitalize()} values mix types that cannot be ordered "
                f"({', '.join(kinds)}); use one type, e.g. all str."
            ) from None


def _count_integers(column: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, uniques)`` of an integer column by counting, or None when its range is wide.

    Shape (N,) -> (N,), (K,); the same result as ``np.unique(column, return_inverse=True)``
    without a sort.
    """
    as_int = column.astype(np.int64, copy=False)
    low, high = int(as_int.min()), int(as_int.max())
    if high - low > DENSE_FACTOR * len(as_int) + 1024:
        return None
    shifted = as_int - low if low else as_int
    present = np.bincount(shifted, minlength=high - low + 1) > 0
    uniques = (np.flatnonzero(present) + low).astype(column.dtype)
    if present.all():  # already 0..K-1 up to a shift: the codes are the column
        return shifted, uniques
    code_of = np.cumsum(present) - 1
    return code_of[shifted], uniques
