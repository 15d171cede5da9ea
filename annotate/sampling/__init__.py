"""Sampling: which posts go into the next batch of a project.

Usage::

    params = SamplingParams(size=200, strategy="mixed", by=("platform", "month"), seed=7,
                            gold_rate=0.05)
    gold = read_gold_candidates(store, load_gold("gold.jsonl", load_taxonomy()),
                                exclude_project_id=project.id)
    candidates = read_candidates(store, params.where, exclude_project_id=project.id)
    selection = select_batch(candidates, params, load_lexicon(), gold=gold)
    selection.task_pks        # every post of the batch, gold included, in task order
    selection.gold_pks        # the ones to record as gold (the task itself does not say so)
    selection.composition     # per pool and stratum: available, quota, selected, suppressed

How a batch is chosen
---------------------
*Rank.* Every post gets a rank, a hash of ``(seed, source, post_id)`` (:func:`rank_key`;
version 2, SHA-256, is computed alike by DuckDB and Spark, see :mod:`annotate.engines`; batches
recorded before it keep version 1, ``SamplingParams.rank_version``). Each pool (below) takes
its posts in rank order, lowest first: a bottom-k sample, which is a uniform random sample
for a fixed seed. A post's rank never depends on
the other posts, so the same seed and corpus give the same batch, a bigger corpus changes the
batch only where new posts rank in, and bottom-k lists of partitions merge into the bottom-k
list of the whole (:meth:`Shortlist.merge`).

*Pools.* A batch of ``size`` posts is made of, in this order:

1. ``gold``: ``round(size * gold_rate)`` posts with known answers, the best-ranked of the gold
   posts given (fewer when there are fewer; the regular part then grows so that the batch
   keeps its size; at least one post is always regular);
2. ``keyword`` (strategies ``keyword`` and ``mixed``): ``round(regular * keyword_share)``
   posts that match the risk lexicon (``label_config/keywords.yaml``);
3. the rest from all candidates: ``random`` (one stratum) for strategies ``random`` and
   ``keyword``, ``stratified`` over the ``by`` fields for ``stratified`` and ``mixed``, with
   proportional (largest remainder) or equal allocation. A stratum that runs short passes
   its shortfall on to the strata that still have posts, by the same allocation.

No post appears twice; gold posts never appear among the regular picks. ``where`` filters
apply to the regular candidates only: gold posts are chosen by hand.

*Near-duplicates.* Within a pool posts are accepted greedily in rank order, each checked
against every post earlier batches sent to the project and everything accepted so far (gold
first, then keyword, then the rest): a post whose text hash equals an accepted one's, or
whose character shingles are at least ``near_duplicate_threshold`` similar to one's
(:func:`annotate.neardup.similarity`: the shorter post mostly contained in the longer, and
of similar length), is suppressed and the next-ranked post of its stratum takes its place.
The similarity is computed exactly (prefix filtering only prunes comparisons that cannot
reach the threshold, :class:`annotate.neardup.NearDuplicateIndex`), so two posts at or above
the threshold never share a batch, and neither do two reposts of one post that each only add
a little to it. Only the posts actually considered are shingled.

*Passes and memory.* The candidates are streamed once into a :class:`Shortlist`: per stratum
(and for the keyword pool) a bounded heap of the best-ranked candidates, with room for the
largest quota the stratum could get plus a margin for suppressed near-duplicates. Memory is
bounded by the number of strata times that capacity, never by the corpus. When
near-duplicates use up a stratum's margin, one more pass over the candidates collects the
next-ranked ones of the strata that ran short (rare: ``Selection.passes`` says how many
passes were made), which is why the candidates must be iterable more than once.

Modules
-------
:mod:`~annotate.sampling.params` (:class:`SamplingParams`, ``--where``),
:mod:`~annotate.sampling.candidates` (reading candidates and sent posts from the store),
:mod:`~annotate.sampling.ranking` (:func:`rank_key`), :mod:`~annotate.sampling.lexicon`
(the risk lexicon), :mod:`~annotate.sampling.quotas` (:func:`allocate_quotas`),
:mod:`~annotate.sampling.scan` (the bounded pass over the candidates),
:mod:`~annotate.sampling.selection` (:class:`Shortlist`, :func:`select_batch`) and
:mod:`~annotate.sampling.gold` (gold files); near-duplicates are :mod:`annotate.neardup`'s,
shared with splits.
"""

from __future__ import annotations

from annotate.neardup import DEFAULT_NEAR_DUPLICATE_THRESHOLD, similarity
from annotate.sampling.candidates import (
    Candidate,
    StoredCandidates,
    month_of,
    read_candidates,
    read_sent,
)
from annotate.sampling.gold import GoldAnswer, load_gold, read_gold_candidates
from annotate.sampling.lexicon import LEXICON_FILE, Lexicon, default_lexicon_path, load_lexicon
from annotate.sampling.params import (
    ALLOCATIONS,
    DEFAULT_KEYWORD_SHARE,
    GOLD_POOL,
    KEYWORD_POOL,
    MODEL_STRATEGIES,
    SAMPLING_FIELDS,
    STRATEGIES,
    UNKNOWN,
    SamplingParams,
    parse_where,
)
from annotate.sampling.quotas import allocate_quotas
from annotate.sampling.ranking import rank_key
from annotate.sampling.selection import (
    Pick,
    Selection,
    Shortlist,
    StratumCount,
    Suppression,
    select_batch,
    shortlist,
)

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_KEYWORD_SHARE",
    "DEFAULT_NEAR_DUPLICATE_THRESHOLD",
    "GOLD_POOL",
    "KEYWORD_POOL",
    "LEXICON_FILE",
    "MODEL_STRATEGIES",
    "SAMPLING_FIELDS",
    "STRATEGIES",
    "UNKNOWN",
    "Candidate",
    "GoldAnswer",
    "Lexicon",
    "Pick",
    "SamplingParams",
    "Selection",
    "Shortlist",
    "StoredCandidates",
    "StratumCount",
    "Suppression",
    "allocate_quotas",
    "default_lexicon_path",
    "load_gold",
    "load_lexicon",
    "month_of",
    "parse_where",
    "rank_key",
    "read_candidates",
    "read_gold_candidates",
    "read_sent",
    "select_batch",
    "shortlist",
    "similarity",
]
