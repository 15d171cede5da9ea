"""The demo corpus: realistic, deterministic financial self-media posts made by this project.

Usage:
    annotate demo-corpus
    annotate demo-corpus --size 1000000 --seed 7 --out big.jsonl
    annotate demo-corpus --taxonomy label_config/taxonomy.yaml --templates my_templates.yaml
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from annotate import demo
from annotate.cli._shared import JsonOpt, TaxonomyOpt, emit, next_steps, say, table, workspace
from annotate.ls_server import PASSWORD_FILE_NAME
from annotate.taxonomy import load_taxonomy

TemplatesOpt = Annotated[
    Path | None,
    typer.Option(
        "--templates",
        help="Demo data file: templates, names and weights per category label.",
        show_default="the packaged annotate/demo/templates.yaml",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("demo-corpus")(demo_corpus)
    app.command("demo-loop")(demo_loop)


def demo_corpus(
    size: Annotated[int, typer.Option(min=1, help="Number of posts.")] = demo.DEMO_SIZE,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same posts.")] = (
        demo.DEMO_SEED
    ),
    out: Annotated[Path, typer.Option(help="Output file: .jsonl, .csv or .parquet.")] = Path(
        "exports/demo/posts.jsonl"
    ),
    taxonomy: TaxonomyOpt = None,
    templates: TemplatesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a demo corpus of Chinese and English financial self-media posts.

    Every category of the taxonomy appears, with the quirks of real posts (hashtags,
    @mentions, short links, emoji, //@ repost chains, near-duplicate reposts). Each post
    carries hidden true_labels and true_severity for simulated annotators; those fields are
    never sent to Label Studio or published. A category label of the taxonomy that the demo
    data file has no templates for is an error that names it.
    """
    spec = load_taxonomy(taxonomy) if taxonomy is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = demo.write_corpus(out, size=size, seed=seed, taxonomy=spec, templates=templates)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--out") from None
    emit(
        {"posts": written, "seed": seed, "out": str(out)},
        as_json,
        lambda data: say(f"Wrote {data['posts']:,} demo posts (seed {seed}) to {data['out']}"),
    )


def demo_loop(
    ctx: typer.Context,
    batch_size: Annotated[int, typer.Option(min=1, help="Posts to sample into the batch.")] = 150,
    seed: Annotated[int, typer.Option(help="Sampling and simulation seed.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Run the labelling loop on the demo corpus (what `make demo` does).

    Ingests the demo corpus, creates the demo project in Label Studio (the configured one, or a
    local server started in the workspace and stopped at the end), samples and pushes a batch,
    has simulated annotators label it with overlap, pulls, reports status and agreement, sends
    uncertain posts to adjudication (a simulated expert decides), and publishes a version.
    Then it trains and evaluates the baseline on that version, samples the next batch with
    activelab and the model's suggestions, has the simulated team label it, publishes the
    version after it and evaluates again. Run it again to continue with the next batch.
    """
    ws = workspace(ctx)
    summary = ws.demo_loop(batch_size=batch_size, seed=seed)
    data = asdict(summary)

    def render(d: dict) -> None:
        table(
            "batches",
            ["batch", "tasks", "done", "skipped", "overlapping"],
            [
                [b["batch"], b["tasks"], b["done"], b["skipped"], b["overlapping"]]
                for b in d["status"]["batches"]
            ],
        )
        table(
            "annotators",
            ["annotator", "annotations", "skipped", "median lead time (s)"],
            [
                [a["annotator"], a["annotations"], a["skipped"], a["median_lead_time"]]
                for a in d["status"]["annotators"]
            ],
        )
        agreement = d["agreement"]
        if agreement:
            say(
                f"Agreement on category (all batches): Krippendorff's alpha "
                f"{agreement['alpha']:.3f} ({agreement['band']}), with MASI distance "
                f"{agreement['alpha_masi']:.3f}. Report: {agreement['report']}"
            )
        posts = d["posts"]
        say(
            f"The store holds {posts['posts']:,} posts ("
            + ", ".join(f"{name} {count:,}" for name, count in posts["by_platform"].items())
            + f"); 'annotate --workspace {ws.path} posts stats' has the details."
        )
        # Last, so that nothing pushes it off the screen.
        next_steps(_demo_next_steps(d, ws.path))

    emit(data, as_json, render)


def _demo_next_steps(d: dict, workspace: Path) -> list[tuple[str, str]]:
    program = _program()
    steps = []
    if d["label_studio_data_dir"]:
        data_dir = Path(d["label_studio_data_dir"])
        steps += [
            ("Label Studio", f"{program} --workspace {workspace} ls serve (starts it again)"),
            (
                "",
                f"then open the URL it prints and log in as admin@example.com; the password "
                f"is in {data_dir / PASSWORD_FILE_NAME}",
            ),
        ]
    else:
        steps.append(("Label Studio", f"{d['label_studio']} (project {d['project']!r})"))
    if d["agreement"]:
        steps.append(("Agreement report", d["agreement"]["report"]))
    model = d.get("model") or {}
    for key in ("first", "next"):
        if model.get(key):
            run = model[key]
            steps.append(
                ("Evaluation" if key == "first" else "", f"{run['dataset']}: {run['report']}")
            )
    published = d["published"]
    if published.get("path"):
        steps += [
            ("Dataset", f"{published['name']} {published['version']} at {published['path']}"),
            ("Load it", f'datasets.load_dataset("{published["path"]}")'),
        ]
    steps.append(("Next batch", "make demo (the loop continues where it stopped)"))
    return steps


def _program() -> str:
    """How the user ran annotate: ``annotate`` when it is on PATH, else its path
    (``.venv/bin/annotate`` from make demo)."""
    launched = Path(sys.argv[0])
    if launched.name != "annotate":
        return "annotate"
    on_path = shutil.which("annotate")
    if on_path and Path(on_path).resolve() == launched.resolve():
        return "annotate"
    return os.path.relpath(launched)
