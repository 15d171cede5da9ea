"""Binary relevance: a multi-label field aggregated as one present/absent problem per label."""

from __future__ import annotations

import copy
from collections.abc import Collection, Hashable, Mapping, Sequence

import numpy as np

from annotate.aggregation._common import GoldScore, SoftLabels
from annotate.aggregation._table import (
    LABEL_SETS_TABLE,
    TABLE,
    AggregationInputError,
    CodedTable,
    read_columns,
)
from annotate.aggregation.dawid_skene import DawidSkene
from annotate.aggregation.majority_vote import MajorityVote
from annotate.aggregation.rules import select_mask
from annotate.longtable import object_array

_ABSENT_PRESENT = object_array([False, True])
# Checked by exact type first: an ABC isinstance check per annotation costs seconds at 1M rows.
_PLAIN_COLLECTIONS = (set, frozenset, list, tuple)


class BinaryRelevance:
    """One binary aggregator per label of a multi-label field (e.g. ``category``).

    Every annotation ``(item, annotator, set of labels)`` answers, for each label of the
    field, *present* or *absent*. A copy of ``base`` (default ``DawidSkene()``) is fit per label
    on those answers, so each annotator gets a 2×2 confusion matrix per label and each item a
    posterior ``P(label present)``. Labels are modelled independently; the taxonomy's
    exclusivity is applied afterwards (``exclusive``, see :mod:`annotate.aggregation.rules`).

    With a Dawid–Skene base this is Dawid & Skene (1979), "Maximum Likelihood Estimation of
    Observer Error-Rates Using the EM Algorithm", JRSS C 28(1):20–28, per label.

    Parameters:
        base: the binary aggregator, copied per label (``DawidSkene`` or ``MajorityVote``).
        exclusive: labels that exclude every other label (``legitimate``, ``not_financial``).
        threshold: a label is selected when ``P(present) >= threshold``, before exclusivity.

    Attributes after ``fit`` (``n`` items, ``L`` labels, ``m`` annotators):

    - ``items_`` ``(n,)``, ``classes_`` ``(L,)`` (the labels, in the given order),
      ``annotators_`` ``(m,)``;
    - ``probas_`` ``(n, L)``: ``P(label present)``, independent per label (rows need not sum
      to 1);
    - ``labels_``: ``{item: frozenset of selected labels}`` (posterior ≥ ``threshold``, then the
      exclusivity rule);
    - ``estimators_``: ``{label: fitted copy of base}`` whose classes are ``[False, True]``
      (``errors_[a]`` is annotator ``a``'s 2×2 matrix for that label);
    - ``gold_accuracy_``: ``{label: {annotator: GoldScore}}`` (empty without gold).
    """

    def __init__(
        self,
        base: DawidSkene | MajorityVote | None = None,
        exclusive: Collection[Hashable] = (),
        threshold: float = 0.5,
    ):
        self.base = DawidSkene() if base is None else base
        self.exclusive = frozenset(exclusive)
        self.threshold = threshold

    def fit(
        self,
        data: object,
        labels: Sequence[Hashable],
        *,
        gold: Mapping[Hashable, Collection[Hashable]] | None = None,
    ) -> BinaryRelevance:
        """Fit one binary aggregator per label.

        ``data``: a long table ``(item, annotator, labels)`` whose values are collections of
        labels (a set, list or tuple; empty when the annotator chose none); the value column is
        named ``labels`` or ``label``. ``labels``: the field's full label list. ``gold``:
        ``{item: collection of its true labels}``.
        """
        labels = list(labels)
        if not labels:
            raise AggregationInputError("The label list is empty: nothing to aggregate.")
        if len(set(labels)) != len(labels):
            raise AggregationInputError(f"The label list {labels} repeats a label.")
        item_values, annotator_values, label_sets = read_columns(data, LABEL_SETS_TABLE)
        item_codes, items = TABLE.factorize(item_values, "item")
        annotator_codes, annotators = TABLE.factorize(annotator_values, "annotator")
        present = _presence_matrix(np.asarray(label_sets, dtype=object), labels)
        gold_items, gold_present = _gold_presence(items, gold or {}, labels)
        shared = CodedTable(
            items=items,
            annotators=annotators,
            classes=_ABSENT_PRESENT,
            item_codes=item_codes,
            annotator_codes=annotator_codes,
            label_codes=np.empty(0, dtype=np.intp),
            gold_item_codes=gold_items,
            gold_label_codes=np.empty(0, dtype=np.intp),
        )
        self.estimators_: dict[Hashable, DawidSkene | MajorityVote] = {}
        probas = np.empty((len(items), len(labels)))
        for column, label in enumerate(labels):
            table = shared.with_labels(
                _ABSENT_PRESENT,
                present[:, column].astype(np.intp),
                gold_present[:, column].astype(np.intp),
            )
            estimator = copy.deepcopy(self.base)._fit_coded(table)
            self.estimators_[label] = estimator
            probas[:, column] = estimator.probas_[:, 1]
        self.items_ = items
        self.annotators_ = annotators
        self.classes_ = object_array(labels)
        self.probas_ = probas
        is_exclusive = np.array([label in self.exclusive for label in labels], dtype=bool)
        selected = select_mask(probas, is_exclusive, self.threshold)
        self.labels_ = {
            item: frozenset(label for label, chosen in zip(labels, row, strict=True) if chosen)
            for item, row in zip(items.tolist(), selected.tolist(), strict=True)
        }
        self.gold_accuracy_: dict[Hashable, dict[Hashable, GoldScore]] = (
            {label: estimator.gold_accuracy_ for label, estimator in self.estimators_.items()}
            if len(gold_items)
            else {}
        )
        return self

    def fit_predict(
        self,
        data: object,
        labels: Sequence[Hashable],
        *,
        gold: Mapping[Hashable, Collection[Hashable]] | None = None,
    ) -> dict[Hashable, frozenset[Hashable]]:
        """Fit, then return ``labels_``: ``{item: frozenset of selected labels}``."""
        return self.fit(data, labels, gold=gold).labels_

    def fit_predict_proba(
        self,
        data: object,
        labels: Sequence[Hashable],
        *,
        gold: Mapping[Hashable, Collection[Hashable]] | None = None,
    ) -> SoftLabels:
        """Fit, then return ``P(label present)`` per item and label as :class:`SoftLabels`."""
        self.fit(data, labels, gold=gold)
        return SoftLabels(items=self.items_, classes=self.classes_, probas=self.probas_)


def _presence_matrix(label_sets: np.ndarray, labels: list[Hashable]) -> np.ndarray:
    """``(n_annotations, n_labels)`` bool: did the annotation choose the label?"""
    position = {label: column for column, label in enumerate(labels)}
    chosen: list[Hashable] = []
    counts = np.empty(len(label_sets), dtype=np.intp)
    for row, value in enumerate(label_sets):
        if type(value) not in _PLAIN_COLLECTIONS and (
            isinstance(value, str | bytes) or not isinstance(value, Collection)
        ):
            raise AggregationInputError(
                f"Annotation {row} has labels {value!r}; expected a collection of labels "
                "such as a set or list (wrap a single label: {label})."
            )
        chosen.extend(value)
        counts[row] = len(value)
    unknown = set(chosen) - position.keys()
    if unknown:
        raise AggregationInputError(
            f"Labels {sorted(map(str, unknown))} are not in the label list {labels}."
        )
    present = np.zeros((len(label_sets), len(labels)), dtype=bool)
    rows = np.repeat(np.arange(len(label_sets)), counts)
    columns = np.fromiter((position[label] for label in chosen), dtype=np.intp, count=len(chosen))
    present[rows, columns] = True
    return present


def _gold_presence(
    items: np.ndarray, gold: Mapping[Hashable, Collection[Hashable]], labels: list[Hashable]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of gold items in the table ``(g,)`` and their label presence ``(g, n_labels)``."""
    item_position = {item: index for index, item in enumerate(items.tolist())}
    known = [(item_position[item], true) for item, true in gold.items() if item in item_position]
    gold_items = np.array([index for index, _ in known], dtype=np.intp)
    if known:
        label_sets = object_array([true for _, true in known])
        return gold_items, _presence_matrix(label_sets, labels)
    return gold_items, np.zeros((0, len(labels)), dtype=bool)
