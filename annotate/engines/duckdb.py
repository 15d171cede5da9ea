"""The DuckDB engine: embedded, nothing to start; the default."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from typing import Any

from annotate.engines.base import EngineShortlist
from annotate.engines.query import EXCLUDED_VIEW, RANK, WANTED_VIEW, CorpusQuery
from annotate.engines.registry import CorpusFiles

__all__ = ["DuckDBEngine"]

#: DuckDB's own memory limit: the shortlist's aggregates hold a few thousand rows, and scans
#: stream, so a small limit keeps the process well under the 2 GiB the issue asks for.
MEMORY_LIMIT = "1GB"
_FILES_READ = re.compile(r"Total Files Read:\s*(\d+)")


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, memory_limit: str = MEMORY_LIMIT, threads: int | None = None):
        import duckdb

        # Spills go to the system's temporary folder, not to a ".tmp" in the current one.
        spill = os.path.join(tempfile.gettempdir(), "annotate-duckdb")
        config = {"memory_limit": memory_limit, "temp_directory": spill}
        self.connection = duckdb.connect(config=config)
        self.connection.execute("SET TimeZone = 'UTC'")
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        self.registered: dict[str, Any] = {}

    def query(self, files: CorpusFiles, **kwargs: Any) -> CorpusQuery:
        paths = ", ".join("'" + str(path).replace("'", "''") + "'" for path in files.files)
        relation = (
            f"read_parquet([{paths}], hive_partitioning = true, "
            f"filename = '__annotate_file', union_by_name = false)"
        )
        return CorpusQuery(dialect="duckdb", relation=relation, **kwargs)

    def _prepare(self, query: CorpusQuery, excluded: list[str], wanted: list[str] = ()) -> None:
        import duckdb
        import pyarrow as pa

        for name, (function, arity, kind) in query.functions.items():
            if self.registered.get(name) is function:
                continue
            if name in self.registered:
                self.connection.remove_function(name)
            self.connection.create_function(
                name,
                _vectorised(function, arity),
                [duckdb.sqltype("VARCHAR")] * arity,
                duckdb.sqltype("BOOLEAN" if kind == "boolean" else "VARCHAR"),
                type="arrow",
                null_handling="special",
                side_effects=False,
            )
            self.registered[name] = function
        for view, ids in ((EXCLUDED_VIEW, excluded), (WANTED_VIEW, wanted)):
            self.connection.register(view, pa.table({"post_id": pa.array(list(ids), pa.string())}))

    def shortlist(
        self, query: CorpusQuery, cap: int, keyword_cap: int | None, excluded: list[str]
    ) -> EngineShortlist:
        keyword_sql = query.keyword_condition() if keyword_cap is not None else None
        base = query.base(narrow=True)
        self._prepare(query, excluded)
        by = query.by_columns
        group = f", {', '.join(by)}" if by else ""
        sql = (
            f"SELECT count(*) AS n, min_by(candidate, {RANK}, {int(cap)}) AS rows{group} "
            f"FROM ({base}) candidate" + (f" GROUP BY {', '.join(by)}" if by else "")
        )
        strata = {}
        for count, rows, *key in self.connection.execute(sql).fetchall():
            if count:
                strata[tuple(key)] = (count, rows)
        keyword = None
        if keyword_sql is not None:
            ((count, rows),) = self.connection.execute(
                f"SELECT count(*), min_by(candidate, {RANK}, {int(keyword_cap)}) "
                f"FROM ({query.base(extra=(keyword_sql,), narrow=True)}) candidate"
            ).fetchall()
            keyword = (count, rows or [])
        return EngineShortlist(strata, keyword, files_read=self.files_read(query, excluded))

    def files_read(self, query: CorpusQuery, excluded: list[str]) -> int | None:
        """How many files a scan with the query's filters reads (after partition pruning)."""
        self._prepare(query, excluded)
        plan = self.connection.execute(
            f"EXPLAIN ANALYZE SELECT count(*) FROM ({query.base()}) candidate"
        ).fetchall()
        found = _FILES_READ.search("\n".join(str(row[-1]) for row in plan))
        return int(found.group(1)) if found else None

    def rows(
        self, query: CorpusQuery, excluded: list[str], ids: list[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        if ids is not None:
            sql = query.base(regular=False, extra=(query.ids_condition(),)) if ids else None
        else:
            sql = query.base(narrow=True)
        if sql is None:
            return
        self._prepare(query, excluded, ids or [])
        reader = self.connection.sql(sql).to_arrow_reader(10_000)
        for batch in reader:
            yield from batch.to_pylist()

    def close(self) -> None:
        self.connection.close()


def _vectorised(function: Any, arity: int) -> Any:
    """``function`` over Arrow columns (DuckDB calls it with a vector of rows at a time); a
    null argument of a one-argument function gives null."""
    import pyarrow as pa

    if arity == 1:

        def one(values: Any) -> Any:
            return pa.array([None if v is None else function(v) for v in values.to_pylist()])

        return one

    def two(first: Any, second: Any) -> Any:
        rows = zip(first.to_pylist(), second.to_pylist(), strict=True)
        return pa.array([function(a, b) for a, b in rows])

    return two
