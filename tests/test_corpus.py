"""External corpora with DuckDB: registering Parquet datasets, refusing bad ones, and sampling
from them the very batch the store path gives, with only the chosen posts stored."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from corpus_fixtures import (
    CROWDED_STRATEGIES,
    SOURCE,
    STRATEGIES,
    Counting,
    comparable,
    make_two_ways,
)
from sqlmodel import select

from annotate.engines.duckdb import DuckDBEngine
from annotate.engines.prefilter import lexicon_prefilter
from annotate.engines.registry import add_corpus, get_corpus, list_corpora, refresh_corpus
from annotate.errors import InputError
from annotate.sampling import SamplingParams, load_lexicon, rank_key, read_candidates
from annotate.sampling.ranking import rank_sql
from annotate.store import Batch, CorpusPost, Post, Task, open_store


@pytest.fixture(scope="module")
def two_ways(tmp_path_factory):
    made = make_two_ways(tmp_path_factory.mktemp("corpus"))
    yield made
    made.store.dispose()


# ------------------------------------------------------------------------------ rank v2


@pytest.mark.parametrize(
    ("seed", "source", "post_id"),
    [(0, "default", "wb1"), (2**64 - 1, "lake", "帖子-42"), (7, "a'b", "x\\y"), (1, "", " ")],
)
def test_rank_v2_is_the_same_number_in_python_and_duckdb(seed, source, post_id):
    connection = duckdb.connect()
    quote = "'" + source.replace("'", "''") + "'"
    sql = rank_sql(seed, quote, "'" + post_id.replace("'", "''") + "'", "duckdb")
    (hex_digits,) = connection.execute(f"SELECT {sql}").fetchall()[0]
    assert int(hex_digits, 16) == rank_key(seed, source, post_id, version=2)
    digest = hashlib.sha256(f"{seed}\x1f{source}\x1f{post_id}".encode()).hexdigest()
    assert hex_digits == digest


def test_rank_v1_is_still_the_keyed_blake2b():
    key = (7).to_bytes(8, "big")
    expected = hashlib.blake2b(b"default\x1fwb1", key=key, digest_size=16).digest()
    assert rank_key(7, "default", "wb1", version=1) == int.from_bytes(expected, "big")
    with pytest.raises(InputError, match="Unknown rank version 3"):
        SamplingParams(size=1, rank_version=3)


def test_lexicon_prefilter_lets_every_exact_match_through(two_ways):
    import re

    lexicon = load_lexicon()
    prefilter = re.compile(lexicon_prefilter(lexicon))
    matched = [post["text"] for post in two_ways.posts if lexicon.is_match(post["text"])]
    assert len(matched) > 50
    assert all(prefilter.search(text.lower()) for text in matched)


# ------------------------------------------------------------------------------ registering


def test_add_records_schema_partitions_rows_and_fingerprint(two_ways):
    info = get_corpus(two_ways.store, SOURCE)
    assert info.rows == len(two_ways.posts)
    assert info.partition_columns == ["month", "platform"]
    assert "Weibo" in info.partitions["platform"] and "unknown" in info.partitions["month"]
    assert {"name": "created_at", "type": "timestamp[us, tz=UTC]"} in info.columns
    files = sorted(two_ways.lake.rglob("*.parquet"))
    assert info.files == len(files) and info.bytes == sum(f.stat().st_size for f in files)
    assert len(info.fingerprint) == 64 and [c.name for c in list_corpora(two_ways.store)] == [
        SOURCE
    ]


def write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def posts_table(ids=("a", "b"), **extra) -> pa.Table:
    return pa.table({"post_id": list(ids), "text": ["hello", "world"], **extra})


@pytest.mark.parametrize(
    ("build", "uri", "options", "message"),
    [
        (lambda root: None, "missing", {}, "does not exist"),
        (lambda root: (root / "empty").mkdir(), "empty", {}, "holds no Parquet files"),
        (
            lambda root: (root / "csv").mkdir() or (root / "csv" / "a.csv").write_text("x\n"),
            "csv",
            {},
            "holds no Parquet files",
        ),
        (
            lambda root: write(root / "noid" / "a.parquet", posts_table()),
            "noid",
            {"id_field": "mid"},
            "has no id column 'mid'",
        ),
        (
            lambda root: write(root / "notext" / "a.parquet", posts_table()),
            "notext",
            {"text_field": "content"},
            "has no text column 'content'",
        ),
        (
            lambda root: (
                write(root / "mixed" / "p=1" / "a.parquet", posts_table()),
                write(root / "mixed" / "p=2" / "b.parquet", posts_table(likes=[1, 2])),
            ),
            "mixed",
            {},
            "mixes schemas",
        ),
        (
            lambda root: write(
                root / "floats" / "a.parquet", pa.table({"post_id": [1.0], "text": ["x"]})
            ),
            "floats",
            {},
            "floating-point",
        ),
        (
            lambda root: (
                (root / "broken").mkdir() or (root / "broken" / "a.parquet").write_text("no")
            ),
            "broken",
            {},
            "is not a readable Parquet file",
        ),
    ],
)
def test_bad_corpora_are_refused_with_one_sentence_and_nothing_stored(
    database_url, tmp_path, build, uri, options, message
):
    store = open_store(database_url)
    try:
        build(tmp_path)
        with pytest.raises(InputError, match=message):
            add_corpus(store, "bad", str(tmp_path / uri), **options)
        assert list_corpora(store) == []
    finally:
        store.dispose()


def test_a_glob_registers_only_its_files_and_names_are_unique(database_url, tmp_path):
    for month in ("2024-09", "2024-10"):
        write(
            tmp_path / "lake" / f"month={month}" / "a.parquet",
            posts_table(ids=(month, "x" + month)),
        )
    store = open_store(database_url)
    try:
        info = add_corpus(store, "oct", str(tmp_path / "lake" / "month=2024-10" / "*.parquet"))
        assert (info.files, info.rows) == (1, 2)
        with pytest.raises(InputError, match="already registered"):
            add_corpus(store, "oct", str(tmp_path / "lake"))
    finally:
        store.dispose()


def test_changed_files_are_refused_until_refresh(database_url, tmp_path):
    write(tmp_path / "lake" / "a.parquet", posts_table())
    store = open_store(database_url)
    try:
        add_corpus(store, "c", str(tmp_path / "lake"))
        write(tmp_path / "lake" / "b.parquet", posts_table(ids=("c", "d")))
        sampler_store_project(store)
        from annotate.batches import sample_batch
        from annotate.engines import CorpusSampler

        sampler = CorpusSampler(store, get_corpus(store, "c"), DuckDBEngine())
        with pytest.raises(InputError, match=r"changed since it was registered.*corpus refresh c"):
            sample_batch(store, "p", SamplingParams(size=2), corpus=sampler)
        with store.session() as session:
            assert session.exec(select(Post)).all() == []
            assert session.exec(select(Batch)).all() == []
        assert refresh_corpus(store, "c").rows == 4
        sampler = CorpusSampler(store, get_corpus(store, "c"), DuckDBEngine())
        result = sample_batch(store, "p", SamplingParams(size=3, dedupe=False), corpus=sampler)
        assert result.batch.tasks == 3
        shutil.rmtree(tmp_path / "lake")
        with pytest.raises(InputError, match="does not exist"):
            sample_batch(store, "p", SamplingParams(size=1), corpus=sampler)
    finally:
        store.dispose()


def sampler_store_project(store, name: str = "p") -> None:
    from annotate.store import Project
    from annotate.store.queries import record_taxonomy
    from annotate.taxonomy import load_taxonomy

    with store.transaction() as session:
        taxonomy = record_taxonomy(session, load_taxonomy())
        session.add(Project(name=name, taxonomy_id=taxonomy.id))


# ------------------------------------------------------------------------------ sampling


@pytest.mark.parametrize(("name", "values", "gold"), STRATEGIES, ids=[s[0] for s in STRATEGIES])
def test_duckdb_gives_the_batch_the_store_gives(two_ways, name, values, gold):
    params = SamplingParams(**values)
    from_store = two_ways.sample(f"store-{name}", params, gold=gold)
    from_duckdb = two_ways.sample(f"duckdb-{name}", params, DuckDBEngine(), gold=gold)
    assert from_duckdb.selection["corpus"]["rejected"] == []  # SQL left out the blank text
    expected = comparable(from_store)
    got = comparable(from_duckdb)
    assert got["batch"].pop("corpus") == SOURCE and got["batch"].pop("engine") == "duckdb"
    assert got == expected
    assert len(from_store.batch.params["post_ids"]) >= values["size"] * 0.8
    if gold:
        assert from_store.batch.gold == round(values["size"] * values["gold_rate"])


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    made = make_two_ways(tmp_path_factory.mktemp("crowded"), size=600, crowded=True)
    yield made
    made.store.dispose()


@pytest.mark.parametrize(
    ("name", "values"), CROWDED_STRATEGIES, ids=[s[0] for s in CROWDED_STRATEGIES]
)
def test_more_rows_after_near_duplicates_give_the_batch_the_store_gives(crowded, name, values):
    """Near-duplicates use up the margin: the engine fetches the next-ranked rows of the short
    strata (a bounded query) and the batch stays the store path's."""
    params = SamplingParams(**values)
    from_store = crowded.sample(f"store-{name}", params)
    engine = Counting(DuckDBEngine())
    from_duckdb = crowded.sample(f"duckdb-{name}", params, engine)
    assert engine.more_calls >= 1
    got = comparable(from_duckdb)
    assert got["batch"].pop("corpus") == SOURCE and got["batch"].pop("engine") == "duckdb"
    assert got == comparable(from_store)
    assert from_store.selection["passes"] > 1
    assert len(from_store.batch.params["post_ids"]) == values["size"]


def test_a_partition_filter_reads_only_that_partition(two_ways):
    engine = DuckDBEngine()
    params = SamplingParams(size=20, where={"platform": ("weibo",), "month": ("2024-10",)})
    result = two_ways.sample("pruned", params, engine)
    read = result.selection["corpus"]["files_read"]
    weibo_october = [
        path
        for path in two_ways.lake.rglob("*.parquet")
        if "platform=weibo" in str(path).lower() and "month=2024-10" in str(path)
    ]
    assert 0 < read == len(weibo_october) < get_corpus(two_ways.store, SOURCE).files
    everything = two_ways.sample("all", SamplingParams(size=20), engine)
    assert everything.selection["corpus"]["files_read"] == get_corpus(two_ways.store, SOURCE).files


def test_only_the_chosen_posts_are_stored_with_their_provenance(database_url, tmp_path):
    made = make_two_ways(tmp_path, database_url, size=400)
    try:
        with made.store.transaction() as session:  # the corpus path needs nothing in the store
            for task in session.exec(select(Task)):
                session.delete(task)
            session.exec(select(Post))
        store = made.store
        with store.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM posts")
        from_corpus = made.sample("p", SamplingParams(size=25, strategy="keyword"), DuckDBEngine())
        with store.session() as session:
            posts = session.exec(select(Post)).all()
            provenance = {row.post_pk: row for row in session.exec(select(CorpusPost))}
            batch = session.exec(select(Batch)).one()
        assert len(posts) == 25 == from_corpus.batch.tasks
        assert sorted(p.post_id for p in posts) == sorted(batch.params["post_ids"])
        assert batch.rank_version == 2 and batch.params["corpus"] == SOURCE
        for post in posts:
            origin = provenance[post.id]
            assert origin.file.endswith(".parquet") and not os.path.isabs(origin.file)
            assert origin.partition["platform"].lower() == post.platform
            assert f"platform={origin.partition['platform']}" in origin.file
            assert post.source == SOURCE and post.text.strip()
        again = made.sample("q", SamplingParams(size=25, strategy="keyword"), DuckDBEngine())
        with store.session() as session:
            assert len(session.exec(select(Post)).all()) == 25  # the same posts, reused
        assert again.batch.params["post_ids"] == batch.params["post_ids"]
    finally:
        made.store.dispose()


def test_posts_already_sent_to_the_project_are_not_sampled_again(two_ways):
    engine = DuckDBEngine()
    params = SamplingParams(size=30, seed=3, dedupe=False)  # not left out as duplicates
    first = two_ways.sample("twice", params, engine)
    from annotate.batches import sample_batch
    from annotate.engines import CorpusSampler

    sampler = CorpusSampler(two_ways.store, get_corpus(two_ways.store, SOURCE), engine)
    second = sample_batch(two_ways.store, "twice", params, corpus=sampler)
    assert not set(first.batch.params["post_ids"]) & set(second.batch.params["post_ids"])
    assert len(second.batch.params["post_ids"]) == 30


def test_old_batches_keep_rank_v1_and_reruns_reproduce_them(two_ways):
    old = SamplingParams(size=30, strategy="stratified", by=("platform",), seed=4, rank_version=1)
    first = two_ways.sample("old-1", old)
    rerun = two_ways.sample("old-2", old)
    new = two_ways.sample(
        "new", SamplingParams(size=30, strategy="stratified", by=("platform",), seed=4)
    )
    assert rerun.batch.params["post_ids"] == first.batch.params["post_ids"]
    assert new.batch.params["post_ids"] != first.batch.params["post_ids"]
    with two_ways.store.session() as session:
        versions = {batch.id: batch.rank_version for batch in session.exec(select(Batch))}
    assert versions[first.batch.batch_id] == versions[rerun.batch.batch_id] == 1
    assert versions[new.batch.batch_id] == 2
    with pytest.raises(InputError, match="rank version 2"):
        two_ways.sample("old-3", old, DuckDBEngine())
    candidates = list(read_candidates(two_ways.store))
    assert len(candidates) == len(two_ways.posts) - 1  # the blank text was rejected


def test_rows_ingest_would_reject_are_left_out_and_listed(database_url, tmp_path):
    write(
        tmp_path / "lake" / "a.parquet",
        pa.table(
            {
                "post_id": ["good", "bad"],
                "text": ["甲乙丙丁戊己庚辛", "the quick brown fox jumps"],
                "likes": [3, -5],
            }
        ),
    )
    store = open_store(database_url)
    try:
        add_corpus(store, "c", str(tmp_path / "lake"))
        sampler_store_project(store)
        from annotate.batches import sample_batch
        from annotate.engines import CorpusSampler

        sampler = CorpusSampler(store, get_corpus(store, "c"), DuckDBEngine())
        result = sample_batch(store, "p", SamplingParams(size=2), corpus=sampler)
        assert result.batch.params["post_ids"] == ["good"]
        (rejected,) = result.selection["corpus"]["rejected"]
        assert rejected["file"].endswith("a.parquet")
        assert "'likes' must be a non-negative integer" in rejected["reason"]
    finally:
        store.dispose()


def test_the_corpus_commands_and_sample_from_a_corpus(tmp_path, monkeypatch):
    import json

    from cli import invoke

    from annotate.store import Project
    from annotate.store.queries import record_taxonomy
    from annotate.taxonomy import load_taxonomy

    monkeypatch.chdir(tmp_path)
    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_DATABASE_URL", "ANNOTATE_EXPORTS"):
        monkeypatch.delenv(name, raising=False)
    for platform in ("weibo", "douyin"):
        write(
            tmp_path / "lake" / f"platform={platform}" / "a.parquet",
            pa.table({"mid": [f"{platform}1", f"{platform}2"], "body": ["甲乙丙丁", "the fox"]}),
        )
    assert invoke("init").exit_code == 0
    missing = invoke("corpus", "add", "lake", "lake")
    assert missing.exit_code != 0 and "has no id column 'post_id'" in missing.output
    added = invoke("corpus", "add", "lake", "lake", "--id-field", "mid", "--text-field", "body")
    assert added.exit_code == 0, added.output
    listed = json.loads(invoke("corpus", "list", "--json").stdout)
    assert [(c["name"], c["rows"], c["files"]) for c in listed] == [("lake", 4, 2)]
    shown = json.loads(invoke("corpus", "show", "lake", "--json").stdout)
    assert shown["partitions"] == {"platform": ["douyin", "weibo"]}
    assert shown["changed"]["matches"] == 1
    store = open_store("sqlite:///.annotate/annotate.db")
    with store.transaction() as session:
        taxonomy = record_taxonomy(session, load_taxonomy())
        session.add(Project(name="round-1", taxonomy_id=taxonomy.id))
    store.dispose()
    args = ("sample", "round-1", "--size", "2", "--from", "lake", "--where", "platform=weibo")
    sampled = invoke(*args, "--dry-run", "--json")
    assert sampled.exit_code == 0, sampled.output
    data = json.loads(sampled.stdout)
    assert sorted(pick["post_id"] for pick in data["picks"]) == ["weibo1", "weibo2"]
    assert data["corpus"]["files_read"] == 1 and data["batch"] is None
    human = invoke(*args, "--dry-run")
    assert "read 1 of its 2 files" in human.output
    wrong = invoke("sample", "round-1", "--size", "2", "--engine", "spark", "--dry-run")
    assert wrong.exit_code != 0 and "apply to sampling --from a corpus" in wrong.output
    write(
        tmp_path / "lake" / "platform=wechat" / "a.parquet", pa.table({"mid": ["w"], "body": ["x"]})
    )
    changed = invoke(*args, "--dry-run")
    assert changed.exit_code != 0 and "annotate corpus refresh lake" in changed.output
    assert invoke("corpus", "refresh", "lake").exit_code == 0
    assert invoke(*args, "--dry-run").exit_code == 0
