"""Model-chosen sampling scores (pure numpy): how much labelling a post would teach the model.

Probabilities are one independent probability per label (one-vs-rest, the baseline's
``predict_proba``), shape ``(n_posts, n_labels)``.

- :func:`uncertainty`: the model's doubt about an unlabelled post, in [0, 1], higher first.
  ``margin``: one minus the smallest normalised distance of a label's probability to its
  decision threshold (a post is as doubtful as its closest call); ``entropy``: the mean binary
  entropy of the labels, in bits.
- :func:`activelab`: ActiveLab (Goh & Mueller 2023, "ActiveLab: Active Learning with
  Re-Labeling by Multiple Annotators", ``cleanlab.multiannotator.get_active_learning_scores``)
  for labelled posts (is one more annotation of this post worth it?) and unlabelled ones (is a
  first one?) on one scale, lower first. ActiveLab is defined for one label per post; a
  multi-label field is scored per label as a binary problem (binary relevance, as aggregation
  does) and a post takes its lowest score over the labels: it is as informative as its least
  settled label.

:func:`rank_from_score` turns a score into the integer rank the sampling machinery takes
(lower first), with the post's keyed hash as tie-break so equal scores stay reproducible.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "UNCERTAINTY_METHODS",
    "activelab",
    "annotator_matrix",
    "rank_from_score",
    "uncertainty",
]

UNCERTAINTY_METHODS = ("margin", "entropy")
_SCALE = 2**32  # score resolution in a rank (a score is in [0, 1])


def uncertainty(
    probabilities: np.ndarray,
    thresholds: Sequence[float] | None = None,
    method: str = "margin",
) -> np.ndarray:
    """``(n_posts,)`` doubt in [0, 1], higher: more uncertain.

    >>> p = np.array([[0.9, 0.1], [0.45, 0.2], [0.5, 0.5]])
    >>> uncertainty(p).round(2).tolist()
    [0.2, 0.9, 1.0]
    >>> uncertainty(p, method="entropy").round(2).tolist()
    [0.47, 0.86, 1.0]
    """
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (n_posts, n_labels), not {p.shape}.")
    if method == "entropy":
        q = np.clip(p, 1e-12, 1 - 1e-12)
        bits = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
        return bits.mean(axis=1)
    if method != "margin":
        raise ValueError(f"Unknown uncertainty {method!r}; use margin or entropy.")
    t = np.full(p.shape[1], 0.5) if thresholds is None else np.asarray(thresholds, dtype=float)
    t = np.clip(t, 1e-6, 1 - 1e-6)
    room = np.where(p >= t, 1 - t, t)  # how far the probability could be from the threshold
    distance = np.abs(p - t) / room
    return 1.0 - distance.min(axis=1)


def annotator_matrix(
    annotations: Sequence[Mapping[Any, Any]], label: str, annotators: Sequence[Any]
) -> np.ndarray:
    """``(n_posts, n_annotators)``: 1 where the annotator gave ``label``, 0 where they
    annotated the post without it, NaN where they did not annotate it. ``annotations`` holds
    per post ``{annotator: labels}``."""
    column = {name: index for index, name in enumerate(annotators)}
    matrix = np.full((len(annotations), len(annotators)), np.nan)
    for row, given in enumerate(annotations):
        for name, labels in given.items():
            matrix[row, column[name]] = 1.0 if label in labels else 0.0
    return matrix


def activelab(
    annotations: Sequence[Mapping[Any, Any]],
    probabilities: np.ndarray | None,
    probabilities_unlabelled: np.ndarray | None,
    labels: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """ActiveLab scores ``(labelled, unlabelled)``, lower: label next (see the module).

    ``annotations`` holds per labelled post ``{annotator: set of labels}`` (every post at
    least one annotator); ``probabilities`` their out-of-sample probabilities and
    ``probabilities_unlabelled`` those of unlabelled posts, columns in ``labels`` order.
    """
    from cleanlab.multiannotator import get_active_learning_scores

    n_labelled = len(annotations)
    unlabelled = (
        None
        if probabilities_unlabelled is None or len(probabilities_unlabelled) == 0
        else np.asarray(probabilities_unlabelled, dtype=float)
    )
    if n_labelled and probabilities is None:
        raise ValueError("Labelled posts need their probabilities.")
    labelled_scores = np.ones(n_labelled)
    unlabelled_scores = np.ones(0 if unlabelled is None else len(unlabelled))
    if not n_labelled and unlabelled is None:
        return labelled_scores, unlabelled_scores
    annotators = sorted({name for given in annotations for name in given}, key=str)
    for column, label in enumerate(labels):
        kwargs: dict[str, Any] = {}
        if n_labelled:
            kwargs["labels_multiannotator"] = annotator_matrix(annotations, label, annotators)
            kwargs["pred_probs"] = _binary(np.asarray(probabilities, dtype=float)[:, column])
        if unlabelled is not None:
            kwargs["pred_probs_unlabeled"] = _binary(unlabelled[:, column])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cleanlab warns about annotators with few labels
            scores, scores_unlabelled = get_active_learning_scores(**kwargs)
        if n_labelled:
            labelled_scores = np.minimum(labelled_scores, scores)
        if unlabelled is not None:
            unlabelled_scores = np.minimum(unlabelled_scores, scores_unlabelled)
    return labelled_scores, unlabelled_scores


def _binary(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.column_stack([1 - p, p])


def rank_from_score(score: float, tie_break: int, *, higher_first: bool) -> int:
    """An integer rank, lower first: the score (in [0, 1]) quantised above a 128-bit tie
    break (:func:`annotate.sampling.rank_key` of the post).

    >>> rank_from_score(0.9, 5, higher_first=True) < rank_from_score(0.2, 1, higher_first=True)
    True
    """
    value = min(max(float(score), 0.0), 1.0)
    key = round((1.0 - value if higher_first else value) * _SCALE)
    return (key << 128) | tie_break
