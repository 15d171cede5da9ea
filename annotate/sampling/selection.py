"""Selecting a batch: the :class:`Shortlist` of one pass, then the pools filled in rank order
with near-duplicates suppressed (see :mod:`annotate.sampling` for the method)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from annotate.errors import InputError
from annotate.neardup import NearDuplicateIndex, shingles
from annotate.sampling.candidates import Candidate
from annotate.sampling.lexicon import Lexicon
from annotate.sampling.params import GOLD_POOL, KEYWORD_POOL, SamplingParams
from annotate.sampling.quotas import allocate_quotas
from annotate.sampling.ranking import RANK_BITS, rank_key
from annotate.sampling.scan import BottomK, ScanPlan, refill_size

__all__ = [
    "Pick",
    "Selection",
    "Shortlist",
    "StratumCount",
    "Suppression",
    "select_batch",
    "shortlist",
]


@dataclass
class Shortlist:
    """The best-ranked candidates of every stratum (and of the keyword pool), bounded, with
    the number of candidates each had: all that selecting a batch needs from the stream.

    Build it with :func:`shortlist`; shortlists of disjoint partitions of the candidates
    :meth:`merge` into the shortlist of their union, so a batch can be computed per
    partition. :meth:`select` turns it into a :class:`Selection`.
    """

    params: SamplingParams
    lexicon: Lexicon | None
    exclude: frozenset[int]
    strata: dict[tuple[str, ...], BottomK]
    keyword: BottomK | None

    def merge(self, other: Shortlist) -> Shortlist:
        """The shortlist of both partitions (which must not share candidates)."""
        same_lexicon = (self.lexicon and self.lexicon.content_hash) == (
            other.lexicon and other.lexicon.content_hash
        )
        if self.params != other.params or self.exclude != other.exclude or not same_lexicon:
            raise ValueError(
                "Only shortlists made with the same parameters, lexicon and gold merge."
            )
        strata = dict(self.strata)
        for key, bottom in other.strata.items():
            strata[key] = strata[key].merged(bottom) if key in strata else bottom
        keyword = (
            self.keyword.merged(other.keyword)
            if self.keyword is not None and other.keyword is not None
            else self.keyword or other.keyword
        )
        return Shortlist(self.params, self.lexicon, self.exclude, strata, keyword)

    def select(
        self,
        candidates: Iterable[Candidate],
        gold: Iterable[Candidate] = (),
        sent: Iterable[tuple[int, str, str]] = (),
    ) -> Selection:
        """The batch. ``candidates`` are read again only when near-duplicates use up a
        stratum's margin; ``gold`` must be the same gold candidates the shortlist excluded;
        ``sent`` as for :func:`select_batch`."""
        gold = list(gold)
        if {candidate.pk for candidate in gold} != set(self.exclude):
            raise ValueError("select() needs the gold candidates the shortlist was made with.")
        return _Selector(self, candidates, gold, sent).run()


def shortlist(
    candidates: Iterable[Candidate],
    params: SamplingParams,
    lexicon: Lexicon | None = None,
    exclude: Collection[int] = (),
) -> Shortlist:
    """Stream ``candidates`` once into a :class:`Shortlist`; ``exclude`` holds the pks of
    the gold candidates, which are never regular picks."""
    _require_lexicon(params, lexicon)
    plan = ScanPlan(params, lexicon, exclude)
    strata: dict[tuple[str, ...], BottomK] = {}
    keyword = BottomK(plan.keyword_cap) if params.uses_lexicon else None
    plan.scan(candidates, strata, keyword, first_pass=True)
    return Shortlist(params, lexicon, plan.exclude, strata, keyword)


def _require_lexicon(params: SamplingParams, lexicon: Lexicon | None) -> None:
    if params.uses_lexicon and lexicon is None:
        raise InputError(
            f"The {params.strategy} strategy needs a keyword lexicon.",
            hint="Pass --keywords FILE, or keep label_config/keywords.yaml in the workspace.",
        )


# ------------------------------------------------------------------------------ selection


@dataclass(frozen=True)
class Pick:
    """One post of the batch: from which pool and stratum, at which rank.

    ``keyword_groups`` are the lexicon groups the post matches (empty without a lexicon).
    """

    pk: int
    source: str
    post_id: str
    rank: int
    pool: str
    stratum: tuple[str, ...]
    keyword_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suppression:
    """A post left out because it duplicates ``duplicate_of`` (a pk already in the batch, or
    sent to the project by an earlier batch); ``similarity`` is 1.0 for identical text."""

    pk: int
    source: str
    post_id: str
    duplicate_of: int
    similarity: float
    pool: str


@dataclass(frozen=True)
class StratumCount:
    """One row of a batch's composition (what ``--dry-run`` shows).

    ``available`` counts the candidates of the pool and stratum; ``quota`` is what the
    allocation asked of it; ``selected`` what it gave; ``suppressed`` how many of its
    candidates were left out as duplicates.
    """

    pool: str
    stratum: dict[str, str]
    available: int
    quota: int
    selected: int
    suppressed: int


@dataclass(frozen=True)
class Selection:
    """The posts of the next batch and how they were chosen.

    ``picks`` are in task order (by rank, gold mixed in where it ranks, so nothing about a
    task's position gives gold away).
    """

    params: SamplingParams
    picks: tuple[Pick, ...]
    composition: tuple[StratumCount, ...]
    suppressed: tuple[Suppression, ...]
    passes: int
    lexicon: dict[str, Any] | None = None

    @property
    def task_pks(self) -> list[int]:
        """Every post of the batch, gold included, in the order to create tasks in."""
        return [pick.pk for pick in self.picks]

    @property
    def post_pks(self) -> list[int]:
        """The regular (non-gold) posts, by rank."""
        return [pick.pk for pick in self.picks if pick.pool != GOLD_POOL]

    @property
    def gold_pks(self) -> list[int]:
        """The gold posts, by rank: to record as gold in the store, never in the task."""
        return [pick.pk for pick in self.picks if pick.pool == GOLD_POOL]

    @property
    def keyword_selected(self) -> int:
        return sum(1 for pick in self.picks if pick.pool == KEYWORD_POOL)

    @property
    def suppressed_near_duplicates(self) -> int:
        return len(self.suppressed)

    @property
    def shortfall(self) -> int:
        """How many posts the batch lacks because there were not enough candidates."""
        return self.params.size - len(self.picks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: parameters, lexicon, post pks, composition and suppressions."""
        digits = RANK_BITS[self.params.rank_version] // 4  # hex digits
        return {
            "params": self.params.as_dict(),
            "lexicon": self.lexicon,
            "size": len(self.picks),
            "shortfall": self.shortfall,
            "passes": self.passes,
            "post_pks": self.post_pks,
            "gold_pks": self.gold_pks,
            "keyword_selected": self.keyword_selected,
            "suppressed_near_duplicates": self.suppressed_near_duplicates,
            "composition": [asdict(row) for row in self.composition],
            "picks": [asdict(pick) | {"rank": f"{pick.rank:0{digits}x}"} for pick in self.picks],
            "suppressed": [asdict(item) for item in self.suppressed],
        }


def select_batch(
    candidates: Iterable[Candidate],
    params: SamplingParams,
    lexicon: Lexicon | None = None,
    gold: Iterable[Candidate] = (),
    sent: Iterable[tuple[int, str, str]] = (),
) -> Selection:
    """Choose the next batch from ``candidates`` (see :mod:`annotate.sampling` for how).

    ``candidates`` must be iterable more than once (a list, or :func:`read_candidates`):
    it is streamed once, and once more only if near-duplicates use up the shortlist's
    margin. ``gold`` holds the gold posts that may be mixed in (:func:`read_gold_candidates`).
    ``sent`` holds ``(pk, text_hash, text)`` of the posts earlier batches sent to the
    project (:func:`read_sent`): a near-duplicate of one of them is suppressed too.
    """
    if iter(candidates) is candidates:
        raise TypeError(
            "select_batch needs candidates it can read more than once (a list, or "
            "read_candidates(...)), not a one-shot iterator."
        )
    gold = list(gold)
    listed = shortlist(candidates, params, lexicon, exclude={candidate.pk for candidate in gold})
    return listed.select(candidates, gold, sent)


@dataclass
class _Stratum:
    """A stratum of one pool while the batch is filled: its ranked candidates and progress.

    ``held`` grows when a pass fetches more; ``position`` is how many of them were
    considered; ``available`` counts all candidates of the stratum in the stream.
    """

    key: tuple[str, ...]
    available: int
    held: list[tuple[int, Candidate]]
    quota: int = 0
    position: int = 0
    selected: int = 0
    suppressed: int = 0
    exhausted: bool = False

    @property
    def short(self) -> bool:
        return self.selected < self.quota

    @property
    def needs_more(self) -> bool:
        """Short, every held candidate considered, and the stream has more."""
        return (
            self.short
            and not self.exhausted
            and self.position == len(self.held)
            and self.position < self.available
        )


class _Selector:
    """Fills one batch from a shortlist: gold, then keyword, then the random/stratified pool."""

    def __init__(
        self,
        listed: Shortlist,
        candidates: Iterable[Candidate],
        gold: list[Candidate],
        sent: Iterable[tuple[int, str, str]] = (),
    ):
        self.listed = listed
        self.params = listed.params
        self.lexicon = listed.lexicon
        self.candidates = candidates
        self.gold = gold
        self.plan = ScanPlan(listed.params, listed.lexicon, listed.exclude)
        self.picks: dict[int, Pick] = {}
        self.suppressed: dict[int, Suppression] = {}
        self.text_owner: dict[str, int] = {}
        self.index = NearDuplicateIndex(listed.params.near_duplicate_threshold)
        self.passes = 1
        self.rows: list[StratumCount] = []
        if self.params.dedupe:
            for pk, text_hash, text in sent:  # earlier batches: their near-duplicates stay out
                self.text_owner.setdefault(text_hash, pk)
                self.index.add(self.index.tokens(shingles(text)), pk)

    def run(self) -> Selection:
        params = self.params
        gold_taken = self._fill_gold()
        regular = params.size - gold_taken
        if params.uses_lexicon and self.listed.keyword is not None:
            keyword = _Stratum((), self.listed.keyword.offered, self.listed.keyword.ranked())
            keyword.quota = min(params.keyword_size(regular), keyword.available)
            self._fill(KEYWORD_POOL, [keyword], self._keyword_refill, redistribute=False)
            self._row(KEYWORD_POOL, keyword)
        base_size = regular - sum(1 for pick in self.picks.values() if pick.pool == KEYWORD_POOL)
        strata = [
            _Stratum(key, bottom.offered, bottom.ranked())
            for key, bottom in sorted(self.listed.strata.items())
        ]
        taken_by_keyword: dict[tuple[str, ...], int] = {}
        for pick in self.picks.values():
            if pick.pool == KEYWORD_POOL:
                taken_by_keyword[pick.stratum] = taken_by_keyword.get(pick.stratum, 0) + 1
        order = self._tie_order(strata)
        quotas = allocate_quotas(
            base_size,
            self._weights(strata),
            {s.key: s.available - taken_by_keyword.get(s.key, 0) for s in strata},
            order,
        )
        for stratum in strata:
            stratum.quota = quotas[stratum.key]
        self._fill(params.base_pool, strata, self._strata_refill, redistribute=True)
        for stratum in strata:
            self._row(params.base_pool, stratum)
        picks = sorted(self.picks.values(), key=lambda pick: pick.rank)
        suppressed = sorted(self.suppressed.values(), key=lambda item: (item.pool, item.pk))
        return Selection(
            params=params,
            picks=tuple(picks),
            composition=tuple(self.rows),
            suppressed=tuple(suppressed),
            passes=self.passes,
            lexicon=self.lexicon.describe() if self.lexicon is not None else None,
        )

    # -- pools -------------------------------------------------------------------------------

    def _fill_gold(self) -> int:
        """Take the best-ranked gold posts; they are indexed for near-duplicates (regular
        posts that copy one are suppressed) but never checked against each other."""
        wanted = self.params.gold_size
        if wanted and not self.gold:
            raise InputError(
                f"A gold rate of {self.params.gold_rate} needs gold posts, and none are left.",
                hint="Pass --gold FILE with posts that are not in this project yet.",
            )
        rank_of = self.plan.rank
        ranked = [(rank_of(post.source, post.post_id), post) for post in self.gold]
        ranked.sort(key=lambda entry: entry[0])
        for rank, candidate in ranked[:wanted]:
            self._accept(candidate, rank, GOLD_POOL, self.plan.stratum_of(candidate), None)
        gold = _Stratum((), len(ranked), ranked, quota=wanted, selected=min(wanted, len(ranked)))
        self._row(GOLD_POOL, gold)
        return gold.selected

    def _fill(
        self,
        pool: str,
        strata: list[_Stratum],
        refill: Callable[[list[_Stratum]], None],
        redistribute: bool,
    ) -> None:
        """Walk the strata's candidates in global rank order until every quota is met,
        fetching more candidates (another pass) and redistributing shortfalls as needed."""
        target = sum(stratum.quota for stratum in strata)
        while True:
            self._walk(pool, strata)
            needing = [stratum for stratum in strata if stratum.needs_more]
            if needing:
                self.passes += 1
                refill(needing)
                continue
            for stratum in strata:
                if stratum.short:
                    stratum.exhausted = True
            shortfall = target - sum(stratum.selected for stratum in strata)
            if shortfall <= 0 or not redistribute:
                return
            spare = {
                stratum.key: 0 if stratum.exhausted else stratum.available - stratum.position
                for stratum in strata
            }
            extra = allocate_quotas(
                shortfall, self._weights(strata), spare, self._tie_order(strata)
            )
            if not any(extra.values()):
                return
            for stratum in strata:
                stratum.quota += extra[stratum.key]

    def _walk(self, pool: str, strata: list[_Stratum]) -> None:
        queue = [
            (stratum.held[stratum.position][0], number)
            for number, stratum in enumerate(strata)
            if stratum.short and stratum.position < len(stratum.held)
        ]
        heapq.heapify(queue)
        while queue:
            rank, number = heapq.heappop(queue)
            stratum = strata[number]
            candidate = stratum.held[stratum.position][1]
            stratum.position += 1
            self._consider(candidate, rank, pool, stratum)
            if stratum.short and stratum.position < len(stratum.held):
                heapq.heappush(queue, (stratum.held[stratum.position][0], number))

    def _consider(self, candidate: Candidate, rank: int, pool: str, stratum: _Stratum) -> None:
        pk = candidate.pk
        if pk in self.picks or pk in self.suppressed:
            return  # decided in an earlier pool
        tokens = None
        if self.params.dedupe:
            owner = self.text_owner.get(candidate.text_hash)
            if owner is not None:
                self._suppress(candidate, owner, 1.0, pool, stratum)
                return
            tokens = self.index.tokens(shingles(candidate.text))
            found = self.index.find(tokens)
            if found is not None:
                self._suppress(candidate, found[0], found[1], pool, stratum)
                return
        stratum_key = stratum.key if pool != KEYWORD_POOL else self.plan.stratum_of(candidate)
        self._accept(candidate, rank, pool, stratum_key, tokens)
        stratum.selected += 1

    def _accept(
        self,
        candidate: Candidate,
        rank: int,
        pool: str,
        stratum: tuple[str, ...],
        tokens: frozenset[int] | None,
    ) -> None:
        groups = tuple(sorted(self.lexicon.matches(candidate.text))) if self.lexicon else ()
        self.picks[candidate.pk] = Pick(
            candidate.pk, candidate.source, candidate.post_id, rank, pool, stratum, groups
        )
        if self.params.dedupe:
            self.text_owner.setdefault(candidate.text_hash, candidate.pk)
            if tokens is None:
                tokens = self.index.tokens(shingles(candidate.text))
            self.index.add(tokens, candidate.pk)

    def _suppress(
        self, candidate: Candidate, owner: int, score: float, pool: str, stratum: _Stratum
    ) -> None:
        self.suppressed[candidate.pk] = Suppression(
            candidate.pk, candidate.source, candidate.post_id, owner, round(score, 4), pool
        )
        stratum.suppressed += 1

    # -- more passes ------------------------------------------------------------------------

    def _keyword_refill(self, strata: list[_Stratum]) -> None:
        (stratum,) = strata
        bottom = BottomK(refill_size(stratum), floor=stratum.held[-1][0])
        self._scan_more({}, bottom)
        self._extend(stratum, bottom)

    def _strata_refill(self, strata: list[_Stratum]) -> None:
        bottoms = {
            stratum.key: BottomK(refill_size(stratum), floor=stratum.held[-1][0])
            for stratum in strata
        }
        self._scan_more(bottoms, None)
        for stratum in strata:
            self._extend(stratum, bottoms[stratum.key])

    def _scan_more(self, strata: dict[tuple[str, ...], BottomK], keyword: BottomK | None) -> None:
        """Another pass: over the candidates, or through their ``scan_more`` where they have
        one (a corpus engine's candidates serve the next-ranked without a whole pass)."""
        scan_more = getattr(self.candidates, "scan_more", None)
        if scan_more is not None:
            scan_more(self.plan, strata, keyword)
        else:
            self.plan.scan(self.candidates, strata, keyword, first_pass=False)

    @staticmethod
    def _extend(stratum: _Stratum, bottom: BottomK) -> None:
        more = bottom.ranked()
        if not more:
            stratum.exhausted = True  # the candidates changed since the first pass
        stratum.held.extend(more)

    # -- bookkeeping ------------------------------------------------------------------------

    def _weights(self, strata: list[_Stratum]) -> dict[tuple[str, ...], int]:
        if self.params.allocation == "equal":
            return {stratum.key: 1 for stratum in strata}
        return {stratum.key: stratum.available for stratum in strata}

    def _tie_order(self, strata: list[_Stratum]) -> list[tuple[str, ...]]:
        """Strata in a seed-keyed order, so rounding favours no stratum batch after batch."""
        return sorted(
            (stratum.key for stratum in strata),
            key=lambda key: rank_key(self.params.seed, "stratum", "\x1f".join(key), version=1),
        )

    def _row(self, pool: str, stratum: _Stratum) -> None:
        by = self.params.by if pool not in (GOLD_POOL, KEYWORD_POOL) else ()
        self.rows.append(
            StratumCount(
                pool,
                dict(zip(by, stratum.key, strict=True)),
                stratum.available,
                stratum.quota,
                stratum.selected,
                stratum.suppressed,
            )
        )
