"""Majority vote over a long annotation table, with ties reported rather than broken."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping

import numpy as np

from annotate.aggregation._common import (
    GoldScore,
    SingleLabelEstimator,
    TieBreak,
    anchor_to_gold,
    check_tie_break,
    gold_scores,
    labels_by_item,
    pick_labels,
    vote_counts,
)
from annotate.aggregation._table import CodedTable, code_table


class MajorityVote(SingleLabelEstimator):
    """Majority vote: an item's label is the one most of its annotations give.

    An item whose top labels have the same number of votes is *tied*: it is listed in
    ``ties_`` and, by default, gets no label (``None``) so that it can go to adjudication.
    ``tie_break="first"`` takes the first tied label in class order and ``tie_break="random"``
    draws one with ``seed``; tied items are still listed in ``ties_``.

    Gold items (``fit(..., gold={item: label})``) keep their known label and score the
    annotators (``gold_accuracy_``).

    Attributes after ``fit`` (``n`` items, ``k`` classes, ``m`` annotators):

    - ``items_`` ``(n,)``, ``classes_`` ``(k,)``, ``annotators_`` ``(m,)``: original values;
    - ``votes_`` ``(n, k)`` int: annotations of each label on each item;
    - ``probas_`` ``(n, k)``: vote shares (rows sum to 1; one-hot on gold items);
    - ``labels_``: ``{item: label or None}``; ``ties_``: frozenset of tied items;
    - ``gold_accuracy_``: ``{annotator: GoldScore}`` (empty without gold).
    """

    def __init__(self, tie_break: TieBreak = None, seed: int | None = None):
        check_tie_break(tie_break)
        self.tie_break = tie_break
        self.seed = seed

    def fit(
        self,
        data: object,
        *,
        gold: Mapping[Hashable, Hashable] | None = None,
        classes: Collection[Hashable] | None = None,
    ) -> MajorityVote:
        """Count the votes of a long table ``(item, annotator, label)``.

        ``data`` is a sequence of 3-tuples, a dict of columns ``item, annotator, label`` or a
        DataFrame with those columns (or ``task, worker, label``). ``gold`` maps items to known
        labels, which they keep. ``classes`` is the field's full label list (its order is
        kept); by default the labels seen in ``data`` and ``gold``, sorted.
        """
        return self._fit_coded(code_table(data, gold=gold, classes=classes))

    def _fit_coded(self, table: CodedTable) -> MajorityVote:
        votes = vote_counts(table)
        label_codes, tied = pick_labels(votes, self.tie_break, self.seed)
        probas = votes / votes.sum(axis=1, keepdims=True)
        if len(table.gold_item_codes):
            probas_by_class = np.ascontiguousarray(probas.T)
            anchor_to_gold(probas_by_class, table.gold_item_codes, table.gold_label_codes)
            probas = probas_by_class.T
            label_codes[table.gold_item_codes] = table.gold_label_codes
            tied[table.gold_item_codes] = False
        self.items_ = table.items
        self.classes_ = table.classes
        self.annotators_ = table.annotators
        self.votes_ = votes
        self.probas_ = probas
        self.labels_ = labels_by_item(table.items, table.classes, label_codes)
        self.ties_ = frozenset(table.items[tied].tolist())
        self.gold_accuracy_: dict[Hashable, GoldScore] = gold_scores(table)
        return self
