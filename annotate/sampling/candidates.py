"""Candidates: the posts a batch may take, as :class:`Candidate` rows read from the store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import Any, NamedTuple

from sqlalchemy import and_, exists, func, or_, select

from annotate.sampling.params import UNKNOWN, normalise_where
from annotate.store import Post, Store, Task

__all__ = ["Candidate", "StoredCandidates", "month_of", "read_candidates", "read_sent"]

_READ_BATCH = 5_000


class Candidate(NamedTuple):
    """A post that may go into the batch: what sampling needs of it, nothing more.

    ``pk`` is the store's ``posts.id``; missing platform, language, month or account are
    :data:`UNKNOWN`; ``month`` is ``YYYY-MM`` of ``created_at`` in UTC (:func:`month_of`).
    A named tuple because a million of them are built per pass, four times faster than a
    dataclass.
    """

    pk: int
    source: str
    post_id: str
    text: str
    text_hash: str
    platform: str = UNKNOWN
    lang: str = UNKNOWN
    month: str = UNKNOWN
    account_id: str = UNKNOWN


def month_of(created_at: Any) -> str:
    """``YYYY-MM`` of a datetime in UTC (naive times are taken as UTC), or :data:`UNKNOWN`.

    >>> from datetime import datetime, timedelta, timezone
    >>> month_of(datetime(2024, 10, 1, 1, 0, tzinfo=timezone(timedelta(hours=8))))
    '2024-09'
    >>> month_of(None)
    'unknown'
    """
    if created_at is None:
        return UNKNOWN
    if created_at.tzinfo is not None:
        created_at = created_at.astimezone(UTC)
    return f"{created_at.year:04d}-{created_at.month:02d}"


class StoredCandidates:
    """Candidate posts read from the store; every iteration runs the query again and streams.

    Made by :func:`read_candidates`. Rows come from a server-side cursor on PostgreSQL and
    an incremental cursor on SQLite, ``_READ_BATCH`` at a time, so memory stays flat.
    """

    def __init__(
        self,
        store: Store,
        where: Mapping[str, tuple[str, ...]],
        exclude_project_id: int | None,
    ):
        self.store = store
        self.where = normalise_where(where)
        self.exclude_project_id = exclude_project_id

    def __iter__(self) -> Iterator[Candidate]:
        with self.store.engine.connect() as connection:
            result = connection.execution_options(yield_per=_READ_BATCH).execute(self._query())
            yield from map(Candidate._make, result)

    def _query(self) -> Any:
        posts = Post.__table__
        month = _month_column(self.store.dialect)
        query = select(*candidate_columns(self.store.dialect))
        for name, values in self.where.items():
            column = month if name == "month" else posts.c[name]
            known = [value for value in values if value != UNKNOWN]
            conditions = [column.in_(known)] if known else []
            if len(known) < len(values):
                conditions.append(column.is_(None))
            query = query.where(or_(*conditions))
        if self.exclude_project_id is not None:
            query = query.where(~has_task_in_project(self.exclude_project_id))
        return query


def read_candidates(
    store: Store,
    where: Mapping[str, Any] | None = None,
    *,
    exclude_project_id: int | None = None,
) -> StoredCandidates:
    """The posts of the store that may be sampled: matching ``where`` (applied in SQL) and,
    with ``exclude_project_id``, without a task in that project yet.

    The result can be iterated more than once (:func:`select_batch` may need a second pass).
    """
    return StoredCandidates(store, where or {}, exclude_project_id)


def read_sent(store: Store, project_id: int) -> Iterator[tuple[int, str, str]]:
    """``(pk, text_hash, text)`` of every post already a task of the project."""
    with store.session() as session:
        yield from session.execute(
            select(Post.id, Post.text_hash, Post.text)
            .join(Task, Task.post_pk == Post.id)
            .where(Task.project_id == project_id)
            .order_by(Post.id)
        )


def candidate_columns(dialect: str) -> list[Any]:
    """The columns of :class:`Candidate`, in order; missing strata values come as UNKNOWN."""
    posts = Post.__table__
    strata = (posts.c.platform, posts.c.lang, _month_column(dialect), posts.c.account_id)
    return [
        posts.c.id,
        posts.c.source,
        posts.c.post_id,
        posts.c.text,
        posts.c.text_hash,
        *(func.coalesce(column, UNKNOWN) for column in strata),
    ]


def _month_column(dialect: str) -> Any:
    created_at = Post.__table__.c.created_at
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", created_at), "YYYY-MM")
    # SQLite stores UTC text ("2024-09-01 12:00:00.000000"), which strftime reads directly.
    return func.strftime("%Y-%m", created_at)


def has_task_in_project(project_id: int) -> Any:
    tasks = Task.__table__
    return exists().where(
        and_(tasks.c.project_id == project_id, tasks.c.post_pk == Post.__table__.c.id)
    )
