"""Suspected label errors: posts whose aggregated label a text model confidently disagrees with.

Confident learning (Northcutt, Jiang and Chuang, 2021, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 70, 1373–1411) applied to the ``category`` field:

1. Out-of-sample probabilities. A character n-gram TF-IDF (``char_wb``, 1–3 characters: Chinese
   has no spaces between words) feeds one logistic regression per label (binary relevance, as
   the aggregation does), cross-validated so that every post is scored by a model that never
   saw its label. :func:`out_of_fold_probabilities` computes them; probabilities from any other
   out-of-sample model can be passed to :func:`find_label_errors` instead.
2. Per-label thresholds. ``t_j`` is the mean probability of label ``j`` over the posts given
   ``j`` (the paper's average self-confidence per class).
3. Confident prediction. A post's confidently predicted label is the most probable label among
   those whose probability reaches their own threshold (the paper's rule for the confident
   joint). The post is a *suspect* when that label is not among the labels it was given.
4. Ranking. Suspects are ranked by cleanlab's multi-label label quality score
   (``cleanlab.multilabel_classification.rank.get_label_quality_scores``, self-confidence per
   label pooled over the labels), lowest first. Each suspect also carries the normalised
   margin ``p_predicted - p_given`` (``p_given``: the probability of the best-supported given
   label), the paper's "prune by noise rate" order, which ranked them until it was measured
   against cleanlab's.

A post whose given labels are right but incomplete (a missing second label) is not a suspect
under this rule, because its confident prediction is one of its labels; the queue is for labels
that are wrong, not for labels that are missing.

The core functions (:func:`out_of_fold_probabilities`, :func:`find_label_errors`,
:func:`suspected_label_errors`) take data and return data; :func:`project_review_queue` reads a
project's aggregated labels and post texts from the store and scores them with the trained
baseline's cross-validated probabilities (:func:`annotate.baseline.cross_val_proba`), the
model an ML engineer trains on the published version.

Which posts, and in which order: ``benchmarks/label_issues.py`` runs this rule beside
``cleanlab.filter.find_label_issues`` (multi-label, prune by noise rate) and CROWDLAB's
consensus quality scores on the same out-of-sample probabilities, with simulated annotators
of known accuracy and known true labels (numbers in ``benchmarks/RESULTS.md``). The rule here
picks the suspects with a better F1 against the true label errors (0.80 against cleanlab's
0.78: precision 0.80 against 0.66, recall 0.79 against 0.95), so it stays; cleanlab's label
quality score orders them as well as or better than the margin (precision of the top 50:
0.967 against 0.953; top 100: equal), so it orders them. CROWDLAB ranked worse than both
(0.77 in the top 50).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from annotate.aggregation import Aggregation, Reason, ReasonKind
from annotate.baseline import cross_val_proba
from annotate.errors import InputError
from annotate.post_labels import CATEGORY, project_labels
from annotate.store import Post, Store
from annotate.store.queries import get_project, tasks_with_posts

if TYPE_CHECKING:  # only sending to adjudication needs Label Studio
    from annotate.adjudication import AdjudicationReport
    from annotate.labelstudio import LabelStudioConnection

__all__ = [
    "ReviewItem",
    "ReviewQueue",
    "Suspect",
    "find_label_errors",
    "label_thresholds",
    "out_of_fold_probabilities",
    "project_review_queue",
    "suspected_label_errors",
]

#: Character n-grams: single Chinese characters are often words, three cover most word pairs.
NGRAM_RANGE = (1, 3)
#: Weak regularisation: a stronger penalty flattens probabilities towards each label's base
#: rate and hides confident disagreement (5% flipped demo labels, precision of the top 75:
#: about 0.75 at C=10, 0.80–0.84 at C=100, no better at C=1000).
INVERSE_REGULARISATION = 100.0
#: Fewer labelled posts than this give thresholds too noisy to act on.
MIN_POSTS = 20

Labels = Sequence[frozenset[str] | set[str] | Sequence[str] | str]


@dataclass(frozen=True)
class Suspect:
    """A post whose given labels the model confidently disagrees with.

    ``post_pk`` is the post's key in the store (its position in the input when no keys were
    given); ``predicted`` is the confidently predicted label, ``p_predicted`` its out-of-sample
    probability; ``p_given`` is the probability of the best-supported given label; ``score`` is
    ``p_predicted - p_given`` (higher: more likely a label error); ``label_quality`` is
    cleanlab's label quality score of the given labels (lower: more likely an error), which
    orders the suspects.
    """

    post_pk: int
    given: tuple[str, ...]
    predicted: str
    p_given: float
    p_predicted: float
    score: float
    label_quality: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReviewItem(Suspect):
    """A suspect of a project, with what a reviewer needs to look at it."""

    text: str = ""
    post_id: str = ""
    adjudicated: bool = False
    n_annotators: int = 0


@dataclass
class ReviewQueue:
    """The suspects of a project, best first; ``suspects`` counts them all, ``items`` may be a
    top slice; ``method`` is the aggregation's value."""

    project: str
    method: str
    posts_checked: int
    suspects: int
    thresholds: dict[str, float]
    items: list[ReviewItem] = field(default_factory=list)
    #: What sending the items to adjudication did, when they were sent.
    adjudication: AdjudicationReport | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["adjudication"] = self.adjudication.as_dict() if self.adjudication else None
        return data


def send_queue_to_adjudication(
    store: Store, connection: LabelStudioConnection, queue: ReviewQueue
) -> AdjudicationReport:
    """Send the queue's posts to the project's adjudication project, each with the model's
    case against its label for the expert to read."""
    from annotate.adjudication import send_to_adjudication

    return send_to_adjudication(
        store,
        connection,
        queue.project,
        [item.post_pk for item in queue.items],
        reason=Reason(ReasonKind.SUSPECTED_ERROR, "suspected label error"),
        reasons={item.post_pk: [_why(item)] for item in queue.items},
    )


def _why(item: ReviewItem) -> Reason:
    """The reason an expert sees on the adjudication task."""
    return Reason(
        ReasonKind.SUSPECTED_ERROR,
        f"suspected label error: a text model says {item.predicted} "
        f"(p={item.p_predicted:.2f}) rather than {', '.join(item.given)} (p={item.p_given:.2f})",
    )


def _label_sets(labels: Labels, label_ids: Sequence[str]) -> list[frozenset[str]]:
    known = set(label_ids)
    sets = []
    for position, value in enumerate(labels):
        labelled = frozenset([value]) if isinstance(value, str) else frozenset(value)
        if not labelled:
            raise ValueError(f"Post {position} has no label; leave unlabelled posts out.")
        if unknown := labelled - known:
            raise ValueError(f"Post {position} has labels outside label_ids: {sorted(unknown)}.")
        sets.append(labelled)
    return sets


def _indicator(sets: list[frozenset[str]], label_ids: Sequence[str]) -> np.ndarray:
    """``(n_posts, n_labels)`` 0/1 matrix of the given labels."""
    column = {label: index for index, label in enumerate(label_ids)}
    given = np.zeros((len(sets), len(label_ids)), dtype=np.int8)
    for row, labelled in enumerate(sets):
        given[row, [column[label] for label in labelled]] = 1
    return given


def _fold_keys(sets: list[frozenset[str]], folds: int) -> np.ndarray:
    """A stratification key per post: its label set, with sets rarer than ``folds`` pooled.

    StratifiedKFold wants every key at least ``folds`` times; rare label combinations are
    pooled, and the pool joins the most common set when it is itself too small.
    """
    keys = ["|".join(sorted(labelled)) for labelled in sets]
    counts = Counter(keys)
    rare = {key for key, count in counts.items() if count < folds}
    pooled_size = sum(counts[key] for key in rare)
    pool = "<rare>" if pooled_size >= folds else counts.most_common(1)[0][0]
    return np.array([pool if key in rare else key for key in keys])


def out_of_fold_probabilities(
    texts: Sequence[str],
    labels: Labels,
    label_ids: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """``(n_posts, n_labels)`` probability of each label for each post, from a model trained on
    the other folds (character TF-IDF + one logistic regression per label).

    ``labels`` holds one label set (or one label) per post, in ``label_ids``. The TF-IDF
    vocabulary is fitted on all texts at once: it never sees a label, so nothing leaks, and
    five vocabularies would cost five times as much for the same features.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.multiclass import OneVsRestClassifier

    sets = _label_sets(labels, label_ids)
    if len(texts) != len(sets):
        raise ValueError(f"{len(texts)} texts but {len(sets)} label sets.")
    if len(sets) < max(folds, 2):
        raise ValueError(f"Cross-validation needs at least {max(folds, 2)} posts.")
    given = _indicator(sets, label_ids)
    features = TfidfVectorizer(
        analyzer="char_wb", ngram_range=NGRAM_RANGE, sublinear_tf=True, min_df=2
    ).fit_transform(texts)
    probabilities = np.zeros(given.shape, dtype=float)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(features, _fold_keys(sets, folds)):
        model = OneVsRestClassifier(
            # Balanced weights keep rare labels from being swamped by "legitimate"; liblinear
            # is an order of magnitude faster than lbfgs on these sparse binary problems.
            LogisticRegression(
                C=INVERSE_REGULARISATION,
                class_weight="balanced",
                solver="liblinear",
                random_state=seed,  # liblinear shuffles its coordinates
            )
        )
        with warnings.catch_warnings():
            # A label absent from a training fold gets a constant zero; that is the right
            # answer, and the warning says nothing the caller can act on.
            warnings.filterwarnings(
                "ignore",
                message="Label .* is present in all training examples",
                category=UserWarning,
            )
            model.fit(features[train], given[train])
        probabilities[test] = model.predict_proba(features[test])
    return probabilities


def label_thresholds(given: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``t_j``, shape ``(n_labels,)``: mean probability of label ``j`` over the posts given
    ``j``; infinite for a label nobody was given (it can never be confidently predicted)."""
    counts = given.sum(axis=0)
    totals = (probabilities * given).sum(axis=0)
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.inf)


def find_label_errors(
    labels: Labels,
    probabilities: np.ndarray,
    label_ids: Sequence[str],
    *,
    post_pks: Sequence[int] | None = None,
) -> list[Suspect]:
    """The suspects among the posts, best first (see the module docstring for the rule).

    ``probabilities`` has shape ``(n_posts, n_labels)`` and must be out-of-sample: a model's
    probabilities on the posts it was trained on agree with their labels, errors included.
    """
    sets = _label_sets(labels, label_ids)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape != (len(sets), len(label_ids)):
        raise ValueError(
            f"probabilities has shape {probabilities.shape}, expected "
            f"{(len(sets), len(label_ids))}."
        )
    keys = list(post_pks) if post_pks is not None else list(range(len(sets)))
    if len(keys) != len(sets):
        raise ValueError(f"{len(keys)} post keys but {len(sets)} label sets.")
    given = _indicator(sets, label_ids).astype(bool)
    thresholds = label_thresholds(given, probabilities)
    confident = np.where(probabilities >= thresholds, probabilities, -np.inf)
    rows = np.arange(len(sets))
    predicted = confident.argmax(axis=1)
    p_predicted = probabilities[rows, predicted]
    p_given = np.where(given, probabilities, -np.inf).max(axis=1)
    is_suspect = np.isfinite(confident.max(axis=1)) & ~given[rows, predicted]
    quality = _label_quality(sets, probabilities, label_ids)
    suspects = [
        Suspect(
            post_pk=keys[row],
            given=tuple(label for label in label_ids if label in sets[row]),
            predicted=label_ids[predicted[row]],
            p_given=float(p_given[row]),
            p_predicted=float(p_predicted[row]),
            score=float(p_predicted[row] - p_given[row]),
            label_quality=float(quality[row]),
        )
        for row in np.flatnonzero(is_suspect)
    ]
    # Stable on the input order for equal scores, so the queue is reproducible.
    return sorted(suspects, key=lambda suspect: suspect.label_quality)


def _label_quality(
    sets: list[frozenset[str]], probabilities: np.ndarray, label_ids: Sequence[str]
) -> np.ndarray:
    """cleanlab's multi-label label quality score of each post's given labels, ``(n_posts,)``
    in [0, 1], lower: more likely wrong."""
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    column = {label: index for index, label in enumerate(label_ids)}
    indices = [sorted(column[label] for label in labelled) for labelled in sets]
    clipped = np.clip(probabilities, 0.0, 1.0)
    return np.asarray(get_label_quality_scores(indices, clipped), dtype=float)


def suspected_label_errors(
    texts: Sequence[str],
    labels: Labels,
    label_ids: Sequence[str],
    *,
    post_pks: Sequence[int] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> list[Suspect]:
    """Posts whose labels a cross-validated text model confidently disagrees with, best first.

    ``labels`` holds each post's aggregated label set (or single label). Same inputs and seed,
    same result.
    """
    probabilities = out_of_fold_probabilities(texts, labels, label_ids, folds=folds, seed=seed)
    return find_label_errors(labels, probabilities, label_ids, post_pks=post_pks)


def project_review_queue(
    store: Store,
    project_name: str,
    *,
    top: int | None = 50,
    aggregation: Aggregation | str = Aggregation.DAWID_SKENE,
    folds: int = 5,
    seed: int = 0,
) -> ReviewQueue:
    """The project's suspected label errors, best first, with their texts (``top`` of them;
    all when ``top`` is None).

    Labels are the project's aggregated ``category`` labels (adjudicated decisions included);
    posts without a label are left out. Probabilities are the trained baseline's, out of
    sample (:func:`annotate.baseline.cross_val_proba`). Adjudicated posts stay in the queue,
    marked, because an expert's decision the model disputes is still worth a second look.
    """
    aggregated = project_labels(store, project_name, aggregation=aggregation)
    label_ids = list(aggregated.taxonomy.field(CATEGORY).label_ids)
    labelled = {pk: item for pk, item in aggregated.items.items() if item.labels}
    if len(labelled) < MIN_POSTS:
        raise InputError(
            f"Project {project_name!r} has {len(labelled)} posts with aggregated labels; "
            f"the review queue needs at least {MIN_POSTS}.",
            hint="Pull more annotations first ('annotate pull').",
        )
    if len({label for item in labelled.values() for label in item.labels}) < 2:
        raise InputError(
            f"Every labelled post of {project_name!r} has the same label; "
            "there is nothing to disagree with."
        )
    known = set(label_ids)
    for pk, item in labelled.items():
        if unknown := set(item.labels) - known:
            raise InputError(
                f"Post {pk} of {project_name!r} has labels the project's taxonomy does not "
                f"define: {', '.join(sorted(unknown))}."
            )
    post_pks = sorted(labelled)
    with store.session() as session:
        # Read through the project's tasks rather than an IN list of every labelled post,
        # which SQLite caps at a few thousand parameters on older builds.
        project_id = get_project(session, project_name).id
        posts = {
            pk: (text, post_id)
            for pk, text, post_id in session.exec(
                tasks_with_posts(project_id, Post.id, Post.text, Post.post_id)
            )
            if pk in labelled
        }
    given = [labelled[pk].labels for pk in post_pks]
    probabilities = cross_val_proba(
        [posts[pk][0] for pk in post_pks],
        [sorted(labels) for labels in given],
        labels=label_ids,
        folds=folds,
        seed=seed,
    )
    suspects = find_label_errors(given, probabilities, label_ids, post_pks=post_pks)
    thresholds = label_thresholds(
        _indicator(_label_sets(given, label_ids), label_ids), probabilities
    )
    chosen = suspects if top is None else suspects[:top]
    items = [
        ReviewItem(
            **asdict(suspect),
            text=posts[suspect.post_pk][0],
            post_id=posts[suspect.post_pk][1],
            adjudicated=labelled[suspect.post_pk].adjudicated,
            n_annotators=labelled[suspect.post_pk].n_annotators,
        )
        for suspect in chosen
    ]
    return ReviewQueue(
        project=project_name,
        method=aggregated.aggregation.value,
        posts_checked=len(post_pks),
        suspects=len(suspects),
        thresholds={
            label: round(float(value), 4)
            for label, value in zip(label_ids, thresholds, strict=True)
            if np.isfinite(value)
        },
        items=items,
    )
