"""Model-chosen sampling scores (pure numpy): how much labelling a post would teach the model.

Probabilities are one independent probability per label (one-vs-rest, the baseline's
``predict_proba``), shape ``(n_posts, n_labels)``. Both scores read them as one distribution
over the labels (each row divided by its sum): a post's labels compete, as they do for the
annotators of a field where most posts have one label (96% of the demo corpus).

- :func:`uncertainty`: the model's doubt about an unlabelled post, in [0, 1], higher first.
  ``margin``: one minus the gap between the two most probable labels; ``entropy``: the
  entropy of the distribution over labels, divided by its maximum.
- :func:`activelab`: ActiveLab (Goh & Mueller 2023, "ActiveLab: Active Learning with
  Re-Labeling by Multiple Annotators", ``cleanlab.multiannotator.get_active_learning_scores``)
  for labelled posts (is one more annotation of this post worth it?) and unlabelled ones (is a
  first one?) on one scale, lower first. ActiveLab takes one label per annotation: an answer
  with several labels counts as its first label in taxonomy order.

Measured on the demo corpus (``benchmarks/active_learning.py``): scoring each label as its own
binary problem (the distance of each probability to its threshold, or ActiveLab per label with
a post taking its lowest score) piles the batch onto the two most frequent labels and learns
far slower than random sampling; the distribution view above does not.

:func:`rank_from_score` turns a score into the integer rank the sampling machinery takes
(lower first), with the post's keyed hash as tie-break so equal scores stay reproducible.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from annotate.sampling.ranking import RANK_BITS

__all__ = [
    "UNCERTAINTY_METHODS",
    "activelab",
    "annotator_matrix",
    "distribution",
    "rank_from_score",
    "uncertainty",
]

UNCERTAINTY_METHODS = ("margin", "entropy")
_SCALE = 2**32  # score resolution in a rank (a score is in [0, 1])
_TIE_BITS = max(RANK_BITS.values())  # the widest rank_key


def distribution(probabilities: np.ndarray) -> np.ndarray:
    """Each row of one-vs-rest probabilities divided by its sum (uniform where all are 0)."""
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be (n_posts, n_labels >= 2), not {p.shape}.")
    totals = p.sum(axis=1, keepdims=True)
    return np.where(totals > 0, p / np.where(totals > 0, totals, 1), 1.0 / p.shape[1])


def uncertainty(probabilities: np.ndarray, method: str = "margin") -> np.ndarray:
    """``(n_posts,)`` doubt in [0, 1], higher: more uncertain.

    >>> p = np.array([[0.9, 0.1, 0.0], [0.45, 0.4, 0.15], [0.5, 0.5, 0.5]])
    >>> uncertainty(p).round(2).tolist()
    [0.2, 0.95, 1.0]
    >>> uncertainty(p, method="entropy").round(2).tolist()
    [0.3, 0.92, 1.0]
    """
    q = distribution(probabilities)
    if method == "entropy":
        logs = np.log(np.where(q > 0, q, 1.0))
        return -(q * logs).sum(axis=1) / np.log(q.shape[1])
    if method != "margin":
        raise ValueError(f"Unknown uncertainty {method!r}; use margin or entropy.")
    top = np.sort(q, axis=1)[:, -2:]
    return 1.0 - (top[:, 1] - top[:, 0])


def annotator_matrix(
    annotations: Sequence[Mapping[Any, Any]], labels: Sequence[str], annotators: Sequence[Any]
) -> np.ndarray:
    """``(n_posts, n_annotators)``: the column in ``labels`` of each annotator's answer (its
    first label in ``labels`` order), NaN where they did not annotate the post or gave no
    label. ``annotations`` holds per post ``{annotator: labels}``."""
    column = {name: index for index, name in enumerate(annotators)}
    position = {label: index for index, label in enumerate(labels)}
    matrix = np.full((len(annotations), len(annotators)), np.nan)
    for row, given in enumerate(annotations):
        for name, answer in given.items():
            known = [position[label] for label in answer if label in position]
            if known:
                matrix[row, column[name]] = min(known)
    return matrix


def activelab(
    annotations: Sequence[Mapping[Any, Any]],
    probabilities: np.ndarray | None,
    probabilities_unlabelled: np.ndarray | None,
    labels: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """ActiveLab scores ``(labelled, unlabelled)`` in [0, 1], lower: label next.

    ``annotations`` holds per labelled post ``{annotator: set of labels}``; ``probabilities``
    their out-of-sample probabilities and ``probabilities_unlabelled`` those of unlabelled
    posts, columns in ``labels`` order. A labelled post without any usable answer scores 1.
    """
    from cleanlab.multiannotator import get_active_learning_scores

    annotators = sorted({name for given in annotations for name in given}, key=str)
    matrix = annotator_matrix(annotations, labels, annotators)
    usable = ~np.isnan(matrix).all(axis=1) if len(annotations) else np.zeros(0, dtype=bool)
    labelled_scores = np.ones(len(annotations))
    unlabelled = None
    if probabilities_unlabelled is not None and len(probabilities_unlabelled):
        unlabelled = distribution(probabilities_unlabelled)
    kwargs: dict[str, Any] = {}
    if usable.any():
        if probabilities is None:
            raise ValueError("Labelled posts need their probabilities.")
        kept = matrix[usable][:, ~np.isnan(matrix[usable]).all(axis=0)]
        kwargs["labels_multiannotator"] = kept
        kwargs["pred_probs"] = distribution(np.asarray(probabilities)[usable])
    if unlabelled is not None:
        kwargs["pred_probs_unlabeled"] = unlabelled
    if not kwargs:
        return labelled_scores, np.ones(0)
    # cleanlab warns about annotators with few labels, and prints notes about consensus
    # labels to stdout, where they would corrupt a command's --json output.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        scores, scores_unlabelled = get_active_learning_scores(**kwargs)
    labelled_scores[usable] = scores
    return labelled_scores, (np.ones(0) if unlabelled is None else scores_unlabelled)


def rank_from_score(score: float, tie_break: int, *, higher_first: bool) -> int:
    """An integer rank, lower first: the score (in [0, 1]) quantised above the tie break
    (:func:`annotate.sampling.rank_key` of the post: 128 bits in rank version 1, 256 in
    version 2), so that the score decides and the hash only breaks ties.

    >>> rank_from_score(0.9, 5, higher_first=True) < rank_from_score(0.2, 1, higher_first=True)
    True
    >>> widest = 2**256 - 1  # a version 2 tie break
    >>> rank_from_score(0.9, widest, higher_first=True) < rank_from_score(0.2, 0, higher_first=True)
    True
    """
    value = min(max(float(score), 0.0), 1.0)
    key = round((1.0 - value if higher_first else value) * _SCALE)
    return (key << _TIE_BITS) | tie_break
