"""A throwaway PostgreSQL cluster for the test suite.

`start_postgres(base_dir)` runs `initdb` and `pg_ctl start` for a private cluster on a free
127.0.0.1 port (trust authentication, durability switched off for speed), creates the database
`annotate_test` and returns a `PostgresCluster` whose `.url` is a SQLAlchemy URL.

PostgreSQL refuses to run as root. When the tests run as root (as in CI), `initdb`, `pg_ctl` and
the server run as the `postgres` system user, and the cluster lives in a folder that user can
reach: pytest's own tmp folders are private to root (mode 0700), so in that case the cluster goes
to a fresh `tempfile.mkdtemp()` folder instead of `base_dir`, removed again by `stop()`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

DATABASE = "annotate_test"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"  # the OS user the server runs as when we are root

_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL binaries are missing or the cluster did not start."""


@dataclass
class PostgresCluster:
    url: str
    port: int
    data_dir: Path
    socket_dir: Path
    log_file: Path
    bin_dir: Path
    run_as: str | None = None  # OS user that owns the cluster when we are root
    _cleanup_dir: Path | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server (fast shutdown; killed if that fails) and remove a temporary folder."""
        if (self.data_dir / "postmaster.pid").exists():
            result = _run(
                [
                    self.bin_dir / "pg_ctl",
                    "-D",
                    self.data_dir,
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
                self.run_as,
                check=False,
            )
            if result.returncode != 0:
                _kill_postmaster(self.data_dir)
        if self._cleanup_dir is not None:
            shutil.rmtree(self._cleanup_dir, ignore_errors=True)
            self._cleanup_dir = None


def find_postgres_bin_dir() -> Path:
    """The folder of `initdb` and `pg_ctl`: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        # Resolve symlinks (e.g. /usr/local/bin/initdb) so pg_ctl finds `postgres` beside it.
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in "
        "/usr/lib/postgresql/*/bin. Install them, e.g. `apt-get install postgresql` "
        "(Debian/Ubuntu), or point ANNOTATE_TEST_PG_URL at a running server."
    )


def _run(
    command: list[str | Path], run_as: str | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    args = [str(part) for part in command]
    if run_as is not None:
        if shutil.which("runuser"):
            args = ["runuser", "-u", run_as, "--", *args]
        else:
            args = ["su", run_as, "-s", "/bin/sh", "-c", shlex.join(args)]
    # cwd "/": the postgres user may not be allowed into the current folder.
    result = subprocess.run(args, cwd="/", capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise PostgresUnavailableError(
            f"`{shlex.join(args)}` failed with code {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def _kill_postmaster(data_dir: Path) -> None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_postgres(base_dir: Path) -> PostgresCluster:
    """Create and start a private PostgreSQL cluster with an empty database `annotate_test`."""
    bin_dir = find_postgres_bin_dir()
    run_as: str | None = None
    cleanup: Path | None = None
    if os.geteuid() == 0:
        run_as = SYSTEM_USER
        try:
            owner = pwd.getpwnam(SYSTEM_USER)
        except KeyError as error:
            raise PostgresUnavailableError(
                f"Running as root, but there is no `{SYSTEM_USER}` user to run PostgreSQL as "
                "(PostgreSQL refuses to run as root). `apt-get install postgresql` creates it."
            ) from error
        # mkdtemp makes a 0700 folder under the (world-traversable) temp folder; open it up so
        # the postgres user can reach the cluster inside.
        root = Path(tempfile.mkdtemp(prefix="annotate-pg-"))
        root.chmod(0o755)
        cleanup = root
    else:
        owner = None
        root = Path(base_dir).absolute()
        root.mkdir(parents=True, exist_ok=True)
        # A Unix socket path must stay under ~100 bytes; fall back to a short temp folder.
        if len(str(root)) > 70:
            root = Path(tempfile.mkdtemp(prefix="annotate-pg-"))
            cleanup = root

    data_dir = root / "data"
    socket_dir = root / "socket"
    log_file = root / "postgres.log"
    try:
        for path in (data_dir, socket_dir):
            path.mkdir(mode=0o700)
        log_file.touch()
        if owner is not None:
            for path in (data_dir, socket_dir, log_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)

        _run(
            [
                bin_dir / "initdb",
                "-D",
                data_dir,
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            run_as,
        )

        # A free port can be taken between choosing and binding it: try a few.
        for attempt in range(3):
            port = _free_port()
            settings = {
                **_SETTINGS,
                "port": str(port),
                "unix_socket_directories": f"'{socket_dir}'",
            }
            with (data_dir / "postgresql.conf").open("a") as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            result = _run(
                [bin_dir / "pg_ctl", "-D", data_dir, "-l", log_file, "-w", "-t", "60", "start"],
                run_as,
                check=False,
            )
            if result.returncode == 0:
                break
            if attempt == 2:
                raise PostgresUnavailableError(
                    f"PostgreSQL did not start (pg_ctl exit {result.returncode}):\n"
                    f"{result.stdout}{result.stderr}\n--- {log_file} ---\n{_tail(log_file)}"
                )
            time.sleep(0.5)

        cluster = PostgresCluster(
            url=f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}",
            port=port,
            data_dir=data_dir,
            socket_dir=socket_dir,
            log_file=log_file,
            bin_dir=bin_dir,
            run_as=run_as,
            _cleanup_dir=cleanup,
        )
    except BaseException:
        _kill_postmaster(data_dir)
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    except BaseException:
        cluster.stop()
        raise
    return cluster
