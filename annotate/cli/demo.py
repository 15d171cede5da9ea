"""The demo corpus: realistic, deterministic financial self-media posts made by this project.

Usage:
    annotate demo-corpus
    annotate demo-corpus --size 1000000 --seed 7 --out big.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from annotate import demo
from annotate.cli._shared import JsonOpt, emit, say


def register(app: typer.Typer) -> None:
    app.command("demo-corpus")(demo_corpus)


def demo_corpus(
    size: Annotated[int, typer.Option(min=1, help="Number of posts.")] = demo.DEMO_SIZE,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same posts.")] = (
        demo.DEMO_SEED
    ),
    out: Annotated[Path, typer.Option(help="Output file: .jsonl, .csv or .parquet.")] = Path(
        "exports/demo/posts.jsonl"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Write a demo corpus of Chinese and English financial self-media posts.

    Every category of the taxonomy appears, with the quirks of real posts (hashtags,
    @mentions, short links, emoji, //@ repost chains, near-duplicate reposts). Each post
    carries hidden true_labels and true_severity for simulated annotators; those fields are
    never sent to Label Studio or published.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = demo.write_corpus(out, size=size, seed=seed)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--out") from None
    emit(
        {"posts": written, "seed": seed, "out": str(out)},
        as_json,
        lambda data: say(f"Wrote {data['posts']:,} demo posts (seed {seed}) to {data['out']}"),
    )
