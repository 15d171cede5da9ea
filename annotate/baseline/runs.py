"""Training and evaluating the baseline on a dataset version, with the files they write:
the model folder (``model.skops``, ``card.json``, ``README.md``) and the evaluation report."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from annotate.baseline.data import DatasetSource, field_columns, open_dataset
from annotate.baseline.evaluation import (
    Evaluation,
    annotator_ceiling,
    averages,
    majority_baseline,
    precision_recall_curves,
    score_labels,
    worst_errors,
)
from annotate.baseline.files import save_model
from annotate.baseline.model import Baseline, fit_baseline
from annotate.config import Settings
from annotate.errors import InputError

Progress = Callable[[str], None]


@dataclass
class TrainReport:
    """A model trained and saved: where, on what, and its scores on the held-out split."""

    path: str
    model_version: str
    field: str
    dataset: dict[str, Any]
    posts: dict[str, int]
    seconds: float
    evaluation: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_model_folder(settings: Settings, source: DatasetSource, field: str) -> Path:
    """``exports/models/<name>-<version>-<field>``."""
    return settings.exports / "models" / _safe(f"{source.name}-{source.version}-{field}")


def train_version(
    settings: Settings,
    ref: str | Path,
    *,
    field: str = "category",
    out: str | Path | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainReport:
    """Train the baseline on the train split of ``ref``, thresholds tuned on its validation
    split, evaluated on its test split (else validation), and save it with its card."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    with open_dataset(settings, ref) as source:
        say(f"loading {source.name} {source.version}")
        splits = source.load()
        if "train" not in splits:
            raise InputError(f"{source.ref} has no train split (splits: {', '.join(splits)}).")
        train = field_columns(splits["train"], field)
        if not train.texts:
            raise InputError(f"The train split of {source.ref} has no posts with a {field}.")
        validation = field_columns(splits["validation"], field) if "validation" in splits else None
        say(f"training on {len(train.texts)} posts")
        model = fit_baseline(
            train.texts,
            train.label_lists,
            labels=train.labels,
            field=field,
            validation=(validation.texts, validation.label_lists) if validation else None,
            seed=seed,
            label_probs=train.label_probs,
            multiple=train.multiple,
        )
        model.card["dataset"] = source.describe()
        model.card["taxonomy"] = source.taxonomy()
        held_out = next((name for name in ("test", "validation") if name in splits), None)
        evaluation = None
        if held_out:
            say(f"evaluating on {held_out}")
            evaluation = evaluate_model(model, source, splits, held_out)
            model.card["metrics"] = _card_metrics(evaluation)
        model.card["training"]["total_seconds"] = round(time.perf_counter() - started, 3)
        folder = Path(out) if out else default_model_folder(settings, source, field)
        save_model(model, folder)
        return TrainReport(
            path=str(folder),
            model_version=model.model_version,
            field=field,
            dataset=model.card["dataset"],
            posts={
                "train": len(train.texts),
                "validation": len(validation.texts) if validation else 0,
            },
            seconds=model.card["training"]["total_seconds"],
            evaluation=model.card.get("metrics"),
        )


def evaluate_version(
    settings: Settings,
    model_path: str | Path,
    ref: str | Path,
    *,
    split: str = "test",
    report: str | Path | None = None,
) -> Evaluation:
    """Scores of the model at ``model_path`` on ``split`` of ``ref``, with the HTML/PNG report
    written to ``report`` (a folder; default: ``evaluations/`` in the model's folder)."""
    from annotate.baseline.report import write_evaluation_report

    model = Baseline.load(model_path)
    with open_dataset(settings, ref) as source:
        splits = source.load()
        if split not in splits:
            raise InputError(f"{source.ref} has no {split} split (splits: {', '.join(splits)}).")
        evaluation = evaluate_model(model, source, splits, split)
    folder = Path(report) if report else _model_folder(Path(model_path)) / "evaluations"
    evaluation.report = write_evaluation_report(
        evaluation, folder, _safe(f"{source.name}-{source.version}-{split}")
    )
    return evaluation


def evaluate_model(model: Baseline, source: DatasetSource, splits: Any, split: str) -> Evaluation:
    """The model's scores on one split of an opened dataset."""
    columns = field_columns(splits[split], model.field)
    missing = [label for label in columns.labels if label not in model.labels]
    if missing:
        raise InputError(
            f"The model does not know the labels {', '.join(missing)} of {source.ref}.",
            hint="Train it on a version labelled under the same taxonomy.",
        )
    probabilities = model.predict_proba(columns.texts)
    predicted = model.decide(probabilities)
    truth = columns.label_lists
    micro, macro = averages(truth, predicted, model.labels)
    per_label = score_labels(truth, predicted, model.labels)
    train_labels = (
        field_columns(splits["train"], model.field).label_lists if "train" in splits else truth
    )
    ceiling = None
    if columns.annotations is not None:
        ceiling = annotator_ceiling(
            columns.post_ids,
            columns.annotations,
            model.labels,
            f"the annotations column of {source.name} {source.version} ({split} split): "
            "each annotator's labels as published with the version",
        )
    return Evaluation(
        model_version=model.model_version,
        dataset=f"{source.name}@{source.version}",
        split=split,
        posts=len(truth),
        per_label=per_label,
        micro=micro,
        macro=macro,
        majority={
            **majority_baseline(train_labels, truth, model.labels),
            "from": "train" if "train" in splits else split,
        },
        ceiling=ceiling,
        absent=[row.label for row in per_label if row.absent],
        curves=precision_recall_curves(truth, probabilities, model.labels),
        errors=worst_errors(columns.post_ids, columns.texts, truth, probabilities, model.labels),
    )


def _card_metrics(evaluation: Evaluation) -> dict[str, Any]:
    data = evaluation.as_dict()
    return {
        "split": evaluation.split,
        "posts": evaluation.posts,
        "per_label": {row["label"]: row for row in data["per_label"]},
        "micro": data["micro"],
        "macro": data["macro"],
        "majority": data["majority"],
        "ceiling_macro_f1": evaluation.ceiling.macro_f1 if evaluation.ceiling else None,
        "absent": data["absent"],
    }


def _model_folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "model"
