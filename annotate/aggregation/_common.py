"""Results and helpers shared by the aggregators: soft labels, label picking, gold scores."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from annotate.aggregation._table import AggregationInputError, CodedTable

TieBreak = Literal["first", "random"] | None


@dataclass(frozen=True)
class SoftLabels:
    """Posterior probabilities of labels per item, the soft labels kept for publishing.

    ``probas[i, k]`` is the probability that ``items[i]`` has label ``classes[k]``. For a
    single-label field each row sums to 1; for binary relevance (multi-label) each entry is an
    independent probability that the label is present.

    Shapes: ``items`` ``(n_items,)``, ``classes`` ``(n_classes,)``,
    ``probas`` ``(n_items, n_classes)``.
    """

    items: np.ndarray
    classes: np.ndarray
    probas: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[Hashable, dict[Hashable, float]]:
        """``{item: {label: probability}}`` with plain Python values (JSON-ready)."""
        classes = self.classes.tolist()
        return {
            item: dict(zip(classes, row, strict=True))
            for item, row in zip(self.items.tolist(), self.probas.tolist(), strict=True)
        }


@dataclass(frozen=True)
class GoldScore:
    """An annotator's record on gold items: annotations made on them and how many were right."""

    n_gold: int
    n_correct: int

    @property
    def accuracy(self) -> float | None:
        """Share of correct gold annotations; ``None`` for an annotator who saw no gold item."""
        return self.n_correct / self.n_gold if self.n_gold else None


def check_tie_break(tie_break: TieBreak) -> None:
    if tie_break not in (None, "first", "random"):
        raise AggregationInputError(
            f"tie_break must be None (report ties), 'first' or 'random', not {tie_break!r}."
        )


def vote_counts(table: CodedTable) -> np.ndarray:
    """``(n_items, n_classes)`` number of annotations of each label on each item."""
    n_items, n_classes = len(table.items), len(table.classes)
    flat = table.item_codes * n_classes + table.label_codes
    return np.bincount(flat, minlength=n_items * n_classes).reshape(n_items, n_classes)


def pick_labels(
    scores: np.ndarray, tie_break: TieBreak, seed: int | None, tolerance: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(label_codes, tied)`` from ``(n_items, n_classes)`` scores.

    An item is tied when two or more labels are within ``tolerance`` of its best score. With
    ``tie_break=None`` a tied item's code is ``-1`` (no label); ``"first"`` takes the first tied
    label in class order; ``"random"`` draws one of the tied labels with ``seed``.
    """
    best = scores.max(axis=1, keepdims=True)
    candidates = scores >= best - tolerance
    tied = candidates.sum(axis=1) > 1
    codes = candidates.argmax(axis=1)  # the first candidate in class order
    if tie_break is None:
        codes[tied] = -1
    elif tie_break == "random" and tied.any():
        draws = np.random.default_rng(seed).random((int(tied.sum()), scores.shape[1]))
        codes[tied] = np.where(candidates[tied], draws, -1.0).argmax(axis=1)
    return codes, tied


def labels_by_item(
    items: np.ndarray, classes: np.ndarray, codes: np.ndarray
) -> dict[Hashable, Hashable | None]:
    """``{item: label}``, with ``None`` where the code is ``-1`` (an unresolved tie)."""
    class_values = [*classes.tolist(), None]  # code -1 picks the trailing None
    return {
        item: class_values[code] for item, code in zip(items.tolist(), codes.tolist(), strict=True)
    }


def gold_scores(table: CodedTable) -> dict[Hashable, GoldScore]:
    """Each annotator's :class:`GoldScore`; empty when the table has no gold items."""
    if len(table.gold_item_codes) == 0:
        return {}
    gold_of_item = np.full(len(table.items), -1, dtype=np.intp)
    gold_of_item[table.gold_item_codes] = table.gold_label_codes
    gold_label = gold_of_item[table.item_codes]
    on_gold = gold_label >= 0
    n_annotators = len(table.annotators)
    n_gold = np.bincount(table.annotator_codes[on_gold], minlength=n_annotators)
    right = on_gold & (table.label_codes == gold_label)
    n_correct = np.bincount(table.annotator_codes[right], minlength=n_annotators)
    return {
        annotator: GoldScore(n_gold=seen, n_correct=correct)
        for annotator, seen, correct in zip(
            table.annotators.tolist(), n_gold.tolist(), n_correct.tolist(), strict=True
        )
    }


def anchor_to_gold(
    probas_by_class: np.ndarray, gold_columns: np.ndarray, gold_labels: np.ndarray
) -> None:
    """Fix gold columns of ``(n_classes, n)`` posteriors to their known label, in place."""
    if len(gold_columns):
        probas_by_class[:, gold_columns] = 0.0
        probas_by_class[gold_labels, gold_columns] = 1.0


class SingleLabelEstimator:
    """``fit_predict`` and ``fit_predict_proba`` for estimators whose ``fit`` sets ``items_``,
    ``classes_``, ``probas_`` and ``labels_`` (majority vote, Dawid–Skene)."""

    def fit(self, data: object, **kwargs: object) -> SingleLabelEstimator:
        raise NotImplementedError

    def fit_predict(
        self,
        data: object,
        *,
        gold: Mapping[Hashable, Hashable] | None = None,
        classes: Collection[Hashable] | None = None,
    ) -> dict[Hashable, Hashable | None]:
        """Fit, then return ``labels_``: ``{item: label}``, ``None`` for unresolved ties."""
        return self.fit(data, gold=gold, classes=classes).labels_

    def fit_predict_proba(
        self,
        data: object,
        *,
        gold: Mapping[Hashable, Hashable] | None = None,
        classes: Collection[Hashable] | None = None,
    ) -> SoftLabels:
        """Fit, then return ``probas_`` (posteriors, or vote shares) as :class:`SoftLabels`."""
        self.fit(data, gold=gold, classes=classes)
        return SoftLabels(items=self.items_, classes=self.classes_, probas=self.probas_)
