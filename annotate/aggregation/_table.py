"""The long annotation table: reading it in the shapes we accept, and integer-coding it.

Every aggregator takes one row per annotation, ``(item, annotator, label)``, as

- a sequence of 3-tuples ``[(item, annotator, label), ...]``;
- a mapping of equal-length columns ``{"item": [...], "annotator": [...], "label": [...]}``;
- a pandas DataFrame with columns ``item, annotator, label`` or crowd-kit's ``task, worker,
  label`` (other columns are ignored).

Items, annotators and labels are coded as integers ``0..n-1`` in the sorted order of their
original values, so the estimators work on numpy arrays and still report results keyed by the
original values.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from annotate.errors import AnnotateError

COLUMN_SETS = (("item", "annotator"), ("task", "worker"))


class AggregationInputError(AnnotateError, ValueError):
    """The annotation table (or gold labels, or label list) cannot be aggregated as given."""


@dataclass(frozen=True)
class CodedTable:
    """A long annotation table with every value replaced by its integer code.

    ``items``, ``annotators`` and ``classes`` hold the original values; ``*_codes`` index into
    them, one entry per annotation (shape ``(n_annotations,)``). Gold items that do not occur in
    the table are dropped: they carry no information about the annotators.
    """

    items: np.ndarray  # (n_items,)
    annotators: np.ndarray  # (n_annotators,)
    classes: np.ndarray  # (n_classes,)
    item_codes: np.ndarray  # (n_annotations,)
    annotator_codes: np.ndarray  # (n_annotations,)
    label_codes: np.ndarray  # (n_annotations,)
    gold_item_codes: np.ndarray  # (n_gold,)
    gold_label_codes: np.ndarray  # (n_gold,)

    @property
    def n_annotations(self) -> int:
        return len(self.item_codes)

    def with_labels(
        self, classes: np.ndarray, label_codes: np.ndarray, gold_label_codes: np.ndarray
    ) -> CodedTable:
        """The same annotations with other labels (binary relevance reuses items and annotators)."""
        return CodedTable(
            items=self.items,
            annotators=self.annotators,
            classes=classes,
            item_codes=self.item_codes,
            annotator_codes=self.annotator_codes,
            label_codes=label_codes,
            gold_item_codes=self.gold_item_codes,
            gold_label_codes=gold_label_codes,
        )


def read_columns(data: object, value_columns: Sequence[str] = ("label",)) -> tuple:
    """The item, annotator and value columns of a long table.

    Each is a 1-D numpy array, or a pandas Series when ``data`` is a DataFrame (see
    :func:`encode`). ``value_columns`` lists the accepted names of the value column, first
    match wins.
    """
    if isinstance(data, str | bytes):
        raise AggregationInputError(
            "The annotation table must be rows of (item, annotator, label), a dict of columns or "
            f"a DataFrame, not a {type(data).__name__}."
        )
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # a pandas DataFrame
        columns = _pick_columns([str(name) for name in data.columns], value_columns)
        arrays = [data[name] for name in columns]  # Series: `encode` factorizes them
    elif isinstance(data, Mapping):
        columns = _pick_columns([str(name) for name in data], value_columns)
        arrays = [_as_1d(data[name]) for name in columns]
        lengths = {name: len(array) for name, array in zip(columns, arrays, strict=True)}
        if len(set(lengths.values())) > 1:
            raise AggregationInputError(
                f"The columns of the annotation table differ in length: {lengths}."
            )
    elif isinstance(data, Iterable):
        arrays = _rows_to_columns(data)
    else:
        raise AggregationInputError(
            "The annotation table must be rows of (item, annotator, label), a dict of columns or "
            f"a DataFrame, not a {type(data).__name__}."
        )
    if len(arrays[0]) == 0:
        raise AggregationInputError("The annotation table is empty: there is nothing to aggregate.")
    return arrays[0], arrays[1], arrays[2]


def _pick_columns(names: list[str], value_columns: Sequence[str]) -> tuple[str, str, str]:
    present = set(names)
    value = next((name for name in value_columns if name in present), None)
    for item, annotator in COLUMN_SETS:
        if item in present and annotator in present and value is not None:
            return item, annotator, value
    expected = " or ".join(
        f"({item}, {annotator}, {'|'.join(value_columns)})" for item, annotator in COLUMN_SETS
    )
    raise AggregationInputError(
        f"The annotation table has columns {sorted(present)}; expected {expected}."
    )


def _as_1d(column: object) -> object:
    if (isinstance(column, np.ndarray) and column.ndim == 1) or hasattr(column, "factorize"):
        return column  # a numpy array or a pandas Series, coded as they are by `encode`
    # Element by element, so that tuples or sets stay single values.
    return object_array(list(column))  # type: ignore[call-overload]


def _rows_to_columns(rows: Iterable[object]) -> list:
    rows = list(rows)
    for position, row in enumerate(rows):
        if type(row) is tuple and len(row) == 3:
            continue  # the common case, without the slower checks below
        if not isinstance(row, Sequence | np.ndarray) or isinstance(row, str) or len(row) != 3:
            raise AggregationInputError(
                f"Annotation row {position} is {row!r}; every row must be a 3-tuple "
                "(item, annotator, label)."
            )
    return [_as_1d(column) for column in zip(*rows, strict=True)] if rows else [_as_1d([])] * 3


def _is_missing(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or type(value).__name__ in ("NAType", "NaTType")
    )


def encode(values: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(uniques, codes)``: sorted distinct values and each value's index into them.

    Numeric and fixed-width string arrays go through ``np.unique``. Object arrays (what Python
    lists of strings give) are coded through a dict and only the distinct values are sorted:
    several times faster than ``np.unique``, which sorts every Python object. A pandas Series
    is coded by its own hash-based ``factorize`` (no conversion of Arrow strings to Python
    objects); its distinct values are then sorted the same way. Numbers keep their dtype.
    """
    if hasattr(values, "factorize") and getattr(values.dtype, "kind", "O") in "biuf":
        values = values.to_numpy()  # numbers: np.unique keeps a numeric dtype for items_ etc.
    if hasattr(values, "factorize"):
        first_codes, distinct_values = values.factorize()
        if (first_codes < 0).any():
            raise AggregationInputError(f"Some {what} values are missing (None or NaN).")
        distinct = distinct_values.tolist()
        order = _sorted_positions(distinct, what)
        rank = np.empty(len(distinct), dtype=np.intp)
        rank[order] = np.arange(len(distinct))
        return object_array([distinct[position] for position in order]), rank[first_codes]
    if not isinstance(values, np.ndarray):
        values = np.asarray(values)
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise AggregationInputError(f"Some {what} values are missing (NaN).")
    if values.dtype.kind != "O":
        uniques, codes = np.unique(values, return_inverse=True)
        return uniques, codes.reshape(-1)
    try:
        distinct = list(set(values))
    except TypeError as error:
        raise AggregationInputError(
            f"{what.capitalize()} values must be hashable (str or int): {error}."
        ) from None
    missing = [value for value in distinct if _is_missing(value)]
    if missing:
        raise AggregationInputError(f"Some {what} values are missing ({missing[0]!r}).")
    uniques = [distinct[position] for position in _sorted_positions(distinct, what)]
    code_of = {value: code for code, value in enumerate(uniques)}
    codes = np.fromiter(map(code_of.__getitem__, values), dtype=np.intp, count=len(values))
    return object_array(uniques), codes


def _sorted_positions(values: list[Hashable], what: str) -> list[int]:
    try:
        return sorted(range(len(values)), key=values.__getitem__)
    except TypeError:
        kinds = sorted({type(value).__name__ for value in values})
        raise AggregationInputError(
            f"{what.capitalize()} values mix types that cannot be ordered ({', '.join(kinds)}); "
            "use one type, e.g. all str."
        ) from None


def object_array(values: Sequence[object]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        array[position] = value
    return array


def align_classes(
    observed: np.ndarray,
    codes: np.ndarray,
    extra: Iterable[Hashable] = (),
    classes: Collection[Hashable] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the final class list: ``classes`` as given, else observed ∪ ``extra``, sorted.

    Returns ``(classes, codes)``. A label outside a given ``classes`` list is an error, so that a
    typo in the data is caught rather than aggregated as a class of its own.
    """
    observed_values = observed.tolist()
    if classes is None:
        wanted = list(dict.fromkeys([*observed_values, *extra]))
        wanted = [wanted[position] for position in _sorted_positions(wanted, "label")]
    else:
        wanted = list(classes)
        if len(set(wanted)) != len(wanted):
            raise AggregationInputError(f"The label list {wanted} repeats a label.")
        unknown = set(observed_values).union(extra) - set(wanted)
        if unknown:
            raise AggregationInputError(
                f"Labels {sorted(map(str, unknown))} are not in the label list {wanted}."
            )
    position = {value: index for index, value in enumerate(wanted)}
    remap = np.array([position[value] for value in observed_values], dtype=np.intp)
    return object_array(wanted), remap[codes]


def code_table(
    data: object,
    *,
    gold: Mapping[Hashable, Hashable] | None = None,
    classes: Collection[Hashable] | None = None,
) -> CodedTable:
    """Read and integer-code a single-label long table, with optional gold labels."""
    item_values, annotator_values, label_values = read_columns(data)
    items, item_codes = encode(item_values, "item")
    annotators, annotator_codes = encode(annotator_values, "annotator")
    observed, label_codes = encode(label_values, "label")
    gold = dict(gold or {})
    missing_gold = [item for item, label in gold.items() if _is_missing(label)]
    if missing_gold:
        raise AggregationInputError(f"Gold item {missing_gold[0]!r} has no gold label.")
    classes_array, label_codes = align_classes(observed, label_codes, gold.values(), classes)
    gold_item_codes, gold_label_codes = code_gold(items, classes_array, gold)
    return CodedTable(
        items=items,
        annotators=annotators,
        classes=classes_array,
        item_codes=item_codes,
        annotator_codes=annotator_codes,
        label_codes=label_codes,
        gold_item_codes=gold_item_codes,
        gold_label_codes=gold_label_codes,
    )


def code_gold(
    items: np.ndarray, classes: np.ndarray, gold: Mapping[Hashable, Hashable]
) -> tuple[np.ndarray, np.ndarray]:
    """Item and class codes of the gold labels whose items occur in the table."""
    if not gold:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    item_position = {item: index for index, item in enumerate(items.tolist())}
    class_position = {label: index for index, label in enumerate(classes.tolist())}
    pairs = [
        (item_position[item], class_position[label])
        for item, label in gold.items()
        if item in item_position
    ]
    if not pairs:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    gold_items, gold_labels = np.array(pairs, dtype=np.intp).T
    return gold_items, gold_labels
