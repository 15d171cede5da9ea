"""Usage mistakes come out as Click prints them (usage line, the problem, exit code 2) in every
command group; only real bugs are reported as "unexpected"."""

from __future__ import annotations

import pytest
import typer.main

from annotate.cli import app
from tests.cli import invoke, run


def _leaf_commands() -> list[tuple[str, ...]]:
    """The path of every runnable command, e.g. ("datasets", "show")."""
    found: list[tuple[str, ...]] = []

    def walk(command, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, child in command.commands.items():
                walk(child, (*path, name))
        else:
            found.append(path)

    walk(typer.main.get_command(app), ())
    return found


def _required(path: tuple[str, ...]) -> list:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return [param for param in command.params if param.required]


LEAVES = _leaf_commands()


def test_the_walk_finds_every_command_group():
    groups = {path[0] for path in LEAVES if len(path) > 1}
    assert {"datasets", "posts", "project", "taxonomy", "config", "ls"} <= groups
    assert len(LEAVES) >= 25


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_an_unknown_option_is_a_usage_error(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*path, "--bogus")
    assert result.exit_code == 2, result.output
    assert f"Usage: annotate {' '.join(path)}" in result.stderr
    assert "No such option: --bogus" in result.stderr
    assert "unexpected" not in result.output
    assert not (tmp_path / ".annotate").exists(), "a usage error must not create a workspace"


@pytest.mark.parametrize("path", [path for path in LEAVES if _required(path)], ids=" ".join)
def test_a_missing_argument_is_a_usage_error(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*path)
    assert result.exit_code == 2, result.output
    assert f"Usage: annotate {' '.join(path)}" in result.stderr
    assert "Missing" in result.stderr
    assert "unexpected" not in result.output


def test_a_bad_option_value_is_a_usage_error(tmp_path):
    result = run("sample", "p", "--size", "many", cwd=tmp_path)
    assert result.returncode == 2
    assert "Invalid value for '--size'" in result.stderr
    assert "unexpected" not in result.stderr
    assert "Traceback" not in result.stderr


def test_datasets_show_without_a_name_as_a_real_process(tmp_path):
    result = run("datasets", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: annotate datasets show")
    assert "Missing argument 'ref'" in result.stderr
