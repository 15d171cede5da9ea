"""One pass over the candidates: each kept in its stratum's bounded heap of the best-ranked
(a bottom-k list), and in the keyword pool's when it matches the lexicon.

Each heap has room for the largest quota its stratum could get plus a margin for posts
that near-duplicate suppression removes; :func:`refill_size` says how many more a stratum
fetches in another pass when the margin runs out.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Iterable
from operator import attrgetter
from typing import TYPE_CHECKING

from annotate.sampling.candidates import Candidate
from annotate.sampling.lexicon import Lexicon
from annotate.sampling.params import SamplingParams
from annotate.sampling.ranking import ranker

if TYPE_CHECKING:
    from annotate.sampling.selection import _Stratum

# Room kept in each shortlist heap for posts that near-duplicate suppression removes: as many
# as the quota, at least 16 (a few megabytes for a batch of thousands, and another pass over
# a million posts costs seconds). Corpora with more duplicates than that cost one more pass.
_MARGIN_SHARE = 1.0
_MARGIN_MIN = 16


class BottomK:
    """The ``cap`` lowest-ranked candidates offered whose rank is above ``floor``.

    ``heap`` is a max-heap of ``(-rank, pk, candidate)``; ``offered`` counts every offer.
    """

    __slots__ = ("cap", "floor", "heap", "offered")

    def __init__(self, cap: int, floor: int = -1):
        self.cap = cap
        self.floor = floor
        self.heap: list[tuple[int, int, Candidate]] = []
        self.offered = 0

    def offer(self, rank: int, candidate: Candidate) -> None:
        self.offered += 1
        if rank <= self.floor:
            return
        heap = self.heap
        if len(heap) < self.cap:
            heapq.heappush(heap, (-rank, candidate.pk, candidate))
        elif rank < -heap[0][0]:
            heapq.heapreplace(heap, (-rank, candidate.pk, candidate))

    def would_take(self, rank: int) -> bool:
        heap = self.heap
        return rank > self.floor and (len(heap) < self.cap or rank < -heap[0][0])

    def merged(self, other: BottomK) -> BottomK:
        """The bottom-k of both (disjoint) sets of offers: the bottom-k of their union."""
        both = BottomK(self.cap, self.floor)
        both.heap = heapq.nlargest(self.cap, self.heap + other.heap, key=lambda entry: entry[0])
        heapq.heapify(both.heap)
        both.offered = self.offered + other.offered
        return both

    def ranked(self) -> list[tuple[int, Candidate]]:
        """The kept candidates, best-ranked first, as ``(rank, candidate)``."""
        return sorted((-negative, candidate) for negative, _, candidate in self.heap)


def _margin(quota: int) -> int:
    return max(_MARGIN_MIN, math.ceil(quota * _MARGIN_SHARE))


def refill_size(stratum: _Stratum) -> int:
    """How many more candidates a short stratum fetches: twice what it still needs, scaled by
    the share of its candidates that were usable so far (duplicates get more frequent as the
    batch grows), so that a corpus full of duplicates costs one extra pass rather than many."""
    need = stratum.quota - stratum.selected
    usable = max(stratum.selected, 1) / max(stratum.position, 1)
    wanted = 2 * math.ceil(need / usable) + _MARGIN_MIN
    return min(wanted, stratum.available - stratum.position)


class ScanPlan:
    """What one pass over the candidates keeps: filters, rank function and stratum key."""

    def __init__(self, params: SamplingParams, lexicon: Lexicon | None, exclude: Collection[int]):
        self.params = params
        self.lexicon = lexicon
        self.exclude = frozenset(exclude)
        self.rank = ranker(params.seed, params.rank_version)
        checks = [(attrgetter(name), frozenset(values)) for name, values in params.where.items()]
        self.where: Callable[[Candidate], bool] | None = (
            (lambda candidate: all(get(candidate) in values for get, values in checks))
            if checks
            else None
        )
        self.stratum_of = _stratum_getter(params.by)
        keyword_cap = math.ceil(params.size * params.effective_keyword_share)
        if params.dedupe:
            self.stratum_cap = params.size + _margin(params.size)
            self.keyword_cap = keyword_cap + _margin(keyword_cap)
        else:
            self.stratum_cap = params.size
            self.keyword_cap = keyword_cap

    def scan(
        self,
        candidates: Iterable[Candidate],
        strata: dict[tuple[str, ...], BottomK],
        keyword: BottomK | None,
        first_pass: bool,
    ) -> None:
        """Offer every candidate to its stratum's heap and, when it matches the lexicon, to
        ``keyword``. The first pass creates the heaps and counts every candidate (the lexicon
        runs on all of them); later passes fill the heaps given and run the lexicon only on
        candidates whose rank ``keyword`` would take."""
        exclude, where, stratum_of = self.exclude, self.where, self.stratum_of
        rank_of = self.rank
        heappush, heapreplace = heapq.heappush, heapq.heapreplace
        is_match = self.lexicon.is_match if keyword is not None and self.lexicon else None
        cap = self.stratum_cap
        for candidate in candidates:
            if candidate.pk in exclude or (where is not None and not where(candidate)):
                continue
            rank = rank_of(candidate.source, candidate.post_id)
            key = stratum_of(candidate)
            bottom = strata.get(key)
            if bottom is None and first_pass:
                bottom = strata[key] = BottomK(cap)
            if bottom is not None:  # bottom.offer(rank, candidate), inlined: the hot path
                bottom.offered += 1
                heap = bottom.heap
                if len(heap) < bottom.cap:
                    if rank > bottom.floor:
                        heappush(heap, (-rank, candidate.pk, candidate))
                elif rank < -heap[0][0] and rank > bottom.floor:
                    heapreplace(heap, (-rank, candidate.pk, candidate))
            if (
                is_match is not None
                and (first_pass or keyword.would_take(rank))
                and is_match(candidate.text)
            ):
                keyword.offer(rank, candidate)


def _stratum_getter(by: tuple[str, ...]) -> Callable[[Candidate], tuple[str, ...]]:
    if not by:
        return lambda candidate: ()
    if len(by) == 1:
        get = attrgetter(by[0])
        return lambda candidate: (get(candidate),)
    return attrgetter(*by)
