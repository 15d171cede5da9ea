"""How well a model does on a split: per label precision, recall, F1 and support, micro and
macro averages, the majority-class baseline beside them and the annotators' own agreement as
a ceiling to read them against. Pure: labels and probabilities in, an :class:`Evaluation` out.

A label with no post in the split is *absent*: its scores are undefined (None), not 0, and
the macro average is over the labels present.

>>> truth = [["a"], ["a"], ["b"], ["b"]]
>>> scores = score_labels(truth, [["a"], ["b"], ["b"], ["b"]], ["a", "b", "c"])
>>> [(row.label, row.f1, row.support) for row in scores]
[('a', 0.667, 2), ('b', 0.8, 2), ('c', None, 0)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from annotate.baseline.model import label_matrix


@dataclass(frozen=True)
class LabelScore:
    """One label on one split; ``absent`` when no post of the split has it (scores None)."""

    label: str
    support: int
    predicted: int
    precision: float | None
    recall: float | None
    f1: float | None
    absent: bool = False


@dataclass(frozen=True)
class Averages:
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True)
class Ceiling:
    """The annotators' agreement with each other per label on the same posts: positive
    specific agreement (the F1 of one annotator against another, pooled over pairs) and
    Krippendorff's α; ``source`` says where the annotations came from."""

    source: str
    per_label: dict[str, dict[str, float | None]]
    macro_f1: float | None


@dataclass
class Evaluation:
    """A model's scores on one split of one dataset version."""

    model_version: str
    dataset: str
    split: str
    posts: int
    per_label: list[LabelScore]
    micro: Averages
    macro: Averages
    majority: dict[str, Any]
    ceiling: Ceiling | None
    absent: list[str] = field(default_factory=list)
    report: dict[str, str] = field(default_factory=dict)
    #: Per label, ``(precision, recall)`` arrays for the plot (not in ``as_dict``).
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    #: The posts the model got most wrong, worst first (not in ``as_dict``).
    errors: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "dataset": self.dataset,
            "split": self.split,
            "posts": self.posts,
            "per_label": [asdict(row) for row in self.per_label],
            "micro": asdict(self.micro),
            "macro": asdict(self.macro),
            "macro_over": "labels present in the split",
            "absent": self.absent,
            "majority": self.majority,
            "ceiling": asdict(self.ceiling) if self.ceiling else None,
            "report": self.report,
        }


def score_labels(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], labels: Sequence[str]
) -> list[LabelScore]:
    """Per label scores (rounded to 3 places) of ``predicted`` label lists against ``truth``."""
    actual = label_matrix(truth, labels) > 0
    chosen = label_matrix(predicted, labels) > 0
    rows = []
    for j, label in enumerate(labels):
        support, taken = int(actual[:, j].sum()), int(chosen[:, j].sum())
        if support == 0:
            rows.append(LabelScore(label, 0, taken, None, None, None, absent=True))
            continue
        hits = int((actual[:, j] & chosen[:, j]).sum())
        precision = hits / taken if taken else 0.0
        recall = hits / support
        f1 = 2 * hits / (taken + support)
        rows.append(
            LabelScore(label, support, taken, _round(precision), _round(recall), _round(f1))
        )
    return rows


def averages(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], labels: Sequence[str]
) -> tuple[Averages, Averages]:
    """Micro (pooled over labels present) and macro (mean over labels present) averages.

    >>> micro, macro = averages([["a"], ["b"]], [["a"], ["a"]], ["a", "b", "c"])
    >>> micro.f1, macro.f1
    (0.5, 0.333)
    """
    actual = label_matrix(truth, labels) > 0
    chosen = label_matrix(predicted, labels) > 0
    present = actual.any(axis=0)
    if not present.any():
        return Averages(None, None, None), Averages(None, None, None)
    actual, chosen = actual[:, present], chosen[:, present]
    hits = (actual & chosen).sum(axis=0)
    support, taken = actual.sum(axis=0), chosen.sum(axis=0)
    micro = Averages(
        _round(hits.sum() / taken.sum()) if taken.sum() else 0.0,
        _round(hits.sum() / support.sum()),
        _round(2 * hits.sum() / (taken.sum() + support.sum())),
    )
    precision = np.divide(hits, taken, out=np.zeros(len(hits)), where=taken > 0)
    macro = Averages(
        _round(precision.mean()),
        _round((hits / support).mean()),
        _round((2 * hits / (taken + support)).mean()),
    )
    return micro, macro


def majority_baseline(
    train_labels: Sequence[Sequence[str]],
    truth: Sequence[Sequence[str]],
    labels: Sequence[str],
) -> dict[str, Any]:
    """What predicting the commonest training label for every post scores on ``truth``."""
    counts = Counter(label for chosen in train_labels for label in chosen)
    if not counts:
        return {"label": None, "micro_f1": None, "macro_f1": None}
    commonest = max(labels, key=lambda label: (counts[label], -labels.index(label)))
    micro, macro = averages(truth, [[commonest]] * len(truth), list(labels))
    return {"label": commonest, "micro_f1": micro.f1, "macro_f1": macro.f1}


def annotator_ceiling(
    post_ids: Sequence[str],
    annotations: Sequence[Sequence[Sequence[str]]],
    labels: Sequence[str],
    source: str,
) -> Ceiling | None:
    """Per label, how well the annotators agreed with each other on these posts
    (``annotations[i]`` is post ``i``'s label lists, one per annotator); None without any
    post of two or more annotations."""
    from annotate.agreement import label_agreement

    rows = [
        (post_id, number, list(chosen))
        for post_id, given in zip(post_ids, annotations, strict=True)
        if len(given) >= 2
        for number, chosen in enumerate(given)
    ]
    if not rows:
        return None
    per_label = {}
    for row in label_agreement(rows, labels=list(labels)):
        per_label[str(row.label)] = {
            "f1": _round(row.positive_agreement),
            "alpha": _round(row.alpha.value),
        }
    defined = [values["f1"] for values in per_label.values() if values["f1"] is not None]
    return Ceiling(source, per_label, _round(float(np.mean(defined))) if defined else None)


def precision_recall_curves(
    truth: Sequence[Sequence[str]], probabilities: np.ndarray, labels: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per label present, the precision–recall curve of its probability."""
    from sklearn.metrics import precision_recall_curve

    actual = label_matrix(truth, labels)
    curves = {}
    for j, label in enumerate(labels):
        if actual[:, j].any():
            precision, recall, _ = precision_recall_curve(actual[:, j], probabilities[:, j])
            curves[label] = (precision, recall)
    return curves


def worst_errors(
    post_ids: Sequence[str],
    texts: Sequence[str],
    truth: Sequence[Sequence[str]],
    probabilities: np.ndarray,
    labels: Sequence[str],
    count: int = 20,
) -> list[dict[str, Any]]:
    """The posts whose true labels the model found least likely (or whose absent labels it
    found most likely), worst first: the largest ``|truth - probability|`` over labels."""
    actual = label_matrix(truth, labels)
    miss = np.abs(actual - probabilities)
    worst = miss.max(axis=1)
    order = np.argsort(-worst, kind="stable")[:count]
    return [
        {
            "post_id": post_ids[i],
            "text": texts[i],
            "labels": list(truth[i]),
            "label": labels[int(miss[i].argmax())],
            "probability": _round(float(probabilities[i, int(miss[i].argmax())])),
            "miss": _round(float(worst[i])),
        }
        for i in order
    ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)
