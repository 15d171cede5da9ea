"""Timing shared by the benchmarks (run as scripts: this folder is on sys.path)."""

import time

import numpy as np


def best_time(function, repeats: int):
    """``(seconds, result)``: the fastest of ``repeats`` calls of ``function()``."""
    best, result = np.inf, None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result
