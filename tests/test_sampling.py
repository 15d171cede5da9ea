"""Sampling a batch: parameters, rank stability, strata and allocation, keywords, near-duplicate
suppression, gold items, the risk lexicon, the gold file, and reading candidates from the store."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from annotate.demo import VIOLATION_LABELS, generate_posts
from annotate.errors import InputError
from annotate.ingest import ingest_files
from annotate.sampling import (
    SAMPLING_FIELDS,
    UNKNOWN,
    Candidate,
    Lexicon,
    SamplingParams,
    Selection,
    allocate_quotas,
    load_gold,
    load_lexicon,
    month_of,
    parse_where,
    rank_key,
    read_candidates,
    read_gold_candidates,
    scan,
    select_batch,
    shortlist,
    similarity,
)
from annotate.store import Batch, Project, Task, open_store
from annotate.taxonomy import load_taxonomy
from annotate.text import normalise_text, text_hash

SEED = 20240901


def candidate(pk: int, text: str, post_id: str | None = None, **fields: str) -> Candidate:
    text = normalise_text(text)
    return Candidate(
        pk, fields.pop("source", "default"), post_id or f"p{pk}", text, text_hash(text), **fields
    )


def from_demo(posts: list[dict[str, Any]], first_pk: int = 1) -> list[Candidate]:
    """Demo posts as the store would give them to sampling."""
    return [
        candidate(
            pk,
            post["text"],
            post["post_id"],
            platform=post["platform"],
            lang=post["lang"],
            month=month_of(datetime.fromisoformat(post["created_at"])),
            account_id=post["account_id"],
        )
        for pk, post in enumerate(posts, first_pk)
    ]


@pytest.fixture(scope="module")
def demo_posts() -> list[dict[str, Any]]:
    return list(generate_posts(3000, seed=SEED))


@pytest.fixture(scope="module")
def demo(demo_posts) -> list[Candidate]:
    return from_demo(demo_posts)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


def rank(candidate_: Candidate, seed: int = SEED) -> int:
    return rank_key(seed, candidate_.source, candidate_.post_id)


def no_near_duplicates(selection: Selection, by_pk: dict[int, Candidate]) -> None:
    picked = [by_pk[pk] for pk in selection.task_pks]
    threshold = selection.params.near_duplicate_threshold
    assert len({post.text_hash for post in picked}) == len(picked)
    for first, second in itertools.combinations(picked, 2):
        assert similarity(first.text, second.text) < threshold, (first.text, second.text)


# ------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": 0}, "batch size"),
        ({"size": True}, "batch size"),
        ({"size": 10, "strategy": "snowball"}, "Unknown sampling strategy 'snowball'"),
        ({"size": 10, "strategy": "stratified"}, "needs at least one field"),
        ({"size": 10, "strategy": "stratified", "by": ("colour",)}, "Cannot stratify by 'colour'"),
        ({"size": 10, "strategy": "stratified", "by": ("lang", "lang")}, "repeated"),
        ({"size": 10, "by": ("platform",)}, "not to random"),
        ({"size": 10, "strategy": "mixed", "by": ("lang",), "allocation": "neyman"}, "allocation"),
        ({"size": 10, "keyword_share": 0.2}, "keyword and mixed strategies"),
        ({"size": 10, "strategy": "keyword", "keyword_share": 0}, "keyword share"),
        ({"size": 10, "strategy": "keyword", "keyword_share": 1.5}, "keyword share"),
        ({"size": 10, "gold_rate": 1.0}, "gold rate"),
        ({"size": 10, "gold_rate": -0.1}, "gold rate"),
        ({"size": 10, "near_duplicate_threshold": 0}, "near-duplicate threshold"),
        ({"size": 10, "seed": -1}, "seed"),
        ({"size": 10, "where": {"colour": "red"}}, "Cannot filter on 'colour'"),
        ({"size": 10, "where": {"month": "2024-13"}}, "not YYYY-MM"),
    ],
)
def test_invalid_parameters_are_one_clear_sentence(values, message) -> None:
    with pytest.raises(InputError, match=message) as raised:
        SamplingParams(**values)
    assert raised.value.message.endswith(".")
    assert "\n" not in raised.value.message


def test_parameters_are_normalised_and_recorded_as_json() -> None:
    params = SamplingParams(
        size=50,
        strategy="mixed",
        by=["platform", "month"],
        where={"platform": "Weibo", "month": ["2024-09", UNKNOWN]},
        seed=3,
        gold_rate=0.1,
    )
    assert params.by == ("platform", "month")
    assert params.where == {"platform": ("weibo",), "month": ("2024-09", UNKNOWN)}
    assert params.gold_size == 5
    assert params.keyword_size(45) == 14  # round(45 * 0.3) = round(13.5), halves up
    recorded = json.loads(json.dumps(params.as_dict()))
    assert recorded["keyword_share"] == 0.3
    assert recorded["where"]["month"] == ["2024-09", UNKNOWN]
    assert SamplingParams(size=10).as_dict()["keyword_share"] is None


def test_parse_where_reads_repeated_and_comma_separated_values() -> None:
    assert parse_where(["platform=weibo,douyin", "lang=zh", "platform=wechat|xueqiu"]) == {
        "platform": ("weibo", "douyin", "wechat", "xueqiu"),
        "lang": ("zh",),
    }
    for bad in ("platform", "=weibo", "platform="):
        with pytest.raises(InputError, match="is not FIELD=VALUE"):
            parse_where([bad])
    with pytest.raises(InputError, match="Cannot filter on 'likes'"):
        parse_where(["likes=10"])


def test_keyword_strategies_need_a_lexicon(demo) -> None:
    with pytest.raises(InputError, match="needs a keyword lexicon"):
        select_batch(demo, SamplingParams(size=10, strategy="keyword"))


def test_candidates_must_be_readable_twice(demo) -> None:
    with pytest.raises(TypeError, match="more than once"):
        select_batch(iter(demo), SamplingParams(size=10))


# -------------------------------------------------------------------------- rank stability


def test_same_seed_gives_the_same_batch_whatever_the_order_of_the_candidates(demo) -> None:
    params = SamplingParams(size=200, strategy="stratified", by=("platform",), seed=SEED)
    first = select_batch(demo, params)
    shuffled = list(demo)
    random.Random(1).shuffle(shuffled)
    second = select_batch(shuffled, params)
    assert first == second
    assert len(first.task_pks) == 200


def test_different_seeds_give_different_batches(demo) -> None:
    first = select_batch(demo, SamplingParams(size=200, seed=1)).post_pks
    second = select_batch(demo, SamplingParams(size=200, seed=2)).post_pks
    assert len(set(first) & set(second)) < 50  # about 200 * 200 / 3000 = 13 by chance


def test_random_batch_is_the_bottom_k_by_rank(demo) -> None:
    selection = select_batch(demo, SamplingParams(size=150, seed=SEED, dedupe=False))
    expected = [post.pk for post in sorted(demo, key=rank)[:150]]
    assert selection.post_pks == expected
    assert [pick.rank for pick in selection.picks] == sorted(pick.rank for pick in selection.picks)


def test_bigger_corpus_keeps_every_earlier_pick_that_still_ranks(demo) -> None:
    """Without dedupe: the new batch is the old one with new posts ranking in, and only the
    worst-ranked old picks pushed out."""
    params = SamplingParams(size=100, seed=SEED, dedupe=False)
    before = select_batch(demo[:2000], params)
    after = select_batch(demo, params)
    cutoff = max(pick.rank for pick in after.picks)
    kept = [pick.pk for pick in before.picks if pick.rank <= cutoff]
    assert set(kept) <= set(after.post_pks)
    assert set(after.post_pks) - set(kept) <= {post.pk for post in demo[2000:]}
    assert len(kept) >= 40  # about two thirds of 100 stay


def test_bigger_corpus_with_dedupe_drops_an_earlier_pick_only_for_a_reason(demo) -> None:
    """With dedupe, an earlier pick leaves the batch only when it no longer ranks in or when
    it is now reported as a near-duplicate of something in the batch."""
    params = SamplingParams(size=100, seed=SEED)
    before = select_batch(demo[:2000], params)
    after = select_batch(demo, params)
    cutoff = max(pick.rank for pick in after.picks)
    suppressed = {item.pk for item in after.suppressed}
    for pick in before.picks:
        assert pick.pk in after.post_pks or pick.pk in suppressed or pick.rank > cutoff
    assert len(set(before.post_pks) & set(after.post_pks)) >= 40


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(size=120, seed=SEED),
        SamplingParams(size=120, strategy="mixed", by=("platform", "month"), seed=SEED),
        SamplingParams(size=120, strategy="stratified", by=("lang",), allocation="equal"),
    ],
    ids=["random", "mixed", "stratified-equal"],
)
def test_shortlists_of_partitions_merge_into_the_batch_of_the_whole(demo, lexicon, params) -> None:
    first_half = [post for post in demo if post.pk % 2]
    second_half = [post for post in demo if not post.pk % 2]
    merged = shortlist(first_half, params, lexicon).merge(shortlist(second_half, params, lexicon))
    assert merged.select(demo) == select_batch(demo, params, lexicon)


def test_shortlists_made_with_different_parameters_do_not_merge(demo) -> None:
    first = shortlist(demo[:100], SamplingParams(size=10, seed=1))
    with pytest.raises(ValueError, match="same parameters"):
        first.merge(shortlist(demo[100:200], SamplingParams(size=10, seed=2)))


# ------------------------------------------------------------------------- near-duplicates

RUMOUR = "紧急！内部人士透露晨曦银行明天起暂停所有取款，赶紧去银行把钱取出来！"
REPOSTS = [
    RUMOUR,
    f"真的假的？//@银行内幕哥:{RUMOUR}",
    f"转发微博//@小土豆649:太可怕了//@银行内幕哥:{RUMOUR}",
    f"😱{RUMOUR.replace('！', '!!!').replace('，', ',')}💥",
    f"{RUMOUR}（转自朋友圈）",
    f"#晨曦银行# {RUMOUR} http://t.cn/A6xYz12",
    f"{RUMOUR} @财经观察609",
    RUMOUR.replace("紧急！", "【紧急】"),
]


def test_reposts_of_one_rumour_never_share_a_batch(demo) -> None:
    family = [candidate(10_000 + number, text) for number, text in enumerate(REPOSTS)]
    corpus = [*demo[:300], *family]
    selection = select_batch(corpus, SamplingParams(size=len(corpus), seed=SEED))
    in_batch = [post.pk for post in family if post.pk in selection.post_pks]
    assert len(in_batch) == 1
    reasons = {item.pk: item for item in selection.suppressed if item.pk >= 10_000}
    assert set(reasons) == {post.pk for post in family} - set(in_batch)
    assert {item.duplicate_of for item in reasons.values()} == set(in_batch)
    no_near_duplicates(selection, {post.pk: post for post in corpus})


def test_a_debunk_that_quotes_a_rumour_is_not_its_near_duplicate() -> None:
    debunk = f"【辟谣】该消息不实，相关机构已发布澄清声明，请勿传播。//@银行内幕哥:{RUMOUR}"
    assert similarity(RUMOUR, debunk) < 0.8
    assert similarity(RUMOUR, REPOSTS[1]) >= 0.8


@pytest.mark.parametrize("strategy", ["random", "mixed"])
def test_demo_batches_hold_no_near_duplicates(demo, lexicon, strategy) -> None:
    by = ("platform",) if strategy == "mixed" else ()
    params = SamplingParams(size=300, strategy=strategy, by=by, seed=SEED)
    selection = select_batch(demo, params, lexicon)
    assert len(selection.task_pks) == 300
    assert selection.suppressed_near_duplicates > 0  # the demo corpus has reposts
    no_near_duplicates(selection, {post.pk: post for post in demo})


def test_near_duplicates_of_posts_sent_earlier_are_suppressed(demo) -> None:
    params = SamplingParams(size=300, seed=SEED)
    first = select_batch(demo, params)
    by_pk = {post.pk: post for post in demo}
    sent = [(pk, by_pk[pk].text_hash, by_pk[pk].text) for pk in first.task_pks]
    rest = [post for post in demo if post.pk not in set(first.task_pks)]
    second = select_batch(rest, SamplingParams(size=300, seed=SEED + 1), sent=sent)
    assert len(second.task_pks) == 300
    earlier = {pk for pk, _, _ in sent}
    # Some of the second batch's suppressions point at posts of the first batch...
    assert any(item.duplicate_of in earlier for item in second.suppressed)
    # ...and no post of the second batch is a near-duplicate of one of the first.
    threshold = params.near_duplicate_threshold
    for pk in second.task_pks:
        for old in first.task_pks:
            assert by_pk[pk].text_hash != by_pk[old].text_hash
            assert similarity(by_pk[pk].text, by_pk[old].text) < threshold
    # Without the earlier posts the second batch would hold some of their near-duplicates.
    blind = select_batch(rest, SamplingParams(size=300, seed=SEED + 1))
    assert any(
        similarity(by_pk[pk].text, by_pk[old].text) >= threshold
        for pk in blind.task_pks
        for old in first.task_pks
    )


def test_a_repost_of_a_post_sent_earlier_is_not_sampled() -> None:
    corpus = [candidate(pk, text) for pk, text in enumerate(REPOSTS[1:], 2)]
    corpus.append(candidate(9, "今天天气不错，适合出去走走。"))
    sent = [(1, text_hash(normalise_text(RUMOUR)), normalise_text(RUMOUR))]
    selection = select_batch(corpus, SamplingParams(size=2, seed=SEED), sent=sent)
    assert selection.task_pks == [9]
    assert {item.duplicate_of for item in selection.suppressed} == {1}


def test_without_dedupe_demo_batches_do_hold_near_duplicates(demo) -> None:
    selection = select_batch(demo, SamplingParams(size=300, seed=SEED, dedupe=False))
    with pytest.raises(AssertionError):
        no_near_duplicates(selection, {post.pk: post for post in demo})


def brute_force_batch(corpus: list[Candidate], size: int, threshold: float) -> list[int]:
    """The definition of a deduplicated random batch: walk all posts by rank, keep a post
    unless its text or its shingles (Jaccard ≥ threshold) match a kept one."""
    kept: list[Candidate] = []
    for post in sorted(corpus, key=rank):
        if len(kept) == size:
            break
        if any(
            post.text_hash == other.text_hash or similarity(post.text, other.text) >= threshold
            for other in kept
        ):
            continue
        kept.append(post)
    return [post.pk for post in kept]


def test_random_batch_equals_the_brute_force_definition(demo) -> None:
    params = SamplingParams(size=250, seed=SEED, near_duplicate_threshold=0.7)
    assert select_batch(demo, params).post_pks == brute_force_batch(demo, 250, 0.7)


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(size=250, seed=SEED),
        SamplingParams(size=250, strategy="mixed", by=("platform",), seed=SEED),
    ],
    ids=["random", "mixed"],
)
def test_more_passes_give_the_same_batch_as_a_wide_margin(demo, lexicon, monkeypatch, params):
    """When suppression uses up the shortlist's margin, further passes fetch the next-ranked
    candidates; the batch is the one a margin wide enough for everything gives."""
    monkeypatch.setattr(scan, "_MARGIN_SHARE", 100.0)
    wide = select_batch(demo, params, lexicon)
    assert wide.passes == 1
    monkeypatch.setattr(scan, "_MARGIN_SHARE", 0.0)
    monkeypatch.setattr(scan, "_MARGIN_MIN", 1)
    narrow = select_batch(demo, params, lexicon)
    assert narrow.passes > 1
    assert replace(narrow, passes=1) == wide


# --------------------------------------------------------------------- strata and quotas


def test_allocate_quotas_by_largest_remainder_within_capacities() -> None:
    assert allocate_quotas(10, {"a": 1, "b": 1, "c": 1}, {"a": 9, "b": 9, "c": 9}) == {
        "a": 4,
        "b": 3,
        "c": 3,
    }
    tied = allocate_quotas(10, {"a": 1, "b": 1, "c": 1}, {"a": 9, "b": 9, "c": 9}, ["c", "b", "a"])
    assert tied == {"c": 4, "b": 3, "a": 3}
    assert allocate_quotas(100, {"a": 3, "b": 1}, {"a": 3, "b": 1}) == {"a": 3, "b": 1}
    assert allocate_quotas(6, {"a": 100, "b": 1}, {"a": 2, "b": 50}) == {"a": 2, "b": 4}
    assert allocate_quotas(5, {"a": 0, "b": 1}, {"a": 9, "b": 9}) == {"a": 0, "b": 5}


def test_proportional_strata_get_their_share_of_the_batch(demo) -> None:
    params = SamplingParams(size=200, strategy="stratified", by=("platform",), seed=SEED)
    selection = select_batch(demo, params)
    counts = Counter(post.platform for post in demo)
    rows = {row.stratum["platform"]: row for row in selection.composition if row.pool != "gold"}
    assert {name: row.available for name, row in rows.items()} == counts
    for name, row in rows.items():
        share = 200 * counts[name] / len(demo)
        assert abs(row.quota - share) < 1
        assert row.selected == row.quota
    picked = Counter(pick.stratum for pick in selection.picks)
    assert picked == {(name,): row.selected for name, row in rows.items()}


def test_equal_allocation_gives_small_strata_all_they_have_and_shares_the_rest(demo) -> None:
    corpus = [
        *[post._replace(lang="zh") for post in demo[:200]],
        *[post._replace(lang="en") for post in demo[200:400]],
        *[post._replace(lang="other") for post in demo[400:403]],
    ]
    params = SamplingParams(
        size=41, strategy="stratified", by=("lang",), allocation="equal", dedupe=False
    )
    rows = {row.stratum.get("lang"): row for row in select_batch(corpus, params).composition}
    assert (rows["other"].quota, rows["other"].selected) == (3, 3)
    assert (rows["zh"].selected, rows["en"].selected) == (19, 19)


def test_a_stratum_emptied_by_duplicates_passes_its_shortfall_on() -> None:
    copies = [candidate(pk, f"{RUMOUR}{'!' * pk}", platform="weibo") for pk in range(1, 21)]
    distinct = [
        candidate(100 + number, post["text"], post["post_id"], platform="wechat")
        for number, post in enumerate(generate_posts(400, seed=5))
    ]
    params = SamplingParams(
        size=20, strategy="stratified", by=("platform",), allocation="equal", seed=SEED
    )
    selection = select_batch([*copies, *distinct], params)
    rows = {row.stratum["platform"]: row for row in selection.composition if row.stratum}
    assert rows["weibo"].selected == 1
    assert rows["weibo"].suppressed == 19
    assert rows["wechat"].selected == 19
    assert len(selection.task_pks) == 20 and selection.shortfall == 0


def test_a_batch_larger_than_the_candidates_reports_its_shortfall(demo) -> None:
    selection = select_batch(demo[:30], SamplingParams(size=50, dedupe=False))
    assert len(selection.post_pks) == 30
    assert selection.shortfall == 20


def test_where_keeps_only_matching_candidates(demo) -> None:
    month = demo[0].month
    params = SamplingParams(size=40, where={"platform": "weibo", "month": month}, seed=SEED)
    selection = select_batch(demo, params)
    by_pk = {post.pk: post for post in demo}
    assert {(by_pk[pk].platform, by_pk[pk].month) for pk in selection.post_pks} == {
        ("weibo", month)
    }
    (row,) = [row for row in selection.composition if row.pool == "random"]
    assert row.available == sum(
        1 for post in demo if (post.platform, post.month) == ("weibo", month)
    )


def test_a_selection_is_recorded_as_json(demo, lexicon) -> None:
    params = SamplingParams(size=50, strategy="mixed", by=("platform",), seed=SEED, gold_rate=0.1)
    selection = select_batch(demo[40:], params, lexicon, gold=demo[:40])
    record = json.loads(json.dumps(selection.as_dict()))
    assert record["params"]["strategy"] == "mixed" and record["params"]["seed"] == SEED
    assert (record["post_pks"], record["gold_pks"]) == (selection.post_pks, selection.gold_pks)
    assert record["lexicon"]["content_hash"] == lexicon.content_hash
    assert sum(row["selected"] for row in record["composition"]) == 50
    assert {row["pool"] for row in record["composition"]} == {"gold", "keyword", "stratified"}


# -------------------------------------------------------------------------------- keywords


def test_keyword_share_of_the_batch_comes_from_lexicon_matches(demo, lexicon) -> None:
    params = SamplingParams(size=100, strategy="keyword", keyword_share=0.4, dedupe=False)
    selection = select_batch(demo, params, lexicon)
    matching = [post for post in demo if lexicon.is_match(post.text)]
    keyword_picks = [pick.pk for pick in selection.picks if pick.pool == "keyword"]
    assert keyword_picks == [post.pk for post in sorted(matching, key=lambda p: rank(p, 0))[:40]]
    assert selection.keyword_selected == 40
    assert all(pick.keyword_groups for pick in selection.picks if pick.pool == "keyword")
    assert len(set(selection.task_pks)) == len(selection.task_pks) == 100
    (row,) = [row for row in selection.composition if row.pool == "keyword"]
    assert (row.available, row.quota, row.selected) == (len(matching), 40, 40)


def test_keyword_batches_are_richer_in_violations_than_random_ones(demo_posts, demo, lexicon):
    violations = {
        pk
        for pk, post in enumerate(demo_posts, 1)
        if set(post["true_labels"]) & set(VIOLATION_LABELS)
    }
    random_batch = select_batch(demo, SamplingParams(size=300, seed=SEED))
    boosted = SamplingParams(size=300, strategy="keyword", keyword_share=0.5, seed=SEED)
    boosted_batch = select_batch(demo, boosted, lexicon)
    assert len(violations & set(boosted_batch.post_pks)) > 1.2 * len(
        violations & set(random_batch.post_pks)
    )


def test_a_keyword_pool_short_of_matches_leaves_the_rest_to_the_base_pool(demo) -> None:
    rare = Lexicon({"extortion": [demo[5].text[:12]]})
    params = SamplingParams(size=50, strategy="keyword", keyword_share=0.5, dedupe=False)
    selection = select_batch(demo, params, rare)
    assert 1 <= selection.keyword_selected < 25
    assert len(selection.task_pks) == 50


# ------------------------------------------------------------------------------------ gold


def test_gold_posts_are_mixed_in_at_the_rate_and_never_as_regular_picks(demo) -> None:
    gold = demo[:40]
    regular = demo[40:]
    params = SamplingParams(size=60, seed=SEED, gold_rate=0.1)
    selection = select_batch(demo, params, gold=gold)  # gold posts are among the candidates too
    assert selection.gold_pks == [post.pk for post in sorted(gold, key=rank)[:6]]
    assert len(selection.post_pks) == 54
    assert not set(selection.post_pks) & {post.pk for post in gold}
    assert set(selection.post_pks) <= {post.pk for post in regular}
    ranks = [pick.rank for pick in selection.picks]
    assert ranks == sorted(ranks)  # task order is rank order: gold is not at the end
    assert selection.task_pks != selection.post_pks + selection.gold_pks


def test_gold_posts_are_not_deduplicated_against_each_other_but_regular_copies_are() -> None:
    gold = [candidate(pk, text) for pk, text in enumerate(REPOSTS[:4], 1)]
    copies = [candidate(pk, text) for pk, text in enumerate(REPOSTS[4:], 101)]
    others = [
        candidate(1000 + number, post["text"], post["post_id"])
        for number, post in enumerate(generate_posts(200, seed=9))
    ]
    params = SamplingParams(size=60, seed=SEED, gold_rate=0.5)  # 30 wanted, 4 available
    selection = select_batch([*copies, *others], params, gold=gold)
    assert sorted(selection.gold_pks) == [1, 2, 3, 4]
    assert not {post.pk for post in copies} & set(selection.post_pks)
    assert len(selection.task_pks) == 60  # the regular part grows by the missing gold
    (row,) = [row for row in selection.composition if row.pool == "gold"]
    assert (row.available, row.quota, row.selected) == (4, 30, 4)


def test_a_gold_rate_without_gold_posts_is_an_error(demo) -> None:
    with pytest.raises(InputError, match="needs gold posts"):
        select_batch(demo, SamplingParams(size=20, gold_rate=0.2))


def write_lines(path: Path, records: list[Any]) -> Path:
    path.write_text(
        "".join(
            (record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n"
            for record in records
        ),
        encoding="utf-8",
    )
    return path


def test_load_gold_normalises_answers_like_annotations(tmp_path) -> None:
    taxonomy = load_taxonomy()
    path = write_lines(
        tmp_path / "gold.jsonl",
        [
            {
                "post_id": 123,
                "category": ["incitement", "fabricated_rumour", "incitement"],
                "severity": "high",
                "confidence": 3,
                "evidence": [{"start": 5, "end": 9, "label": "fake_source", "text": "内部人士"}],
                "note": "from the March review",
            },
            "",
            {"post_id": "wx-9", "source": "wechat", "category": "legitimate", "confidence": "2"},
        ],
    )
    first, second = load_gold(path, taxonomy)
    assert (first.post_id, first.source, first.origin) == ("123", "default", f"{path}:1")
    assert first.labels["category"] == ["fabricated_rumour", "incitement"]  # taxonomy order
    assert first.labels["confidence"] == "3"
    assert first.labels["evidence"][0]["label"] == "fake_source"
    assert first.labels["needs_expert"] is False and first.labels["rationale"] is None
    assert (second.source, second.labels["category"], second.labels["severity"]) == (
        "wechat",
        ["legitimate"],
        None,
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ('["a list"]', "expected a JSON object"),
        ({"category": ["legitimate"], "confidence": "2"}, "missing 'post_id'"),
        ({"post_id": "a", "category": ["rumour"], "confidence": "2"}, "unknown label 'rumour'"),
        ({"post_id": "a", "confidence": "2"}, "category is required"),
        ({"post_id": "a", "category": ["extortion"], "confidence": "2"}, "severity is required"),
        (
            {"post_id": "a", "category": ["legitimate", "extortion"], "confidence": "2"},
            "cannot be chosen with",
        ),
        ({"post_id": "a", "catgory": ["legitimate"]}, "unknown field 'catgory'"),
        (
            {
                "post_id": "a",
                "category": "legitimate",
                "confidence": "2",
                "severity": ["low", "high"],
            },
            "takes one label",
        ),
        (
            {
                "post_id": "a",
                "category": "legitimate",
                "confidence": "2",
                "evidence": [{"start": 4, "end": 2, "label": "fake_source"}],
            },
            "start < end",
        ),
    ],
)
def test_gold_file_errors_name_the_file_and_line(tmp_path, line, reason) -> None:
    good = {"post_id": "ok", "category": ["legitimate"], "confidence": "1"}
    path = write_lines(tmp_path / "gold.jsonl", [good, line])
    with pytest.raises(InputError, match=reason) as raised:
        load_gold(path, load_taxonomy())
    assert raised.value.message.startswith(f"{path}:2: ")


def test_gold_file_reports_every_problem_and_repeated_posts(tmp_path) -> None:
    good = {"post_id": "ok", "category": ["legitimate"], "confidence": "1"}
    path = write_lines(tmp_path / "gold.jsonl", [good, "{", good, "{"])
    with pytest.raises(InputError) as raised:
        load_gold(path, load_taxonomy())
    assert raised.value.message.startswith(f"{path}:2: invalid JSON")
    assert "2 more" in raised.value.hint and f"{path}:3: post 'ok' is already on line 1" in (
        raised.value.hint
    )
    with pytest.raises(InputError, match="does not exist"):
        load_gold(tmp_path / "missing.jsonl", load_taxonomy())
    with pytest.raises(InputError, match="has no gold items"):
        load_gold(write_lines(tmp_path / "empty.jsonl", [""]), load_taxonomy())


# --------------------------------------------------------------------------------- lexicon


def test_default_lexicon_groups_are_taxonomy_categories_of_15_to_40_terms(lexicon) -> None:
    categories = set(load_taxonomy().field("category").label_ids)
    assert set(lexicon.groups) <= categories
    assert set(lexicon.groups) == set(VIOLATION_LABELS)
    for group, terms in lexicon.groups.items():
        assert 15 <= len(terms) <= 40, group
        assert len(set(terms)) == len(terms), group
        assert any(term.isascii() for term in terms) and not all(term.isascii() for term in terms)


def test_default_lexicon_flags_violations_far_more_often_than_other_posts(demo_posts, lexicon):
    def rate(posts):
        return sum(1 for post in posts if lexicon.is_match(post["text"])) / len(posts)

    violations = [post for post in demo_posts if set(post["true_labels"]) & set(VIOLATION_LABELS)]
    off_topic = [post for post in demo_posts if post["true_labels"] == ["not_financial"]]
    assert rate(violations) > 0.4
    assert rate(off_topic) < 0.05


def test_lexicon_matching_rules() -> None:
    lexicon = Lexicon(
        {
            "fabricated_rumour": ["挤兑", "bank run", "can't withdraw"],
            "illegal_securities": ["VIP群", "insider", "pump and dump", "稳赚"],
        }
    )
    assert lexicon.matches("某银行出现挤兑") == {"fabricated_rumour"}
    assert lexicon.matches("A BANK RUN is coming") == {"fabricated_rumour"}
    assert lexicon.matches("classic pump-and-dump") == {"illegal_securities"}
    assert lexicon.matches("I can’t withdraw!") == {"fabricated_rumour"}
    assert lexicon.matches("加ＶＩＰ群稳赚，Insiders only") == {"illegal_securities"}
    assert not lexicon.is_match("the winsiders")  # Latin terms start a word
    assert lexicon.is_match("内幕insider")  # a Chinese character before is a word start
    assert lexicon.matches("nothing to see") == frozenset()


def test_lexicon_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_lexicon(tmp_path / "none.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups:\n  a: [x\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{broken}:\d+: "):
        load_lexicon(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text(yaml.safe_dump({"groups": {"extortion": {"terms": []}}}), encoding="utf-8")
    with pytest.raises(InputError, match="'extortion' needs a non-empty list of terms"):
        load_lexicon(empty)
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({"groups": {"extortion": ["删帖"]}}), encoding="utf-8")
    assert load_lexicon(plain).groups == {"extortion": ("删帖",)}


def test_the_workspace_lexicon_wins_over_the_packaged_one(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_lexicon().groups.keys() == set(VIOLATION_LABELS)
    (tmp_path / "label_config").mkdir()
    (tmp_path / "label_config" / "keywords.yaml").write_text(
        "groups:\n  extortion:\n    terms: [删帖]\n", encoding="utf-8"
    )
    assert load_lexicon().groups == {"extortion": ("删帖",)}


# ----------------------------------------------------------------------------------- store


@pytest.fixture
def store(database_url, tmp_path, demo_posts):
    """A store holding the first 600 demo posts and one undated post."""
    store = open_store(database_url)
    path = tmp_path / "posts.jsonl"
    records = [
        *demo_posts[:600],
        {"post_id": "undated", "text": "没有时间的帖子", "platform": "weibo"},
    ]
    path.write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        encoding="utf-8",
    )
    ingest_files(store, [path])
    yield store
    store.dispose()


def add_project_tasks(store, name: str, post_ids: list[str]) -> int:
    from sqlmodel import select

    from annotate.store import Post

    with store.transaction() as session:
        project = Project(name=name)
        session.add(project)
        session.flush()
        batch = Batch(project_id=project.id, strategy="random")
        session.add(batch)
        session.flush()
        for post in session.exec(select(Post).where(Post.post_id.in_(post_ids))):
            session.add(Task(project_id=project.id, post_pk=post.id, batch_id=batch.id))
        return project.id


def test_read_candidates_streams_the_posts_with_their_strata(store, demo_posts) -> None:
    candidates = {post.post_id: post for post in read_candidates(store)}
    assert len(candidates) == 601
    for post in demo_posts[:600]:
        found = candidates[post["post_id"]]
        assert found.platform == post["platform"]
        assert found.account_id == post["account_id"]
        assert found.month == month_of(datetime.fromisoformat(post["created_at"]))
        assert found.text_hash == text_hash(found.text)
    undated = candidates["undated"]
    assert (undated.month, undated.account_id, undated.source) == (UNKNOWN, UNKNOWN, "default")


def test_read_candidates_filters_in_sql(store, demo_posts) -> None:
    month = month_of(datetime.fromisoformat(demo_posts[0]["created_at"]))
    where = {"platform": ("weibo", "douyin"), "month": (month, UNKNOWN)}
    found = sorted(post.post_id for post in read_candidates(store, where))
    expected = sorted(
        post["post_id"]
        for post in demo_posts[:600]
        if post["platform"] in ("weibo", "douyin")
        and month_of(datetime.fromisoformat(post["created_at"])) == month
    )
    assert found == sorted([*expected, "undated"])
    assert set(SAMPLING_FIELDS) == {"platform", "lang", "source", "month", "account_id"}


def test_posts_already_in_the_project_are_not_candidates(store, demo_posts) -> None:
    sent = [post["post_id"] for post in demo_posts[:50]]
    project_id = add_project_tasks(store, "round-1", sent)
    add_project_tasks(store, "other", [post["post_id"] for post in demo_posts[50:60]])
    candidates = read_candidates(store, exclude_project_id=project_id)
    ids = {post.post_id for post in candidates}
    assert len(ids) == 551 and not ids & set(sent)
    selection = select_batch(candidates, SamplingParams(size=600, dedupe=False))
    assert len(selection.post_pks) == 551


def test_batches_from_the_store_are_reproducible_and_match_the_in_memory_batch(store) -> None:
    params = SamplingParams(size=80, strategy="stratified", by=("platform", "month"), seed=SEED)
    candidates = read_candidates(store)
    first = select_batch(candidates, params)
    assert select_batch(candidates, params) == first
    assert select_batch(list(candidates), params) == first


def test_read_gold_candidates_finds_the_posts_and_skips_those_already_sent(
    store, demo_posts, tmp_path
) -> None:
    taxonomy = load_taxonomy()
    answers = {"category": ["legitimate"], "confidence": "3"}
    ids = [post["post_id"] for post in demo_posts[:5]]
    path = write_lines(tmp_path / "gold.jsonl", [{"post_id": i, **answers} for i in ids])
    items = load_gold(path, taxonomy)
    project_id = add_project_tasks(store, "round-1", ids[:2])
    gold = read_gold_candidates(store, items, exclude_project_id=project_id)
    assert [post.post_id for post in gold] == ids[2:]
    assert len(read_gold_candidates(store, items)) == 5
    missing = write_lines(
        tmp_path / "missing.jsonl", [{"post_id": ids[0], **answers}, {"post_id": "nope", **answers}]
    )
    with pytest.raises(InputError, match=rf"{missing}:2: gold post 'nope' .* is not in the store"):
        read_gold_candidates(store, load_gold(missing, taxonomy))


def test_read_sent_gives_the_projects_posts(store, demo_posts) -> None:
    from annotate.sampling import read_sent

    chosen = [post["post_id"] for post in demo_posts[:40:3]]
    project_id = add_project_tasks(store, "sent", chosen)
    add_project_tasks(store, "other", [post["post_id"] for post in demo_posts[1:40:3]])
    sent = list(read_sent(store, project_id))
    by_text = {normalise_text(post["text"]) for post in demo_posts[:40:3]}
    assert len(sent) == len(chosen) and {text for _, _, text in sent} == by_text
    assert all(text_hash(text) == hashed for _, hashed, text in sent)
