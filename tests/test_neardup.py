"""Near-duplicates: the groups splits use and the index sampling uses, each checked against a
brute-force search over the pairs of demo posts."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest

from annotate.demo import generate_posts
from annotate.neardup import NearDuplicateIndex, near_duplicate_groups, shingles, similarity
from annotate.text import text_hash

SEED = 11


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return list(generate_posts(3000, SEED))


@pytest.fixture(scope="module")
def texts(corpus: list[dict[str, Any]]) -> list[str]:
    return [post["text"] for post in corpus]


# ------------------------------------------------------------------------ brute force


def brute_similarity(first: frozenset[str], second: frozenset[str]) -> float:
    """:func:`similarity` of two shingle sets, from its definition."""
    if not first or not second:
        return 1.0 if first == second else 0.0
    smaller, larger = sorted((len(first), len(second)))
    return min(len(first & second) / smaller, smaller / larger)


def brute_force_groups(texts: list[str], threshold: float) -> list[int]:
    """Group ids as :func:`near_duplicate_groups` defines them: connected components of the
    pairs with equal text hashes or a similarity at or above ``threshold``, numbered in
    order of each group's first post. Posts with equal shingles (similarity 1) are linked
    first; then every two distinct shingle sets are compared, but for those whose sizes
    alone keep them below the threshold (the similarity is at most the smaller size over
    the larger)."""
    neighbours: defaultdict[int, set[int]] = defaultdict(set)

    def link(first: int, second: int) -> None:
        neighbours[first].add(second)
        neighbours[second].add(first)

    first_by_hash: dict[str, int] = {}
    first_by_shingles: dict[frozenset[str], int] = {}
    for post, text in enumerate(texts):
        link(post, first_by_hash.setdefault(text_hash(text), post))
        link(post, first_by_shingles.setdefault(shingles(text), post))
    distinct = sorted(first_by_shingles.items(), key=lambda item: len(item[0]))
    for position, (first_set, first) in enumerate(distinct):
        for second_set, second in distinct[position + 1 :]:
            if first_set and len(first_set) / len(second_set) < threshold:
                break
            if brute_similarity(first_set, second_set) >= threshold:
                link(first, second)
    groups: list[int | None] = [None] * len(texts)
    number = 0
    for start in range(len(texts)):
        if groups[start] is not None:
            continue
        groups[start], frontier = number, [start]
        while frontier:
            for other in neighbours[frontier.pop()]:
                if groups[other] is None:
                    groups[other] = number
                    frontier.append(other)
        number += 1
    return groups  # type: ignore[return-value]


# ------------------------------------------------------------------------------ groups


@pytest.mark.parametrize("threshold", [0.8, 0.6])
def test_groups_are_the_components_of_every_pair_at_the_threshold(texts, threshold) -> None:
    expected = brute_force_groups(texts, threshold)
    assert near_duplicate_groups(texts, threshold=threshold) == expected
    assert len(set(expected)) < len(texts) - 500  # the demo corpus has many near-duplicates


def test_near_duplicate_groups_join_every_pair_at_the_threshold(corpus: list[dict[str, Any]]):
    texts = [post["text"] for post in corpus[:400]]
    groups = near_duplicate_groups(texts)
    pairs = 0
    for first, second in itertools.combinations(range(len(texts)), 2):
        if similarity(texts[first], texts[second]) >= 0.8:
            pairs += 1
            assert groups[first] == groups[second], (texts[first], texts[second])
    assert pairs > 20  # the demo corpus has reposts, so the check is not vacuous


def test_near_duplicate_groups_join_only_posts_linked_by_such_pairs(
    corpus: list[dict[str, Any]],
):
    texts = [post["text"] for post in corpus[:400]]
    groups = near_duplicate_groups(texts)
    members: defaultdict[int, list[int]] = defaultdict(list)
    for post, group in enumerate(groups):
        members[group].append(post)
    for posts in members.values():
        linked, frontier = {posts[0]}, [posts[0]]
        while frontier:
            post = frontier.pop()
            for other in posts:
                if other not in linked and similarity(texts[post], texts[other]) >= 0.8:
                    linked.add(other)
                    frontier.append(other)
        assert linked == set(posts)


def test_exact_duplicates_differing_in_case_and_spaces_are_one_group():
    groups = near_duplicate_groups(["Bank X  will fail", "bank x will FAIL", "完全不同的内容"])
    assert groups == [0, 0, 1]


def test_a_stricter_threshold_gives_more_groups(corpus: list[dict[str, Any]]):
    texts = [post["text"] for post in corpus[:1000]]
    assert len(set(near_duplicate_groups(texts, threshold=0.95))) > len(
        set(near_duplicate_groups(texts, threshold=0.8))
    )


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5, True])
def test_invalid_thresholds_raise(threshold: float):
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_groups(["a"], threshold=threshold)


# ------------------------------------------------------------------------------- index


@pytest.mark.parametrize("keep", ["unmatched", "every"])
def test_the_index_finds_the_earliest_added_post_at_the_threshold(texts, keep):
    """What sampling's suppression rests on: asked about a post, the index names the
    earliest added post whose similarity reaches the threshold, with that similarity, as a
    search through every added post would. ``unmatched`` adds only the posts it found
    nothing for, as sampling does with the posts it accepts."""
    threshold = 0.8
    index = NearDuplicateIndex(threshold)
    added: list[tuple[int, frozenset[str]]] = []
    found_some = 0
    for post, text in enumerate(texts[:1500]):
        post_shingles = shingles(text)
        expected = None
        if post_shingles:
            expected = next(
                (
                    (owner, score)
                    for owner, other in added
                    if (score := brute_similarity(post_shingles, other)) >= threshold
                ),
                None,
            )
        tokens = index.tokens(post_shingles)
        assert index.find(tokens) == expected, text
        found_some += expected is not None
        if expected is None or keep == "every":
            index.add(tokens, post)
            if post_shingles:
                added.append((post, post_shingles))
    assert found_some > 150


def test_an_index_for_smallest_first_refuses_a_smaller_set():
    index = NearDuplicateIndex(0.8, smallest_first=True)
    index.add(index.tokens(shingles("晨曦银行明天起暂停所有取款")), 0)
    smaller = index.tokens(shingles("暂停取款"))
    with pytest.raises(ValueError, match="smallest first"):
        index.candidates(smaller)
    with pytest.raises(ValueError, match="smallest first"):
        index.add(smaller, 1)
