"""Sampling straight from a partitioned Parquet corpus (DuckDB, Spark local) against
ingest-then-sample on the store, at 1M, 3M and 10M demo posts.

Usage:
    python benchmarks/corpus.py                              # 1M, 3M, 10M; ingest at 1M, 3M
    python benchmarks/corpus.py --sizes 1000000 --ingest-sizes 1000000 --workdir /tmp/corpus
    python benchmarks/corpus.py --engines duckdb            # without Spark

The demo corpus (``annotate.demo``, seed 20240901) is generated once, streamed, and written in
chunks as hive-partitioned Parquet (``platform=…/month=…/``) for every size (the first N posts:
the generator is prefix-stable), and as JSON Lines for the sizes that are also ingested.

Each measurement runs in its own process; its peak memory is the largest resident set of the
process and its children (Spark's JVM included), sampled every 50 ms. Measured:

* ``duckdb`` / ``spark``: ``annotate sample --from`` of 1,000 posts into a new project (the
  engine's scan, the selection, and storing the chosen posts), stratified by platform and
  month, and keyword (30% lexicon matches, the rest random). Spark runs in local mode
  (``local[2]``); its session start is timed apart and not in the sample's time.
* ``store``: ``annotate ingest`` of the same posts into SQLite, then the same sample from the
  store. Sizes not in ``--ingest-sizes`` are extrapolated linearly from the measured ones
  (said so in the table). A replicated lake (``--replicate-from``) that is also ingested gets
  its JSON Lines written from the lake.
* pruning: a sample with ``--where platform=weibo`` and the files each engine read, against
  the corpus's files.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 20240901
SAMPLE = 1000
STRATIFIED = {"strategy": "stratified", "by": ["platform", "month"]}
KEYWORD = {"strategy": "keyword"}
WEIBO = {"where": {"platform": ["weibo"]}}


# ------------------------------------------------------------------------------ the corpora


def replicate_lake(workdir: Path, size: int, source_size: int) -> None:
    """``lake-SIZE`` as ``SIZE / source_size`` copies of ``lake-source_size`` under new ids
    (``ID-rK``), written by DuckDB: generating posts one by one costs about 40 minutes per
    10 million on this machine, copying takes a minute. Copies repeat texts under other ids,
    which near-duplicate suppression handles as it would reposts."""
    import duckdb

    target = workdir / f"lake-{size}"
    if (target / ".done").exists():
        return
    shutil.rmtree(target, ignore_errors=True)
    copies, rest = divmod(size, source_size)
    if rest or copies < 2:
        raise SystemExit(f"--replicate-from {source_size} must divide {size}.")
    source = workdir / f"lake-{source_size}"
    started = time.perf_counter()
    spill = str(workdir / "duckdb-spill")
    connection = duckdb.connect(config={"memory_limit": "2GB", "temp_directory": spill})
    connection.execute(
        f"COPY (SELECT * REPLACE (CASE WHEN k = 0 THEN post_id ELSE post_id || '-r' || k END "
        f"AS post_id) FROM read_parquet('{source}/**/*.parquet', hive_partitioning = true), "
        f"range({copies}) copies(k)) TO '{target}' "
        f"(FORMAT parquet, PARTITION_BY (platform, month), ROW_GROUP_SIZE 50000)"
    )
    (target / ".done").touch()
    print(f"  copied lake-{source_size} {copies} times ({time.perf_counter() - started:.0f} s)")


def lines_from_lake(workdir: Path, size: int) -> None:
    """``posts-SIZE.jsonl`` from ``lake-SIZE`` (a replicated lake has no generated posts to
    write): the posts as the generator gives them, instants in UTC."""
    import duckdb

    target = workdir / f"posts-{size}.jsonl"
    if (workdir / f"posts-{size}.jsonl.done").exists():
        return
    started = time.perf_counter()
    spill = str(workdir / "duckdb-spill")
    connection = duckdb.connect(config={"memory_limit": "2GB", "temp_directory": spill})
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(
        "COPY (SELECT post_id, platform, account_id, account_name, "
        "strftime(created_at, '%Y-%m-%dT%H:%M:%S+00:00') AS created_at, lang, text, url, "
        "likes, reposts, comments, true_labels, true_severity "
        f"FROM read_parquet('{workdir / f'lake-{size}'}/**/*.parquet', hive_partitioning = true)) "
        f"TO '{target}' (FORMAT json)"
    )
    (workdir / f"posts-{size}.jsonl.done").touch()
    print(f"  wrote posts-{size}.jsonl from its lake ({time.perf_counter() - started:.0f} s)")


def write_corpora(workdir: Path, sizes: list[int], ingest_sizes: list[int]) -> None:
    """One pass of the generator: every size's lake (and JSON Lines where ingested)."""
    from annotate.demo import generate_posts
    from annotate.demo.lake import write_lake

    wanted = [size for size in sizes if not (workdir / f"lake-{size}" / ".done").exists()]
    lines = [size for size in ingest_sizes if not (workdir / f"posts-{size}.jsonl.done").exists()]
    if not wanted and not lines:
        return
    biggest = max(wanted + lines)
    chunk = 250_000
    handles = {
        size: (workdir / f"posts-{size}.jsonl").open("w", encoding="utf-8") for size in lines
    }
    stream = generate_posts(biggest, SEED)
    started = time.perf_counter()
    for number in itertools.count():
        posts = list(itertools.islice(stream, chunk))
        if not posts:
            break
        offset = number * chunk
        for size in wanted:
            if offset < size:
                part = [dict(post) for post in posts[: size - offset]]
                write_lake(workdir / f"lake-{size}", 0, posts=part, chunk=chunk, start=number)
        for size, handle in handles.items():
            if offset < size:
                handle.writelines(
                    json.dumps(post, ensure_ascii=False) + "\n" for post in posts[: size - offset]
                )
        print(f"  wrote {offset + len(posts):,} posts ({time.perf_counter() - started:.0f} s)")
    for size in wanted:
        (workdir / f"lake-{size}" / ".done").touch()
    for size, handle in handles.items():
        handle.close()
        (workdir / f"posts-{size}.jsonl.done").touch()


# ------------------------------------------------------------------------------ one measurement


def child(args: argparse.Namespace) -> None:
    """Run one measurement in this process and print its result as JSON."""
    from annotate.batches import sample_batch
    from annotate.engines import CorpusSampler, open_engine
    from annotate.engines.registry import add_corpus, get_corpus
    from annotate.sampling import SamplingParams, load_lexicon
    from annotate.store import Project, open_store
    from annotate.store.queries import record_taxonomy
    from annotate.taxonomy import load_taxonomy

    spec = json.loads(args.child)
    store = open_store(f"sqlite:///{spec['database']}")
    result: dict[str, Any] = {}
    if spec["kind"] == "ingest":
        from annotate.ingest import ingest_files

        started = time.perf_counter()
        ingest_files(store, [Path(spec["lines"])], source="lake")
        result["seconds"] = time.perf_counter() - started
        print(json.dumps(result))
        return
    name = f"p{time.time_ns()}"
    with store.transaction() as session:
        taxonomy = record_taxonomy(session, load_taxonomy())
        session.add(Project(name=name, taxonomy_id=taxonomy.id))
    params = SamplingParams(size=SAMPLE, seed=SEED, **spec["params"])
    corpus = None
    if spec["kind"] != "store":
        try:
            get_corpus(store, "lake")
        except Exception:
            add_corpus(store, "lake", spec["lake"])
        started = time.perf_counter()
        engine = open_engine(spec["kind"])
        result["engine_start"] = time.perf_counter() - started
        corpus = CorpusSampler(store, get_corpus(store, "lake"), engine)
    started = time.perf_counter()
    sampled = sample_batch(store, name, params, lexicon=load_lexicon(), corpus=corpus)
    result["seconds"] = time.perf_counter() - started
    result["posts"] = sampled.batch.tasks
    result["post_ids"] = sampled.batch.params["post_ids"]
    if corpus is not None:
        result["files_read"] = sampled.selection["corpus"]["files_read"]
        result["files"] = corpus.corpus.files
    print(json.dumps(result))


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec`` in a child process; add its wall time and peak memory (process tree)."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        try:
            parent = psutil.Process(process.pid)
            while not stop.is_set():
                total = 0
                for proc in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += proc.memory_info().rss
                peak = max(peak, total)
                time.sleep(0.05)
        except psutil.Error:
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = process.communicate()
    stop.set()
    watcher.join()
    if process.returncode != 0:
        raise RuntimeError(f"{spec['kind']} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    result["peak_mib"] = peak / 2**20
    return result


# ------------------------------------------------------------------------------ the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--ingest-sizes", default="1000000,3000000")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument(
        "--spark-sizes", default=None, help="Sizes Spark runs at (default: every size)."
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/annotate-corpus-bench"))
    parser.add_argument("--keep", action="store_true", help="Keep the corpora for the next run.")
    parser.add_argument(
        "--replicate-from",
        type=int,
        default=None,
        help="Make the sizes above this one as copies of its lake (see replicate_lake).",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    ingest_sizes = [int(size) for size in args.ingest_sizes.split(",") if size]
    engines = [engine for engine in args.engines.split(",") if engine]
    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(workdir).free / 2**30
    print(f"Free disk in {workdir}: {free:.0f} GiB")
    print("Writing the corpora ...")
    base = args.replicate_from
    generated = [size for size in sizes if base is None or size <= base]
    write_corpora(workdir, generated, [size for size in ingest_sizes if size in generated])
    for size in sizes:
        if size not in generated:
            replicate_lake(workdir, size, base)
            if size in ingest_sizes:
                lines_from_lake(workdir, size)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        lake = workdir / f"lake-{size}"
        for engine in engines:
            if engine == "spark" and args.spark_sizes and str(size) not in args.spark_sizes:
                continue
            database = workdir / f"{engine}-{size}.db"
            database.unlink(missing_ok=True)
            for label, params in (
                ("stratified", STRATEGIES_BY_NAME["stratified"]),
                ("keyword", STRATEGIES_BY_NAME["keyword"]),
                ("where platform=weibo", WEIBO),
            ):
                spec = {
                    "kind": engine,
                    "database": str(database),
                    "lake": str(lake),
                    "params": params,
                }
                found = measure(spec)
                rows.append({"size": size, "engine": engine, "sample": label, **found})
                report(rows[-1])
        if size in ingest_sizes:
            database = workdir / f"store-{size}.db"
            database.unlink(missing_ok=True)
            ingest = measure(
                {
                    "kind": "ingest",
                    "database": str(database),
                    "lines": str(workdir / f"posts-{size}.jsonl"),
                }
            )
            rows.append({"size": size, "engine": "ingest", "sample": "-", **ingest})
            report(rows[-1])
            for label in ("stratified", "keyword"):
                found = measure(
                    {
                        "kind": "store",
                        "database": str(database),
                        "params": STRATEGIES_BY_NAME[label],
                    }
                )
                rows.append({"size": size, "engine": "store", "sample": label, **found})
                report(rows[-1])
            database.unlink(missing_ok=True)
    summarise(rows, sizes, ingest_sizes, engines)
    (workdir / "results.json").write_text(json.dumps(rows, indent=1))
    if not args.keep:
        for size in sizes:
            shutil.rmtree(workdir / f"lake-{size}", ignore_errors=True)
        for path in workdir.glob("posts-*.jsonl*"):
            path.unlink()


STRATEGIES_BY_NAME = {"stratified": STRATIFIED, "keyword": KEYWORD}


def report(row: dict[str, Any]) -> None:
    files = f", read {row['files_read']}/{row['files']} files" if "files_read" in row else ""
    start = f", engine start {row['engine_start']:.1f} s" if row.get("engine_start") else ""
    print(
        f"  {row['size']:>10,} {row['engine']:>7} {row['sample']:<22} {row['seconds']:8.2f} s"
        f"  peak {row['peak_mib']:7.0f} MiB{files}{start}"
    )


def summarise(rows, sizes, ingest_sizes, engines) -> None:
    """Ratios against ingest-then-sample (measured, or linear in the corpus size from the
    measured sizes), and the identity of the batches between engines."""

    def seconds(size, engine, sample):
        return next(
            (
                r["seconds"]
                for r in rows
                if (r["size"], r["engine"], r["sample"]) == (size, engine, sample)
            ),
            None,
        )

    ingest_rate = [
        seconds(size, "ingest", "-") / size for size in ingest_sizes if seconds(size, "ingest", "-")
    ]
    print("\nIngest-then-sample against sampling the corpus where it is:")
    for size in sizes:
        for sample in ("stratified", "keyword"):
            measured = seconds(size, "ingest", "-")
            store = seconds(size, "store", sample)
            if measured is None:
                per_post = max(ingest_rate) if ingest_rate else None
                known = [s for s in ingest_sizes if seconds(s, "store", sample)]
                store_rate = max(seconds(s, "store", sample) / s for s in known) if known else 0
                if per_post is None:
                    continue
                measured, store, how = per_post * size, store_rate * size, "extrapolated"
            else:
                how = "measured"
            baseline = measured + store
            for engine in engines:
                ours = seconds(size, engine, sample)
                if ours:
                    print(
                        f"  {size:>10,} {sample:<10} {engine:>6}: {ours:7.2f} s vs "
                        f"{baseline:8.1f} s ({how}) = {baseline / ours:6.1f}x faster"
                    )
    same = {}
    for row in rows:
        if row.get("post_ids") and row["sample"] in ("stratified", "keyword"):
            same.setdefault((row["size"], row["sample"]), set()).add(tuple(row["post_ids"]))
    for (size, sample), batches in sorted(same.items()):
        verdict = "identical" if len(batches) == 1 else "DIFFERENT"
        print(f"  {size:>10,} {sample:<10}: {verdict} batches from every engine (and the store)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
