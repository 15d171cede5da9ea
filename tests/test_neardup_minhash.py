"""Near-duplicate groups by MinHash-LSH candidates and exact verification
(:mod:`annotate.neardup.minhash`): the same shingles as :func:`shingles`, the same MinHash
values as datasketch, and the same groups as the exact join (never a pair below the
threshold in one group)."""

from __future__ import annotations

import random
import re
import sys
from collections import defaultdict

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.demo import generate_posts
from annotate.neardup import minhash as lsh
from annotate.neardup import near_duplicate_groups, shingles, similarity

SEED = 11


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [post["text"] for post in generate_posts(3000, SEED)]


def members(groups: list[int]) -> list[list[int]]:
    by_group: defaultdict[int, list[int]] = defaultdict(list)
    for post, group in enumerate(groups):
        by_group[group].append(post)
    return list(by_group.values())


def refines(finer: list[int], coarser: list[int]) -> bool:
    """Is every group of ``finer`` inside one group of ``coarser``?"""
    return all(len({coarser[post] for post in group}) == 1 for group in members(finer))


# ---------------------------------------------------------------------------- shingles


def codes_as_shingles(texts: list[str]) -> list[frozenset[str]]:
    posts, codes = lsh._shingle_codes(texts)
    found: list[set[str]] = [set() for _ in texts]
    for post, code in zip(posts.tolist(), codes.tolist(), strict=True):
        found[post].add(lsh._decode(code))
    return [frozenset(post_shingles) for post_shingles in found]


def test_corpus_shingles_are_the_shingles_of_each_post(texts) -> None:
    assert codes_as_shingles(texts) == [shingles(text) for text in texts]


PIECES = [
    "银行",
    "暂停取款",
    "Bank X will fail",
    "ＡＢＣ１２３",
    "①②",
    "http://t.cn/A6x ",
    "www.example.com/a?b ",
    "#挤兑#",
    "#BankRun ",
    "@银行内幕哥 ",
    "//@银行内幕哥:",
    "//@a：",
    "😱",
    "！！",
    "\n",
    " ",
    "_",
    "e\u0301",
    "\u0301",
    "ß",
    "İ",
    "a",
    "ab",
    "\x00",
    "\x01",
    "#a\nb#",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), max_size=6))
def test_shingles_of_any_texts_are_those_of_each_text(texts) -> None:
    """Joining posts into one string changes no post's shingles: not at the separators,
    not for repost hops, and not for texts holding the separators' own characters."""
    assert codes_as_shingles(texts) == [shingles(text) for text in texts]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=5))
def test_shingles_of_arbitrary_unicode_are_those_of_each_text(texts) -> None:
    assert codes_as_shingles(texts) == [shingles(text) for text in texts]


def test_the_kept_code_points_are_those_the_cleaning_pattern_keeps() -> None:
    dropped = re.compile(r"[\W_]")
    expected = np.fromiter(
        (dropped.match(chr(point)) is None for point in range(sys.maxunicode + 1)), bool
    )
    expected[[0, 1]] = True  # the two marks
    assert np.array_equal(lsh._kept(), expected)


# ------------------------------------------------------------------------------ minhash


def test_signatures_are_datasketchs_minhash_values(texts) -> None:
    sample = texts[:300]
    set_of_text, sets, codes = lsh._shingle_sets(sample)
    signatures = lsh.minhash_signatures(sets, codes, 40)
    checked = 0
    for text, row in zip(sample, set_of_text, strict=True):
        text_shingles = shingles(text)
        if not text_shingles:
            continue
        expected = MinHash(num_perm=40, seed=lsh.SEED)
        expected.update_batch([shingle.encode() for shingle in text_shingles])
        assert np.array_equal(signatures[row], expected.hashvalues), text
        checked += 1
    assert checked > 250


@pytest.mark.parametrize("threshold", [0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
def test_bands_find_a_pair_at_the_threshold_with_probability_099(threshold) -> None:
    params = lsh.LshParams.for_threshold(threshold)
    assert params.num_perm <= lsh.MAX_NUM_PERM
    assert params.probability(lsh.LshParams.lowest_jaccard(threshold)) >= 0.99


@pytest.mark.parametrize("threshold", [0.6, 0.8, 0.9])
def test_the_lowest_jaccard_is_reached_by_a_pair_at_the_threshold(threshold) -> None:
    """Two sets at the threshold with both bounds tight have exactly that Jaccard value,
    and no pair at the threshold has less (checked over every size and overlap)."""
    for smaller in range(1, 60):
        for larger in range(smaller, 80):
            for common in range(smaller + 1):
                score = min(common / smaller, smaller / larger)
                if score >= threshold - 1e-9:
                    jaccard = common / (smaller + larger - common)
                    assert jaccard >= lsh.LshParams.lowest_jaccard(threshold) - 1e-9
    smaller = 100
    common, larger = threshold * smaller, smaller / threshold
    assert common / (smaller + larger - common) == pytest.approx(
        lsh.LshParams.lowest_jaccard(threshold)
    )


# ------------------------------------------------------------------------------- groups


@pytest.mark.parametrize("threshold", [0.6, 0.8, 0.95, 1.0])
def test_groups_are_the_exact_groups_on_the_demo_corpus(texts, threshold) -> None:
    exact = near_duplicate_groups(texts, threshold=threshold, method="exact")
    assert near_duplicate_groups(texts, threshold=threshold, method="minhash") == exact
    assert len(set(exact)) < len(texts) - 500  # the demo corpus has many near-duplicates


def planted_corpus(size: int, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Random texts, and copies of some edited to land near the 0.8 threshold: a suffix
    added, a stretch replaced, a repost comment in front, punctuation and a link added.
    Returns the corpus and the (original, copy) pairs."""
    rand = random.Random(seed)
    alphabet = "银行取款暂停破产内部消息紧急储户网点通知公司股票市场涨跌利率基金理财的了是在有"
    originals = [
        "".join(rand.choice(alphabet) for _ in range(rand.randint(8, 120))) for _ in range(size)
    ]
    corpus, planted = list(originals), []
    for original in originals[: size // 2]:
        length = len(original)
        edit = rand.choice(["suffix", "replace", "repost", "noise"])
        if edit == "suffix":
            extra = round(length * rand.uniform(0.1, 0.3))
            copy = original + "".join(rand.choice(alphabet) for _ in range(extra))
        elif edit == "replace":
            start = rand.randrange(length)
            stretch = round(length * rand.uniform(0.02, 0.12))
            replaced = "".join(rand.choice(alphabet) for _ in range(stretch))
            copy = original[:start] + replaced + original[start + stretch :]
        elif edit == "repost":
            comment = "".join(rand.choice(alphabet) for _ in range(rand.randint(1, 12)))
            copy = f"{comment}//@用户{rand.randint(1, 99)}:{original}"
        else:
            copy = "！".join(original[i : i + 7] for i in range(0, length, 7)) + " http://t.cn/x"
        corpus.insert(rand.randrange(len(corpus) + 1), copy)
        planted.append((original, copy))
    return corpus, planted


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_groups_are_the_exact_groups_with_planted_near_duplicates(seed) -> None:
    corpus, planted = planted_corpus(1500, seed)
    exact = near_duplicate_groups(corpus, method="exact")
    assert near_duplicate_groups(corpus, method="minhash") == exact
    # The planted edits straddle the threshold: many copies reach it, many fall short.
    scores = [similarity(original, copy) for original, copy in planted]
    assert sum(0.8 <= score < 0.9 for score in scores) > 100
    assert sum(0.6 <= score < 0.8 for score in scores) > 50


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from("银行取款暂停破产内部消息紧急"), min_size=0, max_size=24).map(
            "".join
        ),
        max_size=40,
    ),
    st.sampled_from([0.6, 0.8, 0.9]),
)
def test_no_group_joins_posts_that_no_chain_of_pairs_links(texts, threshold) -> None:
    """Every candidate pair is scored exactly, so MinHash groups never join posts that the
    exact groups keep apart (they can only split an exact group, where LSH missed a pair)."""
    exact = near_duplicate_groups(texts, threshold=threshold, method="exact")
    found = near_duplicate_groups(texts, threshold=threshold, method="minhash")
    assert refines(found, exact)
    assert found == exact or len(set(found)) > len(set(exact))


def test_auto_chooses_the_exact_join_for_few_posts(texts, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("MinHash used on few posts")

    monkeypatch.setattr(lsh, "minhash_groups", refuse)
    near_duplicate_groups(texts[:100])
    with pytest.raises(AssertionError, match="MinHash used"):
        near_duplicate_groups(texts[:100], method="minhash")


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method must be auto, exact or minhash"):
        near_duplicate_groups(["a"], method="fast")  # type: ignore[arg-type]


def test_empty_and_shingle_less_posts() -> None:
    assert near_duplicate_groups([], method="minhash") == []
    posts = [
        "😱😱",
        "http://t.cn/x",
        "晨曦银行明天起暂停所有取款",
        "#挤兑#",
        "晨曦银行明天起暂停所有取款！",
    ]
    assert near_duplicate_groups(posts, method="minhash") == [0, 0, 1, 0, 1]
    assert near_duplicate_groups(posts, method="exact") == [0, 0, 1, 0, 1]


def test_large_buckets_compare_members_with_one_member_per_group(texts, monkeypatch) -> None:
    """With every bucket "large", members meet only a few groups' first members: the
    groups still join no pair below the threshold, and miss few pairs if any."""
    monkeypatch.setattr(lsh, "_ALL_PAIRS_UP_TO", 2)
    monkeypatch.setattr(lsh, "_LEADERS", 2)
    exact = near_duplicate_groups(texts, method="exact")
    found = near_duplicate_groups(texts, method="minhash")
    assert refines(found, exact)
    assert len(set(found)) < len(set(exact)) * 1.05
