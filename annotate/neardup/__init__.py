"""Near-duplicate posts: one definition and one exact search, for sampling and for splits.

Usage::

    similarity(rumour, repost)              # 0.92: at or above the threshold, near-duplicates

    index = NearDuplicateIndex(0.8)         # sampling: post by post
    tokens = index.tokens(shingles(text))
    index.find(tokens)                      # (owner, similarity) of the earliest post added
    index.add(tokens, pk)                   # that it is near, or None

    near_duplicate_groups(texts)            # splits: every pair, as groups

What counts
-----------
Two posts are near-duplicates when the character shingles of what they say
(:func:`shingles`: links, hashtags, mentions, punctuation and emoji left out, repost chains
shingled hop by hop) are at least ``threshold`` similar (:func:`similarity`: the shorter post
mostly contained in the longer, and of similar length). Batch sampling keeps such posts out
of one batch; splits keep them in one split.

How they are found
------------------
Sampling, and :func:`near_duplicate_groups` on fewer than :data:`EXACT_UP_TO` posts, search
exactly with prefix filtering (Chaudhuri, Ganti and
Kaushik 2006; Bayardo, Ma and Srikant 2007, "Scaling up all pairs similarity search"): two
shingle sets ``x`` and ``y`` at or above ``t`` share at least ``t·min(|x|, |y|) ≥
t²·max(|x|, |y|)`` shingles (the size ratio is at least ``t`` too), so under one fixed order
of the shingles they share one among the first ``|x| - ceil(t²·|x|) + 1`` of each. A
:class:`NearDuplicateIndex` keeps, per shingle, the sets that hold it in that prefix, and
compares a new set exactly only with the sets of compatible size that share a prefix
shingle with it. Sampling adds the posts of a batch one at a time and asks the index about
each post before adding it; :func:`near_duplicate_groups` asks it about every distinct
shingle set, smallest first, before adding that set, which is the all-pairs join.

That join grows faster than the corpus (100,000 demo posts take about 45 s). From
:data:`EXACT_UP_TO` posts on, :func:`near_duplicate_groups` takes candidate pairs from
MinHash-LSH instead and scores each pair it compares exactly
(:mod:`annotate.neardup.minhash`): no pair below the threshold is ever joined, and a pair
at the threshold is a candidate with probability at least 0.99 (far more above it, and a
missed pair still joins its group through any other chain of found pairs).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from annotate.text import text_hash

__all__ = [
    "DEFAULT_NEAR_DUPLICATE_THRESHOLD",
    "EXACT_UP_TO",
    "SHINGLE_LENGTH",
    "NearDuplicateIndex",
    "near_duplicate_groups",
    "near_score",
    "shingles",
    "similarity",
]

DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.8
SHINGLE_LENGTH = 3
# Below this many posts the exact join is faster than MinHash-LSH (benchmarks/neardup.py).
EXACT_UP_TO = 10_000

# Scores and sizes are compared with this slack, so that a pair exactly at the threshold is
# never lost to rounding.
_EPSILON = 1e-9
# Text a near-duplicate check ignores: links, repost markers (//@name:), hashtags, mentions,
# and then everything that is not a letter or a digit (punctuation, emoji, spaces).
_URL = re.compile(r"(?:https?://|www\.)\S+")
_REPOST_MARKER = re.compile(r"//@[^:：\s/]{1,40}[:：]")
_HASHTAG = re.compile(r"#[^#\n]{1,40}#|#\w+")
_MENTION = re.compile(r"@[\w\-·]+")
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")


# ---------------------------------------------------------------------------- definition


def shingles(text: str) -> frozenset[str]:
    """Character shingles of length :data:`SHINGLE_LENGTH` of what a post says.

    The text is NFKC-normalised and case-folded; links, hashtags and mentions are dropped;
    what is left keeps only letters and digits (no spaces, punctuation or emoji). Repost
    chains (``comment//@user:original``) are shingled hop by hop, so a short comment in
    front of a repost adds only its own shingles. A hop shorter than a shingle is one shingle.
    """
    text = _URL.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    shingles: set[str] = set()
    for hop in _REPOST_MARKER.split(text):
        hop = _NOT_LETTER_OR_DIGIT.sub("", _MENTION.sub(" ", _HASHTAG.sub(" ", hop)))
        if len(hop) <= SHINGLE_LENGTH:
            if hop:
                shingles.add(hop)
            continue
        shingles.update(hop[i : i + SHINGLE_LENGTH] for i in range(len(hop) - SHINGLE_LENGTH + 1))
    return frozenset(shingles)


def similarity(first: str, second: str) -> float:
    """How near two posts are, from their character shingles ``A`` and ``B``:
    ``min(|A ∩ B| / min(|A|, |B|), min(|A|, |B|) / max(|A|, |B|))``. At or above a threshold
    ``t`` the shorter post shares at least ``t`` of its shingles with the longer one and is
    at least ``t`` of its size.

    Unlike Jaccard similarity (which it is never below) this keeps the reposts of one post
    together: copies that each add a little to a common text (a comment in front, a suffix)
    are all near-duplicates of one another when each is one of the original, so two of them
    never share a batch whichever was seen first. 1.0 means equal shingles: the posts differ
    at most in links, hashtags, mentions, emoji, punctuation, case or width.

    >>> similarity("紧急！晨曦银行明天起暂停取款！！", "😱紧急!晨曦银行明天起暂停取款!!! http://t.cn/A6x")
    1.0
    >>> rumour = "紧急！内部人士透露晨曦银行明天起暂停所有取款，赶紧去取钱！"
    >>> repost, copy = "真的假的？//@银行内幕哥:" + rumour, rumour + "（转自朋友圈）"
    >>> round(similarity(rumour, repost), 2), round(similarity(repost, copy), 2)
    (0.92, 0.9)
    >>> debunk = "【辟谣】该消息不实，请勿传播。//@银行内幕哥:" + rumour  # adds its own content
    >>> round(similarity(rumour, debunk), 2)
    0.73
    """
    a, b = shingles(first), shingles(second)
    if not a or not b:
        return 1.0 if a == b else 0.0
    return near_score(len(a & b), len(a), len(b))


def near_score(common: int, size: int, other_size: int) -> float:
    """:func:`similarity` of two non-empty shingle sets of ``size`` and ``other_size``
    shingles that share ``common``.

    >>> near_score(9, 10, 10), near_score(10, 10, 16)
    (0.9, 0.625)
    """
    smaller, larger = min(size, other_size), max(size, other_size)
    return min(common / smaller, smaller / larger)


# --------------------------------------------------------------------------------- search


class NearDuplicateIndex:
    """Shingle sets, each with an owner, searched for the sets whose :func:`similarity` to
    a given set reaches the threshold ``t`` (see the module docstring for the method).

    Shingles become integer ids (:meth:`tokens`), and a set's prefix is its highest ids
    first: shingles get increasing ids as they are first seen, which never changes an order
    already used and, when nothing else is known, puts rarer shingles first (common ones are
    seen early), keeping the posting lists short. ``shingle_order`` numbers known shingles
    up front, most common first, so that their prefixes start with the rarest.
    ``smallest_first`` promises that sets are asked about and added in order of size,
    smallest first (an all-pairs join); the posting lists then drop the sets too small for
    the sets still to come. Sets without shingles are neither added nor found.
    """

    def __init__(
        self, threshold: float, shingle_order: Iterable[str] = (), *, smallest_first: bool = False
    ):
        self.threshold = threshold
        self.shingle_ids: dict[str, int] = {}
        for shingle in shingle_order:
            self.shingle_ids.setdefault(shingle, len(self.shingle_ids))
        self.smallest_first = smallest_first
        self._largest_size = 0  # with smallest_first: of the sets asked about or added so far
        self.sets: list[frozenset[int]] = []
        self.owners: list[int] = []
        self.postings: dict[int, deque[int]] = {}
        # A set is usually asked about and then added: its prefix is kept for the second call.
        self._last_prefix: tuple[frozenset[int] | None, list[int]] = (None, [])

    def tokens(self, shingles: frozenset[str]) -> frozenset[int]:
        """``shingles`` as ids (assigning ids to new shingles)."""
        ids = self.shingle_ids
        if not ids.keys() >= shingles:
            for shingle in shingles:
                if shingle not in ids:
                    ids[shingle] = len(ids)
        return frozenset(map(ids.__getitem__, shingles))

    def _prefix(self, tokens: frozenset[int]) -> list[int]:
        last, prefix = self._last_prefix
        if last is not tokens:
            size = len(tokens)
            length = size - math.ceil(self.threshold**2 * size - _EPSILON) + 1
            prefix = sorted(tokens, reverse=True)[:length]
            self._last_prefix = (tokens, prefix)
        return prefix

    def candidates(self, tokens: frozenset[int]) -> set[int]:
        """The entries (added sets, numbered in order of addition: ``sets[entry]``,
        ``owners[entry]``) that share a prefix shingle with ``tokens``: every added set whose
        similarity to ``tokens`` can reach the threshold is among them."""
        if not tokens:
            return set()
        sets, prune = self.sets, self.smallest_first
        if prune:
            self._check_order(tokens)
        smallest = self.threshold * len(tokens) - _EPSILON
        found: set[int] = set()
        for token in self._prefix(tokens):
            posting = self.postings.get(token)
            if posting:
                while prune and posting and len(sets[posting[0]]) < smallest:
                    posting.popleft()  # too small for this set, and so for every later one
                found.update(posting)
        return found

    def find(self, tokens: frozenset[int]) -> tuple[int, float] | None:
        """The earliest added set whose similarity to ``tokens`` reaches the threshold, as
        ``(owner, similarity)``; None if there is none."""
        size, threshold, sets = len(tokens), self.threshold, self.sets
        smallest, largest = threshold * size - _EPSILON, size / threshold + _EPSILON
        for entry in sorted(self.candidates(tokens)):
            other = sets[entry]
            if not smallest <= len(other) <= largest:
                continue  # sizes too different to reach the threshold
            score = near_score(len(tokens & other), size, len(other))
            if score >= threshold - _EPSILON:
                return self.owners[entry], score
        return None

    def _check_order(self, tokens: frozenset[int]) -> None:
        if len(tokens) < self._largest_size:
            raise ValueError(
                "This index takes sets smallest first; ask about and add them in order of size."
            )
        self._largest_size = len(tokens)

    def add(self, tokens: frozenset[int], owner: int) -> None:
        if not tokens:
            return
        if self.smallest_first:
            self._check_order(tokens)
        sets = self.sets
        index = len(sets)
        sets.append(tokens)
        self.owners.append(owner)
        for token in self._prefix(tokens):
            self.postings.setdefault(token, deque()).append(index)


# --------------------------------------------------------------------------------- groups


class _UnionFind:
    """Disjoint sets over ``0..size-1`` (path halving, union by size)."""

    def __init__(self, size: int):
        self.parent = list(range(size))
        self.size = [1] * size

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, first: int, second: int) -> None:
        first, second = self.find(first), self.find(second)
        if first == second:
            return
        if self.size[first] < self.size[second]:
            first, second = second, first
        self.parent[second] = first
        self.size[first] += self.size[second]

    def labels(self) -> list[int]:
        """Set ids ``0, 1, ...`` in order of each set's first member."""
        numbers: dict[int, int] = {}
        return [
            numbers.setdefault(self.find(node), len(numbers)) for node in range(len(self.parent))
        ]


def near_duplicate_groups(
    texts: Sequence[str],
    *,
    threshold: float = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    method: Literal["auto", "exact", "minhash"] = "auto",
) -> list[int]:
    """A near-duplicate group id per post: ``0, 1, ...`` in order of each group's first post.

    Two posts are in one group when they have the same :func:`annotate.text.text_hash`, or
    their :func:`similarity` is at least ``threshold``, or a chain of such pairs links them.
    Posts without letters or digits (only links, emoji, hashtags) have no shingles and are
    near-duplicates of one another.

    Posts with equal text hashes, then with equal shingle sets, are merged first. With
    ``method="exact"`` (what ``"auto"`` runs on fewer than :data:`EXACT_UP_TO` posts) the
    distinct sets then go through a :class:`NearDuplicateIndex` whose shingle order is
    rarest first (ties by the shingle itself), smallest set first, so that a set only meets
    smaller ones; pairs already in one group are not compared. With ``method="minhash"``
    (``"auto"`` on more posts) they go through
    :func:`annotate.neardup.minhash.minhash_groups`: candidate pairs from MinHash-LSH,
    scored exactly, so a group never joins two posts that no chain of pairs at the
    threshold links, and splits one only where a pair was missed (by LSH: at most 1 in 100
    pairs right at the threshold; or left out of a large bucket) that no other chain makes
    up for.

    >>> near_duplicate_groups([
    ...     "紧急！内部人士透露晨曦银行明天起暂停所有取款，赶紧去取钱！",
    ...     "今天天气不错，适合出去走走。",
    ...     "真的假的？//@银行内幕哥:紧急！内部人士透露晨曦银行明天起暂停所有取款，赶紧去取钱！",
    ...     "今天天气不错，适合出去走走。 ",
    ... ])
    [0, 1, 0, 1]
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"The near-duplicate threshold must be a number, not {threshold!r}.")
    if not 0 < threshold <= 1:
        raise ValueError(
            f"The near-duplicate threshold must be above 0 and at most 1, not {threshold!r}."
        )
    if method not in ("auto", "exact", "minhash"):
        raise ValueError(
            f"The near-duplicate method must be auto, exact or minhash, not {method!r}."
        )
    if method == "minhash" or (method == "auto" and len(texts) >= EXACT_UP_TO):
        from annotate.neardup.minhash import minhash_groups  # numpy, scipy, datasketch

        return minhash_groups(texts, threshold=threshold)
    forest = _UnionFind(len(texts))
    first_by_hash: dict[str, int] = {}
    first_by_shingles: dict[frozenset[str], int] = {}
    for post, text in enumerate(texts):
        forest.union(post, first_by_hash.setdefault(text_hash(text), post))
    for first in first_by_hash.values():
        post_shingles = shingles(texts[first])
        forest.union(first, first_by_shingles.setdefault(post_shingles, first))
    _merge_similar(forest, first_by_shingles, threshold)
    return forest.labels()


def _merge_similar(
    forest: _UnionFind, representatives: Mapping[frozenset[str], int], threshold: float
) -> None:
    """Union the representatives of every two distinct shingle sets whose similarity is at
    least ``threshold``; ``representatives`` maps each set to one post that has it."""
    frequency: Counter[str] = Counter()
    for shingle_set in representatives:
        frequency.update(shingle_set)
    # The index takes the shingles numbered last first: number the most common first.
    most_common_first = sorted(frequency, key=lambda shingle: (frequency[shingle], shingle))[::-1]
    index = NearDuplicateIndex(threshold, most_common_first, smallest_first=True)
    items = sorted(
        (
            (index.tokens(shingle_set), owner)
            for shingle_set, owner in representatives.items()
            if shingle_set
        ),
        key=lambda item: (len(item[0]), item[1]),
    )
    sets, owners = index.sets, index.owners
    for tokens, owner in items:
        size, root = len(tokens), forest.find(owner)
        # Every earlier set is no larger, and the index dropped the ones too small.
        for entry in index.candidates(tokens):
            other_root = forest.find(owners[entry])
            if other_root == root:
                continue  # already one group: how similar does not matter
            other = sets[entry]
            if near_score(len(tokens & other), size, len(other)) >= threshold - _EPSILON:
                forest.union(root, other_root)
                root = forest.find(root)
        index.add(tokens, owner)
