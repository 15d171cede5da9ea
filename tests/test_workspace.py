"""annotate.Workspace: the loop from Python, the same steps as the CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

import annotate
from annotate import Workspace
from annotate.errors import ConfigError, InputError
from tests.cli import invoke


@pytest.fixture
def team(tmp_path, monkeypatch):
    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_DATABASE_URL", "ANNOTATE_EXPORTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "team"


def test_workspace_is_exported_without_importing_everything_at_once():
    assert "Workspace" in annotate.__all__ and annotate.Workspace is Workspace
    with pytest.raises(AttributeError):
        annotate.Nothing  # noqa: B018


def test_every_step_is_documented():
    rooms = [room for room in Workspace.__mro__ if room is not object]
    steps = sorted({name for room in rooms for name in vars(room) if not name.startswith("_")})
    assert {"ingest", "sample", "push", "pull", "agreement", "aggregate", "publish"} <= set(steps)
    undocumented = [name for name in steps if not getattr(Workspace, name).__doc__]
    assert undocumented == []


def test_opening_writes_nothing_until_a_step_needs_it(team):
    ws = Workspace.open(team / ".annotate")
    assert ws.path == team / ".annotate"
    assert not team.exists()
    assert ws.post_stats()["posts"] == 0  # the first step that needs the store makes it
    assert (team / ".annotate" / "secret.key").exists()
    ws.close()


def test_init_makes_the_workspace_and_label_config_beside_it(team):
    messages = []
    with Workspace.init(team / ".annotate", say=messages.append) as ws:
        report = ws.init_report
        assert report.created is True and report.schema
        assert (team / "label_config" / "taxonomy.yaml").exists()
        assert ws.taxonomy_path() == team / "label_config" / "taxonomy.yaml"
        assert ws.taxonomy().name == "financial_misinfo"
    with Workspace.init(team / ".annotate") as again:
        assert again.init_report.created is False and again.init_report.label_config == []


def test_the_team_taxonomy_beside_the_workspace_wins_from_any_folder(team, tmp_path, monkeypatch):
    Workspace.init(team / ".annotate").close()
    edited = (team / "label_config" / "taxonomy.yaml").read_text(encoding="utf-8")
    edited = edited.replace("version: 1.0.0", "version: 1.0.1", 1)
    (team / "label_config" / "taxonomy.yaml").write_text(edited, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Workspace.open("../team/.annotate") as ws:
        assert ws.taxonomy().version == "1.0.1"


def test_label_studio_is_needed_only_by_the_steps_that_use_it(team):
    with Workspace.init(team / ".annotate") as ws:
        ws.demo_corpus(team / "posts.jsonl", size=200, seed=3)
        assert ws.ingest(team / "posts.jsonl", source="demo").inserted == 200
        with pytest.raises(ConfigError, match="No Label Studio server is configured"):
            ws.pull("round-1")
        with pytest.raises(ConfigError, match="No Label Studio server is configured"):
            ws.create_project("round-1")


def test_the_python_steps_give_what_the_commands_give(team, database_url):
    root = ["--workspace", team / ".annotate", "--database-url", database_url]
    with Workspace.init(team / ".annotate", database_url=database_url) as ws:
        ws.demo_corpus(team / "posts.jsonl", size=300, seed=1)
        ingested = ws.ingest(team / "posts.jsonl", source="demo")
        recorded = ws.simulate_labelling("round-1", posts=200)
        assert ingested.inserted == 300 and len(recorded.annotation_ids) == 600

        assert ws.post_stats() == json.loads(invoke(*root, "posts", "stats", "--json").stdout)
        shown = ws.status("round-1").as_dict()
        assert shown == json.loads(invoke(*root, "status", "round-1", "--json").stdout)
        report = ws.agreement("round-1", ci=False)
        cli = json.loads(invoke(*root, "agreement", "round-1", "--no-ci", "--json").stdout)
        assert cli["krippendorff_alpha"] == pytest.approx(report.summary.krippendorff_alpha.value)
        roster = [row.as_dict() for row in ws.annotators("round-1")]
        assert roster == json.loads(invoke(*root, "annotators", "round-1", "--json").stdout)
        uncertain = ws.adjudicate("round-1", dry_run=True)
        assert uncertain.sent == 0 and uncertain.selected == len(uncertain.items) > 0
        labels = ws.labels("round-1")
        aggregated = ws.aggregate("round-1")
        assert aggregated.items == len(labels.items) == 200
        published = ws.publish("finmis", "1.0.0", projects=["round-1"])
        assert sum(published.rows.values()) > 0
        listed = json.loads(invoke(*root, "datasets", "list", "--json").stdout)
        assert [(row["name"], row["version"]) for row in listed] == [("finmis", "1.0.0")]


def test_publish_refuses_a_hub_target_without_a_repo(team):
    with Workspace.init(team / ".annotate") as ws, pytest.raises(Exception, match="--hub-repo"):
        ws.publish("finmis", "1.0.0", projects=["round-1"], to="hub")


@pytest.mark.parametrize("strategy", ["uncertainty", "activelab"])
def test_a_model_strategy_does_not_sample_a_corpus(team, strategy):
    with Workspace.open(team / ".annotate") as ws:
        with pytest.raises(InputError, match=f"--strategy {strategy} scores stored posts"):
            ws.sample("round-1", 10, strategy=strategy, model="models/m", from_corpus="lake")
        with pytest.raises(InputError, match="apply to sampling --from a corpus"):
            ws.sample("round-1", 10, engine="spark")
