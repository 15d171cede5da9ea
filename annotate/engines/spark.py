"""The Spark engine: a plain Spark SQL job over the Parquet files.

Local mode (``local[2]``) on one machine; an existing cluster with ``master`` (``--spark-master
spark://host:7077``, ``yarn``, ``k8s://…``) or Spark Connect with ``SPARK_REMOTE``
(``sc://host:15002``). The cluster must reach the corpus's paths and have ``annotate``
installed where it runs Python (the lexicon, language and text-date functions are Python).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from annotate.engines.base import EngineShortlist
from annotate.engines.query import EXCLUDED_VIEW, FILE, RANK, WANTED_VIEW, CorpusQuery
from annotate.engines.registry import CorpusFiles
from annotate.errors import ConfigError

__all__ = ["LOCAL_MASTER", "SparkEngine"]

LOCAL_MASTER = "local[2]"
_VIEW = "annotate_corpus"


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
        builder = (
            builder.master(master or LOCAL_MASTER)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # List the corpus's files on the driver: a Spark job per listing costs more.
            .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.driver.memory", "1g")
        )
    session = builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()
    session.sparkContext.setLogLevel("ERROR") if not remote else None
    return session


class SparkEngine:
    name = "spark"

    def __init__(self, master: str | None = None, session: Any = None):
        self.session = session or spark_session(master)
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

        for name, (function, _, kind) in query.functions.items():
            self.session.udf.register(
                name, function, BooleanType() if kind == "boolean" else StringType()
            )
        schema = StructType([StructField("post_id", StringType())])
        for view, ids in ((EXCLUDED_VIEW, excluded), (WANTED_VIEW, wanted)):
            frame = self.session.createDataFrame([(value,) for value in ids], schema)
            frame.createOrReplaceTempView(view)

    def shortlist(
        self, query: CorpusQuery, cap: int, keyword_cap: int | None, excluded: list[str]
    ) -> EngineShortlist:
        keyword_sql = query.keyword_condition() if keyword_cap is not None else None
        base = query.base(narrow=True)
        self._prepare(query, excluded)
        by = query.by_columns
        sql = self.session.sql
        if by:
            keys = ", ".join(by)
            counts = {
                tuple(row[:-1]): row[-1]
                for row in sql(f"SELECT {keys}, count(*) FROM ({base}) GROUP BY {keys}").collect()
            }
            ranked = sql(
                f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {keys} "
                f"ORDER BY {RANK}) AS __annotate_position FROM ({base})) "
                f"WHERE __annotate_position <= {int(cap)}"
            ).collect()
            strata: dict[tuple[str, ...], tuple[int, list[dict[str, Any]]]] = {
                key: (count, []) for key, count in counts.items()
            }
            for row in ranked:
                record = self._record(row)
                record.pop("__annotate_position")
                strata[tuple(record[column] for column in by)][1].append(record)
        else:
            (count,) = sql(f"SELECT count(*) FROM ({base})").collect()[0]
            rows = sql(f"{base} ORDER BY {RANK} LIMIT {int(cap)}").collect()
            strata = {(): (count, [self._record(row) for row in rows])} if count else {}
        keyword = None
        if keyword_sql is not None:
            matching = f"({query.base(extra=(keyword_sql,), narrow=True)})"
            (count,) = sql(f"SELECT count(*) FROM {matching}").collect()[0]
            rows = sql(f"SELECT * FROM {matching} ORDER BY {RANK} LIMIT {int(keyword_cap)}")
            keyword = (count, [self._record(row) for row in rows.collect()])
        return EngineShortlist(strata, keyword, files_read=self.files_read(query, excluded))

    def files_read(self, query: CorpusQuery, excluded: list[str]) -> int | None:
        """How many files a scan with the query's filters reads, once partition filters are
        applied: the scans' ``numFiles`` metrics after counting the candidates."""
        self._prepare(query, excluded)
        counted = self.session.sql(f"SELECT count(*) FROM ({query.base()})")
        counted.collect()
        try:
            return sum(_scan_files(counted._jdf.queryExecution().executedPlan()))
        except Exception:  # Spark Connect has no JVM plan to read: unknown
            return None

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
