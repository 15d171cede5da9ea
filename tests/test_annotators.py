"""``annotate annotators``: leads map pseudonyms to people from the local store; reports name
people only with ``agreement --reveal`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from annotate.agreement import annotator_agreement
from annotate.store import open_store
from tests.agreement_store import ANNOTATORS, fill_project
from tests.cli import invoke


@pytest.fixture
def filled(database_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store(database_url)
    project = fill_project(store)
    store.dispose()
    return ["--database-url", database_url, "--workspace", str(tmp_path / ".annotate")], project


def test_annotators_lists_pseudonym_email_work_and_agreement(filled):
    root, project = filled
    result = invoke(*root, "annotators", "round-1", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["pseudonym"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(ANNOTATORS)
    expected = {row.annotator: row for row in annotator_agreement(project.field_rows("category"))}
    for pseudonym, row in rows.items():
        assert row["email"] == f"{pseudonym}@example.com"
        assert row["annotations"] >= row["items"] - row["skipped"] > 0
        assert row["loo_agreement"] == pytest.approx(expected[pseudonym].loo_agreement)
    # ann-4 copies the consensus far less often than the others.
    worst = min(rows.values(), key=lambda row: row["loo_agreement"])
    assert worst["pseudonym"] == "ann-4"
    table = invoke(*root, "annotators", "round-1")
    assert "ann-4@example.com" in table.stdout
    assert "published data uses pseudonyms" in table.stderr


def test_reports_name_people_only_with_reveal(filled, tmp_path):
    root, _ = filled
    plain = tmp_path / "plain.html"
    assert invoke(*root, "agreement", "round-1", "--format", "html", "--out", plain, "--no-ci")
    revealed = tmp_path / "revealed.html"
    result = invoke(
        *root, "agreement", "round-1", "--format", "html", "--out", revealed, "--no-ci", "--reveal"
    )
    assert result.exit_code == 0, result.output
    assert "keep it within the team" in result.stderr
    assert "@example.com" not in plain.read_text(encoding="utf-8")
    text = revealed.read_text(encoding="utf-8")
    for pseudonym in ANNOTATORS:
        assert f"{pseudonym} ({pseudonym}@example.com)" in text
