"""Writing validated posts to the store in batches.

Rows go to the driver's ``executemany`` in batches of :data:`BATCH_SIZE`; ``(source, post_id)``
already stored (or read earlier in the run) with the same text is a duplicate, with another
text a conflict (reported, not stored); a new post whose text is already stored under another
id is stored and counted as ``same_text``.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Row

from annotate.errors import InputError
from annotate.ingest.report import IngestReport, Reject
from annotate.ingest.validation import _raw_record
from annotate.store import Post

BATCH_SIZE = 10_000
"""Posts per write (and per commit, unless the run is strict)."""


class _Places:
    """Where each post id of a run was first read, in 16 bytes per row: ids are kept as their
    ``hash()`` and places as ``file number << 40 | line``; names are looked up only for the
    rare ids that conflict."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.numbers: dict[str, int] = {}
        self.hashes = array("q")
        self.places = array("q")

    def add(self, post_id: str, where: str, line: int) -> int:
        """Record that ``post_id`` was read at ``where:line``; return the encoded place."""
        number = self.numbers.get(where)
        if number is None:
            number = self.numbers[where] = len(self.names)
            self.names.append(where)
        place = number << 40 | line
        self.hashes.append(hash(post_id))
        self.places.append(place)
        return place

    def locate(self, place: int) -> tuple[str, int]:
        """The file (or dataset split) and line of an encoded place."""
        return self.names[place >> 40], place & (1 << 40) - 1

    def where(self, place: int) -> str:
        return "{}:{}".format(*self.locate(place))

    def first(self, post_ids: list[str]) -> dict[str, str]:
        """``FILE:LINE`` where each of ``post_ids`` was first read in this run."""
        import numpy as np

        wanted = {hash(post_id): post_id for post_id in post_ids}
        hashes = np.frombuffer(self.hashes, dtype=np.int64)
        found: dict[str, str] = {}
        for index in np.flatnonzero(np.isin(hashes, list(wanted))).tolist():
            post_id = wanted[self.hashes[index]]
            found.setdefault(post_id, self.where(self.places[index]))
        return found


class _PostWriter:
    """Buffers validated posts and writes them in batches, skipping known ``(source, post_id)``.

    A known id with the same text is a duplicate; with another text it is a conflict, handed
    to ``on_conflict`` and not stored.

    Rows go to the driver's ``executemany`` as tuples, with SQLAlchemy's own bind processors
    for the date and JSON columns: per-row statement handling in SQLAlchemy costs more than
    everything else in an ingest.
    """

    def __init__(
        self,
        connection: Connection,
        source: str,
        run_id: int,
        report: IngestReport,
        commit: bool,
        on_conflict: Callable[[Reject], None],
    ):
        dialect = connection.dialect
        if dialect.name not in {"sqlite", "postgresql"}:
            raise InputError(f"Ingest supports SQLite and PostgreSQL, not {dialect.name}.")
        self.connection = connection
        self.commit = commit
        self.source = source
        self.run_id = run_id
        self.report = report
        self.on_conflict = on_conflict
        self.buffer: dict[str, dict[str, Any]] = {}
        self.buffer_places: dict[str, int] = {}
        self.places = _Places()
        table = Post.__table__
        self.table = table
        self.columns = [column.name for column in table.columns if column.name != "id"]
        self.processors = {
            column.name: processor
            for column in table.columns
            if column.name in self.columns
            and isinstance(column.type, JSON | DateTime)
            and (processor := column.type.dialect_impl(dialect).bind_processor(dialect))
        }
        self.mark = mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.insert_sql = (
            f"INSERT INTO {table.name} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join(mark for _ in self.columns)}) "
            "ON CONFLICT (source, post_id) DO NOTHING"
        )

    def _lookup(self, sql: str, params: list[Any], values: list[str]) -> list[Row]:
        """The rows of ``SQL IN values``, in plain SQL (SQLAlchemy's expanding IN compiles
        10,000 parameter names per batch, which costs more than the query)."""
        if self.connection.dialect.name == "postgresql":
            sql, params = f"{sql} = ANY({self.mark})", [*params, values]
        else:
            sql, params = f"{sql} IN ({', '.join('?' * len(values))})", [*params, *values]
        return list(self.connection.exec_driver_sql(sql, tuple(params)))

    def _bind(self, name: str, value: Any) -> Any:
        processor = self.processors.get(name)
        return processor(value) if processor is not None else value

    def _conflict(self, values: dict[str, Any], place: int, why: str) -> None:
        self.report.conflicts += 1
        name, line = self.places.locate(place)
        raw = _raw_record({"post_id": values["post_id"], "text": values["text"]})
        self.on_conflict(Reject(name, line, f"conflict: post_id {values['post_id']!r} {why}", raw))

    def add(self, values: dict[str, Any], where: str, line: int) -> None:
        post_id = values["post_id"]
        place = self.places.add(post_id, where, line)
        earlier = self.buffer.get(post_id)
        if earlier is not None:
            if earlier["text"] == values["text"]:
                self.report.duplicates += 1
            else:
                first = self.places.where(self.buffer_places[post_id])
                self._conflict(values, place, f"was read at {first} with a different text")
            return
        self.buffer[post_id] = values
        self.buffer_places[post_id] = place
        if len(self.buffer) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        posts, self.buffer = self.buffer, {}
        places, self.buffer_places = self.buffer_places, {}
        table = self.table
        stored = {
            post_id: (text, run_id)
            for post_id, text, run_id in self._lookup(
                f"SELECT post_id, text, ingest_run_id FROM {table.name} "
                f"WHERE source = {self.mark} AND post_id",
                [self.source],
                list(posts),
            )
        }
        new = []
        read_in_this_run = []
        for post_id, values in posts.items():
            if post_id not in stored:
                new.append(values)
                continue
            text, run_id = stored[post_id]
            if text == values["text"]:
                self.report.duplicates += 1
            elif run_id == self.run_id:
                read_in_this_run.append(post_id)
            else:
                why = f"is already stored with a different text (ingest run {run_id})"
                self._conflict(values, places[post_id], why)
        if read_in_this_run:
            for post_id, first in self.places.first(read_in_this_run).items():
                why = f"was read at {first} with a different text"
                self._conflict(posts[post_id], places[post_id], why)
        if not new:
            return
        hashes = {values["text_hash"] for values in new}
        seen_text = {
            row[0]
            for row in self._lookup(
                f"SELECT DISTINCT text_hash FROM {table.name} WHERE text_hash", [], list(hashes)
            )
        }
        fixed = {"source": self.source, "ingest_run_id": self.run_id, "ingested_at": _utcnow()}
        fixed = {name: self._bind(name, value) for name, value in fixed.items()}
        per_row = [(name, fn) for name, fn in self.processors.items() if name not in fixed]
        columns = self.columns
        rows = []
        for values in new:
            if values["text_hash"] in seen_text:
                self.report.same_text += 1
            seen_text.add(values["text_hash"])
            values.update(fixed)
            for name, processor in per_row:
                values[name] = processor(values[name])
            rows.append(tuple([values[name] for name in columns]))
        result = self.connection.exec_driver_sql(self.insert_sql, rows)
        # A concurrent ingest may have stored some of these ids between the check and the insert.
        inserted = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else 0
        self.report.inserted += inserted
        self.report.duplicates += len(new) - inserted
        if self.commit:
            self.connection.commit()


def _utcnow() -> datetime:
    return datetime.now(UTC)
