"""The model in the loop: train the baseline on a dataset version, evaluate it, predict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from annotate.errors import InputError
from annotate.workspace.base import WorkspaceBase

if TYPE_CHECKING:
    from annotate.baseline.evaluation import Evaluation
    from annotate.baseline.predict import Predictions
    from annotate.baseline.runs import TrainReport


class ModelSteps(WorkspaceBase):
    """Train, evaluate and predict with the baseline classifier."""

    def train(
        self,
        dataset: str | Path,
        *,
        field: str = "category",
        out: str | Path | None = None,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> TrainReport:
        """Train the baseline on ``dataset`` (``NAME@VERSION`` from the registry, a folder
        ``datasets.load_dataset`` loads, or ``ORG/NAME@VERSION`` on the Hub): its train split,
        thresholds tuned on validation, scored on test. Saved with its card to ``out``
        (default ``exports/models/NAME-VERSION-FIELD``)."""
        from annotate.baseline.runs import train_version

        return train_version(
            self.settings, dataset, field=field, out=out, seed=seed, progress=progress
        )

    def evaluate(
        self,
        model: str | Path,
        dataset: str | Path,
        *,
        split: str = "test",
        report: str | Path | None = None,
    ) -> Evaluation:
        """The model's scores on ``split`` of ``dataset`` beside the majority-class baseline
        and the annotators' own agreement; the HTML/PNG report goes to ``report`` (a folder,
        default ``evaluations/`` in the model's folder)."""
        from annotate.baseline.runs import evaluate_version

        return evaluate_version(self.settings, model, dataset, split=split, report=report)

    def predict(
        self,
        model: str | Path,
        *,
        input: str | Path | None = None,
        unlabelled: bool = False,
        project: str | None = None,
        chunk_size: int = 10_000,
    ) -> Predictions:
        """Scores per label for the posts of ``input`` (any format ``ingest`` reads) or, with
        ``unlabelled``, the store's posts without an annotation (in ``project`` if given).
        Lazy: iterate the result for chunks of ``chunk_size`` posts."""
        from annotate.baseline import Baseline
        from annotate.baseline.predict import Predictions, posts_from_file, unlabelled_posts

        if (input is None) == (not unlabelled):
            raise InputError("Predict needs --input FILE or --unlabelled (one of them).")
        if project is not None and not unlabelled:
            raise InputError("--project goes with --unlabelled.")
        loaded = Baseline.load(model)
        skipped: list[str] = []
        if input is not None:
            posts = posts_from_file(Path(input), skipped, chunk_size)
        else:
            posts = unlabelled_posts(self.store, project, chunk_size)
        return Predictions(loaded, posts, skipped=skipped)
