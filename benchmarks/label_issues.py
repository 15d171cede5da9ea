"""Label errors: annotate's confident learning (``annotate.review``) against cleanlab's
``find_label_issues`` and CROWDLAB, on the same out-of-sample probabilities.

Usage:
    python benchmarks/label_issues.py                 # 3 seeds of 2,000 demo posts
    python benchmarks/label_issues.py --seeds 5 --posts 3000

Setup per seed: demo posts with known true labels; the demo's simulated team (accuracy 0.92,
0.85, 0.62) labels them, the first ``--overlap`` share by all three and the rest by one each
(as the demo loop does); labels are aggregated per post by majority vote per label. A post's
aggregate is a *label error* when it differs from its true label set. Out-of-sample
probabilities come from the trained baseline's :func:`annotate.baseline.cross_val_proba`
(5 folds) on the aggregated labels: the same array goes to every method.

Methods:

* ``ours_margin_order``: :func:`annotate.review.find_label_errors` (confident prediction
  outside the given labels), ranked by the margin ``p_predicted - p_given`` (its order until
  this benchmark);
* ``ours``: the same posts in the order ``find_label_errors`` gives them now: cleanlab's
  multi-label label quality score (``multilabel_classification.rank``), lowest first;
* ``cleanlab``: ``cleanlab.filter.find_label_issues(multi_label=True)`` (prune by noise rate),
  ranked by cleanlab's self-confidence order;
* ``crowdlab``: ``cleanlab.multiannotator.get_label_quality_multiannotator`` consensus quality
  scores (every annotator's answer, not only the aggregate; one label per answer, its first in
  taxonomy order, and the probabilities read as a distribution), lowest first; it flags as
  many posts as ``cleanlab`` did, so that its ranking is compared at the same depth.

Printed per method (mean over seeds): flagged, precision, recall and F1 of the flagged posts
against the true label errors, and precision of the top 50 and 100 of each ranking.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
import warnings

import numpy as np
from _simulated import LABELS, Corpus, Crowd

from annotate.baseline import cross_val_proba
from annotate.review import find_label_errors
from annotate.sampling.model_scores import annotator_matrix, distribution

METHODS = ("ours_margin_order", "ours", "cleanlab", "crowdlab")
TOPS = (50, 100)


def flagged_by_method(crowd: Crowd, given: list[list[str]], probabilities: np.ndarray):
    """``{method: (flagged indices, ranking)}``."""
    from cleanlab.filter import find_label_issues
    from cleanlab.multiannotator import get_label_quality_multiannotator

    suspects = find_label_errors(given, probabilities, LABELS)
    ours = [suspect.post_pk for suspect in suspects]
    column = {label: index for index, label in enumerate(LABELS)}
    indices = [[column[label] for label in labels] for labels in given]
    ranked = find_label_issues(
        indices,
        probabilities,
        multi_label=True,
        return_indices_ranked_by="self_confidence",
    )
    cleanlab = [int(index) for index in ranked]
    by_margin = [suspect.post_pk for suspect in sorted(suspects, key=lambda s: -s.score)]
    annotators = [member.name for member in crowd.team]
    matrix = annotator_matrix([crowd.given[i] for i in range(len(given))], LABELS, annotators)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quality = get_label_quality_multiannotator(
            matrix,
            distribution(probabilities),
            verbose=False,
            return_detailed_quality=False,
            return_annotator_stats=False,
        )["label_quality"]["consensus_quality_score"].to_numpy()
    crowdlab = [int(index) for index in np.argsort(quality, kind="stable")]
    return {
        "ours_margin_order": (set(ours), by_margin),
        "ours": (set(ours), ours),
        "cleanlab": (set(cleanlab), cleanlab),
        "crowdlab": (set(crowdlab[: len(cleanlab)]), crowdlab),
    }


def scores(flagged: set[int], ranking: list[int], errors: set[int]) -> dict[str, float]:
    hits = len(flagged & errors)
    precision = hits / len(flagged) if flagged else 0.0
    recall = hits / len(errors) if errors else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    found = {"flagged": len(flagged), "precision": precision, "recall": recall, "f1": f1}
    for depth in TOPS:
        top = ranking[:depth]
        found[f"precision_at_{depth}"] = sum(index in errors for index in top) / max(len(top), 1)
    return found


def run_seed(seed: int, args) -> dict:
    corpus = Corpus.demo(args.posts, seed=2000 + seed)
    crowd = Crowd(corpus, seed)
    overlapping = round(args.posts * args.overlap)
    for index in range(args.posts):
        for _ in range(len(crowd.team) if index < overlapping else 1):
            crowd.annotate(index)
    given = [crowd.aggregate(index) for index in range(args.posts)]
    errors = {i for i, labels in enumerate(given) if set(labels) != set(corpus.truth[i])}
    probabilities = cross_val_proba(corpus.texts, given, labels=LABELS, folds=5, seed=seed)
    found = {}
    for method, (flagged, ranking) in flagged_by_method(crowd, given, probabilities).items():
        found[method] = scores(flagged, ranking, errors)
    return {"errors": len(errors), "posts": args.posts, "methods": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--overlap", type=float, default=0.4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    began = time.perf_counter()
    runs = [run_seed(seed, args) for seed in range(args.seeds)]
    for seed, run in enumerate(runs):
        print(f"seed {seed}: {run['errors']} label errors in {run['posts']} posts", file=sys.stderr)
    metrics = list(runs[0]["methods"]["ours"])
    mean = {
        method: {
            name: float(np.mean([run["methods"][method][name] for run in runs])) for name in metrics
        }
        for method in METHODS
    }
    print(f"command: python {shlex.join(sys.argv)}  ({time.perf_counter() - began:.0f} s)")
    print(f"python {platform.python_version()}; mean over {args.seeds} seeds")
    print(
        f"label errors per seed: {np.mean([run['errors'] for run in runs]):.0f} "
        f"of {args.posts} posts"
    )
    tops = " | ".join(f"precision@{depth}" for depth in TOPS)
    print(f"| method | flagged | precision | recall | F1 | {tops} |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(TOPS))
    for method in METHODS:
        row = mean[method]
        at = " | ".join(f"{row[f'precision_at_{depth}']:.3f}" for depth in TOPS)
        print(
            f"| {method} | {row['flagged']:.0f} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| {row['f1']:.3f} | {at} |"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"runs": runs, "mean": mean}, handle, indent=1)


if __name__ == "__main__":
    main()
