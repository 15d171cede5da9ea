"""The baseline classifier's core: training on the demo posts' true labels, thresholds tuned on
held-out posts, soft labels, out-of-sample probabilities, and skops files that round-trip with
their card and refuse types a model never holds."""

from __future__ import annotations

import os

import numpy as np
import pytest

from annotate.baseline import Baseline, cross_val_proba, fit_baseline, label_matrix
from annotate.baseline.model import tune_thresholds
from annotate.demo import generate_posts
from annotate.errors import InputError
from annotate.taxonomy import load_taxonomy

CATEGORIES = list(load_taxonomy().field("category").label_ids)


@pytest.fixture(scope="module")
def posts():
    generated = list(generate_posts(1_500, seed=3))
    texts = [post["text"] for post in generated]
    labels = [post["true_labels"] for post in generated]
    return (
        texts[:1_000],
        labels[:1_000],
        texts[1_000:1_250],
        labels[1_000:1_250],
        texts[1_250:],
        labels[1_250:],
    )


@pytest.fixture(scope="module")
def model(posts):
    train_texts, train_labels, valid_texts, valid_labels, _, _ = posts
    return fit_baseline(
        train_texts, train_labels, labels=CATEGORIES, validation=(valid_texts, valid_labels)
    )


def macro_f1(truth, predicted) -> float:
    from sklearn.metrics import f1_score

    return f1_score(truth, predicted, average="macro", zero_division=0)


def test_the_baseline_learns_the_demo_categories(posts, model):
    *_, test_texts, test_labels = posts
    probabilities = model.predict_proba(test_texts)
    assert probabilities.shape == (len(test_texts), len(CATEGORIES))
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    truth = label_matrix(test_labels, CATEGORIES)
    predicted = label_matrix(model.predict(test_texts), CATEGORIES)
    # The demo's templates are learnable: well above what guessing the commonest label gets.
    assert macro_f1(truth, predicted) > 0.6
    assert model.model_version == "baseline@unversioned"
    assert model.card["training"]["posts"] == 1_000 and model.card["libraries"]["skops"]


def test_thresholds_are_tuned_on_validation_posts(model):
    assert set(model.thresholds) == set(CATEGORIES)
    assert any(value != 0.5 for value in model.thresholds.values())


def test_a_threshold_takes_every_post_with_the_same_score():
    truth = np.array([[1], [0], [1], [0]])
    # 0.6 is shared by a positive and a negative: the cut is above or below both (here
    # below: F1 0.8 against 0.67), halfway to the next score.
    assert tune_thresholds(truth, np.array([[0.9], [0.6], [0.6], [0.1]]), ["a"]) == {"a": 0.35}
    assert tune_thresholds(np.zeros((2, 1)), np.array([[0.9], [0.1]]), ["a"]) == {"a": 0.5}


def test_a_single_choice_field_predicts_one_label_per_post(posts):
    texts, labels, *_ = posts
    model = fit_baseline(texts, [lab[:1] for lab in labels], labels=CATEGORIES, multiple=False)
    assert all(len(chosen) == 1 for chosen in model.predict(texts[:50]))


def test_soft_labels_weigh_the_targets(posts):
    texts, labels, *_ = posts
    hard = label_matrix(labels, CATEGORIES)
    # Every post counted half as a positive of the first label: its probability rises.
    soft = hard.copy()
    soft[:, 0] = np.maximum(soft[:, 0], 0.5)
    plain = fit_baseline(texts, labels, labels=CATEGORIES)
    softened = fit_baseline(texts, labels, labels=CATEGORIES, label_probs=soft)
    assert (
        softened.predict_proba(texts)[:, 0].mean() > plain.predict_proba(texts)[:, 0].mean() + 0.1
    )
    with pytest.raises(InputError, match="shape"):
        fit_baseline(texts, labels, labels=CATEGORIES, label_probs=soft[:10])


def test_a_label_never_seen_gets_its_constant_probability(posts):
    texts, labels, *_ = posts
    model = fit_baseline(texts, labels, labels=[*CATEGORIES, "unseen"])
    assert model.estimators[-1] is None
    assert (model.predict_proba(texts[:5])[:, -1] == 0).all()


def test_cross_validated_probabilities_are_out_of_sample(posts):
    texts, *_ = posts
    # A label that is noise: the model can memorise it, but not predict it for a post it
    # has not seen, so in-sample scores separate it and out-of-sample ones barely do.
    noise = np.random.default_rng(0).random(len(texts)) < 0.3
    noisy = [["a"] if flag else ["b"] for flag in noise]
    out_of_sample = cross_val_proba(texts, noisy, labels=["a", "b"], folds=5)
    in_sample = fit_baseline(texts, noisy, labels=["a", "b"]).predict_proba(texts)
    gap = lambda p: p[noise, 0].mean() - p[~noise, 0].mean()  # noqa: E731
    assert out_of_sample.shape == (len(texts), 2)
    assert gap(in_sample) > 0.3 and abs(gap(out_of_sample)) < 0.1


def test_a_model_round_trips_through_skops_with_its_card(model, posts, tmp_path):
    *_, test_texts, _ = posts
    model.card["dataset"] = {"name": "finmis", "version": "1.0.0"}
    model.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {
        "model.skops",
        "card.json",
        "README.md",
    }
    loaded = Baseline.load(tmp_path / "model")
    assert loaded.labels == model.labels and loaded.thresholds == model.thresholds
    assert loaded.model_version == "baseline@finmis-1.0.0"
    assert np.array_equal(loaded.predict_proba(test_texts), model.predict_proba(test_texts))
    assert "| fabricated_rumour |" in (tmp_path / "model" / "README.md").read_text()


def test_a_model_file_with_an_untrusted_type_is_refused_unread(tmp_path):
    import skops.io as sio

    # A crafted file: where the vectorizer belongs, a call to os.system.
    (tmp_path / "evil").mkdir()
    sio.dump({"format": 1, "vectorizer": os.system}, tmp_path / "evil" / "model.skops")
    with pytest.raises(InputError, match=r"holds types that a model file never holds \(.*system"):
        Baseline.load(tmp_path / "evil")


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "model.skops").write_text("not a zip")
    with pytest.raises(InputError, match="is not a skops model file"):
        Baseline.load(tmp_path)
    with pytest.raises(InputError, match="No model at"):
        Baseline.load(tmp_path / "nothing")
