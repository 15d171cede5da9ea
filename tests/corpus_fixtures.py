"""One corpus two ways: hive-partitioned Parquet (registered with ``corpus add``) and the same
posts as JSON Lines ingested into the store, so every engine can be checked against the store
path. Shared by tests/test_corpus.py (DuckDB) and tests/test_corpus_spark.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotate.batches import sample_batch
from annotate.demo import generate_posts
from annotate.demo.lake import write_lake
from annotate.engines import CorpusSampler
from annotate.engines.registry import add_corpus, get_corpus
from annotate.ingest import ingest_files
from annotate.sampling import SamplingParams, load_lexicon
from annotate.store import Project, Store, open_store
from annotate.store.queries import record_taxonomy
from annotate.taxonomy import load_taxonomy

SOURCE = "lake"
SEED = 20241001
GOLD_ANSWER = {"category": ["legitimate"], "confidence": "3"}

#: A strategy each: (name, parameters, whether it takes the gold file).
STRATEGIES = [
    ("random", {"size": 40}, False),
    ("stratified", {"size": 60, "strategy": "stratified", "by": ("platform", "month")}, False),
    (
        "stratified-equal",
        {"size": 50, "strategy": "stratified", "by": ("platform",), "allocation": "equal"},
        False,
    ),
    ("keyword", {"size": 40, "strategy": "keyword", "keyword_share": 0.5}, False),
    (
        "mixed-lang",
        {"size": 60, "strategy": "mixed", "by": ("lang", "account_id"), "seed": 11},
        False,
    ),
    (
        "where",
        {"size": 30, "where": {"platform": ("weibo",), "month": ("2024-10", "unknown")}},
        False,
    ),
    ("gold", {"size": 40, "gold_rate": 0.1, "seed": 5}, True),
    ("no-dedupe", {"size": 40, "dedupe": False, "seed": 99}, False),
]


#: Strategies for a crowded corpus (``make_two_ways(crowded=True)``): near-duplicates use up
#: the strata's margins, so the selection asks the engine for more rows.
CROWDED_STRATEGIES = [
    ("random", {"size": 60}),
    ("stratified", {"size": 60, "strategy": "stratified", "by": ("lang",)}),
    ("keyword", {"size": 40, "strategy": "keyword", "keyword_share": 0.5, "seed": 3}),
]


def corpus_posts(size: int = 1500, crowded: bool = False) -> list[dict[str, Any]]:
    """Demo posts and the awkward ones: an exact and a near duplicate, an undated post, a
    platform in capitals, a blank text (rejected by both paths) and integer-like ids.
    ``crowded``: six posts in ten, from the eleventh on, are reposts of one of the first
    seven (their text and a tail)."""
    posts = list(generate_posts(size, seed=SEED))
    if crowded:
        for index in range(10, size):
            if index % 10 < 6:
                posts[index]["text"] = f"{posts[index % 7]['text']} 转发 {index}"
    posts[1]["text"] = posts[0]["text"]
    posts[2]["text"] = posts[0]["text"] + " 转发"
    posts[3]["created_at"] = None
    posts[4]["platform"] = "Weibo"
    posts[5]["text"] = "   "
    posts[6]["post_id"] = f"  {posts[6]['post_id']}  "
    return posts


@dataclass
class TwoWays:
    store: Store
    lake: Path
    gold: Path
    posts: list[dict[str, Any]]

    def sample(self, project: str, params: SamplingParams, engine: Any = None, gold=False):
        """One batch into a new project: from the store, or from the corpus with ``engine``."""
        with self.store.transaction() as session:
            taxonomy = record_taxonomy(session, load_taxonomy())
            session.add(Project(name=project, taxonomy_id=taxonomy.id))
        corpus = (
            CorpusSampler(self.store, get_corpus(self.store, SOURCE), engine)
            if engine is not None
            else None
        )
        return sample_batch(
            self.store,
            project,
            params,
            lexicon=load_lexicon(),
            gold_file=self.gold if gold else None,
            corpus=corpus,
        )


def make_two_ways(
    folder: Path, database_url: str | None = None, size: int = 1500, crowded: bool = False
) -> TwoWays:
    folder.mkdir(parents=True, exist_ok=True)
    posts = corpus_posts(size, crowded)
    write_lake(folder / "lake", 0, posts=[dict(post) for post in posts], chunk=700)
    lines = folder / "posts.jsonl"
    lines.write_text(
        "".join(json.dumps(post, ensure_ascii=False) + "\n" for post in posts), encoding="utf-8"
    )
    store = open_store(database_url or f"sqlite:///{folder}/annotate.db")
    ingest_files(store, [lines], source=SOURCE)
    add_corpus(store, SOURCE, str(folder / "lake"))
    gold = folder / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"post_id": post["post_id"], "source": SOURCE, **GOLD_ANSWER}) + "\n"
            for post in posts[100:130]
        ),
        encoding="utf-8",
    )
    return TwoWays(store, folder / "lake", gold, posts)


def comparable(result) -> dict[str, Any]:
    """A batch as the store records it and as ``sample`` shows it, minus which engine ran."""
    # How many passes each made is how it fetched candidates, not what it chose.
    selection = {
        key: value for key, value in result.selection.items() if key not in ("corpus", "passes")
    }
    return {"selection": selection, "batch": result.batch.params}


class Counting:
    """An engine that counts its calls of ``more`` (the selection's requests for more rows)."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.more_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def more(self, *args: Any, **kwargs: Any) -> Any:
        self.more_calls += 1
        return self.engine.more(*args, **kwargs)
