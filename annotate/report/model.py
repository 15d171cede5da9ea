"""What the agreement report holds: its parts, as :func:`annotate.report.build_report` makes
them and the renderers show them; ``AgreementReport.as_dict()`` is the JSON document."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotate.agreement import (
    AgreementSummary,
    AnnotatorAgreement,
    Coefficient,
    LabelAgreement,
    LabelConfusion,
    MultiLabelAgreement,
    SpanAgreement,
)
from annotate.agreement_data import PostText
from annotate.report.formatting import show_value

__all__ = ["AgreementReport", "BatchTrend", "DisagreedItem", "Interpretation"]

#: Krippendorff's (2004) thresholds for α.
RELIABLE_ALPHA = 0.800
TENTATIVE_ALPHA = 0.667
#: How many label pairs the confusion chart and tables show.
CONFUSIONS_SHOWN = 12


@dataclass(frozen=True)
class Interpretation:
    """Where α falls on Krippendorff's scale: ``band`` is ``reliable``, ``tentative``,
    ``not reliable`` or ``undefined``; ``sentence`` says so for people."""

    band: str
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"band": self.band, "sentence": self.sentence}


@dataclass(frozen=True)
class DisagreedItem:
    """An item annotators disagreed on: its disagreement (0 to 1), every annotator's value,
    the gold answer if it is a gold item, and the post when the store has it."""

    item: Any
    disagreement: float
    values: tuple[tuple[Any, Any], ...]
    gold: Any = None
    post: PostText | None = None

    def as_dict(self, show: Callable[[Any], str]) -> dict[str, Any]:
        return {
            "item": self.item,
            "disagreement": self.disagreement,
            "values": [{"annotator": name, "value": show(value)} for name, value in self.values],
            "gold": None if self.gold is None else show(self.gold),
            "source": self.post.source if self.post else None,
            "post_id": self.post.post_id if self.post else None,
            "text": self.post.text if self.post else None,
        }


@dataclass(frozen=True)
class BatchTrend:
    """Krippendorff's α of one batch's items."""

    batch: Any
    name: str
    n_items: int
    alpha: Coefficient

    def as_dict(self) -> dict[str, Any]:
        ci = self.alpha.ci
        return {
            "batch": self.batch,
            "name": self.name,
            "n_items": self.n_items,
            "krippendorff_alpha": self.alpha.value,
            "ci": None if ci is None else ci.as_list(),
            "undefined_reason": self.alpha.undefined_reason,
        }


@dataclass(frozen=True)
class AgreementReport:
    """Everything the report shows about one field; ``as_dict()`` is the JSON document.

    ``summary`` is None for span fields, which have ``spans`` (pairwise F1) instead.
    """

    source: str
    field: str
    kind: str
    level: str
    multiple: bool
    generated_at: str
    summary: AgreementSummary | None
    interpretation: Interpretation
    per_label: tuple[LabelAgreement, ...] = ()
    multilabel: MultiLabelAgreement | None = None
    spans: SpanAgreement | None = None
    annotators: tuple[AnnotatorAgreement, ...] = ()
    confusions: tuple[LabelConfusion, ...] = ()
    disagreed: tuple[DisagreedItem, ...] = ()
    trend: tuple[BatchTrend, ...] = ()
    label_names: Mapping[Any, str] = field(default_factory=dict)
    n_dropped_items: int = 0
    min_annotators: int = 2
    project: str | None = None
    batch: int | None = None
    taxonomy: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """A short name for files: the project (or file stem), the batch, and the field."""
        base = self.project if self.project else Path(self.source).stem
        batch = f"-batch-{self.batch}" if self.batch is not None else ""
        return f"{base}{batch}-{self.field}"

    @property
    def alpha(self) -> Coefficient | None:
        return self.summary.krippendorff_alpha if self.summary else None

    def show(self, value: Any) -> str:
        """A value as people read it: label names, ``a + b`` for label sets."""
        return show_value(value, self.label_names)

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = self.summary.as_dict() if self.summary else {}
        document.update(
            {
                "source": self.source,
                "project": self.project,
                "batch": self.batch,
                "field": self.field,
                "kind": self.kind,
                "level": self.level,
                "multiple": self.multiple,
                "taxonomy": self.taxonomy,
                "generated_at": self.generated_at,
                "min_annotators": self.min_annotators,
                "n_dropped_items": self.n_dropped_items,
                "interpretation": self.interpretation.as_dict(),
                "per_label": [row.as_dict() for row in self.per_label],
                "annotators": [row.as_dict() for row in self.annotators],
                "confusions": [row.as_dict() for row in self.confusions],
                "most_disagreed": [item.as_dict(self.show) for item in self.disagreed],
                "trend": [row.as_dict() for row in self.trend],
                "notes": list(self.notes),
            }
        )
        if self.multilabel is not None:
            document["multilabel"] = {
                "alpha_masi": self.multilabel.alpha_masi.as_dict(),
                "alpha_jaccard": self.multilabel.alpha_jaccard.as_dict(),
            }
        if self.spans is not None:
            document["spans"] = self.spans.as_dict()
            document.update(
                n_items=self.spans.n_items,
                n_pairable=self.spans.n_pairable,
                n_unpairable=self.spans.n_unpairable,
            )
        return document
