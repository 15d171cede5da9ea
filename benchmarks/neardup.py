"""Near-duplicate benchmark: MinHash-LSH with exact verification against today's exact join.

Usage:
    python benchmarks/neardup.py                       # 100k both ways, 1M MinHash only
    python benchmarks/neardup.py --compare 20000 --large 200000 --crossover-sizes 2000,5000

Every measurement runs in its own process on demo posts (`annotate.demo`, seed 20240901):
the child generates the texts (not timed), then times one `near_duplicate_groups(texts,
method=...)` call (wall and process CPU time: on a shared machine CPU time shows the cost
when the wall clock also shows the waiting for a core); peak RSS is the child's `ru_maxrss`,
with the RSS after generating the texts shown beside it. Printed and compared:

* at ``--compare`` posts: exact and MinHash time, their ratio, and whether the groups are
  identical; if not, the pair recall (pairs of posts in one exact group that MinHash also
  puts together) and the false pairs (pairs MinHash puts together that the exact groups
  keep apart; there must be none);
* the crossover: both methods at ``--crossover-sizes``;
* at ``--large`` posts: MinHash time and peak RSS; the exact join is not run there, its time
  is extrapolated from a power law fitted to its times at the crossover sizes and at
  ``--compare`` (said so in the output);
* recall at the threshold, measured: random shingle-set pairs with exactly the lowest
  Jaccard similarity a pair at the threshold can have, and the share of them that the LSH
  bands make candidates (the design target is 0.99).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 20240901


def child(method: str, size: int, out: str) -> None:
    from annotate.demo import generate_posts
    from annotate.neardup import near_duplicate_groups

    texts = [post["text"] for post in generate_posts(size, SEED)]
    if method == "minhash":
        import datasketch  # noqa: F401

        import annotate.neardup.minhash  # noqa: F401  (imports are not what is timed)
    rss_texts = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu = time.perf_counter(), time.process_time()
    groups = near_duplicate_groups(texts, method=method)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    np.save(out, np.array(groups, np.int64))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_texts": rss_texts, "peak_rss": peak}))


def measure(method: str, size: int, folder: Path) -> dict:
    out = folder / f"{method}-{size}.npy"
    done = subprocess.run(
        [sys.executable, __file__, "--child", method, str(size), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["groups"] = np.load(out)
    print(
        f"  {method:8} {size:>9,} posts: {result['seconds']:8.2f} s ({result['cpu']:.2f} s CPU), "
        f"{len(np.unique(result['groups'])):,} groups, peak RSS {result['peak_rss']:,.0f} MiB "
        f"({result['rss_texts']:,.0f} MiB after generating the texts)",
        flush=True,
    )
    return result


def pairs_together(first: np.ndarray, second: np.ndarray | None = None) -> int:
    """Pairs of posts in one group of ``first`` (and of ``second``, if given)."""
    keys = first if second is None else first * (int(second.max()) + 1) + second
    counts = np.unique(keys, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def recall_at_threshold(threshold: float, pairs: int, seed: int = 0) -> tuple[float, float]:
    """(measured, designed) share of set pairs at the lowest Jaccard similarity that share
    a bucket in at least one band."""
    from scipy import sparse

    from annotate.neardup.minhash import LshParams, _band_keys, _encode, minhash_signatures

    params = LshParams.for_threshold(threshold)
    rand = random.Random(seed)
    rows, found, next_id = [], 0, 0
    for _ in range(pairs):
        smaller = rand.randint(20, 200)
        larger = round(smaller / threshold)
        common = math.ceil(threshold * smaller)
        ids = list(range(next_id, next_id + smaller + larger - common))
        next_id += len(ids)
        rows.append(ids[:smaller])
        rows.append(ids[:common] + ids[smaller:])
    # Shingle i: two CJK characters numbering it, then "a" (every shingle distinct).
    codes = np.array(
        [_encode(chr(0x4E00 + i % 20000) + chr(0x4E00 + i // 20000) + "a") for i in range(next_id)],
        np.uint64,
    )
    indices = np.concatenate([np.array(row) for row in rows])
    indptr = np.concatenate(([0], np.cumsum([len(row) for row in rows])))
    shape = (len(rows), len(codes))
    sets = sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=shape)
    signatures = minhash_signatures(sets, codes, params.num_perm)
    jaccards = []
    for pair in range(pairs):
        one, other = signatures[2 * pair], signatures[2 * pair + 1]
        hit = False
        for band in range(params.bands):
            columns = slice(band * params.rows, (band + 1) * params.rows)
            keys = _band_keys(np.stack((one[columns], other[columns])))
            hit = hit or keys[0] == keys[1]
        found += hit
        size_a, size_b = len(rows[2 * pair]), len(rows[2 * pair + 1])
        common = len(set(rows[2 * pair]) & set(rows[2 * pair + 1]))
        jaccards.append(common / (size_a + size_b - common))
    designed = min(params.probability(jaccard) for jaccard in jaccards)
    return found / pairs, designed


def power_law(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(np.exp(intercept)), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--crossover-sizes", default="5000,10000,25000,50000")
    parser.add_argument("--recall-pairs", type=int, default=3000)
    parser.add_argument("--recall-only", action="store_true", help="only recall at the threshold")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "SIZE", "OUT"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    if args.recall_only:
        print_recall(args.recall_pairs)
        return
    print(
        f"Near-duplicate groups of demo posts (seed {SEED}), threshold 0.8; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"
    )
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        print("crossover:")
        sizes, times, cpus = [], [], []
        for size in map(int, args.crossover_sizes.split(",")):
            exact, lsh = measure("exact", size, folder), measure("minhash", size, folder)
            print(f"    {size:,}: exact / MinHash time = {exact['seconds'] / lsh['seconds']:.2f}")
            sizes.append(size)
            times.append(exact["seconds"])
            cpus.append(exact["cpu"])
        print(f"compare at {args.compare:,} posts:")
        exact = measure("exact", args.compare, folder)
        lsh = measure("minhash", args.compare, folder)
        same = np.array_equal(exact["groups"], lsh["groups"])
        together = pairs_together(exact["groups"])
        both = pairs_together(exact["groups"], lsh["groups"])
        false_pairs = pairs_together(lsh["groups"]) - both
        print(
            f"    speed-up {exact['seconds'] / lsh['seconds']:.1f}x; groups identical: {same}; "
            f"pair recall {both / together:.6f} ({together - both:,} of {together:,} pairs "
            f"missed); false pairs: {false_pairs}"
        )
        sizes.append(args.compare)
        times.append(exact["seconds"])
        cpus.append(exact["cpu"])
        scale, power = power_law(sizes, times)
        cpu_scale, cpu_power = power_law(sizes, cpus)
        print(
            f"exact join fitted to the sizes above: {scale:.3g} * n^{power:.2f} s wall, "
            f"{cpu_scale:.3g} * n^{cpu_power:.2f} s CPU"
        )
        print(f"large at {args.large:,} posts:")
        large = measure("minhash", args.large, folder)
        extrapolated = scale * args.large**power
        extrapolated_cpu = cpu_scale * args.large**cpu_power
        print(
            f"    exact join extrapolated (not run): {extrapolated:,.0f} s wall, "
            f"{extrapolated_cpu:,.0f} s CPU; MinHash measured {large['seconds']:.1f} s wall "
            f"({extrapolated / large['seconds']:.0f}x), {large['cpu']:.1f} s CPU "
            f"({extrapolated_cpu / large['cpu']:.0f}x)"
        )
    print_recall(args.recall_pairs)


def print_recall(pairs: int) -> None:
    measured, designed = recall_at_threshold(0.8, pairs)
    print(
        f"recall at the threshold ({pairs:,} set pairs at the lowest Jaccard of "
        f"a pair at 0.8): measured {measured:.4f}, designed {designed:.4f}"
    )


if __name__ == "__main__":
    main()
