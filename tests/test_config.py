"""Settings precedence, the workspace and its secret, and masking in `config show`."""

import json
import os
import socket
import stat
import time
from pathlib import Path

import pytest

from annotate.config import WorkspaceFolder, ensure_workspace, load_settings
from annotate.errors import ConfigError
from annotate.labelstudio import LabelStudioError, Retry, connect, connect_to
from tests.cli import invoke, run


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in (
        "ANNOTATE_WORKSPACE",
        "ANNOTATE_DATABASE_URL",
        "LABEL_STUDIO_URL",
        "LABEL_STUDIO_API_KEY",
        "HF_ENDPOINT",
        "HF_TOKEN",
        "ANNOTATE_EXPORTS",
        "ANNOTATE_REGISTRY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def write_toml(text):
    os.makedirs(".annotate", exist_ok=True)
    with open(".annotate/annotate.toml", "w") as handle:
        handle.write(text)


def test_defaults():
    settings = load_settings()
    assert str(settings.workspace) == ".annotate"
    assert settings.effective_database_url == "sqlite:///.annotate/annotate.db"
    assert str(settings.effective_registry) == "exports/registry"
    assert settings.label_studio_api_key is None


def test_precedence_option_over_env_over_toml_over_default(monkeypatch):
    write_toml('database_url = "sqlite:///from-toml.db"\nlabel_studio_url = "http://toml:1"\n')
    assert load_settings().database_url == "sqlite:///from-toml.db"
    assert load_settings().label_studio_url == "http://toml:1"
    monkeypatch.setenv("ANNOTATE_DATABASE_URL", "sqlite:///from-env.db")
    assert load_settings().database_url == "sqlite:///from-env.db"
    assert load_settings(database_url="sqlite:///from-option.db").database_url == (
        "sqlite:///from-option.db"
    )
    # A setting the option does not give still comes from the file.
    assert load_settings(database_url="sqlite:///x.db").label_studio_url == "http://toml:1"


def test_workspace_option_picks_its_own_toml(tmp_path):
    other = tmp_path / "team"
    other.mkdir()
    (other / "annotate.toml").write_text('exports = "team-exports"\n')
    assert load_settings(workspace=other).exports == tmp_path / "team-exports"
    assert str(load_settings().exports) == "exports"


def test_unknown_toml_key_is_one_clear_error():
    write_toml('databse_url = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError, match="unknown setting 'databse_url'"):
        load_settings()


def test_invalid_toml_names_the_file():
    write_toml("database_url = \n")
    with pytest.raises(ConfigError, match=r"annotate\.toml: not valid TOML"):
        load_settings()


def test_secret_is_created_once_with_mode_0600():
    settings = load_settings()
    assert ensure_workspace(settings) is True
    assert ensure_workspace(settings) is False
    secret = settings.workspace / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    workspace = WorkspaceFolder(settings)
    first = workspace.pseudonymise("annotator@example.com")
    assert first == WorkspaceFolder(load_settings()).pseudonymise("annotator@example.com")
    assert first != workspace.pseudonymise("other@example.com")
    assert "annotator" not in first


def test_secret_readable_by_others_is_refused():
    settings = load_settings()
    ensure_workspace(settings)
    (settings.workspace / "secret.key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        WorkspaceFolder(settings).secret()


def test_config_show_masks_secrets(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "ls-key-0123456789abcdef")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    monkeypatch.setenv("ANNOTATE_DATABASE_URL", "postgresql+psycopg://me:pa55word@db/annotate")
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        for secret in ("ls-key-0123456789abcdef", "hf_secret_token_value", "pa55word"):
            assert secret not in result.output
    data = json.loads(invoke("config", "show", "--json").stdout)
    assert data["label_studio_api_key"] == {
        "value": "********",
        "source": "env LABEL_STUDIO_API_KEY",
    }
    assert data["database_url"]["value"] == "postgresql+psycopg://me:***@db/annotate"
    assert data["hf_endpoint"] == {"value": None, "source": "default"}


def test_config_show_reports_where_values_came_from():
    write_toml('label_studio_url = "http://127.0.0.1:9"\n')
    data = json.loads(invoke("--database-url", "sqlite:///o.db", "config", "show", "--json").stdout)
    assert data["database_url"]["source"] == "option"
    assert data["label_studio_url"] == {"value": "http://127.0.0.1:9", "source": "annotate.toml"}


def test_workspace_paths_do_not_follow_the_current_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / ".annotate").mkdir(parents=True)
    (project / ".annotate" / "annotate.toml").write_text(
        'registry = "shared/registry"\ndatabase_url = "sqlite:///data/store.db"\n'
    )
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    seen = []
    for folder, workspace in (
        (project, ".annotate"),
        (tmp_path, "project/.annotate"),
        (elsewhere, "../../project/.annotate"),
    ):
        monkeypatch.chdir(folder)
        settings = load_settings(workspace=workspace)
        seen.append(
            (
                (folder / settings.exports).resolve(),
                (folder / settings.effective_registry).resolve(),
                settings.effective_database_url.replace(str(folder), ""),
            )
        )
        assert (folder / settings.exports).resolve() == project / "exports"
        assert (folder / settings.effective_registry).resolve() == project / "shared" / "registry"
        database = settings.effective_database_url.removeprefix("sqlite:///")
        assert (folder / database).resolve() == project / "data" / "store.db"
    assert len({row[:2] for row in seen}) == 1


def test_paths_typed_as_options_or_env_are_relative_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTATE_EXPORTS", "out")
    settings = load_settings(workspace=tmp_path / "w" / ".annotate", registry="reg")
    assert settings.exports == Path("out") and settings.registry == Path("reg")
    absolute = load_settings(workspace="w/.annotate", registry=str(tmp_path / "abs"))
    assert absolute.registry == tmp_path / "abs"


def test_rejects_land_beside_the_workspace_from_any_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"post_id": "1", "text": "央行降准"}\n{"post_id": "2"}\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke("--workspace", project / ".annotate", "ingest", posts)
    assert result.exit_code == 0, result.output
    assert len(list((project / "exports" / "rejects").glob("ingest-*.jsonl"))) == 1
    assert not (elsewhere / "exports").exists()


def test_an_empty_environment_variable_counts_as_unset(monkeypatch):
    monkeypatch.setenv("ANNOTATE_EXPORTS", "")
    monkeypatch.setenv("ANNOTATE_DATABASE_URL", "")
    settings = load_settings(workspace="team/.annotate")
    assert settings.exports == Path("team/exports")
    assert settings.effective_database_url == "sqlite:///team/.annotate/annotate.db"


@pytest.mark.parametrize(
    ("url", "problem", "fix"),
    [
        ("localhost:8080", "has no scheme", "http://localhost:8080"),
        ("127.0.0.1:8080/", "has no scheme", "http://127.0.0.1:8080/"),
        ("ftp://ls.example", "uses ftp://", "http:// or https://"),
        ("http:/localhost:8080", "names no host", "http://HOST:PORT"),
        ("http://ls.example:80a", "has an invalid port", "http://HOST:PORT"),
    ],
)
def test_a_label_studio_url_that_cannot_work_is_refused_before_any_request(
    monkeypatch, url, problem, fix
):
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "ls-key-0123456789abcdef")
    slept = []
    with pytest.raises(ConfigError) as raised:
        connect(load_settings(), Retry(sleep=slept.append))
    assert f"LABEL_STUDIO_URL {url!r} {problem}" in str(raised.value)
    assert fix in raised.value.hint and not slept
    # The command says it once, at once, without retrying five times.
    started = time.monotonic()
    result = run("project", "create", "round-1")
    assert time.monotonic() - started < 30
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert errors[0].startswith(f"Error: LABEL_STUDIO_URL {url!r} {problem}")
    assert "UnsupportedProtocol" not in result.stderr and "attempts" not in result.stderr


PASSWORD = "s3cr3t-pw"


def test_passwords_in_urls_are_masked_in_config_show(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://admin:{PASSWORD}@ls.example:8080")
    monkeypatch.setenv("HF_ENDPOINT", f"https://hub-user:{PASSWORD}@hub.example/")
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
    data = json.loads(run("config", "show", "--json").stdout)
    assert data["label_studio_url"]["value"] == "http://admin:***@ls.example:8080"
    assert data["hf_endpoint"]["value"] == "https://hub-user:***@hub.example/"


def test_a_password_in_the_label_studio_url_is_never_in_an_error(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://admin:{PASSWORD}@127.0.0.1:{closed_port()}")
    no_key = run("project", "create", "round-1")
    assert no_key.returncode == 1 and "No API key" in no_key.stderr
    monkeypatch.setenv("LABEL_STUDIO_URL", f"ftp://admin:{PASSWORD}@ls.example")
    bad_scheme = run("project", "create", "round-1")
    assert bad_scheme.returncode == 1 and "ftp://admin:***@ls.example" in bad_scheme.stderr
    for result in (no_key, bad_scheme):
        assert PASSWORD not in result.stdout + result.stderr
    # Nor when the server cannot be reached (the connection's messages name its URL).
    connection = connect_to(
        f"http://admin:{PASSWORD}@127.0.0.1:{closed_port()}", "key", Retry(2, sleep=lambda _: None)
    )
    with pytest.raises(LabelStudioError) as raised:
        connection.whoami()
    assert "admin:***@127.0.0.1" in str(raised.value) and PASSWORD not in str(raised.value)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
