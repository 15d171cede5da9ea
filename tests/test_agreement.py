"""annotate.agreement: published worked examples, undefined cases, bootstrap, multi-label, spans,
per-annotator table and confusion pairs. Property tests against other implementations are in
test_agreement_properties.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from annotate.agreement import (
    AgreementDataError,
    annotator_agreement,
    bootstrap,
    cohen_kappa_pairs,
    confusion_pairs,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    label_agreement,
    multilabel_agreement,
    percent_agreement,
    span_agreement,
    summarise,
)
from annotate.agreement._table import _encode
from annotate.agreement.alpha import alpha_statistic
from annotate.agreement.bootstrap import unit_profiles
from annotate.agreement.kappa import _PairAgreement
from annotate.agreement.results import (
    NO_ANNOTATIONS,
    NO_EXPECTED_DISAGREEMENT,
    NO_PAIRABLE_ITEMS,
    ONE_ANNOTATOR,
    ONE_CATEGORY,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with missing
# data: 4 observers, 12 units, values 1-5, "." = not coded.
KRIPPENDORFF_2011 = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}
# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 5 categories, 14 raters each.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def long_table(rows: dict[str, str]) -> list[tuple[int, str, int]]:
    return [
        (unit, observer, int(value))
        for observer, row in rows.items()
        for unit, value in enumerate(row.split())
        if value != "."
    ]


def fleiss_table_to_long(table: list[list[int]]) -> list[tuple[int, int, int]]:
    data = []
    for subject, row in enumerate(table):
        ratings = [category for category, n in enumerate(row, start=1) for _ in range(n)]
        data += [(subject, rater, category) for rater, category in enumerate(ratings)]
    return data


def simulated(n_items: int, accuracies: list[float], n_values: int, missing: float, seed: int):
    """Annotators who give the true value with their accuracy, else a uniform random value."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_values, n_items)
    rows = []
    for annotator, accuracy in enumerate(accuracies):
        correct = rng.random(n_items) < accuracy
        given = np.where(correct, truth, rng.integers(0, n_values, n_items))
        rated = rng.random(n_items) >= missing
        rows += [
            (int(item), f"annotator-{annotator}", int(given[item]))
            for item in np.flatnonzero(rated)
        ]
    return rows, truth


# -- published worked examples --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_example_with_missing_data(level, expected):
    alpha = krippendorff_alpha(long_table(KRIPPENDORFF_2011), level)
    assert round(alpha.value, 3) == expected
    assert (alpha.n_items, alpha.n_pairable, alpha.n_unpairable) == (12, 11, 1)


def test_krippendorff_2011_example_ordinal_with_text_labels_and_order():
    words = ["very low", "low", "mid", "high", "very high"]
    data = [(u, o, words[v - 1]) for u, o, v in long_table(KRIPPENDORFF_2011)]
    assert round(krippendorff_alpha(data, "ordinal", order=words).value, 3) == 0.815
    assert round(krippendorff_alpha(data, "nominal").value, 3) == 0.743


def test_fleiss_kappa_wikipedia_example():
    kappa = fleiss_kappa(fleiss_table_to_long(FLEISS_WIKIPEDIA))
    assert round(kappa.value, 3) == 0.210
    # P-bar = 0.378 is the mean per-subject agreement, i.e. percent agreement.
    assert round(percent_agreement(fleiss_table_to_long(FLEISS_WIKIPEDIA)).value, 3) == 0.378


def test_cohen_kappa_wikipedia_example():
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    data = [(i, "A", x) for i, x in enumerate(a)] + [(i, "B", x) for i, x in enumerate(b)]
    [pair] = cohen_kappa_pairs(data)
    assert (pair.a, pair.b, pair.n) == ("A", "B", 50)
    assert round(pair.kappa, 3) == 0.400
    assert pair.percent_agreement == pytest.approx(0.7)


def test_gwet_ac1_and_fleiss_on_gwets_four_rater_example():
    # Gwet (2014) 4 raters x 12 units with missing ratings, as shipped with irrCAC
    # (raw_4raters): AC1 0.77544, Fleiss' kappa 0.76117, percent agreement 0.81818.
    data = long_table(
        {
            "1": "1 2 3 3 2 1 4 1 2 . . .",
            "2": "1 2 3 3 2 2 4 1 2 5 . .",
            "3": ". 3 3 3 2 3 4 2 2 5 1 3",
            "4": "1 2 3 3 2 4 4 1 2 5 1 .",
        }
    )
    assert round(gwet_ac1(data).value, 5) == 0.77544
    assert round(fleiss_kappa(data).value, 5) == 0.76117
    assert round(percent_agreement(data).value, 5) == 0.81818


# -- input forms ----------------------------------------------------------------------------------


def test_every_input_form_gives_the_same_alpha():
    rows = long_table(KRIPPENDORFF_2011)
    columns = {"item": [r[0] for r in rows], "annotator": [r[1] for r in rows]}
    columns["value"] = [r[2] for r in rows]
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    import pandas

    forms = [rows, reversed(rows), columns, arrays, pandas.DataFrame(columns)]
    values = {krippendorff_alpha(form).value for form in forms}
    assert len(values) == 1


def test_missing_values_drop_their_rows_and_are_counted():
    rows = [*long_table(KRIPPENDORFF_2011), (0, "C", None), (10, "A", float("nan"))]
    assert krippendorff_alpha(rows).value == krippendorff_alpha(long_table(KRIPPENDORFF_2011)).value
    assert summarise(rows, ci=False).details["n_missing_values"] == 2


def test_a_repeated_annotation_is_an_error_naming_it():
    with pytest.raises(AgreementDataError, match="'B' rated item 1 more than once"):
        krippendorff_alpha([(1, "A", "x"), (1, "B", "x"), (1, "B", "y")])


def test_ordinal_text_values_need_an_order():
    data = [(1, "A", "low"), (1, "B", "high")]
    with pytest.raises(AgreementDataError, match="needs their order"):
        krippendorff_alpha(data, "ordinal")
    with pytest.raises(AgreementDataError, match="'high' is not in order"):
        krippendorff_alpha(data, "ordinal", order=["low", "medium"])
    with pytest.raises(AgreementDataError, match="need ordered values"):
        gwet_ac1(data, weights="quadratic")


def test_interval_data_needs_numbers():
    with pytest.raises(AgreementDataError, match="numeric values; got 'low'"):
        krippendorff_alpha([(1, "A", "low"), (1, "B", 2)], "interval")


def test_unknown_level_is_an_error():
    with pytest.raises(AgreementDataError, match="Unknown level 'nominall'"):
        krippendorff_alpha([(1, "A", 1), (1, "B", 1)], "nominall")


def test_mixed_value_types_stay_distinct():
    # np.asarray would turn 1 and "1" into the same string; they are different answers.
    data = [(1, "A", 1), (1, "B", "1"), (2, "A", 2), (2, "B", 2)]
    assert percent_agreement(data).value == 0.5


# -- undefined cases ------------------------------------------------------------------------------


def test_one_annotator_is_undefined_for_every_coefficient():
    data = [(1, "A", "x"), (2, "A", "y")]
    summary = summarise(data)
    for coefficient in summary.coefficients.values():
        assert coefficient.value is None
        assert coefficient.undefined_reason == ONE_ANNOTATOR
        assert coefficient.n_unpairable == 2
    assert summary.cohen_kappa_pairs == ()
    document = summary.as_dict()
    assert document["krippendorff_alpha"] is None
    assert document["ci"] == {}
    json.dumps(document)


def test_every_rating_the_same_is_undefined_with_the_reason():
    data = [(1, "A", "x"), (1, "B", "x"), (2, "A", "x"), (2, "B", "x"), (3, "A", "x")]
    for coefficient in (krippendorff_alpha(data), fleiss_kappa(data)):
        assert coefficient.value is None
        assert coefficient.undefined_reason == NO_EXPECTED_DISAGREEMENT
        assert (coefficient.n_pairable, coefficient.n_unpairable) == (2, 1)
    assert gwet_ac1(data).undefined_reason == ONE_CATEGORY
    # With the field's categories AC1 is defined (it does not collapse like kappa).
    assert gwet_ac1(data, order=["x", "y"]).value == 1.0
    assert percent_agreement(data).value == 1.0
    [pair] = cohen_kappa_pairs(data)
    assert pair.kappa is None and "expected disagreement is zero" in pair.undefined_reason


def test_single_rated_items_are_unpairable_and_counted():
    data = [(1, "A", "x"), (2, "B", "y"), (3, "A", "x")]
    alpha = krippendorff_alpha(data)
    assert alpha.value is None
    assert alpha.undefined_reason == NO_PAIRABLE_ITEMS
    assert (alpha.n_items, alpha.n_pairable, alpha.n_unpairable) == (3, 0, 3)


def test_no_annotations_is_undefined():
    assert krippendorff_alpha([]).undefined_reason == NO_ANNOTATIONS
    assert krippendorff_alpha({"item": [], "annotator": [], "value": []}).n_items == 0


def test_single_rated_items_still_inform_fleiss_category_shares():
    # Gwet's form: pi_c averages over every rated item, including single-rated ones.
    paired = [(1, "A", "x"), (1, "B", "y"), (2, "A", "x"), (2, "B", "x")]
    with_single = [*paired, (3, "A", "y"), (4, "B", "y")]
    assert fleiss_kappa(paired).value != fleiss_kappa(with_single).value
    # ... while alpha only counts pairable values.
    assert krippendorff_alpha(paired).value == krippendorff_alpha(with_single).value


# -- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_contains_the_estimate():
    data, _ = simulated(400, [0.8, 0.7, 0.75, 0.6], n_values=4, missing=0.2, seed=1)
    first = krippendorff_alpha(data, ci=True, n_resamples=500, seed=7)
    again = krippendorff_alpha(data, ci=True, n_resamples=500, seed=7)
    other = krippendorff_alpha(data, ci=True, n_resamples=500, seed=8)
    assert first.ci == again.ci
    assert first.ci != other.ci
    assert first.ci.low < first.value < first.ci.high
    assert first.ci.n_resamples == 500 and first.ci.level == 0.95
    assert first.ci.high - first.ci.low < 0.2


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_resampled_totals_equal_alpha_of_the_resampled_table(level):
    """The vectorised bootstrap's algebra: alpha from unit-weighted totals is alpha of the table
    in which every item is repeated as often as it was drawn."""
    data = long_table(KRIPPENDORFF_2011)
    table = _encode(data, numeric=level in ("interval", "ratio"))
    statistic = alpha_statistic(table, level)
    rng = np.random.default_rng(3)
    for _ in range(5):
        draws = rng.multinomial(table.n_items, np.full(table.n_items, 1 / table.n_items))
        resampled = [
            ((item, copy), annotator, value)
            for item, annotator, value in data
            for copy in range(draws[item])
        ]
        totals = statistic.unit_statistics(table.value_counts).totals(draws.astype(float))
        expected = krippendorff_alpha(resampled, level).value
        value = statistic.from_totals(totals[np.newaxis])[0]
        if expected is None:
            assert np.isnan(value)
        else:
            assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_profiles_stand_for_their_items():
    data, _ = simulated(300, [0.9, 0.6, 0.7], n_values=3, missing=0.3, seed=2)
    counts = _encode(data).value_counts
    profiles, multiplicity = unit_profiles(counts)
    assert multiplicity.sum() == counts.n_units
    assert len(multiplicity) < counts.n_units / 5
    for statistic in (_PairAgreement("gwet", 3), alpha_statistic(_encode(data), "ordinal")):
        by_unit = statistic.unit_statistics(counts).totals()
        by_profile = statistic.unit_statistics(profiles).totals(multiplicity.astype(float))
        np.testing.assert_allclose(by_profile, by_unit, rtol=1e-12)


def test_profiles_of_items_with_many_distinct_values():
    # Too many (value, count) slots per item to pack a profile into one integer.
    rng = np.random.default_rng(11)
    data = [(i, a, int(rng.integers(0, 40))) for i in range(200) for a in range(20)]
    table = _encode(data)
    profiles, multiplicity = unit_profiles(table.value_counts)
    statistic = alpha_statistic(table, "nominal")
    by_unit = statistic.unit_statistics(table.value_counts).totals()
    by_profile = statistic.unit_statistics(profiles).totals(multiplicity.astype(float))
    np.testing.assert_allclose(by_profile, by_unit, rtol=1e-12)


def test_bootstrap_without_room_for_dense_statistics(monkeypatch):
    monkeypatch.setattr(bootstrap, "DENSE_LIMIT", 50)
    data, _ = simulated(200, [0.8, 0.7, 0.6], n_values=4, missing=0.2, seed=12)
    alpha = krippendorff_alpha(data, "ordinal", ci=True, n_resamples=200)
    assert alpha.ci.low < alpha.value < alpha.ci.high


def test_bootstrap_needs_a_resample():
    with pytest.raises(ValueError, match="n_resamples"):
        krippendorff_alpha(long_table(KRIPPENDORFF_2011), ci=True, n_resamples=0)


def test_bootstrap_of_continuous_values_uses_item_draws():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=300)
    data = [
        (item, annotator, float(truth[item] + rng.normal(scale=0.5)))
        for item in range(300)
        for annotator in range(3)
    ]
    alpha = krippendorff_alpha(data, "interval", ci=True, n_resamples=300)
    assert alpha.ci.low < alpha.value < alpha.ci.high


def test_bootstrap_coverage_of_a_known_alpha_is_sane():
    """Several independent samples of the same population: most 90% intervals hold the alpha
    of a very large sample from it."""
    accuracies = [0.7, 0.7, 0.7]
    big, _ = simulated(40_000, accuracies, n_values=3, missing=0.0, seed=100)
    population_alpha = krippendorff_alpha(big).value
    hits = 0
    for seed in range(20):
        data, _ = simulated(300, accuracies, n_values=3, missing=0.0, seed=seed)
        interval = krippendorff_alpha(data, ci=True, confidence=0.9, n_resamples=400).ci
        hits += interval.low <= population_alpha <= interval.high
    assert hits >= 14


def test_summary_intervals_for_every_headline_coefficient():
    data, _ = simulated(300, [0.8, 0.8, 0.5], n_values=3, missing=0.2, seed=5)
    document = summarise(data, n_resamples=200).as_dict()
    assert set(document["ci"]) == {
        "percent_agreement",
        "krippendorff_alpha",
        "fleiss_kappa",
        "gwet_ac1",
    }
    for name, (low, high) in document["ci"].items():
        assert low < document[name] < high
    assert document["n_annotators"] == 3
    assert [(p["a"], p["b"]) for p in document["cohen_kappa_pairs"]] == [
        ("annotator-0", "annotator-1"),
        ("annotator-0", "annotator-2"),
        ("annotator-1", "annotator-2"),
    ]
    json.dumps(document)


def test_summary_of_ordinal_data_uses_quadratic_weights():
    summary = summarise(long_table(KRIPPENDORFF_2011), "ordinal", ci=False)
    assert summary.weights == "quadratic"
    assert summary.gwet_ac1.name == "Gwet's AC2 (quadratic weights)"
    assert round(summary.krippendorff_alpha.value, 3) == 0.815


# -- multi-label fields ---------------------------------------------------------------------------


MULTILABEL = [
    (1, "A", ["a"]),
    (1, "B", ["a", "b"]),
    (2, "A", ["a"]),
    (2, "B", []),
    (3, "A", []),
    (3, "B", ["a"]),
    (4, "A", ["b"]),
    (4, "B", ["b"]),
]


def test_per_label_binary_agreement_by_hand():
    a, b = label_agreement(MULTILABEL)
    # Label "a" chosen by [2, 1, 1, 0] of the 2 annotators of items 1-4.
    # alpha: n = 8, n_chosen = n_not = 4, same-value pairs 2 + 0 + 0 + 2 = 4;
    # 1 - (n - 1)(n - 4) / (n^2 - 4^2 - 4^2) = 1 - 7 * 4 / 32.
    assert a.alpha.value == pytest.approx(0.125)
    # kappa: p_a = (1 + 0 + 0 + 1) / 4, pi = 0.5, p_e = 0.5.
    assert a.kappa.value == pytest.approx(0.0)
    assert a.prevalence == 0.5 and a.n_positive == 4
    # PSA 2a / (2a + b + c) = 2 / 4; NSA 2d / (2d + b + c) = 2 / 4.
    assert (a.positive_agreement, a.negative_agreement) == (0.5, 0.5)
    # Label "b": chosen on items 1 (one annotator) and 4 (both).
    assert b.prevalence == 3 / 8
    assert b.positive_agreement == pytest.approx(2 / 3)
    assert b.negative_agreement == pytest.approx(4 / 5)


def test_a_label_nobody_chose_is_reported_undefined():
    rows = label_agreement(MULTILABEL, labels=["a", "b", "c"])
    c = rows[2]
    assert c.label == "c" and c.n_positive == 0 and c.prevalence == 0.0
    assert c.alpha.value is None and c.alpha.undefined_reason == NO_EXPECTED_DISAGREEMENT
    assert c.positive_agreement is None and c.negative_agreement == 1.0


def test_set_alpha_with_masi_and_jaccard_distances():
    result = multilabel_agreement(MULTILABEL)
    # Values: {a} x3, {a,b} x1, {} x2, {b} x2, all pairable (n = 8). Jaccard distances:
    # {a}-{a,b} and {a,b}-{b} 1/2, every other pair of different sets 1. Observed
    # sum o*d = 2 * 1/2 (item 1) + 2 (item 2) + 2 (item 3) = 5; expected sum n_c n_k d =
    # 2 * (3/2 + 6 + 6 + 2 + 1 + 4) = 41; alpha = 1 - 7 * 5 / 41.
    assert result.alpha_jaccard.value == pytest.approx(6 / 41)
    # MASI: those two distances become 1 - 1/2 * 2/3 = 2/3: 1 - 7 * (16/3) / (128/3).
    assert result.alpha_masi.value == pytest.approx(0.125)
    assert krippendorff_alpha(MULTILABEL, "jaccard").value == result.alpha_jaccard.value
    assert result.as_dict()["per_label"][0]["label"] == "a"


def test_multilabel_confusion_pairs_labels_chosen_by_one_side():
    data = [(1, "A", ["a"]), (1, "B", ["b"]), (2, "A", ["a", "c"]), (2, "B", ["a"])]
    rows = confusion_pairs(data)
    assert [(r.label_a, r.label_b, r.count) for r in rows] == [("a", "b", 1), ("c", None, 1)]
    assert sum(r.share for r in rows) == pytest.approx(1.0)


# -- spans ----------------------------------------------------------------------------------------


def test_span_f1_by_hand():
    data = [
        ("p1", "A", [(0, 10, "claim"), (20, 30, "source")]),
        ("p1", "B", [(0, 10, "claim"), (22, 35, "source")]),
        ("p1", "C", [(0, 12, "claim")]),
        ("p2", "A", [(5, 9, "claim")]),
        ("p2", "B", []),
        ("p3", "A", [(1, 2, "claim")]),
    ]
    result = span_agreement(data)
    claim, source = result.per_label
    # Pairs on p1: AB, AC, BC; on p2: AB. Claim spans compared: 2 + 2 + 2 + 1 = 7;
    # exact matches: AB on p1 only; overlap matches: all three p1 pairs.
    assert claim.n_spans == 7
    assert claim.exact_f1 == pytest.approx(2 * 1 / 7)
    assert claim.overlap_f1 == pytest.approx(2 * 3 / 7)
    # Source: A and B each once (AB), A once (AC), B once (BC) -> 4 spans, 1 overlap match.
    assert (source.n_spans, source.exact_f1, source.overlap_f1) == (4, 0.0, 0.5)
    assert (result.n_items, result.n_pairable, result.n_unpairable, result.n_pairs) == (3, 2, 1, 4)


def test_overlap_matching_is_one_to_one():
    data = [("p", "A", [(0, 100, "x")]), ("p", "B", [(0, 10, "x"), (20, 30, "x")])]
    [row] = span_agreement(data).per_label
    assert row.n_overlap_matches == 1
    assert row.overlap_f1 == pytest.approx(2 / 3)
    assert row.exact_f1 == 0.0


def test_overlap_matching_finds_the_largest_matching():
    # Greedy matching of A's first span to B's first would leave A's second unmatched.
    data = [("p", "A", [(0, 20, "x"), (15, 18, "x")]), ("p", "B", [(10, 17, "x"), (19, 30, "x")])]
    assert span_agreement(data).overall.n_overlap_matches == 2


def test_span_labels_nobody_used_are_undefined():
    data = [("p", "A", [(0, 1, "x")]), ("p", "B", [(0, 1, "x")])]
    rows = span_agreement(data, labels=["x", "y"]).per_label
    assert rows[0].exact_f1 == 1.0 and rows[1].exact_f1 is None


def test_spans_accept_mappings_and_reject_bad_spans():
    data = [("p", "A", [{"start": 0, "end": 4, "label": "x"}]), ("p", "B", [(0, 4, "x")])]
    assert span_agreement(data).overall.exact_f1 == 1.0
    with pytest.raises(AgreementDataError, match="ends before it starts"):
        span_agreement([("p", "A", [(5, 4, "x")])])


# -- per annotator --------------------------------------------------------------------------------


def test_a_random_annotator_is_flagged_and_the_others_are_not():
    data, truth = simulated(300, [0.9, 0.85, 0.9, 0.8, 0.0], n_values=5, missing=0.1, seed=9)
    gold = {item: int(truth[item]) for item in range(50)}
    rows = {row.annotator: row for row in annotator_agreement(data, gold=gold)}
    assert [name for name, row in rows.items() if row.outlier] == ["annotator-4"]
    random_annotator = rows["annotator-4"]
    assert random_annotator.robust_z < -2
    assert "robust z-scores below the median" in random_annotator.outlier_reason
    # Gold accuracy is the share of gold items answered with the gold value.
    given = {(item, a): v for item, a, v in data}
    answered = [item for item in range(50) if (item, "annotator-4") in given]
    expected = np.mean([given[(item, "annotator-4")] == truth[item] for item in answered])
    assert random_annotator.n_gold == len(answered)
    assert random_annotator.gold_accuracy == pytest.approx(expected)
    assert rows["annotator-0"].gold_accuracy > 0.8
    assert len(rows["annotator-0"].pairwise) == 4
    json.dumps([row.as_dict() for row in rows.values()])


def test_leave_one_out_ties_score_by_share():
    data = [(1, "A", "x"), (1, "B", "x"), (1, "C", "y"), (2, "A", "x"), (2, "B", "x")]
    rows = {row.annotator: row for row in annotator_agreement(data)}
    # Item 1: A's others are {x, y}, a tie -> 1/2; item 2: B agrees -> 1.
    assert rows["A"].loo_agreement == pytest.approx(0.75)
    assert rows["C"].loo_agreement == 0.0
    assert rows["C"].n_pairable == 1 and rows["C"].n_items == 1
    # Fewer than three annotators with min_items pairable items: nobody is flagged.
    assert not any(row.outlier for row in rows.values())


def test_min_agreement_flags_below_a_threshold():
    data = [(1, "A", "x"), (1, "B", "x"), (1, "C", "y")]
    rows = annotator_agreement(data, min_agreement=0.5)
    assert [row.annotator for row in rows if row.outlier] == ["C"]


# -- category confusion ---------------------------------------------------------------------------


def test_confusion_pairs_count_disagreeing_rating_pairs():
    data = [
        (1, "A", "rumour"),
        (1, "B", "rumour"),
        (1, "C", "legit"),
        (2, "A", "rumour"),
        (2, "B", "scam"),
        (2, "C", "scam"),
        (3, "A", "legit"),
        (3, "B", "legit"),
    ]
    rows = confusion_pairs(data)
    assert [(r.label_a, r.label_b, r.count) for r in rows] == [
        ("legit", "rumour", 2),
        ("rumour", "scam", 2),
    ]
    assert [r.share for r in rows] == [0.5, 0.5]


def test_results_are_json_ready():
    coefficient = krippendorff_alpha(long_table(KRIPPENDORFF_2011), ci=True, n_resamples=100)
    document = coefficient.as_dict()
    assert document["ci"]["n_resamples"] == 100
    assert json.loads(json.dumps(document))["value"] == pytest.approx(coefficient.value)
    assert math.isnan(float(krippendorff_alpha([])))
