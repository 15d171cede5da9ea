"""Property tests: annotate.agreement agrees to 1e-9 with independent implementations on random
data (krippendorff, statsmodels, scikit-learn, NLTK)."""

from __future__ import annotations

import importlib
import math
import warnings
from collections import Counter
from itertools import combinations

import krippendorff
import numpy as np
import pytest
import sklearn.metrics as sklearn_metrics
import statsmodels.stats.inter_rater as inter_rater
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.agreement import (
    annotator_agreement,
    cohen_kappa_pairs,
    confusion_pairs,
    fleiss_kappa,
    krippendorff_alpha,
)

# importlib: a plain "import nltk.metrics.agreement" resolves to nltk.translate.metrics here.
nltk_agreement = importlib.import_module("nltk.metrics.agreement")
nltk_distance = importlib.import_module("nltk.metrics.distance")

PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TOLERANCE = {"rel": 1e-9, "abs": 1e-9}


@st.composite
def reliability_matrices(draw, *, missing: bool = True, max_values: int = 6):
    """An (annotators, items) matrix of value codes 0..V-1, NaN where not rated.

    Annotators copy the item's true value with a drawn probability, so agreement ranges from
    chance to near-perfect; value frequencies are skewed.
    """
    n_annotators = draw(st.integers(2, 6))
    n_items = draw(st.integers(2, 40))
    n_values = draw(st.integers(2, max_values))
    copy_truth = draw(st.sampled_from([0.0, 0.5, 0.9]))
    missing_rate = draw(st.sampled_from([0.0, 0.2, 0.5])) if missing else 0.0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shares = rng.dirichlet(np.ones(n_values))
    truth = rng.choice(n_values, p=shares, size=n_items)
    noise = rng.choice(n_values, p=shares, size=(n_annotators, n_items))
    matrix = np.where(rng.random(noise.shape) < copy_truth, truth, noise).astype(np.float64)
    matrix[rng.random(matrix.shape) < missing_rate] = np.nan
    return matrix


def to_long(matrix: np.ndarray, values=None) -> list[tuple[int, str, object]]:
    """Long table of a reliability matrix; ``values`` maps codes to the values stored."""
    annotators, items = np.nonzero(~np.isnan(matrix))
    codes = matrix[annotators, items].astype(int)
    stored = codes if values is None else np.asarray(values)[codes]
    return [
        (int(item), f"r{annotator}", stored[row].item())
        for row, (annotator, item) in enumerate(zip(annotators, items, strict=True))
    ]


def quietly(function, *args, **kwargs):
    """The peer's result, NaN when it refuses (undefined cases) or divides by zero."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return float(function(*args, **kwargs))
        except (ValueError, ZeroDivisionError):
            return math.nan


def assert_same(ours, theirs: float) -> None:
    if ours is None:
        assert not math.isfinite(theirs), f"ours undefined, peer {theirs}"
    else:
        assert ours == pytest.approx(theirs, **TOLERANCE)


# -- krippendorff ---------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    matrix=reliability_matrices(),
    level=st.sampled_from(["nominal", "ordinal", "interval", "ratio"]),
    spacing=st.sampled_from(["codes", "uneven"]),
)
def test_alpha_matches_krippendorff(matrix, level, spacing):
    n_values = int(np.nanmax(matrix)) + 1 if np.isfinite(matrix).any() else 1
    # Uneven positive numbers for the values make interval and ratio differ from ordinal.
    numbers = np.arange(n_values, dtype=float)
    if spacing == "uneven":
        numbers = np.cumsum(np.random.default_rng(n_values).uniform(0.1, 5.0, n_values))
    reliability = np.where(np.isnan(matrix), np.nan, numbers[np.nan_to_num(matrix).astype(int)])
    ours = krippendorff_alpha(to_long(matrix, numbers), level).value
    theirs = quietly(krippendorff.alpha, reliability_data=reliability, level_of_measurement=level)
    assert_same(ours, theirs)


# -- statsmodels ----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(matrix=reliability_matrices(missing=False))
def test_fleiss_kappa_matches_statsmodels_on_complete_data(matrix):
    table, _ = inter_rater.aggregate_raters(matrix.T.astype(int))
    theirs = quietly(inter_rater.fleiss_kappa, table, method="fleiss")
    assert_same(fleiss_kappa(to_long(matrix)).value, theirs)


@PROPERTY_SETTINGS
@given(matrix=reliability_matrices(), weights=st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_kappa_pairs_match_statsmodels_and_scikit_learn(matrix, weights):
    data = to_long(matrix)
    categories = sorted({value for _, _, value in data})
    position = {value: index for index, value in enumerate(categories)}
    pairs = {(pair.a, pair.b): pair for pair in cohen_kappa_pairs(data, weights=weights)}
    for a in range(len(matrix)):
        for b in range(a + 1, len(matrix)):
            shared = ~np.isnan(matrix[a]) & ~np.isnan(matrix[b])
            if not shared.any():
                assert (f"r{a}", f"r{b}") not in pairs
                continue
            pair = pairs[(f"r{a}", f"r{b}")]
            first, second = matrix[a, shared].astype(int), matrix[b, shared].astype(int)
            assert pair.n == shared.sum()
            assert pair.percent_agreement == pytest.approx(np.mean(first == second), **TOLERANCE)
            scikit = quietly(
                sklearn_metrics.cohen_kappa_score,
                first,
                second,
                labels=categories,
                weights=weights,
            )
            assert_same(pair.kappa, scikit)
            contingency = np.zeros((len(categories), len(categories)))
            np.add.at(contingency, ([position[v] for v in first], [position[v] for v in second]), 1)
            statsmodels = quietly(
                inter_rater.cohens_kappa, contingency, wt=weights, return_results=False
            )
            assert_same(pair.kappa, statsmodels)


# -- NLTK -----------------------------------------------------------------------------------------


@st.composite
def label_set_tables(draw):
    """A long table of non-empty label sets (NLTK's distances divide by the union's size)."""
    n_annotators = draw(st.integers(2, 5))
    n_items = draw(st.integers(2, 25))
    labels = "abcd"[: draw(st.integers(2, 4))]
    flip = draw(st.sampled_from([0.05, 0.2, 0.5]))
    missing_rate = draw(st.sampled_from([0.0, 0.3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    truth = rng.random((n_items, len(labels))) < 0.4
    rows = []
    for annotator in range(n_annotators):
        chosen = truth ^ (rng.random(truth.shape) < flip)
        for item in range(n_items):
            if rng.random() < missing_rate:
                continue
            members = [label for label, on in zip(labels, chosen[item], strict=True) if on]
            rows.append((item, f"r{annotator}", members or [labels[item % len(labels)]]))
    return rows


@PROPERTY_SETTINGS
@given(data=label_set_tables(), level=st.sampled_from(["masi", "jaccard"]))
def test_set_alpha_matches_nltk(data, level):
    ours = krippendorff_alpha(data, level)
    distance = {
        "masi": nltk_distance.masi_distance,
        "jaccard": nltk_distance.jaccard_distance,
    }[level]
    task = nltk_agreement.AnnotationTask(
        data=[(annotator, item, frozenset(labels)) for item, annotator, labels in data],
        distance=distance,
    )
    theirs = quietly(task.alpha)
    if ours.value is None:
        # NLTK returns 1 when every pairable set is the same, or fails without pairable items.
        assert theirs == 1 or not math.isfinite(theirs)
    else:
        assert ours.value == pytest.approx(theirs, **TOLERANCE)


# -- plain-Python references for the per-annotator table and confusion pairs ---------------------


def _by_item(data):
    items: dict = {}
    for item, annotator, value in data:
        items.setdefault(item, {})[annotator] = value
    return items


@PROPERTY_SETTINGS
@given(matrix=reliability_matrices())
def test_leave_one_out_agreement_matches_a_direct_count(matrix):
    data = to_long(matrix)
    scores: dict = {}
    for ratings in _by_item(data).values():
        for annotator, value in ratings.items():
            others = Counter(v for a, v in ratings.items() if a != annotator)
            if not others:
                continue
            top = max(others.values())
            plurality = [v for v, n in others.items() if n == top]
            score = 1 / len(plurality) if value in plurality else 0.0
            scores.setdefault(annotator, []).append(score)
    rows = {row.annotator: row for row in annotator_agreement(data)}
    for annotator, row in rows.items():
        if annotator in scores:
            assert row.loo_agreement == pytest.approx(np.mean(scores[annotator]), **TOLERANCE)
            assert row.n_pairable == len(scores[annotator])
        else:
            assert row.loo_agreement is None and row.n_pairable == 0


@PROPERTY_SETTINGS
@given(matrix=reliability_matrices())
def test_confusion_pairs_match_a_direct_count(matrix):
    data = to_long(matrix)
    expected: Counter = Counter()
    for ratings in _by_item(data).values():
        for first, second in combinations(sorted(ratings.values()), 2):
            if first != second:
                expected[(first, second)] += 1
    rows = confusion_pairs(data)
    assert {(row.label_a, row.label_b): row.count for row in rows} == dict(expected)
    counts = [row.count for row in rows]
    assert counts == sorted(counts, reverse=True)
    if rows:
        assert sum(row.share for row in rows) == pytest.approx(1.0)
