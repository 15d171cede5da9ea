"""Ingest benchmark: `annotate ingest` against pandas `read_json(lines=True)` + `to_sql`.

Usage:
    python benchmarks/ingest.py                  # 1,000,000 demo posts, SQLite
    python benchmarks/ingest.py --rows 100000
    python benchmarks/ingest.py --database-url postgresql+psycopg://user@127.0.0.1/bench

Both sides run as separate processes on the same generated JSONL file and write to a fresh
database of the same kind; wall time includes start-up. Peak RSS is the child's ru_maxrss.
The peer gets one adaptation it needs to run at all: list-valued columns (true_labels) are
JSON-encoded before to_sql, which cannot bind Python lists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from annotate import demo

PEER = """
import json, sys
import pandas as pd
from sqlalchemy import create_engine
path, url = sys.argv[1], sys.argv[2]
frame = pd.read_json(path, lines=True)
for column in frame.columns:
    if frame[column].map(lambda value: isinstance(value, list | dict)).any():
        frame[column] = frame[column].map(json.dumps)
frame.to_sql("posts", create_engine(url), index=False, chunksize=10_000)
print(len(frame))
"""


def run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a child process; return (seconds, peak RSS in MiB, stdout)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, env=env, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        error = child.stderr.read()
        if child.returncode != 0:
            raise SystemExit(f"{command[:3]} failed ({child.returncode}):\n{error[-2000:]}")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, out.read()


def count_rows(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    engine.dispose()
    return count


def fresh_database(base_url: str | None, folder: Path, name: str) -> str:
    if base_url is None:
        return f"sqlite:///{folder / name}.db"
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS bench_{name}"))
        connection.execute(text(f"CREATE DATABASE bench_{name}"))
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + f"/bench_{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=demo.DEMO_SEED)
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite files)")
    parser.add_argument("--workdir", type=Path, help="Keep files here (default: a temp folder)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="annotate-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = workdir / f"posts-{args.rows}-{args.seed}.jsonl"
    if not corpus.exists():
        started = time.perf_counter()
        demo.write_corpus(corpus, size=args.rows, seed=args.seed)
        print(f"generated {args.rows:,} posts in {time.perf_counter() - started:.1f} s: {corpus}")
    size_mib = corpus.stat().st_size / 2**20
    print(f"input: {corpus.name}, {size_mib:,.0f} MiB, {args.rows:,} rows")

    ours_url = fresh_database(args.database_url, workdir, "ours")
    peer_url = fresh_database(args.database_url, workdir, "peer")
    for url in (ours_url, peer_url):
        if url.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)

    annotate = [sys.executable, "-m", "annotate", "--workspace", str(workdir / "ws")]
    annotate += ["--database-url", ours_url, "ingest", str(corpus), "--json"]
    ours_s, ours_rss, ours_out = run(annotate)
    counts = json.loads(ours_out)
    peer_s, peer_rss, _ = run([sys.executable, "-c", PEER, str(corpus), peer_url])

    stored_ours, stored_peer = count_rows(ours_url, "posts"), count_rows(peer_url, "posts")
    assert counts["inserted"] == stored_ours == stored_peer == args.rows, (counts, stored_peer)

    dialect = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{args.rows:,} posts into {dialect} (wall time including start-up)")
    print(f"{'':34} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10}")
    for name, seconds, rss in (
        ("annotate ingest", ours_s, ours_rss),
        ("pandas read_json + to_sql", peer_s, peer_rss),
    ):
        print(f"{name:34} {seconds:8.1f} {args.rows / seconds:10,.0f} {rss:8,.0f} MiB")
    print(f"\nspeed ratio (annotate / pandas): {peer_s / ours_s:.2f}x")
    print(f"peak RSS ratio (annotate / pandas): {ours_rss / peer_rss:.2f}")
    print(f"annotate peak RSS under 1 GiB: {'yes' if ours_rss < 1024 else 'NO'}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
