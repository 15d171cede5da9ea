"""Majority vote and Dawid–Skene on hand examples and on simulated annotators.

The simulations draw each annotation from a known confusion matrix with a fixed seed, so
accuracies against the true labels are exact, repeatable numbers; margins asserted here are
set well below the measured ones (stated next to each assertion).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from annotate.aggregation import (
    Aggregation,
    AggregationInputError,
    DawidSkene,
    GoldScore,
    MajorityVote,
    SoftLabels,
)
from annotate.aggregation import dawid_skene as dawid_skene_module
from annotate.errors import InputError

N_CLASSES = 9
LAZY_LABEL = 7  # the label the lazy simulated annotator falls back to ("legitimate")


def unequal_confusion_matrices() -> np.ndarray:
    """``(5, 9, 9)``, rows the true class: two good annotators (accuracy 0.9 and 0.8), one lazy
    (half right, otherwise mostly label 7), one who confuses each class with the next, and
    one near-random (0.3)."""
    eye = np.eye(N_CLASSES)
    off_diagonal = 1 - eye

    def uniform_errors(accuracy: float) -> np.ndarray:
        return accuracy * eye + (1 - accuracy) / (N_CLASSES - 1) * off_diagonal

    lazy = 0.5 * eye + 0.1 / N_CLASSES
    lazy[:, LAZY_LABEL] += 0.4
    lazy /= lazy.sum(axis=1, keepdims=True)
    next_class = np.roll(eye, 1, axis=1)
    shifted = 0.45 * eye + 0.45 * next_class + 0.1 / (N_CLASSES - 2) * (off_diagonal - next_class)
    return np.stack([uniform_errors(0.9), uniform_errors(0.8), lazy, shifted, uniform_errors(0.3)])


def simulate(
    confusions: np.ndarray, n_items: int, per_item: int, seed: int
) -> tuple[list[tuple[int, str, int]], np.ndarray]:
    """``(rows, truth)``: each item labelled by ``per_item`` distinct random annotators.

    Annotators are named ``a0``, ``a1``, ...; items and labels are ints, classes uniform.
    """
    rng = np.random.default_rng(seed)
    n_annotators, n_classes, _ = confusions.shape
    truth = rng.integers(0, n_classes, size=n_items)
    annotator = np.argsort(rng.random((n_items, n_annotators)), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    cumulative = confusions[annotator, truth[item]].cumsum(axis=1)
    given = np.minimum((rng.random(len(item))[:, None] > cumulative).sum(axis=1), n_classes - 1)
    rows = list(zip(item.tolist(), [f"a{a}" for a in annotator], given.tolist(), strict=True))
    return rows, truth


def accuracy(labels: dict, truth: np.ndarray, items: range | None = None) -> float:
    items = range(len(truth)) if items is None else items
    return float(np.mean([labels[item] == truth[item] for item in items]))


# -- majority vote ----------------------------------------------------------------------------

TIED_TABLE = [
    ("p1", "ann", "x"),
    ("p1", "bo", "x"),
    ("p1", "cy", "y"),
    ("p2", "ann", "x"),
    ("p2", "bo", "y"),
    ("p3", "ann", "z"),
]


def test_majority_vote_reports_ties_instead_of_breaking_them():
    vote = MajorityVote()
    labels = vote.fit_predict(TIED_TABLE)
    assert labels == {"p1": "x", "p2": None, "p3": "z"}
    assert vote.ties_ == frozenset({"p2"})
    assert vote.classes_.tolist() == ["x", "y", "z"]
    np.testing.assert_array_equal(vote.votes_, [[2, 1, 0], [1, 1, 0], [0, 0, 1]])


def test_majority_vote_probabilities_are_vote_shares():
    soft = MajorityVote().fit_predict_proba(TIED_TABLE)
    assert isinstance(soft, SoftLabels)
    assert soft.items.tolist() == ["p1", "p2", "p3"]
    np.testing.assert_allclose(soft.probas, [[2 / 3, 1 / 3, 0], [0.5, 0.5, 0], [0, 0, 1]])
    assert soft.to_dict()["p2"] == {"x": 0.5, "y": 0.5, "z": 0.0}


def test_majority_vote_breaks_ties_only_when_asked_and_still_lists_them():
    first = MajorityVote(tie_break="first")
    assert first.fit_predict(TIED_TABLE)["p2"] == "x"
    assert first.ties_ == frozenset({"p2"})
    # Many tied items: a seeded random break is reproducible and uses both tied labels.
    rows = [
        (item, annotator, label) for item in range(200) for annotator, label in [(0, "x"), (1, "y")]
    ]
    draws = [MajorityVote(tie_break="random", seed=7).fit_predict(rows) for _ in range(2)]
    assert draws[0] == draws[1]
    assert set(draws[0].values()) == {"x", "y"}
    with pytest.raises(AggregationInputError, match="tie_break"):
        MajorityVote(tie_break="last")


# -- Dawid–Skene on simulated annotators --------------------------------------------------------


@pytest.fixture(scope="module")
def unequal_annotators():
    """3,000 items, each labelled by 3 of the 5 unequal annotators."""
    return simulate(unequal_confusion_matrices(), n_items=3000, per_item=3, seed=0)


def test_dawid_skene_beats_majority_vote_on_unequal_annotators(unequal_annotators):
    rows, truth = unequal_annotators
    ds_accuracy = accuracy(DawidSkene().fit_predict(rows), truth)
    mv_accuracy = accuracy(MajorityVote(tie_break="random", seed=0).fit_predict(rows), truth)
    # Measured: Dawid–Skene 0.872, majority vote 0.751 (ties broken at random): +12 points.
    # Asserted: at least +5 points, and Dawid–Skene above 0.85.
    assert ds_accuracy - mv_accuracy >= 0.05, (ds_accuracy, mv_accuracy)
    assert ds_accuracy >= 0.85


def test_dawid_skene_recovers_the_annotators_confusion_matrices(unequal_annotators):
    rows, _ = unequal_annotators
    model = DawidSkene().fit(rows)
    true_matrices = unequal_confusion_matrices()
    assert model.annotators_.tolist() == ["a0", "a1", "a2", "a3", "a4"]
    assert model.errors_.shape == (5, N_CLASSES, N_CLASSES)
    np.testing.assert_allclose(model.errors_.sum(axis=2), 1.0)
    # Each annotator has about 1,800 annotations, about 200 per true class. Measured: mean
    # absolute error per cell 0.010-0.020, worst diagonal error 0.102 (sampling error of a
    # proportion near 0.8 over 200 items is 0.028). A uniform guess would be 0.1 per cell off.
    for annotator in range(5):
        error = np.abs(model.errors_[annotator] - true_matrices[annotator])
        assert error.mean() < 0.03, (annotator, error.mean())
        assert np.diag(error).max() < 0.15, (annotator, np.diag(error).max())
    # The lazy annotator's pull towards label 7 is found: 0.40-0.45 from every other class.
    others = [c for c in range(N_CLASSES) if c != LAZY_LABEL]
    assert (model.errors_[2, others, LAZY_LABEL] > 0.3).all()
    assert model.confusion_matrices()["a2"] is not None
    np.testing.assert_array_equal(model.confusion_matrices()["a2"], model.errors_[2])
    assert model.n_annotations_.sum() == len(rows)


def test_posteriors_are_distributions_and_labels_their_most_probable_class(unequal_annotators):
    rows, _ = unequal_annotators
    model = DawidSkene().fit(rows)
    assert model.probas_.shape == (3000, N_CLASSES)
    np.testing.assert_allclose(model.probas_.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.priors_.sum(), 1.0)
    best = model.classes_[model.probas_.argmax(axis=1)]
    assert [model.labels_[item] for item in model.items_.tolist()] == best.tolist()
    assert model.converged_ and model.n_iter_ == len(model.loss_history_) < 100
    # EM never lowers its objective.
    assert np.all(np.diff(model.loss_history_) > -1e-9)


def test_answer_patterns_give_the_same_result_as_item_by_item_em(unequal_annotators, monkeypatch):
    rows, truth = unequal_annotators
    gold = {item: int(truth[item]) for item in range(0, 3000, 10)}
    grouped = DawidSkene().fit(rows, gold=gold)
    monkeypatch.setattr(dawid_skene_module, "_MAX_PATTERN_CELLS", 0)  # EM item by item
    ungrouped = DawidSkene().fit(rows, gold=gold)
    assert grouped.n_iter_ == ungrouped.n_iter_
    np.testing.assert_allclose(grouped.probas_, ungrouped.probas_, atol=1e-12)
    np.testing.assert_allclose(grouped.errors_, ungrouped.errors_, atol=1e-12)


def test_dawid_skene_reports_ties():
    # One item, two annotators who disagree: nothing tells them apart.
    model = DawidSkene()
    assert model.fit_predict([("p1", "ann", "x"), ("p1", "bo", "y")]) == {"p1": None}
    assert model.ties_ == frozenset({"p1"})
    np.testing.assert_allclose(model.probas_, [[0.5, 0.5]])
    assert DawidSkene(tie_break="first").fit_predict([("p1", "a", "x"), ("p1", "b", "y")]) == {
        "p1": "x"
    }


def test_em_in_log_space_survives_hundreds_of_agreeing_annotations():
    # 400 annotations on one item: a product of 400 likelihoods underflows in linear space.
    rows = [("big", f"a{n}", "x" if n % 10 else "y") for n in range(400)]
    rows += [(f"p{n}", f"a{n}", "y" if n % 3 else "x") for n in range(400)]
    model = DawidSkene().fit(rows)
    assert np.isfinite(model.probas_).all()
    np.testing.assert_allclose(model.probas_.sum(axis=1), 1.0)


def test_one_coin_estimates_each_annotators_accuracy():
    eye = np.eye(N_CLASSES)
    accuracies = [0.9, 0.75, 0.6, 0.45, 0.3]
    confusions = np.stack([a * eye + (1 - a) / (N_CLASSES - 1) * (1 - eye) for a in accuracies])
    rows, truth = simulate(confusions, n_items=3000, per_item=3, seed=1)
    model = DawidSkene(one_coin=True).fit(rows)
    # Measured: within 0.020 of the true accuracy for every annotator.
    np.testing.assert_allclose(model.skills_, accuracies, atol=0.05)
    diagonal = model.errors_[:, np.arange(N_CLASSES), np.arange(N_CLASSES)]
    np.testing.assert_allclose(diagonal, np.repeat(model.skills_[:, None], N_CLASSES, axis=1))
    assert DawidSkene().fit(rows).skills_ is None
    # Measured: one-coin 0.843, majority vote 0.740 (ties broken at random).
    assert accuracy(model.labels_, truth) > 0.80


def test_smoothing_gives_labels_an_annotator_never_used_a_small_rate():
    rows = [("p1", "ann", "x"), ("p1", "bo", "x"), ("p2", "ann", "y"), ("p2", "bo", "x")]
    unsmoothed = DawidSkene().fit(rows)
    assert unsmoothed.errors_[1, :, 1].tolist() == [0.0, 0.0]  # bo never said "y"
    smoothed = DawidSkene(smoothing=1.0).fit(rows)
    assert (smoothed.errors_ > 0.05).all()
    np.testing.assert_allclose(smoothed.errors_.sum(axis=2), 1.0)


# -- gold -------------------------------------------------------------------------------------


def swapping_majority(n_items: int, seed: int) -> tuple[list, np.ndarray]:
    """Two good annotators and three who systematically swap classes 0 and 1."""
    eye = np.eye(N_CLASSES)
    good = 0.85 * eye + 0.15 / (N_CLASSES - 1) * (1 - eye)
    swap = np.arange(N_CLASSES)
    swap[[0, 1]] = [1, 0]
    swapping = good[:, swap]
    return simulate(np.stack([good, good, swapping, swapping, swapping]), n_items, 3, seed)


def test_gold_anchoring_overrules_a_majority_that_swaps_two_classes():
    rows, truth = swapping_majority(n_items=1000, seed=0)
    gold = {item: int(truth[item]) for item in range(200)}
    rest = range(200, 1000)
    without_gold = accuracy(DawidSkene().fit_predict(rows), truth, rest)
    with_gold = accuracy(DawidSkene().fit_predict(rows, gold=gold), truth, rest)
    # Without gold, EM follows the swapping majority for classes 0 and 1. Measured on the
    # 800 non-gold items: 0.760 without gold, 0.955 with 200 gold items. Asserted: +10 points.
    assert with_gold - without_gold >= 0.10, (without_gold, with_gold)


def test_gold_items_keep_their_label_and_score_the_annotators():
    rows = [
        ("g1", "ann", "x"),
        ("g1", "bo", "y"),
        ("g1", "cy", "x"),
        ("g2", "ann", "y"),
        ("g2", "bo", "y"),
        ("p3", "ann", "x"),
        ("p3", "cy", "y"),
    ]
    gold = {"g1": "x", "g2": "x", "not-annotated": "y"}
    for model in (DawidSkene(), MajorityVote()):
        labels = model.fit_predict(rows, gold=gold)
        assert labels["g1"] == "x" and labels["g2"] == "x"
        g2 = model.items_.tolist().index("g2")
        np.testing.assert_allclose(model.probas_[g2], [1.0, 0.0])
        assert model.gold_accuracy_ == {
            "ann": GoldScore(n_gold=2, n_correct=1),
            "bo": GoldScore(n_gold=2, n_correct=0),
            "cy": GoldScore(n_gold=1, n_correct=1),
        }
        assert model.gold_accuracy_["ann"].accuracy == 0.5
    assert "g2" not in MajorityVote().fit(rows, gold=gold).ties_
    assert DawidSkene().fit(rows).gold_accuracy_ == {}
    assert GoldScore(n_gold=0, n_correct=0).accuracy is None


def test_a_gold_label_nobody_gave_becomes_a_class():
    model = DawidSkene().fit([("p1", "ann", "x"), ("p2", "ann", "x")], gold={"p1": "y"})
    assert model.classes_.tolist() == ["x", "y"]
    assert model.labels_["p1"] == "y"


# -- input ------------------------------------------------------------------------------------


def test_every_accepted_input_shape_gives_the_same_result(unequal_annotators):
    rows, _ = unequal_annotators
    items, annotators, labels = (list(column) for column in zip(*rows, strict=True))
    inputs = {
        "rows": rows,
        "columns": {"item": items, "annotator": annotators, "label": labels},
        "numpy columns": {
            "item": np.array(items),
            "annotator": np.array(annotators),
            "label": np.array(labels),
        },
        "item frame": pd.DataFrame({"item": items, "annotator": annotators, "label": labels}),
        "crowd-kit frame": pd.DataFrame(
            {"task": items, "worker": annotators, "label": labels, "extra": 0}
        ),
    }
    reference = DawidSkene().fit(rows)
    for name, data in inputs.items():
        model = DawidSkene().fit(data)
        assert model.items_.tolist() == reference.items_.tolist(), name
        assert model.classes_.tolist() == reference.classes_.tolist(), name
        np.testing.assert_allclose(model.probas_, reference.probas_, atol=1e-12, err_msg=name)


def test_classes_fix_the_columns_and_their_order():
    rows = [("p1", "ann", "low"), ("p1", "bo", "medium"), ("p2", "ann", "low")]
    model = DawidSkene().fit(rows, classes=["low", "medium", "high"])
    assert model.classes_.tolist() == ["low", "medium", "high"]
    assert model.probas_.shape == (2, 3)
    assert model.probas_[:, 2].max() < 1e-6
    vote = MajorityVote().fit(rows, classes=["low", "medium", "high"])
    np.testing.assert_array_equal(vote.votes_, [[1, 1, 0], [1, 0, 0]])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "empty"),
        ({"item": [], "annotator": [], "label": []}, "empty"),
        (pd.DataFrame({"post": [1], "user": ["a"], "label": ["x"]}), r"columns \['label'"),
        ({"item": [1, 2], "annotator": ["a"], "label": ["x", "y"]}, "differ in length"),
        ([("p1", "ann")], "3-tuple"),
        ([("p1", "ann", None)], "label values are missing"),
        (pd.DataFrame({"task": [1, 2], "worker": ["a", None], "label": ["x", "y"]}), "missing"),
        ([("p1", "ann", "x"), ("p2", "ann", 3)], "cannot be ordered"),
        ([("p1", "ann", ["x"])], "hashable"),
        ("item,annotator,label", "not a str"),
    ],
)
def test_unusable_input_fails_with_a_clear_message(data, message):
    for model in (DawidSkene(), MajorityVote()):
        with pytest.raises(AggregationInputError, match=message):
            model.fit(data)


def test_labels_outside_the_given_list_are_rejected():
    with pytest.raises(AggregationInputError, match=r"\['hihg'\] are not in the label list"):
        DawidSkene().fit([("p1", "ann", "hihg")], classes=["low", "medium", "high"])
    with pytest.raises(AggregationInputError, match="repeats"):
        DawidSkene().fit([("p1", "ann", "low")], classes=["low", "low"])
    with pytest.raises(AggregationInputError, match="smoothing"):
        DawidSkene(smoothing=-1)


def test_an_aggregation_is_named_by_its_value_and_makes_its_estimator():
    assert Aggregation.parse("majority") is Aggregation.MAJORITY
    assert Aggregation.parse(Aggregation.DAWID_SKENE) is Aggregation.DAWID_SKENE
    assert Aggregation.MAJORITY == "majority" and f"{Aggregation.DAWID_SKENE}" == "dawid-skene"
    assert isinstance(Aggregation.DAWID_SKENE.estimator(), DawidSkene)
    assert isinstance(Aggregation.MAJORITY.estimator(), MajorityVote)
    with pytest.raises(InputError, match="Unknown aggregation 'mean'; use dawid-skene or majority"):
        Aggregation.parse("mean")
