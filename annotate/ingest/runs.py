"""Ingest runs: their record in ``ingest_runs`` and the log of the rows they did not store.

A run is recorded as ``running`` with its pid and host before it writes (on PostgreSQL it also
holds an advisory lock while it lives) and finishes ``done``, ``failed`` or ``interrupted``. A
run left ``running`` by a process that died is marked ``interrupted`` by the next run.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Row, select, update

from annotate.errors import InputError
from annotate.ingest.report import IngestReport, Reject
from annotate.store import IngestRun

_RUN_LOCK = 0x616E6E6F  # "anno": the class of PostgreSQL advisory locks held by ingest runs


def _start_run(connection: Connection, run: IngestRun, commit: bool) -> int:
    values = run.model_dump(exclude={"id"})
    table = IngestRun.__table__
    run_id = connection.execute(table.insert().values(**values)).inserted_primary_key[0]
    if connection.dialect.name == "postgresql":
        # Held by this session while the run lives, and taken before others can see the run:
        # the server drops it when the session ends, whichever machine the run was on.
        connection.exec_driver_sql("SELECT pg_advisory_lock(%s, %s)", (_RUN_LOCK, run_id))
    if commit:
        connection.commit()
    return run_id


def _release_run(connection: Connection, run_id: int) -> None:
    if connection.dialect.name != "postgresql":
        return
    try:
        connection.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", (_RUN_LOCK, run_id))
        connection.commit()
    except Exception:
        connection.rollback()  # a broken session has dropped the lock already


def _mark_interrupted_runs(connection: Connection) -> list[int]:
    """Mark as ``interrupted`` the runs still ``running`` whose process is gone, and return
    their ids.

    On PostgreSQL a run is gone when its advisory lock is free (its session ended, on any
    machine). On SQLite it is gone when it ran on this machine and its pid is no longer a
    process, or is a process started after the run (the pid was reused); a run from another
    machine is left as it is. Runs recorded without a pid (before annotate recorded them) are
    left as they are.
    """
    table = IngestRun.__table__
    running = connection.execute(
        select(table.c.id, table.c.pid, table.c.host, table.c.started_at).where(
            table.c.status == "running", table.c.pid.is_not(None)
        )
    ).all()
    gone = [run.id for run in running if _run_is_gone(connection, run)]
    if gone:
        connection.execute(
            update(table)
            .where(table.c.id.in_(gone), table.c.status == "running")
            .values(status="interrupted", finished_at=datetime.now(UTC))
        )
    connection.commit()
    return gone


def _run_is_gone(connection: Connection, run: Row) -> bool:
    if connection.dialect.name == "postgresql":
        key = (_RUN_LOCK, run.id)
        free = connection.exec_driver_sql("SELECT pg_try_advisory_lock(%s, %s)", key).scalar()
        if free:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", key)
        return bool(free)
    if run.host != socket.gethostname():
        return False  # another machine's processes cannot be seen from here
    started = run.started_at
    return _process_is_gone(run.pid, started.replace(tzinfo=started.tzinfo or UTC))


def _process_is_gone(pid: int, since: datetime) -> bool:
    """True when no process ``pid`` runs on this machine, or the one that does was killed and
    not yet reaped, or started after ``since`` (its pid was reused). Where that cannot be told
    (not POSIX), the process counts as running."""
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's process
    try:  # Linux: state and start time (clock ticks after boot) of the process
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        stat = Path("/proc/stat").read_text().split()
        booted = int(stat[stat.index("btime") + 1])
    except (OSError, ValueError, IndexError):
        return False
    if fields[0] == "Z":
        return True
    started = booted + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started > since.timestamp() + 5  # a few seconds for the clock's coarse boot time


def _finish_run(connection: Connection, report: IngestReport, status: str) -> None:
    table = IngestRun.__table__
    connection.execute(
        update(table)
        .where(table.c.id == report.run_id)
        .values(
            status=status,
            finished_at=datetime.now(UTC),
            same_text=report.same_text,
            **report.counts(),
        )
    )
    connection.commit()


def _record_failure(connection: Connection, report: IngestReport, status: str) -> None:
    try:
        _finish_run(connection, report, status)
    except Exception:
        connection.rollback()  # the run's own record is bookkeeping; never mask the real error


class _RejectLog:
    """Reports rows that are not stored (rejected, or in conflict) as they happen and appends
    them to a JSONL file under ``folder``; with ``strict`` the first one stops the run."""

    def __init__(
        self,
        folder: Path | None,
        run_id: int,
        callback: Callable[[Reject], None] | None,
        strict: bool,
    ):
        self.folder = None if strict else folder
        self.run_id = run_id
        self.callback = callback
        self.strict = strict
        self.path: Path | None = None
        self.handle: IO[str] | None = None

    def add(self, item: Reject) -> None:
        if self.strict:
            raise InputError(f"{item}.", hint="Nothing from this run was stored (--strict).")
        if self.callback is not None:
            self.callback(item)
        if self.folder is None:
            return
        if self.handle is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            self.path = self.folder / f"ingest-{self.run_id}-{stamp}.jsonl"
            self.handle = self.path.open("w", encoding="utf-8")
        self.handle.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
