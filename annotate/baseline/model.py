"""The baseline classifier: TF-IDF over character and Latin-script word n-grams, one
logistic regression per label (one-vs-rest), a decision threshold per label.

Character 1–3-grams need no word segmentation, so Chinese and English posts share one
model; word 1–2-grams are added for Latin script only. Features are hashed (no vocabulary
to fit or keep), so a model transforms any number of posts in chunks in flat memory.

>>> texts = ["股市崩盘了", "利好消息", "The bank is collapsing", "Good earnings"] * 5
>>> labels = [["rumour"], ["legit"], ["rumour"], ["legit"]] * 5
>>> model = fit_baseline(texts, labels, labels=["rumour", "legit"])
>>> model.predict_proba(["股市崩盘", "earnings"]).shape
(2, 2)
>>> model.predict(["The bank is collapsing"])
[['rumour']]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotate.errors import InputError

#: Latin-script words (Basic Latin and the Latin-1/Extended-A/B letters): other scripts are
#: left to the character n-grams.
LATIN_WORD = r"(?u)\b[A-Za-zÀ-ÖØ-öø-ɏ][A-Za-zÀ-ÖØ-öø-ɏ0-9'’-]*\b"
CHAR_FEATURES = 2**18
WORD_FEATURES = 2**17
DEFAULT_THRESHOLD = 0.5
#: A soft label below this weight is not worth a row.
_NEGLIGIBLE = 1e-6


def make_vectorizer() -> Any:
    """The features: hashed TF-IDF of character 1–3-grams and Latin word 1–2-grams."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    def hashed(analyzer: str, ngrams: tuple[int, int], size: int, **extra: Any) -> Pipeline:
        return Pipeline(
            [
                (
                    "hash",
                    HashingVectorizer(
                        analyzer=analyzer,
                        ngram_range=ngrams,
                        n_features=size,
                        alternate_sign=False,
                        norm=None,
                        **extra,
                    ),
                ),
                ("tfidf", TfidfTransformer(sublinear_tf=True)),
            ]
        )

    return FeatureUnion(
        [
            ("chars", hashed("char", (1, 3), CHAR_FEATURES)),
            ("words", hashed("word", (1, 2), WORD_FEATURES, token_pattern=LATIN_WORD)),
        ]
    )


@dataclass
class Baseline:
    """A trained model for one field of the taxonomy.

    ``labels`` are taxonomy label ids in the column order of every probability array;
    ``estimators[j]`` is label ``j``'s logistic regression, or None when training saw only
    one outcome for it (then ``constants[j]`` is its probability). ``multiple`` is whether
    the field takes several labels; ``card`` says what the model was trained on and how
    well it did.
    """

    field: str
    labels: list[str]
    thresholds: dict[str, float]
    vectorizer: Any
    estimators: list[Any]
    constants: list[float]
    multiple: bool = True
    card: dict[str, Any] = field(default_factory=dict)
    _weights: Any = field(default=None, repr=False, compare=False)

    @property
    def model_version(self) -> str:
        """Model name and dataset version, as Label Studio predictions carry it
        (``baseline@finmis-1.0.0``; ``baseline@unversioned`` for a model trained in memory)."""
        dataset = self.card.get("dataset") or {}
        if dataset.get("name") and dataset.get("version"):
            return f"baseline@{dataset['name']}-{dataset['version']}"
        return "baseline@unversioned"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One independent probability per label, shape ``(len(texts), len(labels))``."""
        if not len(texts):
            return np.zeros((0, len(self.labels)))
        return self.proba_of_features(self.vectorizer.transform(list(texts)))

    def proba_of_features(self, features: Any) -> np.ndarray:
        """:meth:`predict_proba` of posts already turned into features."""
        coefficients, intercepts, fitted = self._stacked()
        scores = np.asarray(features @ coefficients) + intercepts
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(scores, -500, 500)))
        probabilities[:, ~fitted] = np.asarray(self.constants)[~fitted]
        return probabilities

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """The labels at or above their thresholds; for a single-choice field, the most
        probable label alone."""
        return self.decide(self.predict_proba(texts))

    def decide(self, probabilities: np.ndarray) -> list[list[str]]:
        """:meth:`predict` for probabilities already computed."""
        if not self.multiple:
            return [[self.labels[j]] for j in probabilities.argmax(axis=1)]
        cut = np.array([self.thresholds[label] for label in self.labels])
        chosen = probabilities >= cut
        return [[self.labels[j] for j in np.flatnonzero(row)] for row in chosen]

    def save(self, folder: str | Path) -> Path:
        """Write ``model.skops`` and the card (``card.json``, ``README.md``) into ``folder``."""
        from annotate.baseline.files import save_model

        return save_model(self, folder)

    @classmethod
    def load(cls, folder: str | Path) -> Baseline:
        """The model saved in ``folder``; a file holding types other than the model's own
        is refused unread."""
        from annotate.baseline.files import load_model

        return load_model(folder)

    def _stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every label's coefficients as one ``(n_features, n_labels)`` matrix, intercepts
        ``(n_labels,)`` and which labels have a fitted estimator: one sparse product scores
        all labels."""
        if self._weights is None:
            width = CHAR_FEATURES + WORD_FEATURES
            coefficients = np.zeros((width, len(self.labels)), dtype=np.float64)
            intercepts = np.zeros(len(self.labels))
            fitted = np.zeros(len(self.labels), dtype=bool)
            for j, estimator in enumerate(self.estimators):
                if estimator is not None:
                    coefficients[:, j] = estimator.coef_[0]
                    intercepts[j] = estimator.intercept_[0]
                    fitted[j] = True
            self._weights = (coefficients, intercepts, fitted)
        return self._weights


def label_matrix(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """``(n_posts, n_labels)`` 0/1 targets; a label outside ``labels`` is an error.

    >>> label_matrix([["a"], ["a", "b"], []], ["a", "b"]).tolist()
    [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    """
    column = {label: j for j, label in enumerate(labels)}
    targets = np.zeros((len(label_lists), len(labels)))
    for i, chosen in enumerate(label_lists):
        for label in chosen:
            if label not in column:
                raise InputError(f"Post {i} has label {label!r}, which is not one of {labels}.")
            targets[i, column[label]] = 1.0
    return targets


def fit_baseline(
    texts: Sequence[str],
    label_lists: Sequence[Sequence[str]],
    *,
    labels: Sequence[str],
    field: str = "category",
    sample_weight: Sequence[float] | np.ndarray | None = None,
    validation: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None,
    seed: int = 0,
    label_probs: np.ndarray | None = None,
    multiple: bool = True,
) -> Baseline:
    """Train the baseline in memory on ``texts`` and their ``label_lists``.

    ``label_probs`` (``(n, len(labels))``, e.g. a dataset version's ``label_probs``) makes
    the targets soft: a post counts as a positive of label ``j`` with weight ``p[j]`` and as
    a negative with ``1 - p[j]``. ``sample_weight`` weighs whole posts. Classes are weighted
    to balance each label's positives and negatives. ``validation=(texts, label_lists)``
    tunes each label's threshold to the best F1 there (0.5 where it has no positive).
    ``multiple=False`` for a single-choice field (``predict`` then takes the best label).
    """
    started = time.perf_counter()
    labels = list(labels)
    if len(texts) != len(label_lists):
        raise InputError(f"{len(texts)} texts but {len(label_lists)} label lists.")
    if not len(texts):
        raise InputError("There are no posts to train on.")
    vectorizer = make_vectorizer()
    features = vectorizer.fit_transform(list(texts))
    targets = _targets(label_lists, labels, label_probs)
    weights = _post_weights(sample_weight, len(texts))
    estimators, constants = fit_estimators(features, targets, weights, seed)
    model = Baseline(
        field=field,
        labels=labels,
        thresholds=dict.fromkeys(labels, DEFAULT_THRESHOLD),
        vectorizer=vectorizer,
        estimators=estimators,
        constants=constants,
        multiple=multiple,
    )
    if validation is not None:
        held_texts, held_labels = validation
        if len(held_texts):
            truth = label_matrix(held_labels, labels)
            model.thresholds = tune_thresholds(truth, model.predict_proba(held_texts), labels)
    model.card = {
        "model": "baseline",
        "field": field,
        "labels": labels,
        "multiple": multiple,
        "thresholds": model.thresholds,
        "training": {
            "posts": len(texts),
            "validation_posts": len(validation[0]) if validation is not None else 0,
            "soft_labels": label_probs is not None,
            "seed": seed,
            "seconds": round(time.perf_counter() - started, 3),
        },
        "features": {
            "chars": {"ngrams": [1, 3], "hashed_features": CHAR_FEATURES},
            "words": {"ngrams": [1, 2], "hashed_features": WORD_FEATURES, "script": "Latin"},
            "weighting": "sublinear TF-IDF",
        },
        "classifier": "one-vs-rest logistic regression (liblinear, balanced class weights)",
        "libraries": library_versions(),
    }
    return model


def fit_estimators(
    features: Any, targets: np.ndarray, weights: np.ndarray, seed: int = 0
) -> tuple[list[Any], list[float]]:
    """One logistic regression per column of ``targets`` (soft, in [0, 1]), each post once
    as a positive weighted ``p`` and once as a negative weighted ``1 - p`` (rows of
    negligible weight left out), classes balanced. A label with only one outcome gets no
    estimator but a constant probability."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    estimators: list[Any] = []
    constants: list[float] = []
    for j in range(targets.shape[1]):
        positive = targets[:, j] * weights
        negative = (1.0 - targets[:, j]) * weights
        total_positive, total_negative = positive.sum(), negative.sum()
        constants.append(float(total_positive / max(total_positive + total_negative, 1e-12)))
        if total_positive < _NEGLIGIBLE or total_negative < _NEGLIGIBLE:
            estimators.append(None)
            continue
        take_positive = positive > _NEGLIGIBLE
        take_negative = negative > _NEGLIGIBLE
        rows = sparse.vstack([features[take_positive], features[take_negative]], format="csr")
        outcome = np.r_[np.ones(take_positive.sum()), np.zeros(take_negative.sum())]
        total = total_positive + total_negative
        # Balanced classes: each side carries half of the total weight.
        row_weight = np.r_[
            positive[take_positive] * total / (2 * total_positive),
            negative[take_negative] * total / (2 * total_negative),
        ]
        estimator = LogisticRegression(
            solver="liblinear", dual=True, C=4.0, max_iter=1000, random_state=seed
        )
        estimator.fit(rows, outcome, sample_weight=row_weight)
        estimators.append(estimator)
    return estimators, constants


def tune_thresholds(
    truth: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]
) -> dict[str, float]:
    """Per label, the threshold with the best F1 on held-out ``truth`` (``(n, n_labels)``
    0/1) given ``probabilities``: halfway between the lowest score it takes and the next;
    0.5 for a label with no positive there.

    >>> truth = np.array([[1], [1], [0], [0]])
    >>> tune_thresholds(truth, np.array([[0.9], [0.3], [0.2], [0.1]]), ["a"])
    {'a': 0.25}
    """
    thresholds = {}
    for j, label in enumerate(labels):
        actual = truth[:, j] > 0.5
        if not actual.any():
            thresholds[label] = DEFAULT_THRESHOLD
            continue
        order = np.argsort(-probabilities[:, j], kind="stable")
        scores = probabilities[order, j]
        hits = np.cumsum(actual[order])
        taken = np.arange(1, len(scores) + 1)
        f1 = 2 * hits / (taken + actual.sum())
        # A threshold must take every post with the same score: only the last of a run counts.
        last_of_run = np.r_[scores[1:] != scores[:-1], True]
        best = np.flatnonzero(last_of_run)[np.argmax(f1[last_of_run])]
        # Halfway to the next lower score: a cut at the last positive taken would lose any
        # unseen post scored a hair below it.
        below = scores[best + 1] if best + 1 < len(scores) else 0.0
        thresholds[label] = float((scores[best] + below) / 2)
    return thresholds


def cross_val_proba(
    texts: Sequence[str],
    label_lists: Sequence[Sequence[str]],
    *,
    labels: Sequence[str],
    sample_weight: Sequence[float] | np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    label_probs: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-sample probabilities ``(len(texts), len(labels))``: each post scored by a
    model trained on the other folds (shuffled with ``seed``)."""
    from sklearn.model_selection import KFold

    labels = list(labels)
    if len(texts) < folds:
        raise InputError(f"Cross-validation over {folds} folds needs {folds} posts or more.")
    vectorizer = make_vectorizer()
    features = vectorizer.fit_transform(list(texts))
    targets = _targets(label_lists, labels, label_probs)
    weights = _post_weights(sample_weight, len(texts))
    probabilities = np.zeros((len(texts), len(labels)))
    for train, held in KFold(folds, shuffle=True, random_state=seed).split(features):
        estimators, constants = fit_estimators(
            features[train], targets[train], weights[train], seed
        )
        model = Baseline("", labels, {}, vectorizer, estimators, constants)
        probabilities[held] = model.proba_of_features(features[held])
    return probabilities


def library_versions() -> dict[str, str]:
    """The versions of what trains, saves and reads a model."""
    from importlib.metadata import version

    import annotate

    names = ("scikit-learn", "numpy", "scipy", "skops")
    return {"annotate": annotate.__version__, **{name: version(name) for name in names}}


def _targets(
    label_lists: Sequence[Sequence[str]], labels: list[str], label_probs: np.ndarray | None
) -> np.ndarray:
    if label_probs is None:
        return label_matrix(label_lists, labels)
    soft = np.asarray(label_probs, dtype=np.float64)
    if soft.shape != (len(label_lists), len(labels)):
        raise InputError(
            f"label_probs has shape {soft.shape}; expected {(len(label_lists), len(labels))}."
        )
    return np.clip(soft, 0.0, 1.0)


def _post_weights(sample_weight: Any, count: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(count)
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (count,) or (weights < 0).any():
        raise InputError(f"sample_weight must be {count} weights of 0 or more.")
    return weights
