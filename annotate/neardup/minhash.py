"""Near-duplicate groups at corpus scale: MinHash-LSH finds candidate pairs, and every
candidate pair is scored exactly, so a group never holds a pair below the threshold.

Usage::

    minhash_groups(texts, threshold=0.8)    # what near_duplicate_groups(texts) runs on many posts
    LshParams.for_threshold(0.8)            # LshParams(rows=3, bands=26): recall 0.99 at 0.8

The definition is :mod:`annotate.neardup`'s (:func:`~annotate.neardup.shingles`,
:func:`~annotate.neardup.similarity`), computed for a whole corpus at once with numpy:

1. Posts with equal :func:`~annotate.text.text_hash` are one group; one post per hash goes on.
2. Shingles (:func:`_shingle_codes`): a chunk of posts is joined into one string, and the
   same regular expressions as :func:`~annotate.neardup.shingles` clean it in a few calls
   (separators that none of them can cross keep posts and repost hops apart); each shingle
   of up to three characters becomes one integer of its code points, each distinct shingle
   a small id. Equal shingle sets are one group; the distinct sets go on.
3. MinHash (Broder 1997): ``num_perm = rows · bands`` hash values per set, bit for bit
   those of ``datasketch.MinHash(num_perm, seed=1)`` (its default affine32 scheme, SHA-1 of
   each shingle's UTF-8): each distinct shingle is hashed once into a table, and a set's
   signature is the column-wise minimum of its rows of the table.
4. LSH (Indyk and Motwani 1998): sets that agree on all ``rows`` values of a band share a
   bucket; a pair with Jaccard similarity ``J`` shares a bucket in at least one of the
   ``bands`` with probability ``1 - (1 - J^rows)^bands``.
5. Verification: each pair compared is scored exactly (:func:`~annotate.neardup.near_score`
   of the shingle sets' intersection, after two exact upper bounds) and joined when the
   score reaches the threshold, so no group ever holds a pair that no chain of pairs at the
   threshold links. Each member of a bucket is first compared with the bucket's first
   member (one comparison per member joins a bucket of one group). Then, in a bucket of up
   to ``_ALL_PAIRS_UP_TO`` members, every pair of members still in different groups; in a
   larger bucket, each member only with one member of each of up to ``_LEADERS`` groups of
   the bucket. Large buckets are posts from one template with different slots (another
   bank, another stock), not near-duplicates of one another but with a Jaccard similarity
   near ``J₀``; their number of pairs grows with the square of the corpus, which every
   pair would make quadratic. The pairs this leaves out are counted by the benchmark
   (``benchmarks/neardup.py``: pair recall against the exact groups).

Why the bands are what they are: a pair at similarity ``t`` (the shorter post shares ``t``
of its shingles and is ``t`` of the longer's size) has Jaccard similarity at least
``J₀ = t² / (1 + t - t²)`` (0.55 at the default 0.8), reached when both bounds are tight.
:meth:`LshParams.for_threshold` picks the most rows (fewest false candidates) whose bands,
chosen to find a pair at ``J₀`` with probability at least 0.99, need at most 128 hash
values. Pairs above the threshold have a higher ``J`` and are found more surely, and a
missed pair still joins its group through any other chain of found pairs.

Measured (``benchmarks/RESULTS.md``): on 100,000 demo posts 19 of the 21.4 million pairs
of posts that the exact groups put together are missed (pair recall 0.999999) and no
false pair appears; 1,000,000 posts take 46 s of CPU and 2.1 GiB at most, where the exact
join would take hours.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from annotate.neardup import (
    _EPSILON,
    _HASHTAG,
    _MENTION,
    _REPOST_MARKER,
    _URL,
    SHINGLE_LENGTH,
    shingles,
)
from annotate.text import text_hash

__all__ = ["LshParams", "minhash_groups", "minhash_signatures"]

RECALL_AT_THRESHOLD = 0.99
MAX_NUM_PERM = 128
SEED = 1  # datasketch's default seed: the permutations are MinHash(num_perm, seed=1)'s

# Posts are joined with _POST_BREAK and repost hops marked with _HOP_BREAK: the newlines
# around each keep every cleaning pattern from matching across them (none crosses a
# newline), and the control character survives the cleaning to mark the boundary.
_POST_MARK, _HOP_MARK = "\x00", "\x01"
_POST_BREAK, _HOP_BREAK = f"\n{_POST_MARK}\n", f"\n{_HOP_MARK}\n"
_CHUNK = 20_000  # posts cleaned per string: big enough to amortise, small enough for memory
_BITS = 21  # a code point fits in 21 bits, so a shingle of three fits in 63
_PAIR_CHUNK = 500_000  # candidate pairs generated and bounded at once
_ALL_PAIRS_UP_TO = 128  # members of a bucket whose every pair is compared
_LEADERS = 16  # in a larger bucket: how many groups each member meets (one member each)
_SIGNATURE_BLOCK = 1 << 16  # shingles whose MinHash values are taken at once
_SCORED_CHUNK = 100_000  # pairs scored exactly at once
_BINS = 128  # the bins of the per-bin bound on shared shingles (ids hashed to 7 bits)


@dataclass(frozen=True)
class LshParams:
    """``bands`` bands of ``rows`` MinHash values each (``num_perm = rows · bands``)."""

    rows: int
    bands: int

    @property
    def num_perm(self) -> int:
        return self.rows * self.bands

    def probability(self, jaccard: float) -> float:
        """Probability that a pair of this Jaccard similarity shares at least one bucket."""
        return 1 - (1 - jaccard**self.rows) ** self.bands

    @staticmethod
    def lowest_jaccard(threshold: float) -> float:
        """The lowest Jaccard similarity of two shingle sets whose
        :func:`~annotate.neardup.similarity` reaches ``threshold``.

        >>> round(LshParams.lowest_jaccard(0.8), 4)
        0.5517
        """
        return threshold**2 / (1 + threshold - threshold**2)

    @classmethod
    def for_threshold(
        cls,
        threshold: float,
        recall: float = RECALL_AT_THRESHOLD,
        max_num_perm: int = MAX_NUM_PERM,
    ) -> LshParams:
        """The most rows per band whose bands find a pair at the threshold's lowest Jaccard
        similarity with probability ``recall``, within ``max_num_perm`` hash values.

        >>> LshParams.for_threshold(0.8), LshParams.for_threshold(0.6)
        (LshParams(rows=3, bands=26), LshParams(rows=2, bands=53))
        """
        lowest = cls.lowest_jaccard(threshold)
        best = cls(1, max(1, math.ceil(math.log(1 - recall) / math.log(1 - lowest))))
        for rows in range(2, 9):
            collide = lowest**rows
            if collide >= 1:
                return cls(rows, 1)
            bands = math.ceil(math.log(1 - recall) / math.log(1 - collide))
            if rows * bands > max_num_perm:
                break
            best = cls(rows, bands)
        return best


# ---------------------------------------------------------------------------- shingles


def _clean_joined(texts: Sequence[str]) -> np.ndarray:
    """The code points of what :func:`~annotate.neardup.shingles` keeps of each text
    (letters and digits), the texts separated by ``_POST_MARK`` and repost hops by
    ``_HOP_MARK``."""
    normal = [unicodedata.normalize("NFKC", text) for text in texts]  # most skip the work
    joined = _POST_BREAK.join(normal).casefold()
    joined = _REPOST_MARKER.sub(_HOP_BREAK, _URL.sub(" ", joined))
    joined = _MENTION.sub(" ", _HASHTAG.sub(" ", joined))
    chars = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
    return chars[_kept()[chars]]


@functools.cache
def _kept() -> np.ndarray:
    """Per code point: does cleaning keep it (a letter or digit as ``\\w`` sees it, or one
    of the marks)?"""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    dropped = re.sub(r"[\W_]", "\x00", every)
    kept = np.frombuffer(dropped.encode("utf-32-le", "surrogatepass"), np.uint32) != 0
    kept[[ord(_POST_MARK), ord(_HOP_MARK)]] = True
    return kept


def _encode(shingle: str) -> int:
    code = 0
    for position, char in enumerate(shingle):
        code |= ord(char) << (_BITS * (SHINGLE_LENGTH - 1 - position))
    return code


def _decode(code: int) -> str:
    chars = [(code >> (_BITS * shift)) & ((1 << _BITS) - 1) for shift in (2, 1, 0)]
    return "".join(chr(char) for char in chars if char)


def _shingle_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(post, code)`` arrays: each shingle of each text as an integer of its code points
    (a shingle of fewer than three characters is padded with zeros, which no letter is),
    with the text's position. A text holding one of the marks is shingled on its own."""
    if any(_POST_MARK in text or _HOP_MARK in text for text in texts):
        posts, codes = [], []
        for post, text in enumerate(texts):
            text_codes = [_encode(shingle) for shingle in shingles(text)]
            posts.extend([post] * len(text_codes))
            codes.extend(text_codes)
        return np.array(posts, np.int64), np.array(codes, np.uint64)
    chars = _clean_joined(texts)
    letter = chars > 1  # 0 and 1 are the marks
    post_of = np.cumsum(chars == 0)
    three = letter[:-2] & letter[1:-1] & letter[2:]
    wide = chars.astype(np.uint64)
    windows = np.flatnonzero(three)
    window_codes = (wide[windows] << (2 * _BITS)) | (wide[windows + 1] << _BITS) | wide[windows + 2]
    # Runs of one or two letters between marks (or the ends) are one shingle each.
    edges = np.diff(np.concatenate(([0], letter.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    short = (ends - starts) < SHINGLE_LENGTH
    starts, lengths = starts[short], (ends - starts)[short]
    short_codes = wide[starts] << (2 * _BITS)
    two = lengths == 2
    short_codes[two] |= wide[starts[two] + 1] << _BITS
    return (
        np.concatenate((post_of[windows], post_of[starts])).astype(np.int64),
        np.concatenate((window_codes, short_codes)),
    )


class _Vocabulary:
    """Distinct shingle codes, each with an id in order of first sight."""

    def __init__(self) -> None:
        self.codes = np.empty(0, np.uint64)  # by id
        self._sorted = np.empty(0, np.uint64)
        self._sorted_ids = np.empty(0, np.int64)

    def ids(self, codes: np.ndarray) -> np.ndarray:
        distinct, inverse = np.unique(codes, return_inverse=True)
        where = np.searchsorted(self._sorted, distinct)
        known = where < len(self._sorted)
        known[known] = self._sorted[where[known]] == distinct[known]
        distinct_ids = np.empty(len(distinct), np.int64)
        distinct_ids[known] = self._sorted_ids[where[known]]
        new = distinct[~known]
        new_ids = np.arange(len(self.codes), len(self.codes) + len(new))
        distinct_ids[~known] = new_ids
        if len(new):
            self.codes = np.concatenate((self.codes, new))
            merged = np.concatenate((self._sorted, new))
            order = np.argsort(merged, kind="stable")
            self._sorted = merged[order]
            self._sorted_ids = np.concatenate((self._sorted_ids, new_ids))[order]
        return distinct_ids[inverse]


def _shingle_sets(texts: Sequence[str]) -> tuple[list[int], sparse.csr_matrix, np.ndarray]:
    """``(set_of_text, sets, vocabulary codes)``: the distinct shingle sets as the rows of
    a 0/1 matrix over shingle ids (the empty set, if any text has it, among them), and the
    row of each text."""
    vocabulary = _Vocabulary()
    row_of: dict[bytes, int] = {}
    set_of_text: list[int] = []
    pieces: list[np.ndarray] = []
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start : start + _CHUNK]
        posts, codes = _shingle_codes(chunk)
        ids = vocabulary.ids(codes)
        keys = np.unique((posts << 32) | ids)  # sorted by post, then id; no repeats
        keys_post = keys >> 32
        bounds = np.searchsorted(keys_post, np.arange(len(chunk) + 1))
        ids = (keys & 0xFFFFFFFF).astype(np.uint32)
        for post in range(len(chunk)):
            members = ids[bounds[post] : bounds[post + 1]]
            row = row_of.setdefault(members.tobytes(), len(row_of))
            if row == len(pieces):
                pieces.append(members)
            set_of_text.append(row)
    sizes = np.fromiter(map(len, pieces), np.int64, len(pieces))
    indptr = np.concatenate(([0], np.cumsum(sizes)))
    indices = np.concatenate(pieces) if pieces else np.empty(0, np.uint32)
    index_type = np.int64 if len(indices) >= 2**31 else np.int32  # one type: no copies
    sets = sparse.csr_matrix(
        (np.ones(len(indices), np.int32), indices.astype(index_type), indptr.astype(index_type)),
        shape=(len(pieces), len(vocabulary.codes)),
    )
    sets.has_sorted_indices = True
    return set_of_text, sets, vocabulary.codes


# ------------------------------------------------------------------------------ minhash


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch's affine32 scheme applies it."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def _hash_table(codes: np.ndarray, num_perm: int) -> np.ndarray:
    """``(len(codes), num_perm)`` uint32: each shingle's value under each permutation."""
    from datasketch import MinHash
    from datasketch.hashfunc import sha1_hash32

    a, b = MinHash(num_perm=num_perm, seed=SEED).permutations
    hashed = np.fromiter(
        (sha1_hash32(_decode(int(code)).encode()) for code in codes), np.uint32, len(codes)
    )
    with np.errstate(over="ignore"):
        return _fmix32(hashed)[:, None] * a.astype(np.uint32) + b.astype(np.uint32)


def minhash_signatures(sets: sparse.csr_matrix, codes: np.ndarray, num_perm: int) -> np.ndarray:
    """``(rows, num_perm)`` uint32: the MinHash signature of each (non-empty) row of
    ``sets``, whose columns are the shingles ``codes``; equal to datasketch's
    ``MinHash(num_perm, seed=1).update_batch(s.encode() for s in shingles)``."""
    table = np.ascontiguousarray(_hash_table(codes, num_perm).T)
    signatures = np.empty((num_perm, sets.shape[0]), np.uint32)
    indptr, indices = sets.indptr, sets.indices
    first = 0
    # Sets a block of shingles at a time (the block stays in cache), and one permutation at
    # a time within it (taking whole rows of the table is far slower).
    while first < sets.shape[0]:
        last = int(np.searchsorted(indptr, indptr[first] + _SIGNATURE_BLOCK, side="right")) - 1
        last = max(last, first + 1)
        block = indices[indptr[first] : indptr[last]]
        starts = indptr[first:last] - indptr[first]
        for permutation in range(num_perm):
            values = table[permutation].take(block)
            signatures[permutation, first:last] = np.minimum.reduceat(values, starts)
        first = last
    return signatures.T


# ------------------------------------------------------------------------------- search


class _Groups:
    """Connected components over ``size`` nodes, grown by batches of verified pairs."""

    def __init__(self, size: int):
        self.label = np.arange(size)

    def join(self, first: np.ndarray, second: np.ndarray) -> None:
        if not len(first):
            return
        # Components of the groups that the pairs touch, each named by its smallest label.
        touched, ends = np.unique(
            np.concatenate((self.label[first], self.label[second])), return_inverse=True
        )
        size = len(touched)
        graph = sparse.coo_matrix(
            (np.ones(len(first), np.int8), (ends[: len(first)], ends[len(first) :])),
            shape=(size, size),
        )
        _, component = connected_components(graph, directed=False)
        smallest = np.full(component.max() + 1, len(self.label))
        np.minimum.at(smallest, component, touched)
        rename = np.arange(len(self.label))
        rename[touched] = smallest[component]
        self.label = rename[self.label]


class _Verifier:
    """Scores candidate pairs of rows exactly and joins those at the threshold.

    Before the exact score, two exact upper bounds drop most pairs below the threshold
    cheaply: the size ratio, and the shared shingles per bin (the shingle ids fall into
    ``_BINS`` bins; two sets cannot share more shingles in a bin than the smaller count).
    A pair is scored once: pairs found below the threshold are remembered, pairs found at
    it are in one group from then on."""

    def __init__(self, sets: sparse.csr_matrix, threshold: float, groups: _Groups):
        self.indptr, self.indices = sets.indptr, sets.indices
        self.threshold, self.groups = threshold, groups
        self.sizes = np.diff(self.indptr)
        self._count_type = np.uint8
        counts = self._bin_counts(np.uint8)
        if counts is None:  # a bin holds 256 shingles or more
            self._count_type = np.uint16
            counts = self._bin_counts(np.uint16)
        # One opaque item per set: taking items is far faster than taking rows.
        self.bin_counts = counts.view(np.dtype((np.void, counts.itemsize * _BINS))).ravel()
        # Pairs (first << 32 | second) scored exactly below the threshold, not to be
        # scored again (pairs that the bounds drop are dropped again as cheaply).
        self.below = np.empty(0, np.int64)
        self.vocabulary_size = sets.shape[1]
        self.scored = 0

    def _bin_counts(self, count_type: type) -> np.ndarray | None:
        """``(sets, _BINS)``: how many of each set's shingles fall in each bin; None if a
        count does not fit ``count_type``."""
        counts = np.empty((len(self.sizes), _BINS), count_type)
        most = np.iinfo(count_type).max
        for first in range(0, len(self.sizes), _SIGNATURE_BLOCK):
            last = min(first + _SIGNATURE_BLOCK, len(self.sizes))
            ids = self.indices[self.indptr[first] : self.indptr[last]].astype(np.uint32)
            bins = (ids * np.uint32(0x9E3779B1)) >> np.uint32(25)
            rows = np.repeat(np.arange(last - first, dtype=np.uint32), self.sizes[first:last])
            block = np.bincount(rows * _BINS + bins, minlength=(last - first) * _BINS)
            if block.max(initial=0) > most:
                return None
            counts[first:last] = block.reshape(-1, _BINS)
        return counts

    def _bins(self, rows: np.ndarray) -> np.ndarray:
        return self.bin_counts[rows].view(self._count_type).reshape(len(rows), _BINS)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        """The shingle ids of ``rows``, one row after the other, each in increasing order."""
        lengths = self.sizes[rows]
        ends = np.cumsum(lengths)
        offsets = np.repeat(self.indptr[rows] - (ends - lengths), lengths)
        return self.indices[np.arange(ends[-1] if len(ends) else 0) + offsets]

    def common(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """How many shingles each pair of rows shares, counted exactly: the two rows' ids,
        tagged with the pair, sorted together; a shared id is a repeat."""
        pair = np.arange(len(first), dtype=np.int64) * self.vocabulary_size
        keys = np.concatenate(
            (
                np.repeat(pair, self.sizes[first]) + self._rows(first),
                np.repeat(pair, self.sizes[second]) + self._rows(second),
            )
        )
        keys.sort(kind="stable")  # two sorted runs: a merge
        repeats = keys[1:][keys[1:] == keys[:-1]]
        return np.bincount(repeats // self.vocabulary_size, minlength=len(first))

    def join_similar(self, first: np.ndarray, second: np.ndarray) -> None:
        """Join the pairs ``(first[i], second[i])`` whose score reaches the threshold."""
        label, sizes, floor = self.groups.label, self.sizes, self.threshold - _EPSILON
        first_size, second_size = sizes[first], sizes[second]
        small = np.minimum(first_size, second_size)
        # The same divisions as near_score, so that no rounding drops a pair it would keep.
        keep = small / np.maximum(first_size, second_size) >= floor
        keep &= label[first] != label[second]
        first, second, small = first[keep], second[keep], small[keep]
        bound = np.minimum(self._bins(first), self._bins(second)).sum(axis=1, dtype=np.int64)
        possible = bound / small >= floor
        first, second, small = first[possible], second[possible], small[possible]
        pairs = (np.minimum(first, second) << 32) | np.maximum(first, second)
        pairs, where = np.unique(pairs, return_index=True)
        new = ~np.isin(pairs, self.below, assume_unique=True)
        pairs, small = pairs[new], small[where[new]]
        first, second = pairs >> 32, pairs & 0xFFFFFFFF
        similar = np.zeros(len(pairs), bool)
        for start in range(0, len(pairs), _SCORED_CHUNK):
            part = slice(start, start + _SCORED_CHUNK)
            similar[part] = self.common(first[part], second[part]) / small[part] >= floor
        self.scored += len(pairs)
        if len(pairs) > len(similar.nonzero()[0]):
            self.below = np.union1d(self.below, pairs[~similar])
        self.groups.join(first[similar], second[similar])


def _band_keys(band: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of ``band`` (equal rows, equal keys; unequal rows collide
    with probability about 2⁻⁶⁴, which only adds a candidate pair to score)."""
    keys = np.zeros(len(band), np.uint64)
    with np.errstate(over="ignore"):
        for column in range(band.shape[1]):
            keys = (keys ^ band[:, column].astype(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
            keys ^= keys >> np.uint64(29)
    return keys


def _buckets(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(members, starts)``: the rows of each bucket of two or more equal keys, bucket
    after bucket (each in increasing row order), and where each bucket starts."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    boundary = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], boundary))
    ends = np.concatenate((boundary, [len(keys)]))
    shared = ends - starts >= 2
    starts, ends = starts[shared], ends[shared]
    lengths = ends - starts
    take = np.repeat(starts - np.cumsum(np.concatenate(([0], lengths[:-1]))), lengths)
    members = order[np.arange(lengths.sum()) + take]
    return members, np.concatenate(([0], np.cumsum(lengths)))


def _bucket_pairs(
    members: np.ndarray, starts: np.ndarray, label: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair of members of one bucket whose groups differ, at most about
    ``_PAIR_CHUNK`` pairs at a time (groups joined meanwhile drop later pairs); in a
    bucket of more than ``_ALL_PAIRS_UP_TO`` members, each member with the first member
    of each of the bucket's first ``_LEADERS`` groups only."""
    lengths = np.diff(starts)
    large = lengths > _ALL_PAIRS_UP_TO
    if large.any():
        in_large = np.repeat(large, lengths)
        big, big_lengths = members[in_large], lengths[large]
        bucket = np.repeat(np.arange(len(big_lengths)), big_lengths)
        order = np.lexsort((label[big], bucket))
        big, bucket = big[order], bucket[order]
        labels = label[big]
        run_start = np.concatenate(([True], (np.diff(labels) != 0) | (np.diff(bucket) != 0)))
        runs = np.flatnonzero(run_start)
        run_bucket = bucket[runs]
        first_run = np.searchsorted(run_bucket, np.arange(len(big_lengths)))
        run_count = np.bincount(run_bucket, minlength=len(big_lengths))
        for leader in range(_LEADERS):
            has = run_count > leader
            leaders = big[runs[first_run[has] + leader]]
            chosen = np.repeat(has, big_lengths)
            yield np.repeat(leaders, big_lengths[has]), big[chosen]
        members = members[~in_large]
        starts = np.concatenate(([0], np.cumsum(lengths[~large])))
    bucket = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    order = np.lexsort((label[members], bucket))
    members, bucket = members[order], bucket[order]
    labels = label[members]
    # Where each member's run of equal labels in its bucket ends: pair it with every
    # member after that run in its bucket.
    new_run = np.concatenate(([True], (np.diff(labels) != 0) | (np.diff(bucket) != 0)))
    run_starts = np.flatnonzero(new_run)
    run_ends = np.concatenate((run_starts[1:], [len(members)]))
    run_end = np.repeat(run_ends, np.diff(np.concatenate((run_starts, [len(members)]))))
    counts = starts[1:][bucket] - run_end
    total = np.cumsum(counts)
    cuts = np.searchsorted(
        total, np.arange(_PAIR_CHUNK, int(total[-1]) if len(total) else 0, _PAIR_CHUNK)
    )
    bounds = np.unique(np.concatenate(([0], cuts + 1, [len(members)])))
    for low, high in itertools.pairwise(bounds.tolist()):
        part = counts[low:high]
        first = np.repeat(np.arange(low, high), part)
        offsets = np.arange(part.sum()) - np.repeat(np.cumsum(part) - part, part)
        yield members[first], members[np.repeat(run_end[low:high], part) + offsets]


def minhash_groups(
    texts: Sequence[str], *, threshold: float, params: LshParams | None = None
) -> list[int]:
    """:func:`~annotate.neardup.near_duplicate_groups` by MinHash-LSH candidates and exact
    verification (see the module docstring): never a pair below the threshold in one group;
    the exact groups but for pairs at the threshold that LSH misses (at most 1 in 100 of
    those right at the threshold, far fewer above it) or that a large bucket leaves out,
    when no chain of found pairs joins them either."""
    first_by_hash: dict[str, int] = {}
    text_group = [
        first_by_hash.setdefault(text_hash(text), post) for post, text in enumerate(texts)
    ]
    distinct = list(first_by_hash.values())
    set_of_distinct, sets, codes = _shingle_sets([texts[post] for post in distinct])
    groups = _Groups(sets.shape[0])
    sizes = np.diff(sets.indptr)
    if threshold < 1 and sets.shape[0] > 1:  # at 1, only equal sets are near-duplicates
        params = params or LshParams.for_threshold(threshold)
        shingled = np.flatnonzero(sizes > 0)
        signatures = minhash_signatures(sets[shingled], codes, params.num_perm)
        verifier = _Verifier(sets, threshold, groups)
        buckets = []
        for band in range(params.bands):
            columns = signatures[:, band * params.rows : (band + 1) * params.rows]
            members, starts = _buckets(_band_keys(columns))
            buckets.append((shingled[members], starts))
        # Stars from each bucket's first member first: in a bucket of one large group,
        # that joins it with one comparison per member.
        for members, starts in buckets:
            verifier.join_similar(np.repeat(members[starts[:-1]], np.diff(starts)), members)
        # Then every pair of a bucket not yet in one group.
        for members, starts in buckets:
            for first, second in _bucket_pairs(members, starts, groups.label):
                verifier.join_similar(first, second)
    label_of_first = np.zeros(len(texts), np.int64)
    label_of_first[distinct] = groups.label[np.array(set_of_distinct, np.int64)]
    labels = label_of_first[np.array(text_group, np.int64)]
    _, first_seen, numbered = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first_seen))[numbered].tolist()
