"""Our Dawid–Skene gives crowd-kit's numbers (crowd-kit is a dev dependency, the reference).

crowd-kit's `DawidSkene` and `OneCoinDawidSkene` run on the same pandas table; posteriors,
priors, confusion matrices and the loss history must agree within 1e-6 (crowd-kit floors its
returned posteriors at 1e-10 without renormalising, hence not exact equality).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene
from crowdkit.aggregation import OneCoinDawidSkene as CrowdKitOneCoinDawidSkene
from test_aggregation import simulate, unequal_confusion_matrices

from annotate.aggregation import DawidSkene, MajorityVote

# crowd-kit 1.4 on pandas 3 warns about its own use of `inplace=`; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit")

TOLERANCE = 1e-6
LABEL_NAMES = np.array(
    [
        "fabricated_rumour",
        "policy_distortion",
        "market_badmouthing",
        "illegal_securities",
        "extortion",
        "impersonation",
        "incitement",
        "legitimate",
        "not_financial",
    ]
)


def as_frame(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    items, annotators, labels = zip(*rows, strict=True)
    return pd.DataFrame(
        {"task": items, "worker": annotators, "label": LABEL_NAMES[np.array(labels)]}
    )


@pytest.fixture(scope="module", params=["dense", "sparse"])
def frame(request) -> tuple[pd.DataFrame, np.ndarray]:
    """dense: 3,000 items × 3 of 5 annotators. sparse: 60 items × 2 of 5, so that annotators
    leave labels unused and confusion counts hit crowd-kit's 1e-10 floor."""
    n_items, per_item = (3000, 3) if request.param == "dense" else (60, 2)
    rows, truth = simulate(unequal_confusion_matrices(), n_items, per_item, seed=3)
    data = as_frame(rows)
    labels_used = data.groupby("worker")["label"].nunique()
    assert (labels_used < len(LABEL_NAMES)).any() == (request.param == "sparse")
    return data, truth


def crowd_kit_errors(errors: pd.DataFrame, annotators, classes) -> np.ndarray:
    """crowd-kit's errors (rows (worker, given label), columns true label) as our
    ``[annotator, true, given]`` array; pairs crowd-kit leaves out are 0."""
    full_index = pd.MultiIndex.from_product([annotators, classes], names=["worker", "label"])
    table = errors.reindex(index=full_index, columns=classes).fillna(0.0).to_numpy()
    return table.reshape(len(annotators), len(classes), len(classes)).transpose(0, 2, 1)


def assert_same_fit(ours: DawidSkene, theirs) -> None:
    assert ours.n_iter_ == len(theirs.loss_history_)
    np.testing.assert_allclose(ours.loss_history_, theirs.loss_history_, rtol=0, atol=TOLERANCE)
    their_probas = theirs.probas_.reindex(index=ours.items_, columns=ours.classes_).to_numpy()
    np.testing.assert_allclose(ours.probas_, their_probas, rtol=0, atol=TOLERANCE)
    their_priors = theirs.priors_.reindex(ours.classes_).to_numpy()
    np.testing.assert_allclose(ours.priors_, their_priors, rtol=0, atol=TOLERANCE)
    their_errors = crowd_kit_errors(theirs.errors_, ours.annotators_, ours.classes_)
    used = their_errors > 0  # crowd-kit only has rows for labels an annotator used
    np.testing.assert_allclose(ours.errors_[used], their_errors[used], rtol=0, atol=TOLERANCE)


def test_posteriors_match_crowd_kit_dawid_skene(frame):
    data, _ = frame
    ours = DawidSkene(n_iter=100, tol=1e-5).fit(data)
    theirs = CrowdKitDawidSkene(n_iter=100, tol=1e-5).fit(data)
    assert_same_fit(ours, theirs)
    # Labels an annotator never used have rate 0 in ours, no row in crowd-kit's.
    unused = crowd_kit_errors(theirs.errors_, ours.annotators_, ours.classes_) == 0
    assert (ours.errors_[unused] == 0).all()
    # The match is about EM, not its start: posteriors moved far from the vote shares.
    shares = MajorityVote().fit(data).probas_
    assert ours.n_iter_ >= 5
    assert np.abs(ours.probas_ - shares).max() > 0.3


def test_posteriors_match_crowd_kit_when_stopped_by_the_iteration_cap(frame):
    data, _ = frame
    assert_same_fit(DawidSkene(n_iter=3).fit(data), CrowdKitDawidSkene(n_iter=3).fit(data))


def test_gold_anchoring_matches_crowd_kit_true_labels(frame):
    data, truth = frame
    gold_items = np.arange(0, len(truth), 7)
    gold = dict(zip(gold_items.tolist(), LABEL_NAMES[truth[gold_items]].tolist(), strict=True))
    ours = DawidSkene().fit(data, gold=gold)
    theirs = CrowdKitDawidSkene().fit(data, pd.Series(gold))
    assert_same_fit(ours, theirs)


def test_one_coin_matches_crowd_kit_one_coin_dawid_skene(frame):
    data, _ = frame
    ours = DawidSkene(one_coin=True).fit(data)
    theirs = CrowdKitOneCoinDawidSkene().fit(data)
    assert_same_fit(ours, theirs)
    their_skills = theirs.skills_.reindex(ours.annotators_).to_numpy()
    np.testing.assert_allclose(ours.skills_, their_skills, rtol=0, atol=TOLERANCE)
