"""Per-annotator agreement (with outliers flagged) and the label pairs annotators split on.

Leave-one-out agreement
    For each annotation on an item someone else also rated, the *consensus of the others* is the
    plurality value among the other annotators of that item. The annotation scores 1 if it is
    the unique plurality value, ``1 / t`` if it is one of ``t`` tied plurality values (the
    expected score of breaking the tie at random), else 0. An annotator's leave-one-out
    agreement is the mean score over their pairable items.

Outlier rule (robust z-score, parameters of :func:`annotator_agreement`)
    Among annotators with at least ``min_items`` pairable items (and only when there are three
    or more of them), ``z = (x - median) / scale`` with ``scale = max(1.4826 × MAD, min_scale)``
    (MAD: median absolute deviation of the leave-one-out agreements ``x``; 1.4826 makes it
    estimate the standard deviation under normality, ``min_scale`` keeps near-identical
    annotators from turning tiny differences into large z). An annotator is flagged when
    ``z < -outlier_z``, or when ``min_agreement`` is set and ``x < min_agreement``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from annotate.agreement._table import EncodedTable, _encode, python_scalar
from annotate.agreement.kappa import pairwise_kappas
from annotate.agreement.results import AnnotatorAgreement, LabelConfusion

__all__ = ["annotator_agreement", "confusion_pairs"]

MAD_TO_SD = 1.4826


def _leave_one_out_scores(table: EncodedTable) -> np.ndarray:
    """Shape (N,): each annotation's agreement with the plurality of the item's other
    annotators (NaN for annotations on single-rated items)."""
    counts = table.value_counts
    if table.n_annotations == 0:
        return np.empty(0)
    starts = counts.unit_starts
    top = np.maximum.reduceat(counts.count, starts)
    at_top = counts.count == top[counts.unit]
    n_at_top = np.bincount(counts.unit, weights=at_top, minlength=counts.n_units)
    below_top = np.where(at_top, 0, counts.count)
    runner_up = np.maximum.reduceat(below_top, starts)
    at_runner_up = ~at_top & (counts.count == runner_up[counts.unit])
    n_at_runner_up = np.bincount(counts.unit, weights=at_runner_up, minlength=counts.n_units)

    # The triple (unit, value) of each annotation: triples are sorted by unit, then value.
    triple_key = counts.unit * counts.n_values + counts.value
    triple = np.searchsorted(triple_key, table.item * counts.n_values + table.value)
    own, unit = counts.count[triple], table.item
    # Without this annotation its value has own - 1 votes; it stays the plurality if that beats
    # the runner-up, ties with it if equal. If the value was not the unique top, it loses.
    unique_top = (own == top[unit]) & (n_at_top[unit] == 1)
    remaining = own - 1
    score = np.where(
        remaining > runner_up[unit],
        1.0,
        np.where(remaining == runner_up[unit], 1.0 / (1.0 + n_at_runner_up[unit]), 0.0),
    )
    score = np.where(unique_top, score, 0.0)
    return np.where(counts.ratings[unit] >= 2, score, np.nan)


def _gold_codes(
    table: EncodedTable, gold: Mapping[Any, Any] | Iterable[tuple[Any, Any]]
) -> np.ndarray:
    """Shape (U,): the gold value code of each item; -1 without gold, -2 for a gold value
    nobody chose (it never matches)."""
    pairs = gold.items() if isinstance(gold, Mapping) else gold
    item_code = {python_scalar(item): code for code, item in enumerate(table.items)}
    value_code = {value: code for code, value in enumerate(table.values)}
    codes = np.full(table.n_items, -1, dtype=np.int64)
    for item, value in pairs:
        code = item_code.get(python_scalar(item))
        if code is None:
            continue
        key = frozenset(value) if table.is_multilabel else value
        codes[code] = value_code.get(key, -2)
    return codes


def annotator_agreement(
    data: Any,
    *,
    gold: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None = None,
    order: Sequence[Hashable] | None = None,
    outlier_z: float = 2.0,
    min_items: int = 20,
    min_scale: float = 0.05,
    min_agreement: float | None = None,
) -> list[AnnotatorAgreement]:
    """One row per annotator: items, leave-one-out agreement, pairwise κ, gold accuracy, outlier.

    ``gold``: ``{item: value}`` (or ``(item, value)`` pairs) for the items with a known answer.
    The outlier rule and its parameters are in the module docstring.

    >>> data = [(item, name, item % 3) for item in range(30) for name in ("A", "B", "C")]
    >>> data += [(item, "D", (item * 2) % 3) for item in range(30)]
    >>> rows = annotator_agreement(data, min_items=10)
    >>> [(row.annotator, round(row.loo_agreement, 2), row.outlier) for row in rows]
    [('A', 1.0, False), ('B', 1.0, False), ('C', 1.0, False), ('D', 0.33, True)]
    """
    table = _encode(data, order=order)
    scores = _leave_one_out_scores(table)
    pairable = np.isfinite(scores)
    n_annotators = table.n_annotators
    n_items = np.bincount(table.annotator, minlength=n_annotators)
    n_pairable = np.bincount(table.annotator[pairable], minlength=n_annotators)
    score_sums = np.bincount(
        table.annotator[pairable], weights=scores[pairable], minlength=n_annotators
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = score_sums / n_pairable

    gold_accuracy = np.full(n_annotators, np.nan)
    n_gold = np.zeros(n_annotators, dtype=np.int64)
    if gold is not None:
        gold_of_item = _gold_codes(table, gold)[table.item]
        graded = gold_of_item != -1
        n_gold = np.bincount(table.annotator[graded], minlength=n_annotators)
        correct = np.bincount(
            table.annotator[graded],
            weights=(table.value[graded] == gold_of_item[graded]).astype(np.float64),
            minlength=n_annotators,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            gold_accuracy = correct / n_gold

    eligible = n_pairable >= max(min_items, 1)
    robust_z = np.full(n_annotators, np.nan)
    median = np.nan
    if eligible.sum() >= 3:
        median = float(np.median(loo[eligible]))
        scale = max(MAD_TO_SD * float(np.median(np.abs(loo[eligible] - median))), min_scale)
        robust_z[eligible] = (loo[eligible] - median) / scale

    pairs_of: dict[Any, list] = {python_scalar(name): [] for name in table.annotators}
    for pair in pairwise_kappas(table):
        pairs_of[pair.a].append(pair)
        pairs_of[pair.b].append(pair)

    rows = []
    for code, name in enumerate(table.annotators):
        reasons = []
        if np.isfinite(robust_z[code]) and robust_z[code] < -outlier_z:
            reasons.append(
                f"leave-one-out agreement {loo[code]:.2f} is {-robust_z[code]:.1f} robust "
                f"z-scores below the median {median:.2f}"
            )
        if min_agreement is not None and n_pairable[code] and loo[code] < min_agreement:
            reasons.append(f"leave-one-out agreement {loo[code]:.2f} is below {min_agreement}")
        rows.append(
            AnnotatorAgreement(
                annotator=python_scalar(name),
                n_items=int(n_items[code]),
                n_pairable=int(n_pairable[code]),
                loo_agreement=float(loo[code]) if n_pairable[code] else None,
                pairwise=tuple(pairs_of[python_scalar(name)]),
                gold_accuracy=float(gold_accuracy[code]) if n_gold[code] else None,
                n_gold=int(n_gold[code]),
                robust_z=float(robust_z[code]) if np.isfinite(robust_z[code]) else None,
                outlier=bool(reasons),
                outlier_reason="; ".join(reasons) or None,
            )
        )
    return rows


def confusion_pairs(
    data: Any,
    *,
    order: Sequence[Hashable] | None = None,
    labels: Sequence[Hashable] | None = None,
) -> list[LabelConfusion]:
    """Which pairs of labels annotators split on most, with counts and shares, most first.

    Nominal field: every pair of annotators of the same item who chose different values ``a``
    and ``b`` counts once for the unordered pair ``{a, b}``; ``share`` is the part of all
    disagreeing pairs. Multi-label field: for every pair of annotators of an item, each label
    chosen by only one of them is paired with each label chosen by only the other (or with
    None when the other chose nothing in its place); ``share`` is the part of all such counts.

    >>> data = [(1, "A", "rumour"), (1, "B", "rumour"), (1, "C", "legit"),
    ...         (2, "A", "rumour"), (2, "B", "scam"), (3, "A", "legit"), (3, "B", "scam")]
    >>> [(row.label_a, row.label_b, row.count) for row in confusion_pairs(data)]
    [('legit', 'rumour', 2), ('legit', 'scam', 1), ('rumour', 'scam', 1)]
    """
    table = _encode(data, order=order, labels=labels)
    counts = table.value_counts
    first, second = counts.pairs_of_values(include_self=False)
    keep = counts.value[first] < counts.value[second]
    first, second = first[keep], second[keep]
    n_values = table.n_values
    cell = counts.value[first] * n_values + counts.value[second]
    weight = counts.count[first] * counts.count[second]
    cells, inverse = np.unique(cell, return_inverse=True)
    pair_counts = np.bincount(inverse.reshape(-1), weights=weight, minlength=len(cells))

    confusions: Counter = Counter()
    for flat, count in zip(cells.tolist(), pair_counts.tolist(), strict=True):
        value_a, value_b = divmod(flat, n_values)
        if not table.is_multilabel:
            confusions[(value_a, value_b)] += int(count)
            continue
        set_a, set_b = table.values[value_a], table.values[value_b]
        only_a, only_b = set_a - set_b, set_b - set_a
        if only_a and only_b:
            for label_a in only_a:
                for label_b in only_b:
                    confusions[_unordered(table, label_a, label_b)] += int(count)
        else:
            for label in only_a or only_b:
                confusions[(label, None)] += int(count)
    total = sum(confusions.values())
    rows = []
    for (a, b), count in confusions.items():
        if not table.is_multilabel:
            a, b = table.value_label(a), table.value_label(b)
        rows.append(LabelConfusion(python_scalar(a), python_scalar(b), count, count / total))
    return sorted(rows, key=lambda row: (-row.count, str(row.label_a), str(row.label_b)))


def _unordered(table: EncodedTable, first: Any, second: Any) -> tuple[Any, Any]:
    position = {label: index for index, label in enumerate(table.labels or ())}
    return (first, second) if position[first] <= position[second] else (second, first)
