"""Learning curves of model-chosen sampling: random against uncertainty against ActiveLab.

Usage:
    python benchmarks/active_learning.py                       # 3 seeds, 24 rounds of 40
    python benchmarks/active_learning.py --seeds 5 --rounds 15 --batch 50 --plot curves.png

Setup (the same for every strategy of a seed): demo posts with known true labels, split into
a pool and a test set; the demo's simulated team (annotators of known accuracy, 0.92, 0.85
and 0.62, each annotation by a member who has not labelled the post yet); a first random batch
with one annotation per post. Each round spends the same number of annotations (``--batch``):

* random: that many new posts, one annotation each, in a seeded random order;
* uncertainty: the new posts the current model is least sure of (margin between its two most
  probable labels, :func:`annotate.sampling.model_scores.uncertainty`);
* activelab: ActiveLab scores (:func:`annotate.sampling.model_scores.activelab`) of labelled
  posts (out-of-sample probabilities, :func:`annotate.baseline.cross_val_proba` on their
  aggregated labels) and unlabelled ones (the model's probabilities); the lowest scores get
  one more annotation each: a first one for a new post, another for a labelled one.

After each round the baseline (:func:`annotate.baseline.fit_baseline`) is trained on the
posts' aggregated labels (majority vote per label) and scored on the test set (macro-F1 over
the labels present there, against the true labels). The goal of issue 14: activelab reaches
random's final macro-F1 with at least 30% fewer annotations. Annotations needed to reach a
score are read off the curve by linear interpolation between rounds (the mean curve over seeds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from _simulated import LABELS, Corpus, Crowd, macro_f1

from annotate.baseline import cross_val_proba, fit_baseline
from annotate.sampling.model_scores import activelab, uncertainty

STRATEGIES = ("random", "uncertainty", "activelab")


def run_strategy(strategy: str, pool: Corpus, test: Corpus, args, seed: int) -> list[dict]:
    crowd = Crowd(pool, seed)
    order = list(range(len(pool.texts)))
    random.Random(seed).shuffle(order)
    for index in order[: args.first]:  # the same first batch for every strategy
        crowd.annotate(index)
    curve = []
    for round_number in range(args.rounds + 1):
        labelled = crowd.labelled()
        model = fit_baseline(
            [pool.texts[i] for i in labelled],
            [crowd.aggregate(i) for i in labelled],
            labels=LABELS,
            seed=seed,
        )
        score = macro_f1(test.truth, model.predict(test.texts))
        curve.append({"round": round_number, "annotations": crowd.spent, "macro_f1": score})
        if round_number == args.rounds:
            break
        taken = set(labelled)
        fresh = [i for i in order if i not in taken]
        if strategy == "random":
            chosen = fresh[: args.batch]
        elif strategy == "uncertainty":
            probabilities = model.predict_proba([pool.texts[i] for i in fresh])
            doubt = uncertainty(probabilities)
            chosen = [fresh[i] for i in np.argsort(-doubt, kind="stable")[: args.batch]]
        else:
            chosen = activelab_choice(crowd, model, pool, labelled, fresh, args.batch, seed)
        for index in chosen:
            crowd.annotate(index)
    return curve


def activelab_choice(crowd, model, pool, labelled, fresh, batch, seed) -> list[int]:
    open_items = [i for i in labelled if crowd.can_take_more(i)]
    out_of_sample = cross_val_proba(
        [pool.texts[i] for i in labelled],
        [crowd.aggregate(i) for i in labelled],
        labels=LABELS,
        folds=5,
        seed=seed,
    )
    position = {item: row for row, item in enumerate(labelled)}
    labelled_scores, fresh_scores = activelab(
        [crowd.given[i] for i in open_items],
        out_of_sample[[position[i] for i in open_items]] if open_items else None,
        model.predict_proba([pool.texts[i] for i in fresh]),
        LABELS,
    )
    items = open_items + fresh
    scores = np.concatenate([labelled_scores, fresh_scores])
    return [items[i] for i in np.argsort(scores, kind="stable")[:batch]]


def annotations_to_reach(curve: list[dict], target: float) -> float | None:
    """Annotations at which the curve first reaches ``target`` (linear between rounds)."""
    for before, after in itertools.pairwise(curve):
        if before["macro_f1"] >= target:
            return float(before["annotations"])
        if after["macro_f1"] >= target:
            share = (target - before["macro_f1"]) / (after["macro_f1"] - before["macro_f1"])
            span = after["annotations"] - before["annotations"]
            return before["annotations"] + share * span
    return float(curve[0]["annotations"]) if curve and curve[0]["macro_f1"] >= target else None


def mean_curve(curves: list[list[dict]]) -> list[dict]:
    return [
        {
            "round": points[0]["round"],
            "annotations": points[0]["annotations"],
            "macro_f1": float(np.mean([point["macro_f1"] for point in points])),
            "sd": float(np.std([point["macro_f1"] for point in points])),
        }
        for points in zip(*curves, strict=True)
    ]


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for strategy in STRATEGIES:
        curve = results["mean"][strategy]
        x = [point["annotations"] for point in curve]
        y = np.array([point["macro_f1"] for point in curve])
        sd = np.array([point["sd"] for point in curve])
        axes.plot(x, y, marker="o", markersize=3, label=strategy)
        axes.fill_between(x, y - sd, y + sd, alpha=0.15)
    target = results["target"]
    axes.axhline(target, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("annotations spent")
    axes.set_ylabel("test macro-F1 (true labels)")
    axes.set_title(
        f"Baseline trained on aggregated labels, mean of {results['seeds']} seeds (±1 sd)"
    )
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=3000, help="demo posts per seed")
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--first", type=int, default=40, help="first random batch")
    parser.add_argument("--batch", type=int, default=40, help="annotations per round")
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--plot", type=Path, default=Path("benchmarks/active_learning.png"))
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    started = time.perf_counter()
    curves: dict[str, list] = {strategy: [] for strategy in STRATEGIES}
    for seed in range(args.seeds):
        corpus = Corpus.demo(args.posts, seed=1000 + seed)
        order = list(range(args.posts))
        random.Random(seed).shuffle(order)
        cut = int(args.posts * args.test_share)
        test, pool = corpus.subset(order[:cut]), corpus.subset(order[cut:])
        for strategy in STRATEGIES:
            curve = run_strategy(strategy, pool, test, args, seed)
            curves[strategy].append(curve)
            print(
                f"seed {seed} {strategy:12s} "
                + " ".join(f"{point['macro_f1']:.3f}" for point in curve),
                file=sys.stderr,
            )
    mean = {strategy: mean_curve(curves[strategy]) for strategy in STRATEGIES}
    target = mean["random"][-1]["macro_f1"]
    budget = mean["random"][-1]["annotations"]
    reach = {strategy: annotations_to_reach(mean[strategy], target) for strategy in STRATEGIES}
    results = {
        "command": "python " + shlex.join(sys.argv),
        "python": platform.python_version(),
        "seeds": args.seeds,
        "target": target,
        "budget": budget,
        "annotations_to_reach_random_final": reach,
        "saving": {
            strategy: (None if value is None else round(1 - value / budget, 3))
            for strategy, value in reach.items()
        },
        "mean": mean,
        "curves": curves,
        "seconds": round(time.perf_counter() - started, 1),
    }
    plot(results, args.plot)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"command: {results['command']}  ({results['seconds']} s)")
    print("| annotations | " + " | ".join(STRATEGIES) + " |")
    print("|---:|" + "---:|" * len(STRATEGIES))
    for points in zip(*(mean[s] for s in STRATEGIES), strict=True):
        cells = " | ".join(f"{p['macro_f1']:.3f} ± {p['sd']:.3f}" for p in points)
        print(f"| {points[0]['annotations']} | {cells} |")
    print(f"random's final macro-F1: {target:.3f} after {budget} annotations")
    for strategy in STRATEGIES:
        value = reach[strategy]
        shown = "never" if value is None else f"{value:.0f} annotations"
        saving = results["saving"][strategy]
        print(
            f"{strategy}: reaches it at {shown}"
            + ("" if saving is None else f" ({saving:.0%} fewer than random)")
        )
    goal = results["saving"]["activelab"]
    met = goal is not None and goal >= 0.30
    print(f"goal (activelab >= 30% fewer annotations): {'met' if met else 'not met'}")
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
