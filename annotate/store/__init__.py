"""The store: SQLModel tables on SQLite (default) or PostgreSQL, migrated by Alembic.

Usage::

    store = open_store("sqlite:///.annotate/annotate.db")   # migrates to the newest schema
    with store.session() as session:
        session.exec(select(Post)).all()

The lookups several modules share are :mod:`annotate.store.queries`; annotations that did not
come from Label Studio are recorded with :func:`record_annotations` (:mod:`annotate.store.record`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session

from annotate.config import mask_url
from annotate.errors import ConfigError
from annotate.store.models import (
    Adjudication,
    Aggregate,
    AggregationRun,
    Annotation,
    Annotator,
    Batch,
    Corpus,
    CorpusPost,
    DatasetVersion,
    GoldItem,
    IngestRun,
    Post,
    Project,
    ProjectLock,
    PullRun,
    Task,
    Taxonomy,
)
from annotate.store.record import RecordedAnnotations, record_annotations

__all__ = [
    "Adjudication",
    "Aggregate",
    "AggregationRun",
    "Annotation",
    "Annotator",
    "Batch",
    "Corpus",
    "CorpusPost",
    "DatasetVersion",
    "GoldItem",
    "IngestRun",
    "Post",
    "Project",
    "ProjectLock",
    "PullRun",
    "RecordedAnnotations",
    "Store",
    "Task",
    "Taxonomy",
    "open_store",
    "record_annotations",
]

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Store:
    """An engine on a migrated database."""

    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return Session(self.engine)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with Session(self.engine) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        engine = create_engine(url, json_deserializer=_json_loads)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigError(
            f"The database URL {mask_url(url)!r} is not usable: {error}.",
            hint="Use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.",
        ) from None
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _json_loads(text: str | bytes) -> Any:
    """JSON columns are read with orjson (several times faster on the million-row reads of
    publishing); the standard library's NaN and Infinity, which orjson rejects, still load."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL is durable across application crashes and much faster.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: index inserts during ingest need it
    cursor.close()


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def schema_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate(engine: Engine) -> bool:
    """Upgrade the database to the newest schema; True if anything was applied."""
    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return False
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if current is not None and current not in known:
            raise ConfigError(
                f"The database is at schema revision {current}, which this version of annotate "
                "does not know.",
                hint="Upgrade annotate: the database was written by a newer version.",
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True


def open_store(url: str) -> Store:
    """Connect to ``url`` and bring its schema up to date (an old workspace upgrades in place)."""
    engine = create_store_engine(url)
    try:
        migrate(engine)
    except OperationalError as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise ConfigError(f"Cannot open the database {mask_url(url)}: {reason}.") from None
    return Store(engine)
