"""Sampling a batch straight from a registered corpus.

The engine scans the corpus once and returns, per stratum (and for the keyword pool), the
number of candidates and the best-ranked ``cap`` of them (:class:`~annotate.engines.base.
EngineShortlist`); those rows are validated as ``ingest`` validates rows, and become the
:class:`~annotate.sampling.Shortlist` that the store path builds from its own scan. The same
selection then finishes the batch (near-duplicates, quotas, gold), and only the chosen posts
are written to the store, each with its corpus, file and partition (``corpus_posts``). When
near-duplicates use up a stratum's rows, the engine fetches its next-ranked rows (a bounded
query, never a pass of every candidate through Python).

Until they are stored, candidates have negative pks derived from their rank (unique in
practice), so they never meet a stored post's pk.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select as sql_select
from sqlalchemy import tuple_

from annotate.engines.base import Engine
from annotate.engines.query import ADDED_PREFIX, FILE, RANK, CorpusQuery
from annotate.engines.registry import CorpusFiles, CorpusInfo, check_fingerprint, corpus_id
from annotate.errors import InputError
from annotate.ingest.validation import _RowError, post_values
from annotate.sampling import (
    UNKNOWN,
    Candidate,
    GoldAnswer,
    Lexicon,
    SamplingParams,
    Selection,
    Shortlist,
    month_of,
    read_gold_candidates,
)
from annotate.sampling.scan import BottomK, ScanPlan
from annotate.store import CorpusPost, Post, Store, Task

__all__ = ["CorpusSampler", "open_engine"]

#: The key of the keyword pool's rows among the strata's.
KEYWORD = object()

ENGINES = ("duckdb", "spark")


def open_engine(name: str, spark_master: str | None = None) -> Engine:
    if name == "duckdb":
        if spark_master:
            raise InputError("--spark-master applies to --engine spark only.")
        from annotate.engines.duckdb import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from annotate.engines.spark import SparkEngine

        return SparkEngine(spark_master)
    raise InputError(f"Unknown engine {name!r}; use {' or '.join(ENGINES)}.")


@dataclass
class CorpusSampler:
    """Samples from ``corpus`` with ``engine`` for one project; see the module docstring."""

    store: Store
    corpus: CorpusInfo
    engine: Engine
    files: CorpusFiles | None = None
    rejected: list[dict[str, str]] = field(default_factory=list)
    files_read: int | None = None
    _query: CorpusQuery | None = None
    _spare: dict[Any, _Fetched] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus.name,
            "engine": self.engine.name,
            "files": self.corpus.files,
            "files_read": self.files_read,
            "rejected": self.rejected,
        }

    # -- choosing ----------------------------------------------------------------------------

    def select(
        self,
        params: SamplingParams,
        lexicon: Lexicon | None,
        gold_items: Sequence[GoldAnswer],
        project_id: int,
        sent: Iterable[tuple[int, str, str]],
    ) -> Selection:
        if params.rank_version != 2:
            raise InputError(
                f"Sampling from a corpus ranks posts by rank version 2, not {params.rank_version}.",
                hint="Rerun a batch of rank version 1 from the store (without --from).",
            )
        self.files = check_fingerprint(self.corpus)
        query = self.engine.query(
            self.files, corpus=self.corpus, params=params, lexicon=lexicon, exclude=True
        )
        self._query = query
        ours = [item for item in gold_items if item.source == self.corpus.source]
        others = [item for item in gold_items if item.source != self.corpus.source]
        in_project = self._post_ids_in_project(project_id)
        gold = read_gold_candidates(self.store, others, exclude_project_id=project_id)
        gold += self._gold_from_corpus(query, ours, in_project)
        excluded = sorted(in_project | {item.post_id for item in ours})
        plan = ScanPlan(params, lexicon, {candidate.pk for candidate in gold})
        found = self.engine.shortlist(
            query, plan.stratum_cap, plan.keyword_cap if params.uses_lexicon else None, excluded
        )
        self.files_read = found.files_read
        total = sum(count for count, _ in found.strata.values()) or 1
        strata = {}
        for key, (count, rows) in found.strata.items():
            # Validate at first only what the stratum is likely to use (its share of the batch
            # and a margin); the rest waits in ``spare`` for the selection to ask (scan_more).
            share = params.size / len(found.strata) if params.allocation == "equal" else 0
            likely = math.ceil(max(share, params.size * count / total))
            strata[key] = self._bottom(key, plan.stratum_cap, count, rows, 2 * likely + 16)
        keyword = (
            self._bottom(KEYWORD, plan.keyword_cap, *found.keyword, plan.keyword_cap)
            if found.keyword is not None
            else None
        )
        listed = Shortlist(params, lexicon, plan.exclude, strata, keyword)
        return listed.select(_MorePasses(self, query, excluded), gold, sent)

    def _post_ids_in_project(self, project_id: int) -> set[str]:
        with self.store.session() as session:
            return set(
                session.exec(
                    sql_select(Post.post_id)
                    .join(Task, Task.post_pk == Post.id)
                    .where(Task.project_id == project_id, Post.source == self.corpus.source)
                ).scalars()
            )

    def _gold_from_corpus(
        self, query: CorpusQuery, items: list[GoldAnswer], in_project: set[str]
    ) -> list[Candidate]:
        if not items:
            return []
        found = {}
        for row in self.engine.rows(query, [], ids=[item.post_id for item in items]):
            candidate = self.candidate(row)
            if candidate is not None:
                found.setdefault(candidate.post_id, candidate)
        missing = [item for item in items if item.post_id not in found]
        if missing:
            first = missing[0]
            raise InputError(
                f"{first.origin}: gold post {first.post_id!r} (source {first.source!r}) is not "
                f"in corpus {self.corpus.name!r}"
                f"{f', nor are {len(missing) - 1} more' if len(missing) > 1 else ''}.",
            )
        return [found[item.post_id] for item in items if item.post_id not in in_project]

    def _bottom(
        self, key: Any, cap: int, count: int, rows: list[dict[str, Any]], first: int
    ) -> BottomK:
        """The stratum's heap with its ``first`` best-ranked valid rows; the others are kept,
        in rank order, for :meth:`serve`."""
        bottom = BottomK(cap)
        spare = _Fetched(collections.deque(sorted(rows, key=lambda row: row[RANK])))
        spare.complete = len(rows) >= count
        spare.last = spare.rows[-1][RANK] if rows else None
        self._spare[key] = spare
        self.serve(key, bottom, first)
        bottom.offered = count
        return bottom

    def serve(self, key: Any, bottom: BottomK, limit: int | None = None) -> bool:
        """Offer ``bottom`` the stratum's next rows above its floor until it holds ``limit``
        (default: its cap); False when the rows fetched ran out before and the stratum has
        more in the corpus (:meth:`fetch` them)."""
        spare = self._spare[key]
        limit = bottom.cap if limit is None else min(limit, bottom.cap)
        while spare.rows and len(bottom.heap) < limit:
            row = spare.rows.popleft()
            rank = int(row[RANK], 16)
            if rank > bottom.floor and (candidate := self.candidate(row)) is not None:
                bottom.offer(rank, candidate)
        return len(bottom.heap) >= limit or spare.complete

    def fetch(self, query: CorpusQuery, excluded: list[str], wanted: dict[Any, int]) -> None:
        """Ask the engine for the next ``wanted[key]`` rows of each stratum (or of the keyword
        pool, :data:`KEYWORD`), ranked after the last row fetched for it: one bounded query,
        not a pass over every candidate."""
        after = {key: (self._spare[key].last, limit) for key, limit in wanted.items()}
        keyword = after.pop(KEYWORD, None)
        found, pool = self.engine.more(query, excluded, after, keyword)
        answers: dict[Any, list[dict[str, Any]]] = {**found, KEYWORD: pool}
        for key, limit in wanted.items():
            rows = sorted(answers.get(key) or [], key=lambda row: row[RANK])[:limit]
            spare = self._spare[key]
            spare.rows.extend(rows)
            spare.complete = len(rows) < limit
            if rows:
                spare.last = rows[-1][RANK]

    def candidate(self, row: dict[str, Any]) -> Candidate | None:
        """The row as ``ingest`` would store it, as a candidate; a row ``ingest`` would reject
        is left out and listed in ``rejected``."""
        record = {key: value for key, value in row.items() if not key.startswith(ADDED_PREFIX)}
        corpus = self.corpus
        try:
            values = post_values(record, corpus.id_field, corpus.text_field)
        except _RowError as error:
            self.rejected.append({"file": str(row.get(FILE)), "reason": str(error)})
            return None
        pk = -(int(row[RANK][:15], 16) + 1)
        return Candidate(
            pk,
            corpus.source,
            values["post_id"],
            values["text"],
            values["text_hash"],
            values["platform"] or UNKNOWN,
            values["lang"] or UNKNOWN,
            month_of(values["created_at"]),
            values["account_id"] or UNKNOWN,
        )

    # -- storing -----------------------------------------------------------------------------

    def store_posts(self, selection: Selection, write: bool = True) -> Selection:
        """Give the selection's corpus posts their store pks: the chosen ones are written to
        the store (unless ``write`` is false: a dry run) with their provenance, posts already
        there (by source and post id) are reused, and suppressed posts that are nowhere in the
        store keep no pk (None)."""
        corpus_pks = {pick.pk for pick in selection.picks if pick.pk < 0}
        corpus_pks |= {item.pk for item in selection.suppressed if item.pk < 0}
        corpus_pks |= {item.duplicate_of for item in selection.suppressed if item.duplicate_of < 0}
        if not corpus_pks:
            return selection
        ids = {pick.pk: pick.post_id for pick in selection.picks}
        ids |= {item.pk: item.post_id for item in selection.suppressed}
        with self.store.transaction() as session:
            keys = [(self.corpus.source, ids[pk]) for pk in corpus_pks if pk in ids]
            known = {
                post_id: pk
                for pk, post_id in session.execute(
                    sql_select(Post.id, Post.post_id).where(
                        tuple_(Post.source, Post.post_id).in_(keys)
                    )
                )
            }
            mapping = {pk: known.get(ids.get(pk)) for pk in corpus_pks}
            chosen = [pick for pick in selection.picks if pick.pk < 0 and mapping[pick.pk] is None]
            if write and chosen:
                self._write(session, chosen, mapping)
        picks = tuple(replace(pick, pk=mapping.get(pick.pk, pick.pk)) for pick in selection.picks)
        suppressed = tuple(
            replace(
                item,
                pk=mapping.get(item.pk, item.pk),
                duplicate_of=mapping.get(item.duplicate_of, item.duplicate_of),
            )
            for item in selection.suppressed
        )
        suppressed = tuple(  # in the order the store path gives: by pool, then pk
            sorted(suppressed, key=lambda item: (item.pool, item.pk is None, item.pk or 0))
        )
        return replace(selection, picks=picks, suppressed=suppressed)

    def _write(self, session: Any, chosen: list[Any], mapping: dict[int, int | None]) -> None:
        """Store the chosen posts, read whole from the corpus (shortlists carry only the
        columns sampling needs), validated as ``ingest`` validates, with their provenance."""
        assert self.files is not None and self._query is not None
        corpus = self.corpus
        rows: dict[str, tuple[dict[str, Any], str]] = {}
        for row in self.engine.rows(self._query, [], ids=[pick.post_id for pick in chosen]):
            record = {key: value for key, value in row.items() if not key.startswith(ADDED_PREFIX)}
            values = post_values(record, corpus.id_field, corpus.text_field)
            rows.setdefault(values["post_id"], (values, str(row.get(FILE) or "")))
        posts = []
        for pick in chosen:
            values, file = rows[pick.post_id]
            post = Post(source=corpus.source, **values)
            posts.append((pick, post, _relative(file, self.files)))
            session.add(post)
        session.flush()
        the_id = corpus_id(session, corpus.name)
        for pick, post, relative in posts:
            mapping[pick.pk] = post.id
            session.add(
                CorpusPost(
                    post_pk=post.id,
                    corpus_id=the_id,
                    file=relative,
                    partition=self.files.partition_of(relative) or None,
                )
            )


def _relative(file: str, files: CorpusFiles) -> str:
    path = file.removeprefix("file://").removeprefix("file:")
    try:
        from pathlib import Path

        return str(Path(path).resolve().relative_to(files.root))
    except ValueError:
        return path


@dataclass
class _Fetched:
    """A stratum's rows fetched from the engine and not yet offered, in rank order; whether
    the stratum has no rows beyond them; the rank of the last row fetched."""

    rows: collections.deque
    complete: bool = False
    last: str | None = None


class _MorePasses:
    """The candidates again, for the extra pass the selection makes when near-duplicates use
    up a stratum's margin: served from the rows the engine already returned, then from the
    engine's next-ranked rows of the short strata (:meth:`CorpusSampler.fetch`), as many as
    the pass asks for and a margin for rows ``ingest`` would reject."""

    def __init__(self, sampler: CorpusSampler, query: CorpusQuery, excluded: list[str]):
        self.sampler = sampler
        self.query = query
        self.excluded = excluded

    def scan_more(
        self, plan: ScanPlan, strata: dict[tuple[str, ...], BottomK], keyword: BottomK | None
    ) -> None:
        bottoms: dict[Any, BottomK] = dict(strata)
        if keyword is not None:
            bottoms[KEYWORD] = keyword
        serve = self.sampler.serve
        short = {key: bottom for key, bottom in bottoms.items() if not serve(key, bottom)}
        while short:
            wanted = {key: 2 * (b.cap - len(b.heap)) + 16 for key, b in short.items()}
            self.sampler.fetch(self.query, self.excluded, wanted)
            short = {key: bottom for key, bottom in short.items() if not serve(key, bottom)}
