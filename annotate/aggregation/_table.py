"""The aggregators' long annotation table: coded as integers, with gold labels and classes.

Every aggregator takes one row per annotation, ``(item, annotator, label)``, in any shape
:mod:`annotate.longtable` reads (3-tuples, a mapping of columns, or a DataFrame); the columns
are named ``item, annotator, label`` or crowd-kit's ``task, worker, label``.

Items, annotators and labels are coded as integers ``0..n-1`` in the sorted order of their
original values, so the estimators work on numpy arrays and still report results keyed by the
original values.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from annotate.longtable import LongTableError, TableFormat, is_missing, object_array


class AggregationInputError(LongTableError):
    """The annotation table (or gold labels, or label list) cannot be aggregated as given."""


# Python values stay as given (items_ holds them); a missing value, or a mix of types that
# cannot be ordered, is an error.
TABLE = TableFormat(
    keys=(("item", "annotator"), ("task", "worker")),
    values=("label",),
    error=AggregationInputError,
)
#: Multi-label tables (binary relevance) name their value column ``labels`` or ``label``.
LABEL_SETS_TABLE = replace(TABLE, values=("labels", "label"))


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


def read_columns(data: object, table: TableFormat = TABLE) -> tuple:
    """The item, annotator and value columns of a long table that is not empty."""
    columns = table.read(data)
    if len(columns[0]) == 0:
        raise AggregationInputError("The annotation table is empty: there is nothing to aggregate.")
    return columns


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
        wanted = [wanted[position] for position in TABLE.sorted_positions(wanted, "label")]
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
    item_codes, items = TABLE.factorize(item_values, "item")
    annotator_codes, annotators = TABLE.factorize(annotator_values, "annotator")
    label_codes, observed = TABLE.factorize(label_values, "label")
    gold = dict(gold or {})
    missing_gold = [item for item, label in gold.items() if is_missing(label)]
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
