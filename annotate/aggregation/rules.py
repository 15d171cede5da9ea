"""The taxonomy's rules applied to aggregated labels: exclusive labels, required severity.

The rules come in as parameters (the taxonomy module owns them), e.g. ``exclusive =
{"legitimate", "not_financial"}`` and ``violations`` = the seven violation labels.

Choosing labels from per-label posteriors (binary relevance) under exclusivity:

1. The *violation set* ``S`` is every non-exclusive label with posterior ≥ ``threshold``.
2. The *exclusive candidate* ``e`` is the exclusive label with the highest posterior (ties go
   to the one listed first).
3. If ``e`` is below the threshold, the result is ``S`` (possibly empty). If ``S`` is empty,
   the result is ``{e}``.
4. If both qualify, they cannot both hold. Binary relevance treats labels as independent, so
   ``P(exactly {e}) / P(exactly S) = odds(e) / Π_{l ∈ S} odds(l)`` with
   ``odds(p) = p / (1 - p)`` (every other label's factor cancels). The more probable of the
   two wins; an exact tie goes to ``S``, because a possible violation should reach a person
   rather than be dismissed.

An empty result means no label reached the threshold: the item needs adjudication.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from annotate.aggregation._common import SoftLabels
from annotate.aggregation.reasons import Reason, ReasonKind

# Posteriors of exactly 0 or 1 would give infinite odds; both sides are clipped alike.
_ODDS_CLIP = 1e-12


def apply_rules(
    labels_proba: Mapping[Hashable, float],
    exclusive: Collection[Hashable],
    threshold: float = 0.5,
) -> frozenset[Hashable]:
    """The labels to select for one item, given each label's posterior of being present.

    >>> apply_rules({"legitimate": 0.9, "extortion": 0.2}, {"legitimate", "not_financial"})
    frozenset({'legitimate'})
    >>> apply_rules({"legitimate": 0.6, "extortion": 0.9}, {"legitimate"})
    frozenset({'extortion'})
    >>> posteriors = {"legitimate": 0.3, "extortion": 0.7, "incitement": 0.5}
    >>> sorted(apply_rules(posteriors, {"legitimate"}))
    ['extortion', 'incitement']
    """
    labels = list(labels_proba)
    if not labels:
        return frozenset()
    probas = np.array([[labels_proba[label] for label in labels]], dtype=float)
    is_exclusive = np.array([label in exclusive for label in labels])
    selected = select_mask(probas, is_exclusive, threshold)[0]
    return frozenset(label for label, chosen in zip(labels, selected, strict=True) if chosen)


def select_mask(probas: np.ndarray, is_exclusive: np.ndarray, threshold: float) -> np.ndarray:
    """Vectorised rule: ``(n_items, n_labels)`` posteriors → boolean selection, same shape.

    ``is_exclusive`` ``(n_labels,)`` marks the exclusive labels (see the module docstring).
    """
    probas = np.asarray(probas, dtype=float)
    above = probas >= threshold
    violation_set = above & ~is_exclusive
    if not is_exclusive.any():
        return violation_set
    rows = np.arange(len(probas))
    exclusive_probas = np.where(is_exclusive, probas, -np.inf)
    best_exclusive = exclusive_probas.argmax(axis=1)  # first on ties
    clipped = np.clip(probas, _ODDS_CLIP, 1 - _ODDS_CLIP)
    log_odds = np.log(clipped) - np.log1p(-clipped)
    exclusive_log_odds = log_odds[rows, best_exclusive]
    violation_log_odds = np.where(violation_set, log_odds, 0.0).sum(axis=1)
    has_violation = violation_set.any(axis=1)
    choose_exclusive = above[rows, best_exclusive] & (
        ~has_violation | (exclusive_log_odds > violation_log_odds)
    )
    selected = violation_set.copy()
    selected[choose_exclusive] = False
    selected[rows[choose_exclusive], best_exclusive[choose_exclusive]] = True
    return selected


def select_labels(
    soft_labels: SoftLabels, exclusive: Collection[Hashable], threshold: float = 0.5
) -> dict[Hashable, frozenset[Hashable]]:
    """:func:`apply_rules` on every item of multi-label soft labels: ``{item: labels}``."""
    labels = soft_labels.classes.tolist()
    is_exclusive = np.array([label in exclusive for label in labels], dtype=bool)
    selected = select_mask(soft_labels.probas, is_exclusive, threshold)
    return {
        item: frozenset(label for label, chosen in zip(labels, row, strict=True) if chosen)
        for item, row in zip(soft_labels.items.tolist(), selected.tolist(), strict=True)
    }


@dataclass(frozen=True)
class FinalLabels:
    """An item's labels after the rules, and whether a person must still decide.

    ``severity`` is kept only when a violation is selected; it is never invented.
    ``reasons`` says why an item needs adjudication (empty when it does not).
    """

    labels: frozenset[Hashable]
    severity: Hashable | None
    needs_adjudication: bool
    reasons: tuple[Reason, ...] = ()


def check_severity(
    selected: Collection[Hashable],
    severity: Hashable | None,
    violations: Collection[Hashable],
) -> FinalLabels:
    """Severity is required when any violation label is selected.

    ``severity`` is the aggregated severity (``None`` when missing or tied). A selected
    violation without severity is reported as needing adjudication. Without a violation,
    severity does not apply and is dropped.

    >>> check_severity({"extortion"}, None, {"extortion"}).needs_adjudication
    True
    >>> check_severity({"legitimate"}, "high", {"extortion"}).severity is None
    True
    """
    selected = frozenset(selected)
    chosen_violations = sorted(map(str, selected & frozenset(violations)))
    if not chosen_violations:
        return FinalLabels(labels=selected, severity=None, needs_adjudication=False)
    if severity is None:
        reason = Reason(
            ReasonKind.MISSING_SEVERITY,
            f"violation {', '.join(chosen_violations)} selected but no severity agreed",
        )
        return FinalLabels(
            labels=selected, severity=None, needs_adjudication=True, reasons=(reason,)
        )
    return FinalLabels(labels=selected, severity=severity, needs_adjudication=False)


def finalize_labels(
    labels_proba: Mapping[Hashable, float],
    severity: Hashable | None,
    *,
    exclusive: Collection[Hashable],
    violations: Collection[Hashable],
    threshold: float = 0.5,
) -> FinalLabels:
    """:func:`apply_rules` then :func:`check_severity`, with every adjudication reason."""
    selected = apply_rules(labels_proba, exclusive, threshold)
    result = check_severity(selected, severity, violations)
    if selected:
        return result
    return FinalLabels(
        labels=selected,
        severity=None,
        needs_adjudication=True,
        reasons=(Reason(ReasonKind.NO_LABEL, f"no label reached the threshold {threshold}"),),
    )
