"""Computing the agreement report of one field's long table (rendering is elsewhere).

Interpretation of α follows Krippendorff (2004, *Content Analysis*, 2nd ed., p. 241): rely on
variables with α ≥ 0.800, draw only tentative conclusions from 0.667 ≤ α < 0.800, and do not
rely on data below 0.667.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from annotate import agreement
from annotate.agreement import (
    Coefficient,
    LabelAgreement,
    annotator_agreement,
    confusion_pairs,
    krippendorff_alpha,
    label_agreement,
    multilabel_agreement,
    span_agreement,
    summarise,
)
from annotate.agreement_data import FieldTable, PostText, items_by_batch, read_table_file
from annotate.errors import AnnotateError
from annotate.report.formatting import natural_key
from annotate.report.model import (
    RELIABLE_ALPHA,
    TENTATIVE_ALPHA,
    AgreementReport,
    BatchTrend,
    DisagreedItem,
    Interpretation,
)

__all__ = [
    "alpha_band",
    "build_report",
    "field_summary",
    "file_report",
    "interpret_alpha",
    "item_disagreement",
]


def alpha_band(value: float | None) -> str:
    """Krippendorff's band for an α value, as people read it (rounded to three places, so
    that 0.7996 shown as 0.800 is reliable).

    >>> alpha_band(0.7996), alpha_band(0.70), alpha_band(0.615), alpha_band(None)
    ('reliable', 'tentative', 'not reliable', 'undefined')
    """
    if value is None:
        return "undefined"
    shown = round(value, 3)
    if shown >= RELIABLE_ALPHA:
        return "reliable"
    return "tentative" if shown >= TENTATIVE_ALPHA else "not reliable"


def field_summary(
    table: FieldTable, *, ci: bool = True, n_resamples: int = 1000, seed: int | None = 0
) -> Any:
    """The headline coefficients of one field's long table, as the report shows them: at the
    field's level, label sets compared as sets. The dataset card quotes the same numbers
    (one computation, one bootstrap, one seed)."""
    set_labels = table.labels if table.multiple else None
    return summarise(
        table.rows,
        table.level,
        order=table.order,
        labels=set_labels,
        ci=ci,
        n_resamples=n_resamples,
        seed=seed,
    )


def interpret_alpha(alpha: Coefficient) -> Interpretation:
    """Krippendorff's band for α, with a warning when the interval reaches a lower band."""
    if alpha.value is None:
        return Interpretation("undefined", f"α is undefined: {alpha.undefined_reason}.")
    band = alpha_band(alpha.value)
    if band == "reliable":
        sentence, floor = "α ≥ 0.800: reliable.", RELIABLE_ALPHA
    elif band == "tentative":
        floor = TENTATIVE_ALPHA
        sentence = "0.667 ≤ α < 0.800: tentative conclusions only."
    else:
        floor = -math.inf
        sentence = (
            "α < 0.667: not reliable; clarify the guidelines or retrain annotators before "
            "using these labels."
        )
    if alpha.ci is not None and alpha.ci.low < floor:
        sentence += (
            f" The {alpha.ci.level:.0%} interval reaches down to {alpha.ci.low:.3f}, "
            "below this band: more overlapping items would settle it."
        )
    return Interpretation(band, sentence)


def item_disagreement(
    rows: Iterable[tuple[Any, Any, Any]],
    *,
    kind: str,
    multiple: bool = False,
    order: Sequence[Any] | None = None,
) -> dict[Any, float]:
    """Per item with two or more annotations, the mean disagreement of its annotation pairs.

    A pair's disagreement is, for label sets, the Jaccard distance; for ordered values (an
    ``ordinal`` field, or ``numeric``) the gap between them over the widest gap possible;
    otherwise 1 when the values differ. 0 is full agreement, 1 the most there can be. The
    distances are those of :mod:`annotate.agreement.distances`.

    >>> rows = [(1, "A", "x"), (1, "B", "x"), (2, "A", "x"), (2, "B", "y"), (2, "C", "y")]
    >>> item_disagreement(rows, kind="choices")
    {1: 0.0, 2: 0.6666666666666666}
    >>> item_disagreement([(1, "A", {"a"}), (1, "B", {"a", "b"})], kind="choices", multiple=True)
    {1: 0.5}
    """
    if multiple:
        return agreement.item_disagreement(rows, "jaccard")
    if kind in ("ordinal", "numeric"):
        return agreement.item_disagreement(rows, "linear", order=order)
    return agreement.item_disagreement(rows, "nominal")


def build_report(
    table: FieldTable,
    *,
    ci: bool = True,
    n_resamples: int = 1000,
    seed: int | None = 0,
    n_disagreed: int = 10,
    min_items: int = 20,
    texts: Callable[[list[Any]], Mapping[Any, PostText]] | None = None,
) -> AgreementReport:
    """Compute the report of one field's long table (see :class:`AgreementReport`).

    ``ci``: bootstrap intervals (``n_resamples``, ``seed``) for the headline coefficients and
    the per-batch α. ``n_disagreed``: how many of the most-disagreed items to list, with their
    posts from ``texts(items)`` when given. ``min_items``: pairable items an annotator needs
    before they can be flagged as an outlier (see :func:`annotate.agreement.annotator_agreement`).
    """
    if not table.rows:
        detail = (
            f"; {table.n_dropped_items} items have fewer than {table.min_annotators} annotations"
            if table.dropped_rows
            else ""
        )
        raise AnnotateError(
            f"No item of {table.source} has {table.min_annotators} or more annotations of field "
            f"{table.field!r}{detail}.",
            hint="Agreement needs items labelled by several annotators: pull the latest "
            "annotations, or raise the project's overlap.",
        )
    common = {
        "source": table.source,
        "field": table.field,
        "kind": table.kind,
        "level": table.level,
        "multiple": table.multiple,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "label_names": dict(table.label_names),
        "n_dropped_items": table.n_dropped_items,
        "min_annotators": table.min_annotators,
        "project": table.project,
        "batch": table.batch,
        "taxonomy": table.taxonomy,
        "notes": tuple(table.notes),
    }
    if table.kind == "spans":
        spans = span_agreement(table.rows, labels=table.labels)
        f1 = spans.overall.overlap_f1
        sentence = (
            f"Overlap F1 of {table.field!r} spans: {f1:.3f} (exact {spans.overall.exact_f1:.3f})."
            if f1 is not None
            else f"Span F1 is undefined: {spans.undefined_reason or 'no spans were marked'}."
        )
        return AgreementReport(
            summary=None,
            interpretation=Interpretation("not applicable", sentence),
            spans=spans,
            **common,
        )

    resampling = {"ci": ci, "n_resamples": n_resamples, "seed": seed}
    set_labels = table.labels if table.multiple else None
    summary = field_summary(table, **resampling)
    multilabel = None
    per_label: tuple[LabelAgreement, ...] = ()
    if table.multiple:
        multilabel = multilabel_agreement(table.rows, labels=table.labels, **resampling)
        per_label = multilabel.per_label
    elif table.kind != "numeric":
        # Each category as its own yes/no question: which categories annotators share.
        as_sets = [(item, annotator, [value]) for item, annotator, value in table.rows]
        per_label = tuple(label_agreement(as_sets, labels=table.labels))

    annotators = annotator_agreement(
        table.rows + table.gold_rows(),
        gold=table.gold or None,
        order=table.order,
        min_items=min_items,
    )
    confusions = (
        confusion_pairs(table.rows, order=table.order, labels=set_labels)
        if table.kind != "numeric"
        else []
    )

    scores = item_disagreement(
        table.rows, kind=table.kind, multiple=table.multiple, order=table.order
    )
    values_of: dict[Any, list[tuple[Any, Any]]] = defaultdict(list)
    for item, annotator, value in table.rows:
        values_of[item].append((annotator, value))
    # Among equal disagreement, items more people looked at say more.
    worst = sorted(
        (item for item, score in scores.items() if score > 0),
        key=lambda item: (-scores[item], -len(values_of[item]), natural_key(item)),
    )[:n_disagreed]
    posts = texts(worst) if texts is not None and worst else {}
    disagreed = tuple(
        DisagreedItem(
            item=item,
            disagreement=scores[item],
            values=tuple(sorted(values_of[item], key=lambda pair: natural_key(pair[0]))),
            gold=table.gold.get(item),
            post=posts.get(item),
        )
        for item in worst
    )

    trend = []
    batches = items_by_batch(table)
    if len(batches) >= 2:
        for batch in sorted(batches, key=lambda batch: (batch is None, natural_key(batch))):
            rows = batches[batch]
            alpha = krippendorff_alpha(
                rows, table.level, order=table.order, labels=set_labels, **resampling
            )
            name = "no batch" if batch is None else table.batch_names.get(batch, str(batch))
            trend.append(BatchTrend(batch, name, len({row[0] for row in rows}), alpha))

    return AgreementReport(
        summary=summary,
        interpretation=interpret_alpha(summary.krippendorff_alpha),
        per_label=per_label,
        multilabel=multilabel,
        annotators=tuple(sorted(annotators, key=lambda row: natural_key(row.annotator))),
        confusions=tuple(confusions),
        disagreed=disagreed,
        trend=tuple(trend),
        **common,
    )


def file_report(
    path: Path,
    *,
    level: str = "nominal",
    order: Sequence[Any] | None = None,
    min_annotators: int = 2,
    ci: bool = True,
) -> AgreementReport:
    """The report of a long-table file (``item_id, annotator, label``, see
    :func:`annotate.agreement_data.read_table_file`): agreement needs no workspace."""
    table = read_table_file(
        path,
        level=level,
        order=tuple(order) if order is not None else None,
        min_annotators=min_annotators,
    )
    return build_report(table, ci=ci)
