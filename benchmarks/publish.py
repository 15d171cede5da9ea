"""Publish benchmark: `annotate publish` against read_sql + Dataset.from_pandas + save_to_disk.

Usage:
    python benchmarks/publish.py --workdir /tmp/bench-publish     # 1,000,000 items, SQLite
    python benchmarks/publish.py --rows 100000
    python benchmarks/publish.py --database-url postgresql+psycopg://user@127.0.0.1/bench

Set-up (not timed): the demo corpus is ingested with `annotate ingest`, then one project, one
batch, a task per post and one aggregate per post are written straight into the store, as
`annotate aggregate` would leave them (aggregation itself has its own benchmark): the demo
corpus's true labels and severity, soft labels, three pseudonymised annotations per post
with the odd disagreement, an evidence span for each violation label, and near-duplicate
groups by identical text (the set-up does not run the near-duplicate search). The store is
kept in the work folder and reused by later runs.

Timed, each as its own process on the same store, ``--repeat`` rounds with the order
alternating (wall time including start-up; peak RSS is the child's ru_maxrss):

* ours: `annotate publish bench --version 1.0.0 --project bench` (splits, card, manifest and
  checksums included);
* peer: `pandas.read_sql` of the same rows (aggregates joined with posts), then
  `datasets.Dataset.from_pandas(...)` and `save_to_disk(...)`.

Both outputs are loaded back (`datasets.load_dataset` for ours, `load_from_disk` for the peer)
and must hold every item (ours less the posts it withholds so that no account or
near-duplicate group straddles two splits).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from ingest import run  # this folder is on sys.path when run as a script
from sqlalchemy import create_engine, func, insert, text
from sqlmodel import select

from annotate import demo
from annotate.aggregation import Aggregation

PEER = """
import sys
import pandas as pd
from datasets import Dataset
from sqlalchemy import create_engine, text
url, out = sys.argv[1], sys.argv[2]
query = text('''
    SELECT p.source || ':' || p.post_id AS post_id, p.text, p.platform, p.account_id,
           p.created_at, a.labels, a.label_probs, a.severity, a.n_annotators,
           a.item_agreement, a.annotations, a.evidence, a.adjudicated, a.gold, a.batch_id
    FROM aggregates a JOIN posts p ON p.id = a.post_pk
    WHERE a.project_id = :project AND a.method = 'dawid-skene'
    ORDER BY a.post_pk
''')
frame = pd.read_sql(query, create_engine(url), params={"project": int(sys.argv[3])})
Dataset.from_pandas(frame, preserve_index=False).save_to_disk(out)
print(len(frame))
"""

PROJECT = "bench"


def server_database(base_url: str, name: str) -> str:
    """A database on the server, made if missing (kept, like the SQLite file, for reuse)."""
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if found is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


ANNOTATORS = ("ann-3f2a9c", "ann-b71e04", "ann-5d88e1")


def prepare(url: str, workdir: Path, rows: int, seed: int) -> int:
    """Ingest the corpus and write project, batch, tasks and aggregates; the project id."""
    from annotate.aggregation_runs import inputs_fingerprint
    from annotate.store import Aggregate, AggregationRun, Batch, Post, Project, Task, open_store
    from annotate.store.queries import record_taxonomy
    from annotate.taxonomy import load_taxonomy

    store = open_store(url)
    with store.session() as session:
        project = session.exec(select(Project).where(Project.name == PROJECT)).first()
        if project is not None:
            count = session.exec(
                select(func.count(Aggregate.id)).where(Aggregate.project_id == project.id)
            ).one()
            if count == rows:
                print(f"reusing the prepared store ({count:,} aggregates)")
                store.dispose()
                return project.id
            raise SystemExit(f"{url} holds a different benchmark store; use a fresh --workdir.")
    corpus = workdir / f"posts-{rows}-{seed}.jsonl"
    if not corpus.exists():
        demo.write_corpus(corpus, size=rows, seed=seed)
    annotate = [sys.executable, "-m", "annotate", "--workspace", str(workdir / "ws")]
    seconds, _, _ = run([*annotate, "--database-url", url, "ingest", str(corpus), "--json"])
    print(f"set-up: ingested {rows:,} posts in {seconds:.0f} s")

    taxonomy = load_taxonomy()
    categories = list(taxonomy.field("category").label_ids)
    violations = set(taxonomy.field("severity").required_when.any_of)
    no_truth = list(demo.load_demo_data(taxonomy).no_truth)
    rand = random.Random(seed)
    with store.transaction() as session:
        project = Project(name=PROJECT, taxonomy_id=record_taxonomy(session, taxonomy).id)
        session.add(project)
        session.flush()
        batch = Batch(project_id=project.id, strategy="random", seed=seed, size=rows)
        session.add(batch)
        session.flush()
        project_id, batch_id = project.id, batch.id
        posts = session.execute(select(Post.id, Post.text_hash, Post.meta).order_by(Post.id))
        tasks, aggregates = [], []
        first_of_hash: dict[str, int] = {}
        for pk, text_hash, meta in posts:
            tasks.append({"project_id": project_id, "post_pk": pk, "batch_id": batch_id})
            aggregates.append(_aggregate(pk, meta or {}, categories, violations, no_truth, rand))
            aggregates[-1]["batch_id"] = batch_id
            aggregates[-1]["near_group"] = first_of_hash.setdefault(text_hash, pk)
        for start in range(0, len(tasks), 10_000):
            session.execute(insert(Task), tasks[start : start + 10_000])
        run_row = AggregationRun(
            project_id=project_id,
            method=Aggregation.DAWID_SKENE.value,
            taxonomy_id=project.taxonomy_id,
            inputs=inputs_fingerprint(session, project_id),
            items=len(aggregates),
            agreement={"undefined": "benchmark store: aggregates written by the set-up"},
        )
        session.add(run_row)
        session.flush()
        run_row.finished_at = run_row.started_at
        session.add(run_row)
        for start in range(0, len(aggregates), 10_000):
            chunk = aggregates[start : start + 10_000]
            session.execute(
                insert(Aggregate),
                [{"run_id": run_row.id, "project_id": project_id, **row} for row in chunk],
            )
    store.dispose()
    print(f"set-up: wrote {rows:,} tasks and aggregates")
    return project_id


def _aggregate(
    pk: int, meta: dict, categories: list[str], violations: set[str], no_truth: list[str], rand
) -> dict:
    true = [label for label in categories if label in set(meta.get("true_labels") or [])]
    true = true or list(no_truth)
    severity = meta.get("true_severity") if violations & set(true) else None
    answers = []
    for annotator in ANNOTATORS:
        labels = list(true) if rand.random() > 0.15 else [rand.choice(categories)]
        answers.append({"annotator": annotator, "labels": labels, "severity": severity or ""})
    evidence = [
        {"annotator": ANNOTATORS[0], "start": 0, "end": 12, "label": label}
        for label in true
        if label in violations
    ]
    agreeing = sum(1 for answer in answers if answer["labels"] == true)
    return {
        "method": Aggregation.DAWID_SKENE.value,
        "post_pk": pk,
        "labels": true,
        "severity": severity,
        "label_probs": [0.97 if label in true else 0.01 for label in categories],
        "n_annotators": len(answers),
        "item_agreement": agreeing / len(answers),
        "annotations": answers,
        "evidence": evidence,
        "reasons": [],
        "adjudicated": False,
        "gold": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=demo.DEMO_SEED)
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--workdir", type=Path, help="Keep the store here (default: temporary)")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds of both sides (default 3)")
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="annotate-bench-publish-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        url = server_database(args.database_url, f"bench_publish_{args.rows}")
    else:
        url = f"sqlite:///{workdir / f'publish-{args.rows}.db'}"
    if args.prepare_only:
        print(f"set-up: project id {prepare(url, workdir, args.rows, args.seed)}")
        return
    # The set-up runs in a child of its own: a parent that held the million rows would be
    # forked with them for every timed child, and ru_maxrss counts those pages.
    setup = [sys.executable, __file__, "--prepare-only", "--rows", str(args.rows)]
    setup += ["--seed", str(args.seed), "--workdir", str(workdir)]
    setup += ["--database-url", args.database_url] if args.database_url else []
    _, _, out = run(setup)
    print(out.strip())
    project_id = int(out.split()[-1])

    exports = workdir / "exports"
    peer_out = workdir / "peer-dataset"
    env = {**os.environ, "ANNOTATE_EXPORTS": str(exports)}
    ours = [sys.executable, "-m", "annotate", "--workspace", str(workdir / "ws")]
    ours += ["--database-url", url, "publish", "bench", "--version", "1.0.0"]
    ours += ["--project", PROJECT, "--json"]
    peer = [sys.executable, "-c", PEER, url, str(peer_out), str(project_id)]
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    memory: dict[str, list[float]] = {"ours": [], "peer": []}
    for round_number in range(args.repeat):
        engine = create_engine(url)
        with engine.begin() as connection:  # the store remembers the last round's version
            connection.execute(text("DELETE FROM dataset_versions WHERE name = 'bench'"))
            dialect = connection.dialect.name
        engine.dispose()
        shutil.rmtree(exports, ignore_errors=True)
        shutil.rmtree(peer_out, ignore_errors=True)
        # Alternate who goes first, so that neither always meets a warm or a cold cache.
        for side in ("ours", "peer") if round_number % 2 == 0 else ("peer", "ours"):
            seconds, rss, out = run(ours if side == "ours" else peer, env=env)
            times[side].append(seconds)
            memory[side].append(rss)
            if side == "ours":
                ours_out = out
            else:
                peer_count = int(out)
        print(
            f"round {round_number + 1}: ours {times['ours'][-1]:.1f} s, peer "
            f"{times['peer'][-1]:.1f} s",
            flush=True,
        )

    import datasets

    report = json.loads(ours_out)
    loaded = datasets.load_dataset(report["path"], download_mode="force_redownload")
    ours_rows = sum(loaded.num_rows.values())
    peer_rows = datasets.load_from_disk(str(peer_out)).num_rows
    withheld = report["excluded"]["withheld_between_splits"]
    assert ours_rows + withheld == peer_rows == peer_count == args.rows, (
        ours_rows,
        withheld,
        peer_rows,
    )

    print(
        f"\n{args.rows:,} aggregated items from {dialect} (wall time including start-up; "
        f"{args.repeat} rounds, best / median)"
    )
    print(f"splits: {report['rows']}; withheld between splits: {withheld:,}")
    print(f"{'':40} {'best s':>8} {'median s':>9} {'peak RSS':>10}")
    for side, name in (("ours", "annotate publish"), ("peer", "read_sql + from_pandas + save")):
        print(
            f"{name:40} {min(times[side]):8.1f} {statistics.median(times[side]):9.1f} "
            f"{max(memory[side]):6,.0f} MiB"
        )
    ratio = statistics.median(times["ours"]) / statistics.median(times["peer"])
    rss_ratio = max(memory["ours"]) / max(memory["peer"])
    print(
        f"\ntime ratio of medians (annotate / peer): {ratio:.2f}x (goal: at most 1.5x) — "
        f"{'met' if ratio <= 1.5 else 'NOT met'}"
    )
    print(
        f"peak RSS ratio (annotate / peer): {rss_ratio:.2f} (goal: below 1) — "
        f"{'met' if rss_ratio < 1 else 'NOT met'}"
    )
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
