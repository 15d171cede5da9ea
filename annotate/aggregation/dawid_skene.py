"""Dawid–Skene: labels and annotator confusion matrices estimated together by EM.

The EM loop follows crowd-kit's ``DawidSkene`` and ``OneCoinDawidSkene`` (1.4) step for step
(majority-vote start, gold rows fixed after every E-step, 1e-10 floors, the loss and its
stopping rule), so that with ``smoothing=0`` the posteriors agree with crowd-kit's to 1e-6;
the tests check it. The bookkeeping differs: integer codes and ``np.bincount`` over flat
indices instead of pandas joins and groupbys, and items with identical answers share one
EM computation (see ``_AnswerPatterns``).

Where the results differ from crowd-kit's, on purpose:

- ``smoothing > 0`` (off by default) adds pseudo-counts crowd-kit does not have.
- Tied items get no label unless ``tie_break`` says how to break the tie; crowd-kit takes
  the first label in its column order, silently.
- Returned posteriors are exact distributions; crowd-kit floors them at 1e-10 in place after
  the last step without renormalising (a difference below 1e-9).
- ``errors_`` is ``[annotator, true, given]`` with every label, 0 for labels an annotator
  never used; crowd-kit's rows are ``(worker, given)`` pairs that occur, columns the true label.
  For one-coin, ``errors_`` holds the full matrix the model implies.
- One-coin accepts gold items (anchored the same way); crowd-kit's one-coin does not.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass

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
)
from annotate.aggregation._table import AggregationInputError, CodedTable, code_table

# crowd-kit's floor for confusion counts, priors and posteriors (inside logs); ours too, so
# that both give the same numbers. It keeps a label an annotator used but never for class c
# possible (1e-10) rather than impossible (log 0).
FLOOR = 1e-10

# Two posteriors closer than this are a tie: EM arithmetic on symmetric items need not give
# bit-identical numbers.
TIE_TOLERANCE = 1e-9


class DawidSkene(SingleLabelEstimator):
    """Dawid–Skene aggregation of a single-label field.

    Model: item ``i`` has a hidden true class ``z_i`` with prior ``P(z_i = c) = priors_[c]``;
    annotator ``a`` labelling it answers ``k`` with probability ``errors_[a, c, k]`` (row ``c``
    of the annotator's confusion matrix), independently of other annotators given ``z_i``.
    EM alternates the posterior of every item's class (E-step, in log space, shifted by the
    row maximum before exponentiating) and the priors and confusion matrices that maximise
    the expected likelihood (M-step), starting from majority-vote shares.

    ``one_coin=True`` gives each annotator a single accuracy ``skills_[a]``: the right class
    with that probability, otherwise any other class uniformly (Zhang et al., 2016).

    A. P. Dawid and A. M. Skene (1979), "Maximum Likelihood Estimation of Observer
    Error-Rates Using the EM Algorithm", JRSS C 28(1):20–28.

    Parameters:
        n_iter: maximum number of EM iterations.
        tol: stop when the loss (see ``loss_history_``) improves by less than this.
        one_coin: the one-coin variant.
        smoothing: pseudo-count added to every cell of each annotator's confusion counts
            (a symmetric Dirichlet prior), including labels the annotator never used, so
            that sparse annotators get no zero or near-zero error rates. With one-coin, the
            accuracy is ``(expected correct + smoothing) / (n + 2 * smoothing)``. ``0`` is
            crowd-kit's estimate: counts floored at 1e-10 for labels the annotator used,
            and exactly 0 for labels they never used.
        tie_break: ``None`` leaves tied items without a label (``None``); ``"first"`` or
            ``"random"`` (with ``seed``) as in :class:`MajorityVote`.

    Attributes after ``fit`` (``n`` items, ``k`` classes, ``m`` annotators):

    - ``items_`` ``(n,)``, ``classes_`` ``(k,)``, ``annotators_`` ``(m,)``: original values;
    - ``probas_`` ``(n, k)``: posterior of each class per item (rows sum to 1), the soft labels;
    - ``labels_``: ``{item: most probable label, or None if tied}``; ``ties_``: tied items;
    - ``priors_`` ``(k,)``: class priors;
    - ``errors_`` ``(m, k, k)``: confusion matrices, ``errors_[a, true, given]``, rows sum to 1;
    - ``skills_`` ``(m,)``: one-coin accuracies (``None`` for the full model);
    - ``n_annotations_`` ``(m,)``: annotations per annotator, to judge how well-estimated a
      confusion matrix is;
    - ``loss_history_``: crowd-kit's evidence lower bound per annotation after each
      iteration (it counts the log prior once per annotation, not once per item; kept for
      the identical stopping rule); ``n_iter_`` iterations run; ``converged_`` whether ``tol``
      stopped them;
    - ``gold_accuracy_``: ``{annotator: GoldScore}`` (empty without gold).
    """

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        one_coin: bool = False,
        smoothing: float = 0.0,
        tie_break: TieBreak = None,
        seed: int | None = None,
    ):
        if n_iter < 0:
            raise AggregationInputError(f"n_iter must be 0 or more, not {n_iter}.")
        if smoothing < 0:
            raise AggregationInputError(f"smoothing must be 0 or more, not {smoothing}.")
        check_tie_break(tie_break)
        self.n_iter = n_iter
        self.tol = tol
        self.one_coin = one_coin
        self.smoothing = smoothing
        self.tie_break = tie_break
        self.seed = seed

    def fit(
        self,
        data: object,
        *,
        gold: Mapping[Hashable, Hashable] | None = None,
        classes: Collection[Hashable] | None = None,
    ) -> DawidSkene:
        """Estimate labels and confusion matrices from a long table ``(item, annotator, label)``.

        ``data`` is a sequence of 3-tuples, a dict of columns ``item, annotator, label`` or a
        DataFrame with those columns (or ``task, worker, label``). ``gold`` maps items to known
        labels: their posteriors are fixed to the known label at every E-step (anchoring the
        confusion matrices) and they score the annotators. ``classes`` is the field's full
        label list (its order is kept); by default the labels seen in ``data`` and ``gold``,
        sorted.
        """
        return self._fit_coded(code_table(data, gold=gold, classes=classes))

    def _fit_coded(self, table: CodedTable) -> DawidSkene:
        state = _expectation_maximisation(
            table,
            n_iter=self.n_iter,
            tol=self.tol,
            one_coin=self.one_coin,
            smoothing=self.smoothing,
        )
        probas = state.probas
        label_codes, tied = pick_labels(probas, self.tie_break, self.seed, TIE_TOLERANCE)
        self.items_ = table.items
        self.classes_ = table.classes
        self.annotators_ = table.annotators
        self.probas_ = probas
        self.labels_ = labels_by_item(table.items, table.classes, label_codes)
        self.ties_ = frozenset(table.items[tied].tolist())
        self.priors_ = state.priors
        self.errors_ = np.ascontiguousarray(state.errors.transpose(1, 0, 2))
        self.skills_ = state.skills
        self.n_annotations_ = np.bincount(table.annotator_codes, minlength=len(table.annotators))
        self.loss_history_ = state.loss_history
        self.n_iter_ = len(state.loss_history)
        self.converged_ = state.converged
        self.gold_accuracy_: dict[Hashable, GoldScore] = gold_scores(table)
        return self

    def confusion_matrices(self) -> dict[Hashable, np.ndarray]:
        """``{annotator: (k, k) confusion matrix}``, rows the true class (agreement report)."""
        return dict(zip(self.annotators_.tolist(), self.errors_, strict=True))


@dataclass(frozen=True)
class _AnswerPatterns:
    """Items grouped by their answers: EM then runs once per distinct pattern.

    Two items with the same multiset of (annotator, label) answers and the same gold status
    have the same posterior at every EM step, so the E-step is computed once per pattern and
    the M-step weights each pattern by the number of its items. With a few annotators and
    classes, patterns repeat a lot (200,000 simulated items × 5 annotators × 9 classes have
    about 19,000), and EM does a tenth of the work; the numbers are those of the item-level EM.
    Answers are coded as pairs ``annotator * n_classes + label``.
    """

    of_item: np.ndarray  # (n_items,): each item's pattern
    size: np.ndarray  # (n_patterns,) float: number of items with the pattern
    answer_pattern: np.ndarray  # (n_pattern_answers,): the pattern each answer belongs to
    answer_pair: np.ndarray  # (n_pattern_answers,): the answer's (annotator, label) pair
    gold_patterns: np.ndarray  # (n_gold_patterns,)
    gold_labels: np.ndarray  # (n_gold_patterns,)


# Grouping needs an (n_items, most answers on one item) table; past this many cells, EM runs
# on items directly rather than spend the memory.
_MAX_PATTERN_CELLS = 2**25


def _answer_patterns(table: CodedTable, pair: np.ndarray, n_pairs: int) -> _AnswerPatterns:
    n_items = len(table.items)
    item = table.item_codes
    answers_per_item = np.bincount(item, minlength=n_items)
    gold_label_of_item = np.full(n_items, -1, dtype=np.int64)
    gold_label_of_item[table.gold_item_codes] = table.gold_label_codes
    most_answers = int(answers_per_item.max())
    if n_items * most_answers > _MAX_PATTERN_CELLS:
        of_item = np.arange(n_items)
        first_item = of_item
        size = np.ones(n_items)
    else:
        # Row i lists item i's answer pairs in increasing order, padded with -1: a canonical
        # form of the multiset, turned into one integer key column by column.
        order = np.argsort(item.astype(np.int64) * n_pairs + pair, kind="stable")
        sorted_item = item[order]
        first_answer = np.cumsum(answers_per_item) - answers_per_item
        rank_in_item = np.arange(len(item)) - first_answer[sorted_item]
        padded = np.full((n_items, most_answers), -1, dtype=np.int64)
        padded[sorted_item, rank_in_item] = pair[order]
        key = gold_label_of_item + 1
        key_bound = len(table.classes) + 1
        for column in padded.T:
            if key_bound * (n_pairs + 1) >= 2**62:  # renumber the keys before they overflow
                _, key = np.unique(key, return_inverse=True)
                key_bound = int(key.max()) + 1
            key = key * (n_pairs + 1) + (column + 1)
            key_bound *= n_pairs + 1
        _, first_item, of_item, size = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        of_item = of_item.reshape(-1)
        size = size.astype(float)
    is_representative = np.zeros(n_items, dtype=bool)
    is_representative[first_item] = True
    representative_answer = is_representative[item]
    gold_patterns, gold_position = np.unique(of_item[table.gold_item_codes], return_index=True)
    return _AnswerPatterns(
        of_item=of_item,
        size=size,
        answer_pattern=of_item[item[representative_answer]],
        answer_pair=pair[representative_answer],
        gold_patterns=gold_patterns,
        gold_labels=table.gold_label_codes[gold_position],
    )


@dataclass(frozen=True)
class _EMState:
    probas: np.ndarray  # (n_items, n_classes): posteriors
    priors: np.ndarray  # (n_classes,)
    errors: np.ndarray  # (n_classes, n_annotators, n_classes): [true, annotator, given]
    skills: np.ndarray | None  # (n_annotators,), one-coin only
    loss_history: list[float]
    converged: bool


def _expectation_maximisation(
    table: CodedTable, *, n_iter: int, tol: float, one_coin: bool, smoothing: float
) -> _EMState:
    """Run EM on a coded table; the order of steps is crowd-kit's (see the module docstring).

    Posteriors are kept as ``(n_classes, n_patterns)`` so that each class is one contiguous
    row for ``np.bincount``.
    """
    n_items, n_classes = len(table.items), len(table.classes)
    n_annotators = len(table.annotators)
    pair = table.annotator_codes * n_classes + table.label_codes
    n_pairs = n_annotators * n_classes
    pair_used = np.bincount(pair, minlength=n_pairs) > 0
    annotations_per_annotator = np.bincount(table.annotator_codes, minlength=n_annotators)
    patterns = _answer_patterns(table, pair, n_pairs)
    n_patterns = len(patterns.size)
    # Without grouping every weight is 1: skip a million multiplications per class and step.
    grouped = n_patterns < n_items
    answer_weight = patterns.size[patterns.answer_pattern] if grouped else None

    def maximisation(probas_by_class: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = _expected_confusion_counts(
            probas_by_class, patterns.answer_pattern, patterns.answer_pair, answer_weight, n_pairs
        )
        if one_coin:
            errors, skills = _one_coin_errors(
                counts, n_annotators, annotations_per_annotator, smoothing
            )
        else:
            errors, skills = _confusion_matrices(counts, pair_used, n_annotators, smoothing), None
        return counts, errors, skills

    def anchor(probas_by_class: np.ndarray) -> None:
        anchor_to_gold(probas_by_class, patterns.gold_patterns, patterns.gold_labels)

    votes = np.bincount(
        patterns.answer_pattern * n_classes + patterns.answer_pair % n_classes,
        minlength=n_patterns * n_classes,
    )
    probas_by_class = np.ascontiguousarray(votes.reshape(n_patterns, n_classes).T, dtype=float)
    probas_by_class /= probas_by_class.sum(axis=0)
    anchor(probas_by_class)
    priors = probas_by_class @ patterns.size / n_items
    counts, errors, skills = maximisation(probas_by_class)
    log_errors = _log_where_used(errors.reshape(n_classes, n_pairs), pair_used)

    loss, loss_history, converged = -np.inf, [], False
    for _ in range(n_iter):
        probas_by_class = _class_posteriors(
            log_errors, priors, patterns.answer_pattern, patterns.answer_pair, n_patterns
        )
        anchor(probas_by_class)
        priors = probas_by_class @ patterns.size / n_items
        counts, errors, skills = maximisation(probas_by_class)
        log_errors = _log_where_used(errors.reshape(n_classes, n_pairs), pair_used)
        new_loss = _evidence_lower_bound(
            probas_by_class, patterns.size, priors, counts, log_errors, table.n_annotations
        )
        loss_history.append(new_loss)
        if new_loss - loss < tol:
            converged = True
            break
        loss = new_loss
    probas = probas_by_class.T[patterns.of_item]
    return _EMState(probas, priors, errors, skills, loss_history, converged)


def _expected_confusion_counts(
    probas_by_class: np.ndarray,
    answer_pattern: np.ndarray,
    answer_pair: np.ndarray,
    answer_weight: np.ndarray | None,
    n_pairs: int,
) -> np.ndarray:
    """``(n_classes, n_pairs)``: expected number of times each (annotator, given label) pair
    was answered on items of each true class, i.e. the sum of those items' posteriors.

    ``answer_weight`` is the number of items behind each answer (``None``: one each)."""
    counts = np.empty((len(probas_by_class), n_pairs))
    for row, probas in zip(counts, probas_by_class, strict=True):
        weights = probas[answer_pattern]
        if answer_weight is not None:
            weights *= answer_weight
        row[:] = np.bincount(answer_pair, weights=weights, minlength=n_pairs)
    return counts


def _confusion_matrices(
    counts: np.ndarray, pair_used: np.ndarray, n_annotators: int, smoothing: float
) -> np.ndarray:
    """Confusion matrices ``(n_classes, n_annotators, n_classes)``, ``[true, annotator, given]``,
    from expected counts."""
    n_classes = counts.shape[0]
    if smoothing > 0:
        counts = counts + smoothing
    else:
        counts = np.where(pair_used, np.maximum(counts, FLOOR), 0.0)
    counts = counts.reshape(n_classes, n_annotators, n_classes)
    return counts / counts.sum(axis=2, keepdims=True)


def _one_coin_errors(
    counts: np.ndarray, n_annotators: int, annotations: np.ndarray, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """One-coin confusion matrices ``[true, annotator, given]`` and the accuracies ``(m,)``."""
    n_classes = counts.shape[0]
    by_class = counts.reshape(n_classes, n_annotators, n_classes)
    diagonal = np.arange(n_classes)
    expected_correct = by_class[diagonal, :, diagonal].sum(axis=0)
    skills = (expected_correct + smoothing) / (annotations + 2 * smoothing)
    wrong = (1.0 - skills) / (n_classes - 1) if n_classes > 1 else np.zeros_like(skills)
    errors = np.broadcast_to(wrong[None, :, None], by_class.shape).copy()
    errors[diagonal, :, diagonal] = skills
    return np.clip(errors, FLOOR, 1.0 - FLOOR), skills


def _log_where_used(errors: np.ndarray, pair_used: np.ndarray) -> np.ndarray:
    """Log of the ``(n_classes, n_pairs)`` error rates; 0 for pairs that never occur."""
    mask = np.broadcast_to(pair_used, errors.shape)
    return np.log(errors, out=np.zeros_like(errors), where=mask & (errors > 0))


def _class_posteriors(
    log_errors: np.ndarray,
    priors: np.ndarray,
    answer_pattern: np.ndarray,
    answer_pair: np.ndarray,
    n_patterns: int,
) -> np.ndarray:
    """E-step: ``(n_classes, n_patterns)`` posteriors from log error rates
    ``(n_classes, n_pairs)``."""
    log_likelihood = np.stack(
        [
            np.bincount(answer_pattern, weights=row[answer_pair], minlength=n_patterns)
            for row in log_errors
        ]
    )
    log_likelihood += np.log(np.maximum(priors, FLOOR))[:, None]
    # Shift each pattern's column so its maximum is 0: exp cannot underflow to all zeros.
    log_likelihood -= log_likelihood.max(axis=0)
    np.exp(log_likelihood, out=log_likelihood)
    log_likelihood /= log_likelihood.sum(axis=0)
    return log_likelihood


def _evidence_lower_bound(
    probas_by_class: np.ndarray,
    pattern_size: np.ndarray,
    priors: np.ndarray,
    counts: np.ndarray,
    log_errors: np.ndarray,
    n_annotations: int,
) -> float:
    """crowd-kit's loss: E_q[log P(labels, classes)] + H(q), per annotation.

    ``E_q`` sums ``q(item, c) * (log errors + log prior)`` over annotations, so the expected
    confusion counts already hold it; the prior enters once per annotation, as in crowd-kit.
    """
    expected_log_joint = float(np.sum(counts * log_errors))
    expected_log_joint += float(counts.sum(axis=1) @ np.log(np.maximum(priors, FLOOR)))
    floored = np.maximum(probas_by_class, FLOOR)
    entropy = -float((floored * np.log(floored)).sum(axis=0) @ pattern_size)
    return (expected_log_joint + entropy) / n_annotations
