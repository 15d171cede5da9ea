"""Dawid–Skene benchmark: `annotate.aggregation.DawidSkene` against crowd-kit's `DawidSkene`.

Usage:
    python benchmarks/aggregation.py           # 200,000 items x 5 annotators x 9 classes
    python benchmarks/aggregation.py --items 20000 --repeats 3
    python benchmarks/aggregation.py --json

Both fit the same pandas DataFrame (`task`, `worker`, `label`; integer item ids, string
annotator ids and label names) with the same `n_iter` and `tol`, so they run the same EM
iterations; the timed call is `fit(frame)`, which includes each library's own encoding of the
table. Annotators are simulated with known, unequal confusion matrices and a fixed seed. The
script checks that both stop after the same number of iterations and that their posteriors
agree within 1e-6, and fails otherwise. Times are the best of `--repeats` runs of each.

Ours is also timed with answer-pattern grouping off (EM item by item), the speed to expect
when items rarely share the same answers. It also times binary relevance (one Dawid–Skene per
label, 9 labels) on a multi-label table of the same size, which has no crowd-kit counterpart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from importlib.metadata import version

import numpy as np
import pandas as pd
from _timing import best_time

from annotate.aggregation import BinaryRelevance, DawidSkene
from annotate.aggregation import dawid_skene as dawid_skene_module
from annotate.taxonomy import load_taxonomy

LABELS = tuple(load_taxonomy().field("category").label_ids)  # the packaged taxonomy's
AGREEMENT_TOLERANCE = 1e-6


def confusion_matrices(n_annotators: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_annotators, n_classes, n_classes)``, rows the true class: accuracies from 0.85 down
    to 0.35, each annotator's errors drawn from a Dirichlet, so they are biased, not uniform."""
    accuracies = np.linspace(0.85, 0.35, n_annotators)
    matrices = np.empty((n_annotators, n_classes, n_classes))
    for annotator, accuracy in enumerate(accuracies):
        errors = rng.dirichlet(np.full(n_classes - 1, 0.5), size=n_classes) * (1 - accuracy)
        for true_class in range(n_classes):
            matrices[annotator, true_class] = np.insert(errors[true_class], true_class, accuracy)
    return matrices


def simulate(n_items: int, n_annotators: int, n_classes: int, seed: int) -> pd.DataFrame:
    """Every annotator labels every item; true classes follow a skewed prior."""
    rng = np.random.default_rng(seed)
    matrices = confusion_matrices(n_annotators, n_classes, rng)
    priors = rng.dirichlet(np.full(n_classes, 2.0))
    truth = rng.choice(n_classes, size=n_items, p=priors)
    item = np.repeat(np.arange(n_items), n_annotators)
    annotator = np.tile(np.arange(n_annotators), n_items)
    # Inverse-CDF sampling of each annotation from its row of the confusion matrix.
    cumulative = matrices[annotator, truth[item]].cumsum(axis=1)
    given = (rng.random(len(item))[:, None] > cumulative).sum(axis=1)
    given = np.minimum(given, n_classes - 1)
    names = np.array(LABELS[:n_classes] if n_classes <= len(LABELS) else range(n_classes))
    return pd.DataFrame(
        {
            "task": item,
            "worker": np.array([f"annotator-{a + 1}" for a in range(n_annotators)])[annotator],
            "label": names[given],
        }
    )


def simulate_label_sets(n_items: int, n_annotators: int, seed: int) -> dict[str, list]:
    """A multi-label table over the 9 category labels: each annotator misses a true label and
    adds a false one at their own rates (better annotators first)."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n_items, len(LABELS))) < 0.15
    item = np.repeat(np.arange(n_items), n_annotators)
    annotator = np.tile(np.arange(n_annotators), n_items)
    miss = np.linspace(0.05, 0.5, n_annotators)[annotator][:, None]
    add = np.linspace(0.01, 0.15, n_annotators)[annotator][:, None]
    draws = rng.random((len(item), len(LABELS)))
    given = np.where(truth[item], draws >= miss, draws < add)
    names = np.array(LABELS)
    return {
        "item": item,
        "annotator": annotator,
        "labels": [frozenset(names[row].tolist()) for row in given],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--n-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--skip-multilabel", action="store_true", help="do not time binary relevance"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene

    frame = simulate(args.items, args.annotators, args.classes, args.seed)
    ours_seconds, ours = best_time(
        lambda: DawidSkene(n_iter=args.n_iter, tol=args.tol).fit(frame), args.repeats
    )
    # The same fit with answer-pattern grouping off (EM item by item): the speed to expect
    # when items rarely share answers, e.g. many annotators with little overlap.
    grouping_limit = dawid_skene_module._MAX_PATTERN_CELLS
    dawid_skene_module._MAX_PATTERN_CELLS = 0
    ungrouped_seconds, ungrouped = best_time(
        lambda: DawidSkene(n_iter=args.n_iter, tol=args.tol).fit(frame), args.repeats
    )
    dawid_skene_module._MAX_PATTERN_CELLS = grouping_limit
    peer_seconds, peer = best_time(
        lambda: CrowdKitDawidSkene(n_iter=args.n_iter, tol=args.tol).fit(frame), args.repeats
    )
    peer_probas = peer.probas_.reindex(index=ours.items_, columns=ours.classes_).to_numpy()
    max_difference = float(
        max(np.abs(peer_probas - ours.probas_).max(), np.abs(peer_probas - ungrouped.probas_).max())
    )
    multilabel_seconds = None
    if not args.skip_multilabel:
        label_sets = simulate_label_sets(args.items, args.annotators, args.seed)
        multilabel_seconds, _ = best_time(
            lambda: BinaryRelevance(DawidSkene(n_iter=args.n_iter, tol=args.tol)).fit(
                label_sets, LABELS
            ),
            args.repeats,
        )

    result = {
        "command": shlex.join(["python", "benchmarks/aggregation.py", *sys.argv[1:]]),
        "items": args.items,
        "annotators": args.annotators,
        "classes": args.classes,
        "annotations": len(frame),
        "n_iter": args.n_iter,
        "tol": args.tol,
        "iterations_ours": ours.n_iter_,
        "iterations_crowd_kit": len(peer.loss_history_),
        "seconds_ours": round(ours_seconds, 3),
        "seconds_ours_item_by_item": round(ungrouped_seconds, 3),
        "seconds_crowd_kit": round(peer_seconds, 3),
        "speedup": round(peer_seconds / ours_seconds, 1),
        "speedup_item_by_item": round(peer_seconds / ungrouped_seconds, 1),
        "max_posterior_difference": max_difference,
        "seconds_binary_relevance_9_labels": (
            None if multilabel_seconds is None else round(multilabel_seconds, 3)
        ),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "crowd-kit": version("crowd-kit"),
        },
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"command: {result['command']}")
        print(
            f"data: {args.items:,} items x {args.annotators} annotators x {args.classes} classes "
            f"= {len(frame):,} annotations (seed {args.seed})"
        )
        print(f"EM iterations: ours {ours.n_iter_}, crowd-kit {len(peer.loss_history_)}")
        print(f"annotate DawidSkene.fit:                 {ours_seconds:8.3f} s")
        print(f"annotate DawidSkene.fit, item by item:   {ungrouped_seconds:8.3f} s")
        print(f"crowd-kit DawidSkene.fit:                {peer_seconds:8.3f} s")
        print(
            f"speed-up: {peer_seconds / ours_seconds:.1f}x "
            f"({peer_seconds / ungrouped_seconds:.1f}x item by item)"
        )
        print(f"max |posterior difference|: {max_difference:.2e}")
        if multilabel_seconds is not None:
            print(
                f"annotate BinaryRelevance(DawidSkene).fit, {len(LABELS)} labels "
                f"(no peer): {multilabel_seconds:.3f} s"
            )
        print("versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    iterations = {ours.n_iter_, ungrouped.n_iter_, len(peer.loss_history_)}
    if len(iterations) > 1 or max_difference > AGREEMENT_TOLERANCE:
        raise SystemExit(
            f"The implementations disagree (iterations {sorted(iterations)}, "
            f"max posterior difference {max_difference:.2e})."
        )


if __name__ == "__main__":
    main()
