"""The Spark engine (local mode, one session for the module): the same rank as Python and
DuckDB, the batch the store path gives for every strategy, and partition pruning."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_fixtures import (
    CROWDED_STRATEGIES,
    SOURCE,
    STRATEGIES,
    Counting,
    comparable,
    make_two_ways,
)

from annotate.engines.registry import get_corpus
from annotate.engines.spark import SparkEngine, spark_session
from annotate.sampling import SamplingParams
from annotate.sampling.ranking import rank_sql


@pytest.fixture(scope="module")
def spark():
    session = spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def two_ways(tmp_path_factory):
    made = make_two_ways(tmp_path_factory.mktemp("corpus"), size=800)
    yield made
    made.store.dispose()


def test_rank_v2_is_the_same_in_spark_sql(spark):
    cases = [(0, "default", "wb1"), (2**64 - 1, "lake", "帖子-42"), (7, "a'b", "x\\y")]
    for seed, source, post_id in cases:

        def literal(value: str) -> str:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

        sql = rank_sql(seed, literal(source), literal(post_id), "spark")
        (hex_digits,) = spark.sql(f"SELECT {sql}").collect()[0]
        assert hex_digits == hashlib.sha256(f"{seed}\x1f{source}\x1f{post_id}".encode()).hexdigest()


@pytest.mark.parametrize(("name", "values", "gold"), STRATEGIES, ids=[s[0] for s in STRATEGIES])
def test_spark_gives_the_batch_the_store_gives(spark, two_ways, name, values, gold):
    params = SamplingParams(**values)
    from_store = two_ways.sample(f"store-{name}", params, gold=gold)
    from_spark = two_ways.sample(f"spark-{name}", params, SparkEngine(session=spark), gold=gold)
    got = comparable(from_spark)
    assert got["batch"].pop("corpus") == SOURCE and got["batch"].pop("engine") == "spark"
    assert got == comparable(from_store)


@pytest.mark.parametrize(
    ("name", "values"), CROWDED_STRATEGIES, ids=[s[0] for s in CROWDED_STRATEGIES]
)
def test_more_rows_after_near_duplicates_give_the_batch_the_store_gives(
    spark, tmp_path_factory, name, values
):
    crowded = make_two_ways(tmp_path_factory.mktemp("crowded"), size=600, crowded=True)
    try:
        params = SamplingParams(**values)
        from_store = crowded.sample(f"store-{name}", params)
        engine = Counting(SparkEngine(session=spark))
        got = comparable(crowded.sample(f"spark-{name}", params, engine))
        assert engine.more_calls >= 1
        assert got["batch"].pop("corpus") == SOURCE and got["batch"].pop("engine") == "spark"
        assert got == comparable(from_store)
    finally:
        crowded.store.dispose()


def test_a_partition_filter_reads_only_that_partition(spark, two_ways):
    engine = SparkEngine(session=spark)
    params = SamplingParams(size=10, where={"platform": ("weibo",)})
    result = two_ways.sample("pruned", params, engine)
    weibo = [
        path for path in two_ways.lake.rglob("*.parquet") if "platform=weibo" in str(path).lower()
    ]
    assert 0 < result.selection["corpus"]["files_read"] == len(weibo)
    assert len(weibo) < get_corpus(two_ways.store, SOURCE).files


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1)"
)
def test_local_mode_starts_where_the_machine_name_does_not_resolve(tmp_path):
    """A fresh machine or container whose own name is not in /etc/hosts (found on a fresh
    Debian): Spark's local mode must start all the same."""
    script = tmp_path / "start.py"
    script.write_text(
        "from annotate.engines.spark import spark_session\n"
        "print('rows', spark_session().range(3).count())\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPARK_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    name = "annotate-nowhere-" + tmp_path.name[-8:].replace("_", "-")
    command = f"hostname {name} && exec {sys.executable} {script}"
    done = subprocess.run(
        ["unshare", "--uts", "sh", "-c", command],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0 and "rows 3" in done.stdout, done.stderr[-3000:]
