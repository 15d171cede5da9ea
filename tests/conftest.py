"""Shared pytest fixtures: real servers for integration tests.

Servers are started once per test session, on first use, and stopped at the end:

- `label_studio`: a local Label Studio (about 35 s to start with an empty data folder).
- `postgres_url`: a throwaway PostgreSQL cluster (about 2 s).
- `database_url`: runs a test once on SQLite and once on a fresh PostgreSQL database.

To reuse servers you already run (faster while developing), set
`ANNOTATE_TEST_LS_URL` + `ANNOTATE_TEST_LS_TOKEN` (+ `ANNOTATE_TEST_LS_PASSWORD` for browser
tests) and/or `ANNOTATE_TEST_PG_URL`
(a SQLAlchemy URL of a role that may create databases).

A server that cannot start is an error, never a skip: missing servers must not pass silently.

Commands started by tests run without PYTHONUNBUFFERED (see below), as on a fresh machine.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from loop_fixtures import make_loop
from servers import start_postgres  # tests/servers.py (pytest puts tests/ on sys.path)
from sqlalchemy.pool import NullPool

from annotate.ls_server import start_label_studio

# Commands the tests start behave as on a fresh machine: this project's machines set
# PYTHONUNBUFFERED=1 for every process, which once hid output left in a pipe's buffer.
os.environ.pop("PYTHONUNBUFFERED", None)


@dataclass(frozen=True)
class ExternalLabelStudio:
    """A Label Studio the developer already runs (from ANNOTATE_TEST_LS_URL/_TOKEN)."""

    url: str
    token: str = field(repr=False)
    username: str = "admin@example.com"
    password: str | None = field(default=None, repr=False)  # for browser tests


# -- Label Studio ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A running Label Studio: has `.url` and `.token` (an admin's legacy API token)."""
    url = os.environ.get("ANNOTATE_TEST_LS_URL")
    token = os.environ.get("ANNOTATE_TEST_LS_TOKEN")
    if url or token:
        if not (url and token):
            raise RuntimeError(
                "Set both ANNOTATE_TEST_LS_URL and ANNOTATE_TEST_LS_TOKEN, or neither."
            )
        yield ExternalLabelStudio(  # not ours: never stopped
            url=url.rstrip("/"),
            token=token,
            username=os.environ.get("ANNOTATE_TEST_LS_USERNAME", "admin@example.com"),
            password=os.environ.get("ANNOTATE_TEST_LS_PASSWORD"),
        )
        return
    server = start_label_studio(data_dir=tmp_path_factory.mktemp("label-studio"))  # waits
    try:
        yield server
    finally:
        server.stop()


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL (postgresql+psycopg://...) of a database on a session-wide server."""
    if url := os.environ.get("ANNOTATE_TEST_PG_URL"):
        yield url
        return
    cluster = start_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of an empty database; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/annotate.db"
        return

    # Looked up lazily so that `-k sqlite` / `-m "not postgres"` never start PostgreSQL.
    server_url = sa.make_url(request.getfixturevalue("postgres_url"))
    name = f"t_{uuid.uuid4().hex}"
    admin = sa.create_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server_url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            # WITH (FORCE) terminates connections the test left open (PostgreSQL 13+).
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def loop(label_studio, database_url, tmp_path, monkeypatch):
    """A project in Label Studio over a store with 1,100 demo posts, and the environment a
    command needs to work on it; every test using it runs on SQLite and on PostgreSQL."""
    monkeypatch.chdir(tmp_path)
    made = make_loop(label_studio, database_url, tmp_path)
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    yield made
    made.store.dispose()


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch) -> Path:
    """A fresh Hugging Face datasets cache per test.

    ``datasets.load_dataset(folder)`` keys its cache on the folder's name and the card's
    ``configs`` and ``dataset_info``, not on the files: two folders named ``1.0.0`` with equal
    split sizes share one cache entry, so a test could load an earlier test's rows (measured
    with datasets 5.2; see the README's note on loading versions)."""
    import datasets.config

    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache
