"""Project locks: calls that change a project run one at a time, across processes and hosts.

``sample``, ``push``, ``pull``, ``adjudicate``, ``aggregate`` and ``publish`` hold the lock of
each project they change for the whole call. Another caller waits (``on_wait`` hears once whom
it waits for) or, with ``wait=False``, fails at once with one sentence naming the holder.

The lock belongs to the database server or the operating system, so it goes away with its
holder however that ends (``kill -9`` included):

- PostgreSQL: a session-level advisory lock on a connection kept for the call, keyed by the
  first 8 bytes of ``sha256("annotate project <id>")`` (advisory locks are per database).
- SQLite: ``flock`` on ``<database>.locks/project-<id>.lock`` beside the database file.
- SQLite in memory: a lock of this process (no other process can open that database).

The lock itself names no holder, so the holder writes who it is (pid, host, command, since) to the
``project_locks`` table once it has the lock; a waiter reads that row. A call nested in one
that holds the lock in the same thread (``publish`` aggregating a stale project) goes ahead.

Usage::

    with project_lock(store, "round-1", command="push", wait=False):
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import inspect
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, delete, text
from sqlmodel import select

from annotate.errors import AnnotateError
from annotate.store import Store
from annotate.store.models import ProjectLock, utcnow

F = TypeVar("F", bound=Callable[..., Any])


class ProjectBusyError(AnnotateError):
    """Another caller holds a project's lock and this one would not wait."""


@dataclass(frozen=True)
class Holder:
    """Who holds a project's lock, as it wrote itself down."""

    pid: int
    host: str
    command: str
    since: datetime

    def describe(self) -> str:
        since = self.since if self.since.tzinfo else self.since.replace(tzinfo=UTC)
        moment = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"pid {self.pid} on host {self.host} since {moment} ({self.command})"


@contextlib.contextmanager
def project_lock(
    store: Store,
    projects: str | Sequence[str],
    *,
    command: str,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the lock of each named project (in id order, so that callers never deadlock)."""
    from annotate.store.queries import get_project

    names = [projects] if isinstance(projects, str) else list(dict.fromkeys(projects))
    with store.session() as session:
        ids = {name: get_project(session, name).id for name in names}
    with contextlib.ExitStack() as stack:
        for name, project_id in sorted(ids.items(), key=lambda item: item[1]):
            stack.enter_context(_hold(store, project_id, name, command, wait, on_wait))
        yield


def locks_projects(argument: str, command: str) -> Callable[[F], F]:
    """Run the decorated function holding the lock of the project(s) its ``argument`` names.

    The function takes ``store`` and keyword arguments ``wait`` and ``on_wait``, which are
    handed to :func:`project_lock`.
    """

    def decorate(function: F) -> F:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            with project_lock(
                given["store"],
                given[argument],
                command=command,
                wait=given["wait"],
                on_wait=given["on_wait"],
            ):
                return function(*args, **kwargs)

        return locked  # type: ignore[return-value]

    return decorate


def current_holder(store: Store, project_id: int) -> Holder | None:
    """The holder the ``project_locks`` table names (it may have finished since)."""
    with store.session() as session:
        row = session.exec(select(ProjectLock).where(ProjectLock.project_id == project_id)).first()
    if row is None:
        return None
    return Holder(pid=row.pid, host=row.host, command=row.command, since=row.acquired_at)


# ------------------------------------------------------------------------------ internals

_held = threading.local()  # per thread: {(database, project id): depth}


def _depths() -> dict[tuple[str, int], int]:
    if not hasattr(_held, "depths"):
        _held.depths = {}
    return _held.depths


@contextlib.contextmanager
def _hold(
    store: Store,
    project_id: int,
    name: str,
    command: str,
    wait: bool,
    on_wait: Callable[[str], None] | None,
) -> Iterator[None]:
    depths = _depths()
    key = (store.engine.url.render_as_string(hide_password=False), project_id)
    if depths.get(key):
        depths[key] += 1
        try:
            yield
        finally:
            depths[key] -= 1
        return
    lock = _lock_for(store, project_id)
    try:
        if not lock.try_acquire():
            holder = current_holder(store, project_id)
            who = holder.describe() if holder else "another process"
            if not wait:
                raise ProjectBusyError(
                    f"Project {name!r} is locked by {who}.",
                    hint="Run the command again when that has finished, or without --no-wait "
                    "to wait for it.",
                )
            if on_wait is not None:
                on_wait(f"Waiting for project {name!r}, held by {who}.")
            lock.acquire()
        depths[key] = 1
        try:
            _write_holder(store, project_id, command)
            yield
        finally:
            del depths[key]
            with contextlib.suppress(Exception):  # the lock goes anyway; the row is a courtesy
                _erase_holder(store, project_id)
    finally:
        lock.close()


def _write_holder(store: Store, project_id: int, command: str) -> None:
    with store.transaction() as session:
        session.execute(delete(ProjectLock).where(ProjectLock.project_id == project_id))
        session.add(
            ProjectLock(
                project_id=project_id,
                pid=os.getpid(),
                host=socket.gethostname(),
                command=command,
                acquired_at=utcnow(),
            )
        )


def _erase_holder(store: Store, project_id: int) -> None:
    with store.transaction() as session:
        session.execute(
            delete(ProjectLock).where(
                ProjectLock.project_id == project_id,
                ProjectLock.pid == os.getpid(),
                ProjectLock.host == socket.gethostname(),
            )
        )


class _Lock(Protocol):
    def try_acquire(self) -> bool: ...
    def acquire(self) -> None: ...
    def close(self) -> None: ...


def _lock_for(store: Store, project_id: int) -> _Lock:
    if store.dialect == "postgresql":
        return _AdvisoryLock(store, project_id)
    database = store.engine.url.database
    if store.dialect == "sqlite" and database and database != ":memory:":
        folder = Path(f"{Path(database).resolve()}.locks")
        return _FileLock(folder / f"project-{project_id}.lock")
    return _ProcessLock(store, project_id)


def advisory_key(project_id: int) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks (Python's hash is salted)."""
    digest = hashlib.sha256(f"annotate project {project_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _AdvisoryLock:
    """A session-level advisory lock on a connection of its own, closed (not pooled) at the
    end: closing the session is what releases the lock, also when this process dies."""

    def __init__(self, store: Store, project_id: int):
        self.key = advisory_key(project_id)
        self.connection: Connection = store.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        )

    def try_acquire(self) -> bool:
        statement = text("SELECT pg_try_advisory_lock(:key)")
        return bool(self.connection.execute(statement, {"key": self.key}).scalar())

    def acquire(self) -> None:
        self.connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self.key})

    def close(self) -> None:
        self.connection.invalidate()
        self.connection.close()


class _FileLock:
    """``flock`` on a file: the kernel drops it when the holder's descriptor closes."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def close(self) -> None:
        os.close(self.fd)


_process_locks: dict[tuple[int, int], threading.Lock] = {}
_process_locks_guard = threading.Lock()


class _ProcessLock:
    """For a database only this process can open (SQLite in memory)."""

    def __init__(self, store: Store, project_id: int):
        with _process_locks_guard:
            self.lock = _process_locks.setdefault((id(store.engine), project_id), threading.Lock())
        self.held = False

    def try_acquire(self) -> bool:
        self.held = self.lock.acquire(blocking=False)
        return self.held

    def acquire(self) -> None:
        self.held = self.lock.acquire()

    def close(self) -> None:
        if self.held:
            self.lock.release()
