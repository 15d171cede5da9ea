"""The command line as a user meets it: help, version, init, errors."""

import json
import re
import stat

import pytest

from tests.cli import invoke, run


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_DATABASE_URL", "ANNOTATE_EXPORTS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_python_dash_m_prints_version_and_help(workdir):
    from annotate import __version__

    version = run("--version", cwd=workdir)
    assert version.returncode == 0
    assert version.stdout.strip() == f"annotate {__version__}"
    helped = run("--help", cwd=workdir)
    assert helped.returncode == 0
    for command in ("init", "ingest", "demo-corpus", "posts", "config", "ls"):
        assert command in helped.stdout
    assert not (workdir / ".annotate").exists(), "--help must not create a workspace"


def test_every_command_has_help():
    for args in (
        ["init"],
        ["ingest"],
        ["demo-corpus"],
        ["posts", "stats"],
        ["config", "show"],
        ["ls", "serve"],
    ):
        result = invoke(*args, "--help")
        assert result.exit_code == 0, args
        assert "Usage: annotate" in result.stdout


def test_every_command_has_json():
    """The output convention of cli/_shared.py: every command has --json."""
    import typer.main

    from annotate.cli import app

    def commands(command, path):
        if hasattr(command, "list_commands"):
            context = command.make_context("annotate", [], resilient_parsing=True)
            for name in command.list_commands(context):
                yield from commands(command.get_command(context, name), [*path, name])
        else:
            yield " ".join(path), {opt for param in command.params for opt in param.opts}

    found = dict(commands(typer.main.get_command(app), []))
    assert len(found) > 20
    assert [name for name, options in found.items() if "--json" not in options] == []


@pytest.mark.parametrize("command", ["aggregate", "adjudicate", "review-queue", "publish"])
def test_aggregation_is_one_choice_that_refuses_other_names(command, workdir, monkeypatch):
    def words(help_text):
        return " ".join(re.sub(r"[│╭╮╰╯─]", " ", help_text).split())

    monkeypatch.setenv("COLUMNS", "200")  # the choices on one line of the help

    helped = invoke(command, "--help")
    assert helped.exit_code == 0
    assert re.search(r"--aggregation [<\[]dawid-skene\|majority[>\]]", words(helped.stdout))
    extra = ["--version", "1.0.0", "--project", "round-1"] if command == "publish" else []
    result = invoke(command, "round-1", *extra, "--aggregation", "mean")
    assert result.exit_code == 2, result.output
    assert "'mean' is not one of 'dawid-skene', 'majority'" in words(result.stderr)
    assert not (workdir / ".annotate").exists()


def test_commands_that_change_a_project_teach_no_wait_and_push_teaches_reconcile():
    def words(help_text):  # the help's words, without the boxes and line breaks around them
        return " ".join(re.sub(r"[│╭╮╰╯─]", " ", help_text).split())

    for command in ("sample", "push", "pull", "adjudicate", "aggregate", "publish"):
        result = invoke(command, "--help")
        assert result.exit_code == 0, command
        assert re.search(
            r"--no-wait (<bool> )?Fail at once, naming who holds it", words(result.stdout)
        ), command
    push = words(invoke("push", "--help").stdout)
    assert re.search(r"--reconcile (<bool> )?First repair what Label Studio and the store", push)
    assert re.search(r"--dry-run (<bool> )?List what would be adopted, deleted and pushed", push)


def test_init_creates_the_workspace_once(workdir):
    first = invoke("init", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["created"] is True
    assert data["database"] == "sqlite:///.annotate/annotate.db"
    secret = workdir / ".annotate" / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (workdir / ".annotate" / "annotate.toml").exists()
    assert (workdir / ".annotate" / "annotate.db").exists()
    key = secret.read_text()
    again = invoke("init", "--json")
    assert json.loads(again.stdout)["created"] is False
    assert secret.read_text() == key


def test_user_error_is_one_line_without_traceback(workdir):
    result = run("ingest", "missing.jsonl", cwd=workdir)
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error_lines == ["Error: missing.jsonl does not exist."]
    assert "Traceback" not in result.stderr


def test_verbose_adds_the_traceback(workdir):
    result = run("--verbose", "ingest", "missing.jsonl", cwd=workdir)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "Error: missing.jsonl does not exist." in result.stderr


def test_bad_database_url_is_a_clear_error(workdir):
    result = invoke("--database-url", "postgresql+psycopg://u:hunter2@127.0.0.1:1/x", "init")
    assert result.exit_code != 0
    assert "Cannot open the database" in result.stderr
    assert "hunter2" not in result.output


def test_bad_settings_file_is_a_clear_error(workdir):
    (workdir / ".annotate").mkdir()
    (workdir / ".annotate" / "annotate.toml").write_text("label_studio_url = [\n")
    result = invoke("config", "show")
    assert result.exit_code != 0
    assert result.stderr.startswith("Error: .annotate/annotate.toml: not valid TOML")


def test_demo_corpus_command_writes_the_requested_posts(workdir):
    result = invoke("demo-corpus", "--size", "50", "--seed", "3", "--out", "d.jsonl", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"posts": 50, "seed": 3, "out": "d.jsonl"}
    lines = (workdir / "d.jsonl").read_text().splitlines()
    assert len(lines) == 50
    assert invoke("demo-corpus", "--size", "5", "--out", "d.xlsx").exit_code != 0


def test_posts_stats_after_demo_ingest(workdir):
    invoke("demo-corpus", "--size", "300", "--out", "d.jsonl")
    assert invoke("ingest", "d.jsonl", "--source", "demo").exit_code == 0
    stats = json.loads(invoke("posts", "stats", "--json").stdout)
    assert stats["posts"] == 300
    assert stats["by_source"] == {"demo": 300}
    assert set(stats["by_lang"]) <= {"zh", "en", "other"}
    assert sum(stats["by_platform"].values()) == 300
    human = invoke("posts", "stats")
    assert human.exit_code == 0
    assert "300" in human.stdout


def test_init_points_to_the_taxonomy_not_the_generated_config(workdir):
    result = invoke("init")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    xml = [line for line in lines if "financial_misinfo.xml" in line]
    assert xml and all("edit it" not in line and "do not edit" in line for line in xml)
    assert any("label_config/taxonomy.yaml: edit it" in line for line in lines)


def test_project_show_needs_no_label_studio(workdir, monkeypatch):
    from annotate.store import Project, open_store
    from annotate.store.queries import record_taxonomy
    from annotate.taxonomy import load_taxonomy

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    assert invoke("init").exit_code == 0
    store = open_store("sqlite:///.annotate/annotate.db")
    with store.transaction() as session:
        taxonomy = record_taxonomy(session, load_taxonomy())
        session.add(
            Project(
                name="round-1",
                ls_url="http://127.0.0.1:9",  # a demo server long gone
                ls_project_id=4,
                taxonomy_id=taxonomy.id,
                annotators_per_task=3,
                overlap=0.2,
            )
        )
    store.dispose()
    shown = invoke("project", "show", "round-1", "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["ls_project_id"] == 4 and data["server"] == {}
    live = invoke("project", "show", "round-1", "--live")
    assert live.exit_code != 0
    assert "No Label Studio server is configured" in live.stderr
