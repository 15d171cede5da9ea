"""Smoke tests for the test servers themselves (conftest fixtures, tests/servers.py)."""

from __future__ import annotations

import json
import urllib.request

import pytest
import sqlalchemy as sa
from label_studio_sdk import LabelStudio

TRIVIAL_CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="c" toName="text"><Choice value="a"/></Choices></View>'
)


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.labelstudio
def test_label_studio_server(label_studio) -> None:
    status, body = _get(f"{label_studio.url}/health")
    assert status == 200
    assert json.loads(body)["status"] == "UP"

    # The legacy token works on the plain REST API ...
    status, body = _get(f"{label_studio.url}/api/current-user/whoami", token=label_studio.token)
    assert status == 200
    if hasattr(label_studio, "username"):  # started by us, not an external server
        assert json.loads(body)["email"] == label_studio.username

    # ... and with the SDK.
    client = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    before = {project.id for project in client.projects.list()}
    project = client.projects.create(title="annotate smoke test", label_config=TRIVIAL_CONFIG)
    try:
        assert project.id not in before
        assert project.id in {p.id for p in client.projects.list()}
    finally:
        client.projects.delete(id=project.id)
    assert project.id not in {p.id for p in client.projects.list()}


@pytest.mark.postgres
def test_postgres_server(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert "PostgreSQL 15" in conn.execute(sa.text("select version()")).scalar_one()
            conn.execute(sa.text("create table smoke (id integer primary key)"))
            conn.execute(sa.text("drop table smoke"))
    finally:
        engine.dispose()


def test_database_url(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table post (id integer primary key, text varchar(50))"))
            conn.execute(sa.text("insert into post (id, text) values (1, 'hello')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("select id, text from post")).all() == [(1, "hello")]
    finally:
        engine.dispose()
