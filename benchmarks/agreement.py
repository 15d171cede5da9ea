"""Agreement benchmark: `annotate.agreement` against the `krippendorff` package.

Usage:
    python benchmarks/agreement.py                      # 200,000 items x 5 annotators, 9 values
    python benchmarks/agreement.py --items 20000 --repeats 5
    python benchmarks/agreement.py --json

Data (fixed seed): 200,000 items x 5 annotators = 1,000,000 annotation slots, 30% of them
missing at random, 9 nominal values with a skewed prior; annotators give the true value with
accuracies from 0.85 down to 0.45, else a uniform random value.

1. Krippendorff's alpha (nominal). Ours takes the long table (numpy columns item, annotator,
   value, integer ids) and includes encoding it; `krippendorff.alpha` takes its native input,
   the annotators x items matrix with NaN for missing, `level_of_measurement="nominal"`. The
   two values must agree within 1e-9.
2. A 1,000-resample percentile bootstrap interval of alpha (ours, `ci=True`) against one
   `krippendorff.alpha` call.
3. Per-label binary agreement (alpha, kappa, prevalence, specific agreement) for the 9 labels of
   a multi-label field of the same shape, values given as Python lists of label names
   (`annotate.agreement.label_agreement`, including encoding the sets).

Times are the best of `--repeats` runs (time.perf_counter), all in the same process and run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _timing import best_time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from annotate.agreement import krippendorff_alpha, label_agreement
from annotate.taxonomy import load_taxonomy

LABELS = tuple(load_taxonomy().field("category").label_ids)  # the packaged taxonomy's
AGREEMENT_TOLERANCE = 1e-9
TARGETS = {"alpha_speedup": 3.0, "bootstrap_ratio": 20.0, "per_label_seconds": 10.0}


def simulate_nominal(n_items: int, n_annotators: int, n_values: int, missing: float, seed: int):
    """``(matrix, long table)``: the annotators x items matrix (NaN = missing) and the same
    annotations as numpy columns."""
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.full(n_values, 2.0))
    truth = rng.choice(n_values, size=n_items, p=prior)
    accuracies = np.linspace(0.85, 0.45, n_annotators)[:, np.newaxis]
    correct = rng.random((n_annotators, n_items)) < accuracies
    given = np.where(correct, truth, rng.integers(0, n_values, (n_annotators, n_items)))
    matrix = given.astype(np.float64)
    matrix[rng.random(matrix.shape) < missing] = np.nan
    annotator, item = np.nonzero(~np.isnan(matrix))
    order = np.lexsort((annotator, item))
    annotator, item = annotator[order], item[order]
    table = {"item": item, "annotator": annotator, "value": given[annotator, item]}
    return matrix, table


def simulate_multilabel(n_items: int, n_annotators: int, missing: float, seed: int) -> dict:
    """A multi-label field: each item has a true label set (label prevalences 5-40%);
    annotators flip each label with probability 3-15%. Values are Python lists of names."""
    rng = np.random.default_rng(seed + 1)
    prevalence = np.linspace(0.05, 0.40, len(LABELS))
    truth = rng.random((n_items, len(LABELS))) < prevalence
    flips = np.linspace(0.03, 0.15, n_annotators)[:, np.newaxis, np.newaxis]
    chosen = truth[np.newaxis] ^ (rng.random((n_annotators, n_items, len(LABELS))) < flips)
    rated = rng.random((n_annotators, n_items)) >= missing
    annotator, item = np.nonzero(rated)
    order = np.lexsort((annotator, item))
    annotator, item = annotator[order], item[order]
    names = np.array(LABELS, dtype=object)
    values = [list(names[row]) for row in chosen[annotator, item]]
    return {"item": item, "annotator": annotator, "value": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--values", type=int, default=9)
    parser.add_argument("--missing", type=float, default=0.3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import krippendorff

    matrix, table = simulate_nominal(
        args.items, args.annotators, args.values, args.missing, args.seed
    )
    multilabel = simulate_multilabel(args.items, args.annotators, args.missing, args.seed)

    peer_seconds, peer_alpha = best_time(
        lambda: krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"),
        args.repeats,
    )
    ours_seconds, ours = best_time(lambda: krippendorff_alpha(table), args.repeats)
    bootstrap_seconds, with_interval = best_time(
        lambda: krippendorff_alpha(table, ci=True, n_resamples=args.resamples, seed=args.seed),
        args.repeats,
    )
    per_label_seconds, per_label = best_time(lambda: label_agreement(multilabel), args.repeats)
    difference = abs(ours.value - float(peer_alpha))

    result = {
        "command": shlex.join(["python", "benchmarks/agreement.py", *sys.argv[1:]]),
        "items": args.items,
        "annotators": args.annotators,
        "values": args.values,
        "missing": args.missing,
        "annotations": len(table["item"]),
        "multilabel_annotations": len(multilabel["item"]),
        "alpha_ours": ours.value,
        "alpha_krippendorff": float(peer_alpha),
        "alpha_difference": difference,
        "seconds_alpha_ours": round(ours_seconds, 4),
        "seconds_alpha_krippendorff": round(peer_seconds, 4),
        "alpha_speedup": round(peer_seconds / ours_seconds, 2),
        "resamples": args.resamples,
        "interval": with_interval.ci.as_list(),
        "seconds_bootstrap_ours": round(bootstrap_seconds, 4),
        "bootstrap_ratio": round(bootstrap_seconds / peer_seconds, 2),
        "labels": len(per_label),
        "per_label_alpha": {row.label: round(row.alpha.value, 4) for row in per_label},
        "per_label_seconds": round(per_label_seconds, 3),
        "repeats": args.repeats,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "krippendorff": version("krippendorff"),
        },
        "cpus": os.cpu_count(),
    }
    met = {
        "alpha_speedup": result["alpha_speedup"] >= TARGETS["alpha_speedup"],
        "bootstrap_ratio": result["bootstrap_ratio"] < TARGETS["bootstrap_ratio"],
        "per_label_seconds": result["per_label_seconds"] < TARGETS["per_label_seconds"],
    }
    result["targets_met"] = met
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        verdict = {True: "target met", False: "TARGET MISSED"}
        print(f"command: {result['command']}")
        print(
            f"data: {args.items:,} items x {args.annotators} annotators = "
            f"{args.items * args.annotators:,} slots, {args.missing:.0%} missing -> "
            f"{result['annotations']:,} annotations, {args.values} nominal values "
            f"(seed {args.seed}); best of {args.repeats}"
        )
        print(f"alpha: ours {ours.value:.12f}, krippendorff {float(peer_alpha):.12f}")
        print(f"       |difference| {difference:.1e} (tolerance {AGREEMENT_TOLERANCE:.0e})")
        print(f"annotate krippendorff_alpha:        {ours_seconds:8.4f} s")
        print(f"krippendorff.alpha:                 {peer_seconds:8.4f} s")
        print(
            f"  speed-up: {result['alpha_speedup']:.1f}x "
            f"(target >= {TARGETS['alpha_speedup']:.0f}x: {verdict[met['alpha_speedup']]})"
        )
        low, high = result["interval"]
        print(
            f"bootstrap, {args.resamples:,} resamples:      {bootstrap_seconds:8.4f} s "
            f"(95% interval [{low:.4f}, {high:.4f}])"
        )
        print(
            f"  ratio to one krippendorff.alpha: {result['bootstrap_ratio']:.2f}x "
            f"(target < {TARGETS['bootstrap_ratio']:.0f}x: {verdict[met['bootstrap_ratio']]})"
        )
        print(
            f"per-label agreement, {len(per_label)} labels, "
            f"{result['multilabel_annotations']:,} multi-label annotations: "
            f"{per_label_seconds:.3f} s (target < {TARGETS['per_label_seconds']:.0f} s: "
            f"{verdict[met['per_label_seconds']]})"
        )
        print("versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    if difference > AGREEMENT_TOLERANCE:
        raise SystemExit(
            f"The two implementations disagree: alpha {ours.value!r} vs {float(peer_alpha)!r}."
        )


if __name__ == "__main__":
    main()
