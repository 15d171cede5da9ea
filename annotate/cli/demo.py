"""The demo corpus: realistic, deterministic financial self-media posts made by this project.

Usage:
    annotate demo-corpus
    annotate demo-corpus --size 1000000 --seed 7 --out big.jsonl
    annotate demo-corpus --taxonomy label_config/taxonomy.yaml --templates my_templates.yaml
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from annotate import demo
from annotate.cli._shared import JsonOpt, TaxonomyOpt, emit, say, state, table
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
    Run it again to continue with the next batch.
    """
    from annotate.demo_loop import run_demo

    app_state = state(ctx)
    summary = run_demo(
        app_state.settings,
        app_state.workspace(),
        app_state.store(),
        batch_size=batch_size,
        seed=seed,
        say=say,
    )
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

    emit(data, as_json, render)
