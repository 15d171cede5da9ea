"""The Spark engine: a plain Spark SQL job over the Parquet files.

Local mode (``local[2]``) on one machine; an existing cluster with ``master`` (``--spark-master
spark://host:7077``, ``yarn``, ``k8s://…``) or Spark Connect with ``SPARK_REMOTE``
(``sc://host:15002``). The cluster must reach the corpus's paths and have ``annotate``
installed where it runs Python (the lexicon, language and text-date functions are Python).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from annotate.engines.base import EngineShortlist
from annotate.engines.query import (
    EXCLUDED_VIEW,
    FILE,
    KEYWORD_COLUMN,
    RANK,
    WANTED_VIEW,
    CorpusQuery,
)
from annotate.engines.registry import CorpusFiles
from annotate.errors import ConfigError

__all__ = ["LOCAL_MASTER", "SparkEngine"]

LOCAL_MASTER = "local[2]"
_VIEW = "annotate_corpus"
_POSITION = "__annotate_position"
#: Spark limits a window's ``row_number() <= k`` per task before the shuffle only for ``k``
#: up to this (its default is 1,000); a shortlist's caps are above that.
WINDOW_GROUP_LIMIT = 1_000_000


def spark_session(master: str | None = None) -> Any:
    """A Spark session: Spark Connect when ``SPARK_REMOTE`` is set, else ``master`` (default
    local mode), with UTC as the session time zone (months are UTC months)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "The Spark engine needs pyspark.",
            hint="pip install 'annotate[spark]' (and Java 17), or use --engine duckdb.",
        ) from None
    builder = SparkSession.builder.appName("annotate-sample")
    remote = os.environ.get("SPARK_REMOTE")
    if remote and not master:
        builder = builder.remote(remote)
    else:
        # Python workers run this interpreter (annotate's functions must import there).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if (master or LOCAL_MASTER).startswith("local"):
            # Everything runs on this machine: without this, Spark looks up the machine's own
            # name and fails to start ("Java gateway process exited") where it does not resolve.
            os.environ.setdefault("SPARK_LOCAL_HOSTNAME", "localhost")
        builder = (
            builder.master(master or LOCAL_MASTER)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # List the corpus's files on the driver: a Spark job per listing costs more.
            .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
            .config("spark.sql.shuffle.partitions", "8")
            # The driver is the only JVM in local mode; with its Python workers it stays
            # under 2 GiB at any corpus size (benchmarks/RESULTS.md).
            .config("spark.driver.memory", "640m")
        )
    with _quiet_pandas():
        session = builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()
    session.sparkContext.setLogLevel("ERROR") if not remote else None
    return session


class SparkEngine:
    name = "spark"

    def __init__(self, master: str | None = None, session: Any = None):
        self.session = session or spark_session(master)
        with contextlib.suppress(Exception):  # a cluster may forbid setting it: slower, same
            self.session.conf.set(
                "spark.sql.optimizer.windowGroupLimitThreshold", str(WINDOW_GROUP_LIMIT)
            )
        self.instants: set[str] = set()

    def _record(self, row: Any) -> dict[str, Any]:
        record = row.asDict()
        for name in self.instants:
            value = record.get(name)
            if value is not None and value.tzinfo is None:
                record[name] = value.astimezone(UTC)
        return record

    def query(self, files: CorpusFiles, **kwargs: Any) -> CorpusQuery:
        from pyspark.sql import functions

        frame = (
            self.session.read.option("basePath", str(files.root))
            .parquet(*(str(path) for path in files.files))
            .select("*", functions.col("_metadata.file_path").alias(FILE))
        )
        frame.createOrReplaceTempView(_VIEW)
        from pyspark.sql.types import TimestampType

        # Spark hands instants to Python as naive local times: turned back into UTC instants.
        fields = frame.schema.fields
        self.instants = {f.name for f in fields if isinstance(f.dataType, TimestampType)}
        return CorpusQuery(dialect="spark", relation=_VIEW, **kwargs)

    def _prepare(self, query: CorpusQuery, excluded: list[str], wanted: list[str] = ()) -> None:
        from pyspark.sql.types import BooleanType, StringType, StructField, StructType

        for name, (function, arity, kind) in query.functions.items():
            with _quiet_pandas():
                self.session.udf.register(
                    name,
                    _null_safe(function) if arity == 1 else function,
                    BooleanType() if kind == "boolean" else StringType(),
                )
        schema = StructType([StructField("post_id", StringType())])
        for view, ids in ((EXCLUDED_VIEW, excluded), (WANTED_VIEW, wanted)):
            frame = self.session.createDataFrame([(value,) for value in ids], schema)
            frame.createOrReplaceTempView(view)

    def shortlist(
        self, query: CorpusQuery, cap: int, keyword_cap: int | None, excluded: list[str]
    ) -> EngineShortlist:
        """Two scans (three with keywords): the strata's counts (and lexicon matches), whose
        plan also says how many files were read; each stratum's best ``cap`` rows (a window
        that Spark limits per task before the shuffle); the keyword pool's best rows."""
        keyword = keyword_cap is not None
        counted_base = query.base(narrow=True, keyword=keyword)  # registers the functions
        self._prepare(query, excluded)
        by = query.by_columns
        keys = ", ".join(by)
        counted = ["count(*)", *([f"count_if({KEYWORD_COLUMN})"] if keyword else [])]
        counting = self.session.sql(
            f"SELECT {', '.join([*counted, *by])} "
            f"FROM ({counted_base})" + (f" GROUP BY {keys}" if by else "")
        )
        counts: dict[tuple[str, ...], tuple[int, ...]] = {}
        for row in counting.collect():
            counts[tuple(row[len(counted) :])] = tuple(row[: len(counted)])
        files_read = _files_read(counting)
        found = self._best(query.base(narrow=True), by, cap, "true")
        strata = {key: (count[0], found.get(key, [])) for key, count in counts.items() if count[0]}
        pool = None
        if keyword:
            matched = sum(count[1] for count in counts.values())
            rows = self._best(
                query.base(narrow=True, keyword=True), [], keyword_cap, KEYWORD_COLUMN
            )
            pool = (matched, rows.get((), []))
        return EngineShortlist(strata, pool, files_read=files_read)

    def more(
        self,
        query: CorpusQuery,
        excluded: list[str],
        strata: dict[tuple[str, ...], tuple[str, int]],
        keyword: tuple[str, int] | None,
    ) -> tuple[dict[tuple[str, ...], list[dict[str, Any]]], list[dict[str, Any]]]:
        matching = query.base(narrow=True, keyword=keyword is not None)
        self._prepare(query, excluded)
        found: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        if strata:
            limit = max(limit for _, limit in strata.values())
            condition = query.ranked_after(strata)
            found = self._best(query.base(narrow=True), query.by_columns, limit, condition)
        pool: list[dict[str, Any]] = []
        if keyword is not None:
            floor, limit = keyword
            condition = f"{KEYWORD_COLUMN} AND {query.rank_above(floor)}"
            pool = self._best(matching, [], limit, condition).get((), [])
        return found, pool

    def _best(
        self, base: str, by: list[str], limit: int, condition: str
    ) -> dict[tuple[str, ...], list[dict[str, Any]]]:
        """Per stratum, the best-ranked ``limit`` candidates of ``base`` that meet
        ``condition`` (in no particular order: the sampler orders them)."""
        chosen = f"SELECT * FROM ({base}) WHERE {condition}"
        if by:
            keys = ", ".join(by)
            sql = (
                f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {keys} "
                f"ORDER BY {RANK}) AS {_POSITION} FROM ({chosen})) "
                f"WHERE {_POSITION} <= {int(limit)}"
            )
        else:
            sql = f"{chosen} ORDER BY {RANK} LIMIT {int(limit)}"
        found: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in self.session.sql(sql).collect():
            record = self._record(row)
            record.pop(_POSITION, None)
            found.setdefault(tuple(record[column] for column in by), []).append(record)
        return found

    def rows(
        self, query: CorpusQuery, excluded: list[str], ids: list[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        if ids is not None and not ids:
            return
        sql = (
            query.base(regular=False, extra=(query.ids_condition(),))
            if ids is not None
            else query.base(narrow=True)
        )
        self._prepare(query, excluded, ids or [])
        for row in self.session.sql(sql).toLocalIterator():
            yield self._record(row)

    def close(self) -> None:
        """Leave the session running: one Spark session per process is the Spark way, and
        starting one costs seconds."""


@contextlib.contextmanager
def _quiet_pandas() -> Iterator[None]:
    """Without PySpark's warning that it does not fully support pandas 3: the engine hands
    Spark no pandas data (plain Python functions, rows collected as Rows)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


def _null_safe(function: Any) -> Any:
    """``function`` of one string, with NULL for NULL (as the DuckDB engine registers it)."""

    def safe(value: Any) -> Any:
        return None if value is None else function(value)

    return safe


def _files_read(frame: Any) -> int | None:
    """How many files the scans of ``frame`` (collected) read once partition filters were
    applied: the scans' ``numFiles`` metrics in its executed plan."""
    try:
        return sum(_scan_files(frame._jdf.queryExecution().executedPlan()))
    except Exception:  # Spark Connect has no JVM plan to read: unknown
        return None


def _scan_files(node: Any) -> list[int]:
    """The ``numFiles`` metric of every file scan in an executed (adaptive) plan."""
    name = node.nodeName()
    if "AdaptiveSparkPlan" in name:
        return _scan_files(node.executedPlan())
    if "QueryStage" in name:
        return _scan_files(node.plan())
    found = []
    if name.startswith("Scan ") and node.metrics().contains("numFiles"):
        found.append(int(node.metrics().apply("numFiles").value()))
    children = node.children()
    for index in range(children.size()):
        found += _scan_files(children.apply(index))
    return found
