"""The baseline classifier: train it on a dataset version, evaluate it, predict with it.

Usage:
    annotate train finmis@1.0.0
    annotate train exports/registry/finmis/1.0.0 --field severity --out models/severity
    annotate train org/finmis@1.0.0 --seed 3
    annotate evaluate exports/models/finmis-1.0.0-category finmis@1.0.0 --split test
    annotate predict exports/models/finmis-1.0.0-category --input posts.jsonl --out scores.jsonl
    annotate predict exports/models/finmis-1.0.0-category --unlabelled --project round-2 --json
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from annotate.cli._shared import JsonOpt, busy, emit, progress_bar, say, table, workspace

DatasetArg = Annotated[
    str,
    typer.Argument(
        help="NAME@VERSION from the registry, a dataset folder (as 'publish' writes), or "
        "ORG/NAME@VERSION on the Hub (HF_ENDPOINT, HF_TOKEN)."
    ),
]
ModelArg = Annotated[
    Path, typer.Argument(help="Model folder (as 'annotate train' writes) or its model.skops.")
]


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("predict")(predict)


def train(
    ctx: typer.Context,
    dataset: DatasetArg,
    field: Annotated[
        str, typer.Option("--field", help="Taxonomy field to classify (category, severity).")
    ] = "category",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Model folder.", show_default="exports/models/NAME-VERSION-FIELD"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the classifier.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train the baseline classifier on a dataset version and save it with its model card.

    TF-IDF over character 1-3-grams (no word segmentation needed for Chinese) and Latin word
    1-2-grams, one logistic regression per label with balanced classes, soft labels
    (label_probs) as weights, a threshold per label tuned on the validation split; scored on
    the test split. Saved with skops (no pickle) beside card.json and README.md.
    """
    with busy(f"training on {dataset}"):
        report = workspace(ctx).train(dataset, field=field, out=out, seed=seed, progress=say)

    def render(d: dict) -> None:
        say(
            f"Trained {d['model_version']} ({d['field']}) on {d['posts']['train']} posts in "
            f"{d['seconds']:.1f} s; saved to {d['path']}"
        )
        metrics = d["evaluation"]
        if metrics:
            say(
                f"On {metrics['split']} ({metrics['posts']} posts): macro-F1 "
                f"{_number(metrics['macro']['f1'])}, micro-F1 {_number(metrics['micro']['f1'])}; "
                f"majority-class baseline macro-F1 {_number(metrics['majority']['macro_f1'])}."
            )
        say(f"Evaluate it: annotate evaluate {d['path']} {d['dataset']['ref']}")

    emit(report.as_dict(), as_json, render)


def evaluate(
    ctx: typer.Context,
    model: ModelArg,
    dataset: DatasetArg,
    split: Annotated[str, typer.Option(help="Split to score on.")] = "test",
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Folder for the HTML/PNG report.", show_default="MODEL/evaluations"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a model on a split: per-label precision, recall, F1 and support, micro and macro
    averages, beside the majority-class baseline and the annotators' own agreement.

    The annotators' agreement (positive specific agreement: one annotator's F1 against
    another's, and Krippendorff's alpha) comes from the annotations published with the
    version, on the same posts: a ceiling to read the model's scores against. Labels absent
    from the split are reported as absent, not as 0, and left out of the macro average. Writes
    a precision-recall plot per label (PNG) and an HTML report.
    """
    with busy(f"evaluating on {dataset}"):
        result = workspace(ctx).evaluate(model, dataset, split=split, report=report)

    def render(d: dict) -> None:
        ceiling = (d["ceiling"] or {}).get("per_label") or {}
        table(
            f"{d['model_version']} on {d['dataset']} ({d['split']}, {d['posts']} posts)",
            ["label", "precision", "recall", "F1", "support", "annotators' F1"],
            [
                [
                    row["label"],
                    "absent" if row["absent"] else row["precision"],
                    row["recall"],
                    row["f1"],
                    row["support"],
                    (ceiling.get(row["label"]) or {}).get("f1"),
                ]
                for row in d["per_label"]
            ]
            + [
                [
                    "micro",
                    d["micro"]["precision"],
                    d["micro"]["recall"],
                    d["micro"]["f1"],
                    None,
                    None,
                ],
                [
                    "macro",
                    d["macro"]["precision"],
                    d["macro"]["recall"],
                    d["macro"]["f1"],
                    None,
                    (d["ceiling"] or {}).get("macro_f1"),
                ],
            ],
        )
        majority = d["majority"]
        say(
            f"Majority-class baseline (always {majority['label']}): macro-F1 "
            f"{_number(majority['macro_f1'])}, micro-F1 {_number(majority['micro_f1'])}."
        )
        if d["ceiling"]:
            say(f"Annotators' agreement from {d['ceiling']['source']}.")
        if d["absent"]:
            say(f"Absent from the split (not scored): {', '.join(d['absent'])}.")
        say(f"Report: {d['report']['html']} (plot: {d['report']['png']})")

    emit(result.as_dict(), as_json, render)


def predict(
    ctx: typer.Context,
    model: ModelArg,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input", help="Posts file: .jsonl, .csv, .tsv, .parquet or a dataset folder."
        ),
    ] = None,
    unlabelled: Annotated[
        bool, typer.Option("--unlabelled", help="The store's posts without an annotation.")
    ] = False,
    project: Annotated[
        str | None,
        typer.Option("--project", help="With --unlabelled: without an annotation in this project."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the predictions here as JSON Lines.")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Posts scored at a time.")] = 10_000,
    as_json: JsonOpt = False,
) -> None:
    """Score posts with a model: a probability per label and the labels it predicts.

    Streams in chunks, so any number of posts runs in flat memory. With --out, one JSON line
    per post goes to the file; with --json, a JSON array on stdout; otherwise a count of
    predicted labels.
    """
    from annotate.baseline.predict import check_output, write_predictions

    if out is not None:
        check_output(out)
    predictions = workspace(ctx).predict(
        model, input=input, unlabelled=unlabelled, project=project, chunk_size=chunk_size
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")  # a cut-off run leaves no half file
        with progress_bar() as bar, partial.open("w", encoding="utf-8") as handle:
            task = bar.add_task("scoring posts", total=None)
            predictions.on_chunk = lambda done: bar.update(task, completed=done)
            written = write_predictions(predictions, handle)
        partial.replace(out)
        say(f"Wrote {written} predictions of {predictions.model.model_version} to {out}.")
    elif as_json:
        write_predictions(predictions, sys.stdout, as_array=True)
    else:
        counts: Counter[str] = Counter()
        for chunk in predictions:
            counts.update(label for chosen in chunk.labels for label in chosen)
        say(f"{predictions.posts} posts scored by {predictions.model.model_version}.")
        table(None, ["label", "posts"], [[label, counts[label]] for label in predictions.labels])
    for reason in predictions.skipped:
        say(f"Skipped {reason}.")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
