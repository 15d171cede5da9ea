"""The DuckDB engine: embedded, nothing to start; the default."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from annotate.engines.base import EngineShortlist
from annotate.engines.query import (
    EXCLUDED_VIEW,
    KEYWORD_COLUMN,
    RANK,
    WANTED_VIEW,
    CorpusQuery,
)
from annotate.engines.registry import CorpusFiles

__all__ = ["DuckDBEngine"]

#: DuckDB's own memory limit: the shortlist's aggregates hold a few thousand rows, and scans
#: stream, so a small limit keeps the process well under the 2 GiB the issue asks for.
MEMORY_LIMIT = "1GB"


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
        """One scan: per stratum its count and best-ranked ``cap`` rows, and (with
        ``keyword_cap``) its lexicon matches' count and best ``keyword_cap``, merged over the
        strata afterwards (the pool's best are among the strata's best matches)."""
        keyword = keyword_cap is not None
        base = query.base(narrow=True, keyword=keyword)
        self._prepare(query, excluded)
        by = query.by_columns
        aggregates = ["count(*)", f"min_by(candidate, {RANK}, {int(cap)})"]
        if keyword:
            matches = f"FILTER (WHERE {KEYWORD_COLUMN})"
            aggregates += [
                f"count(*) {matches}",
                f"min_by(candidate, {RANK}, {int(keyword_cap)}) {matches}",
            ]
        sql = f"SELECT {', '.join([*aggregates, *by])} FROM ({base}) candidate"
        if by:
            sql += f" GROUP BY {', '.join(by)}"
        self.connection.execute("SET enable_profiling = 'no_output'")
        try:
            found = self.connection.execute(sql).fetchall()
            files_read = _files_read(self.connection.get_profiling_information(format="json"))
        finally:
            self.connection.execute("PRAGMA disable_profiling")
        strata = {}
        matched, matching = 0, []
        for row in found:
            count, rows = row[0], row[1]
            if count:
                strata[tuple(row[len(aggregates) :])] = (count, rows)
            if keyword and row[2]:
                matched += row[2]
                matching += row[3]
        pool = None
        if keyword:
            pool = (matched, sorted(matching, key=lambda row: row[RANK])[: int(keyword_cap)])
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
            by = query.by_columns
            limit = max(limit for _, limit in strata.values())
            sql = (
                f"SELECT min_by(candidate, {RANK}, {int(limit)}){''.join(', ' + c for c in by)} "
                f"FROM ({query.base(narrow=True)}) candidate WHERE {query.ranked_after(strata)}"
            )
            if by:
                sql += f" GROUP BY {', '.join(by)}"
            found = {tuple(key): rows for rows, *key in self.connection.execute(sql).fetchall()}
        pool: list[dict[str, Any]] = []
        if keyword is not None:
            floor, limit = keyword
            ((pool,),) = self.connection.execute(
                f"SELECT min_by(candidate, {RANK}, {int(limit)}) FROM ({matching}) candidate "
                f"WHERE {KEYWORD_COLUMN} AND {query.rank_above(floor)}"
            ).fetchall()
        return found, pool or []

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


def _files_read(profile: str) -> int | None:
    """The files the profiled query's scans read (DuckDB's "Total Files Read", after
    partition pruning), from its JSON profile; None when the profile does not say."""
    found: list[int] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Total Files Read":
                    found.append(int(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(profile))
    return sum(found) if found else None
