"""Running the CLI in tests: in-process through Typer's runner, or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from annotate.cli import app


def invoke(*args: str):
    """Run ``annotate ARGS`` in this process; the result has exit_code, stdout, stderr, output."""
    return CliRunner().invoke(app, [str(arg) for arg in args], prog_name="annotate")


def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run ``python -m annotate ARGS`` as a real process (exit codes, stderr, tracebacks)."""
    return subprocess.run(
        [sys.executable, "-m", "annotate", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
