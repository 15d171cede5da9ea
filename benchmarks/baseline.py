"""Baseline classifier benchmark: training time and peak RSS on 100,000 demo posts, and
prediction throughput and peak RSS streaming 1,000,000, against a named peer in the same run.

Usage:
    python benchmarks/baseline.py                          # 100,000 to train, 1,000,000 to score
    python benchmarks/baseline.py --train-rows 20000 --predict-rows 100000 --workdir /tmp/b

Ours: ``annotate.baseline.fit_baseline`` on the texts and true labels of the demo posts
(hashed TF-IDF of character 1-3-grams and Latin word 1-2-grams, one liblinear logistic
regression per label), and ``annotate predict MODEL --input FILE --out FILE`` (the CLI,
streaming 10,000 posts at a time). Peer: the textbook scikit-learn pipeline on a pandas
DataFrame all in memory: ``pd.read_json(lines=True)``, ``MultiLabelBinarizer``,
``FeatureUnion`` of two ``TfidfVectorizer`` (same n-grams, same Latin token pattern, fitted
vocabularies), ``OneVsRestClassifier(LogisticRegression(solver="liblinear",
class_weight="balanced"))``; for prediction ``pd.read_json`` of the whole file,
``predict_proba``, ``DataFrame.to_json(lines=True)``. Every side runs as its own process
(wall time includes start-up and reading the file; peak RSS is the child's ru_maxrss). Both
models are also scored on the same 10,000 held-out posts (macro-F1, thresholds 0.5 for the
peer, tuned for ours on 5,000 validation posts), so speed is not bought with accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from annotate import demo

TRAIN_OURS = """
import json, sys, time
import numpy as np
from annotate.baseline import fit_baseline, label_matrix
from annotate.taxonomy import load_taxonomy
from sklearn.metrics import f1_score
train_path, held_path, out = sys.argv[1:4]
labels = list(load_taxonomy().field("category").label_ids)
def read(path):
    texts, label_lists = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            post = json.loads(line)
            texts.append(post["text"]); label_lists.append(post["true_labels"])
    return texts, label_lists
texts, label_lists = read(train_path)
held_texts, held_labels = read(held_path)
valid, test = (held_texts[:5000], held_labels[:5000]), (held_texts[5000:], held_labels[5000:])
started = time.perf_counter()
model = fit_baseline(texts, label_lists, labels=labels, validation=valid)
seconds = time.perf_counter() - started
model.save(out)
truth = label_matrix(test[1], labels)
predicted = label_matrix(model.predict(test[0]), labels)
macro_f1 = f1_score(truth, predicted, average="macro", zero_division=0)
print(json.dumps({"fit_seconds": seconds, "macro_f1": macro_f1}))
"""

PEER_MODEL = r"""
LATIN = r"(?u)\b[A-Za-zÀ-ÖØ-öø-ɏ][A-Za-zÀ-ÖØ-öø-ɏ0-9'’-]*\b"
def peer_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion, make_pipeline
    return make_pipeline(
        FeatureUnion([
            ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)),
            ("words", TfidfVectorizer(ngram_range=(1, 2), token_pattern=LATIN, sublinear_tf=True)),
        ]),
        OneVsRestClassifier(LogisticRegression(solver="liblinear", class_weight="balanced", C=4.0)),
    )
"""

TRAIN_PEER = (
    PEER_MODEL
    + """
import json, sys, time, pickle
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer
from annotate.taxonomy import load_taxonomy
train_path, held_path, out = sys.argv[1:4]
labels = list(load_taxonomy().field("category").label_ids)
frame = pd.read_json(train_path, lines=True, dtype={"post_id": str})
held = pd.read_json(held_path, lines=True, dtype={"post_id": str}).iloc[5000:]
binarizer = MultiLabelBinarizer(classes=labels)
started = time.perf_counter()
model = peer_pipeline().fit(frame["text"], binarizer.fit_transform(frame["true_labels"]))
seconds = time.perf_counter() - started
with open(out, "wb") as handle:
    pickle.dump(model, handle)
predicted = model.predict_proba(held["text"]) >= 0.5
truth = binarizer.transform(held["true_labels"])
macro_f1 = f1_score(truth, predicted, average="macro", zero_division=0)
print(json.dumps({"fit_seconds": seconds, "macro_f1": macro_f1}))
"""
)

PREDICT_PEER = """
import pickle, sys
import pandas as pd
model_path, posts_path, out = sys.argv[1:4]
with open(model_path, "rb") as handle:
    model = pickle.load(handle)
labels = list(model.classes_) if hasattr(model, "classes_") else None
frame = pd.read_json(posts_path, lines=True, dtype={"post_id": str})
scores = pd.DataFrame(model.predict_proba(frame["text"]).round(5))
scores.insert(0, "post_id", frame["post_id"])
scores.to_json(out, orient="records", lines=True, force_ascii=False)
print(len(scores))
"""


def run(command: list[str]) -> tuple[float, float, str]:
    """Run a child process; return (seconds, peak RSS in MiB, stdout)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{command[:4]} failed:\n{err.read()[-3000:]}")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, out.read()


def corpus(path: Path, rows: int, seed: int) -> Path:
    if not path.exists():
        print(f"writing {rows:,} demo posts to {path}", file=sys.stderr)
        demo.write_corpus(path, size=rows, seed=seed)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--predict-rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--peer-predict-min-gib",
        type=float,
        default=14.0,
        help="Run the peer's all-in-memory prediction only with this much memory available "
        "(the machine is shared; pandas alone took 8.4 GiB for 1,000,000 posts in ingest.py).",
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    workdir.mkdir(parents=True, exist_ok=True)
    train = corpus(workdir / f"train-{args.train_rows}.jsonl", args.train_rows, 101)
    held = corpus(workdir / "held-15000.jsonl", 15_000, 202)
    score = corpus(workdir / f"score-{args.predict_rows}.jsonl", args.predict_rows, 303)
    python = sys.executable

    ours_model, peer_model = workdir / "ours-model", workdir / "peer-model.pkl"
    ours_fit = run([python, "-c", TRAIN_OURS, str(train), str(held), str(ours_model)])
    peer_fit = run([python, "-c", TRAIN_PEER, str(train), str(held), str(peer_model)])
    ours_predict = run(
        [
            python,
            "-m",
            "annotate",
            "predict",
            str(ours_model),
            "--input",
            str(score),
            "--out",
            str(workdir / "ours-scores.jsonl"),
        ]
    )
    import psutil

    peer_predict = None
    available = psutil.virtual_memory().available / 2**30
    if available < args.peer_predict_min_gib:
        print(f"peer prediction skipped: {available:.1f} GiB available", file=sys.stderr)
    else:
        peer_predict = run(
            [python, "-c", PREDICT_PEER, str(peer_model), str(score), str(workdir / "peer.jsonl")]
        )

    results = {"train_rows": args.train_rows, "predict_rows": args.predict_rows}
    for name, (seconds, rss, out) in (("ours", ours_fit), ("peer", peer_fit)):
        results[f"train_{name}"] = {
            "wall_seconds": round(seconds, 1),
            "peak_rss_mib": round(rss),
            **{key: round(value, 3) for key, value in json.loads(out).items()},
        }
    for name, measured in (("ours", ours_predict), ("peer", peer_predict)):
        if measured:
            seconds, rss, _ = measured
            results[f"predict_{name}"] = {
                "wall_seconds": round(seconds, 1),
                "posts_per_second": round(args.predict_rows / seconds),
                "peak_rss_mib": round(rss),
            }
    ours, peer = results["train_ours"], results["train_peer"]
    results["ratios"] = {
        "train_speed": round(peer["wall_seconds"] / ours["wall_seconds"], 2),
        "train_rss": round(ours["peak_rss_mib"] / peer["peak_rss_mib"], 3),
    }
    if peer_predict:
        ours_p, peer_p = results["predict_ours"], results["predict_peer"]
        results["ratios"]["predict_speed"] = round(
            ours_p["posts_per_second"] / peer_p["posts_per_second"], 2
        )
        results["ratios"]["predict_rss"] = round(ours_p["peak_rss_mib"] / peer_p["peak_rss_mib"], 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
