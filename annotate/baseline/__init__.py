"""The baseline classifier of a dataset version: train, save, load, score."""

from annotate.baseline.model import (
    Baseline,
    cross_val_proba,
    fit_baseline,
    label_matrix,
    tune_thresholds,
)

__all__ = ["Baseline", "cross_val_proba", "fit_baseline", "label_matrix", "tune_thresholds"]
