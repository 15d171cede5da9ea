"""Agreement on span (evidence) annotations: pairwise F1 per span label.

A long table of spans has one row per ``(item, annotator, spans)``, ``spans`` a list of
``(start, end, label)`` (character offsets, ``end`` exclusive) or of mappings with ``start``,
``end`` and ``label``. An empty list means the annotator marked no span; a missing value (None)
means the annotator did not annotate the item.

Definition. For every item and every pair of its annotators (A, B), and every span label:

- *exact* matches: spans of A and B with the same start, end and label (as multisets);
- *overlap* matches: the largest one-to-one matching of A's and B's spans of that label whose
  character ranges overlap (``start_a < end_b`` and ``start_b < end_a``), found by augmenting
  paths (Kuhn's algorithm), so a long span cannot match two short ones.

``F1 = 2 Σ matches / Σ (|A_label| + |B_label|)``, summed over all annotator pairs on shared
items (micro-averaged over pairs); it is symmetric in A and B, as F1 of one annotator scored
against the other. ``overall`` sums over labels. A label that no compared annotator used has
undefined F1 (None).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from annotate.agreement._table import TABLE, AgreementDataError, python_scalar, read_present
from annotate.agreement.results import (
    NO_ANNOTATIONS,
    NO_PAIRABLE_ITEMS,
    ONE_ANNOTATOR,
    SpanAgreement,
    SpanF1,
)
from annotate.longtable import sort_key

__all__ = ["span_agreement"]

Span = tuple[int, int, Hashable]


def _parse_spans(value: Any) -> list[Span]:
    """A list of ``(start, end, label)`` from tuples or ``{start, end, label}`` mappings."""
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
        raise AgreementDataError(f"Spans must be a list of (start, end, label); got {value!r}.")
    spans = []
    for span in value:
        if isinstance(span, Mapping):
            start, end, label = span.get("start"), span.get("end"), span.get("label")
        elif isinstance(span, Sequence) and len(span) == 3:
            start, end, label = span
        else:
            raise AgreementDataError(f"A span must be (start, end, label); got {span!r}.")
        if not isinstance(start, int | np.integer) or not isinstance(end, int | np.integer):
            raise AgreementDataError(f"Span offsets must be integers; got {span!r}.")
        if end < start:
            raise AgreementDataError(f"A span ends before it starts: {span!r}.")
        spans.append((int(start), int(end), python_scalar(label)))
    return spans


def _overlap_matches(first: list[tuple[int, int]], second: list[tuple[int, int]]) -> int:
    """Size of the largest one-to-one matching of overlapping ranges (Kuhn's algorithm)."""
    neighbours = [
        [j for j, (start_b, end_b) in enumerate(second) if start_a < end_b and start_b < end_a]
        for start_a, end_a in first
    ]
    partner_of: list[int | None] = [None] * len(second)

    def augment(i: int, visited: set[int]) -> bool:
        for j in neighbours[i]:
            if j not in visited:
                visited.add(j)
                if partner_of[j] is None or augment(partner_of[j], visited):  # type: ignore[arg-type]
                    partner_of[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(first)))


def span_agreement(data: Any, *, labels: Sequence[Hashable] | None = None) -> SpanAgreement:
    """Pairwise exact and overlap F1 of span annotations, per span label and overall.

    ``labels``: the field's full list of span labels (rows in that order; unused ones undefined).

    >>> data = [
    ...     ("post-1", "A", [(0, 10, "claim"), (20, 30, "source")]),
    ...     ("post-1", "B", [(0, 10, "claim"), (22, 35, "source")]),
    ...     ("post-2", "A", [(5, 9, "claim")]),
    ...     ("post-2", "B", []),
    ... ]
    >>> result = span_agreement(data)
    >>> [(row.label, row.exact_f1, row.overlap_f1) for row in result.per_label]
    [('claim', 0.6666666666666666, 0.6666666666666666), ('source', 0.0, 1.0)]
    >>> result.overall.exact_f1, result.overall.overlap_f1
    (0.4, 0.8)
    """
    items, annotators, values, _ = read_present(data)
    item_code, item_labels = TABLE.factorize(items, "item")
    annotator_code, annotator_labels = TABLE.factorize(annotators, "annotator")

    by_item: dict[int, dict[int, list[Span]]] = defaultdict(dict)
    for item, annotator, value in zip(
        item_code.tolist(), annotator_code.tolist(), values, strict=True
    ):
        if annotator in by_item[item]:
            raise AgreementDataError(
                f"Annotator {python_scalar(annotator_labels[annotator])!r} annotated spans of "
                f"item {python_scalar(item_labels[item])!r} more than once.",
                "Keep one annotation per item and annotator.",
            )
        by_item[item][annotator] = _parse_spans(value)

    exact: Counter = Counter()
    overlap: Counter = Counter()
    spans_compared: Counter = Counter()
    n_pairs = 0
    seen_labels: set[Hashable] = set()
    for by_annotator in by_item.values():
        for spans in by_annotator.values():
            seen_labels.update(label for _, _, label in spans)
        for first, second in combinations(sorted(by_annotator), 2):
            n_pairs += 1
            spans_a, spans_b = by_annotator[first], by_annotator[second]
            for label, count in Counter(label for _, _, label in spans_a + spans_b).items():
                spans_compared[label] += count
            for (_start, _end, label), count in (Counter(spans_a) & Counter(spans_b)).items():
                exact[label] += count
            for label in {label for _, _, label in spans_a} & {label for _, _, label in spans_b}:
                overlap[label] += _overlap_matches(
                    [(start, end) for start, end, other in spans_a if other == label],
                    [(start, end) for start, end, other in spans_b if other == label],
                )

    label_order = list(labels) if labels is not None else sorted(seen_labels, key=sort_key)
    unknown = seen_labels - set(label_order)
    if unknown:
        raise AgreementDataError(f"Span label {next(iter(unknown))!r} is not in labels={labels!r}.")

    def f1_row(label: Any, n_exact: int, n_overlap: int, n_spans: int) -> SpanF1:
        return SpanF1(
            label=label,
            exact_f1=2 * n_exact / n_spans if n_spans else None,
            overlap_f1=2 * n_overlap / n_spans if n_spans else None,
            n_spans=n_spans,
            n_exact_matches=n_exact,
            n_overlap_matches=n_overlap,
        )

    per_label = tuple(
        f1_row(label, exact[label], overlap[label], spans_compared[label]) for label in label_order
    )
    overall = f1_row(None, sum(exact.values()), sum(overlap.values()), sum(spans_compared.values()))
    n_items = len(item_labels)
    n_pairable = sum(len(by_annotator) >= 2 for by_annotator in by_item.values())
    reason = None
    if n_items == 0:
        reason = NO_ANNOTATIONS
    elif len(annotator_labels) < 2:
        reason = ONE_ANNOTATOR
    elif n_pairable == 0:
        reason = NO_PAIRABLE_ITEMS
    return SpanAgreement(
        overall=overall,
        per_label=per_label,
        n_items=n_items,
        n_pairable=n_pairable,
        n_unpairable=n_items - n_pairable,
        n_pairs=n_pairs,
        undefined_reason=reason,
    )
