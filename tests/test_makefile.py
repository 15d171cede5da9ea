"""The README's two commands do all the set-up: `make test` and `make demo` install the system
packages they need when run as root, and otherwise stop with the exact command to run."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nothing_to_do_when_every_package_is_there():
    # The suite itself needs all of them: it could not run otherwise.
    result = make("system-deps")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_a_user_without_root_gets_the_exact_command():
    result = make("system-deps", "USER_ID=1000", "CHROMIUM=no-such-browser")
    assert result.returncode != 0
    assert "Missing system packages: chromium." in result.stderr
    assert "sudo apt-get update && sudo apt-get install -y chromium" in result.stderr


def test_root_installs_what_is_missing_with_apt_get():
    result = make(
        "system-deps",
        "USER_ID=0",
        "CHROMIUM=no-such-browser",
        "INITDB=no-such-initdb",
        "APT_GET=echo apt-get",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Installing system packages: postgresql chromium",
        "apt-get update",
        "apt-get install -y postgresql chromium",
    ]


def test_test_and_demo_run_the_system_step_and_ci_runs_only_make_test():
    dry_test = make("-n", "test", "INSTALLED=/dev/null")
    assert "fc-list" in dry_test.stdout and "apt-get" in dry_test.stdout
    dry_demo = make("-n", "demo", "INSTALLED=/dev/null")
    assert (
        'system-deps SYSTEM_PACKAGES="python3-venv fonts-noto-cjk fonts-noto-color-emoji"'
        in dry_demo.stdout
    )
    commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))
    ]
    assert commands == ["make test"]


def test_pip_shows_progress_in_make():
    makefile = (ROOT / "Makefile").read_text()
    assert "--quiet" not in makefile


def test_root_installs_a_headless_jre_for_spark_where_java_is_missing():
    result = make("system-deps", "USER_ID=0", "JAVA=no-such-java", "APT_GET=echo apt-get")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Installing system packages: openjdk-17-jre-headless",
        "apt-get update",
        "apt-get install -y openjdk-17-jre-headless",
    ]


def test_root_installs_libatomic_for_playwrights_driver_where_it_is_missing():
    # A minimal Debian has no libatomic1; Playwright's bundled Node cannot start without it.
    result = make("system-deps", "USER_ID=0", "DPKG=false", "APT_GET=echo apt-get")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Installing system packages: libatomic1",
        "apt-get update",
        "apt-get install -y libatomic1",
    ]


def test_root_installs_python3_venv_before_the_environment_is_made():
    # Debian's own Python has no ensurepip until python3-venv is installed.
    result = make("system-deps", "USER_ID=0", "PYTHON=false", "APT_GET=echo apt-get")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Installing system packages: python3-venv"
    dry_test = make("-n", "test", "-B")
    assert dry_test.stdout.index("for package in") < dry_test.stdout.index("-m venv")
    dry_demo = make("-n", "demo", "-B")
    assert dry_demo.stdout.index("for package in") < dry_demo.stdout.index("-m venv")


def test_make_test_installs_the_spark_extra():
    dry_install = make("-n", ".venv/.installed", "-B")
    assert "-e '.[dev,server,spark]'" in dry_install.stdout
