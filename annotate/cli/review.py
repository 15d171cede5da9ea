"""Suspected label errors: the posts a text model confidently labels otherwise.

Usage:
    annotate review-queue round-1
    annotate review-queue round-1 --top 20 --json
    annotate review-queue round-1 --top 100 --to-adjudication
"""

from __future__ import annotations

from typing import Annotated

import typer

from annotate.aggregation import Aggregation
from annotate.cli._shared import AggregationOpt, JsonOpt, ProjectArg, emit, say, table, workspace

#: Characters of post text shown per row of the table; the JSON output has the whole text.
SNIPPET = 60


def register(app: typer.Typer) -> None:
    app.command("review-queue")(review_queue)


def review_queue(
    ctx: typer.Context,
    project: ProjectArg,
    top: Annotated[int, typer.Option("--top", min=1, help="Show the N most suspect posts.")] = 50,
    to_adjudication: Annotated[
        bool,
        typer.Option(
            "--to-adjudication",
            help="Send the listed posts to the project's adjudication project.",
        ),
    ] = False,
    aggregation: AggregationOpt = Aggregation.DAWID_SKENE,
    seed: Annotated[int, typer.Option(help="Seed of the cross-validation folds.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List posts whose aggregated label a cross-validated text model confidently disputes.

    Every labelled post is scored by a character TF-IDF + logistic regression model trained on
    the other folds; a post is suspect when the label the model is confident about (by the
    per-label thresholds of confident learning) is not among its aggregated labels. The most
    suspect come first. Adjudicated posts are marked.
    """
    queue = workspace(ctx).review_queue(
        project, top=top, aggregation=aggregation, seed=seed, to_adjudication=to_adjudication
    )
    data = queue.as_dict()
    if data["adjudication"] is None:
        del data["adjudication"]  # not asked for: the JSON stays as it was

    def render(d: dict) -> None:
        say(
            f"{d['suspects']} of {d['posts_checked']} labelled posts of {d['project']!r} are "
            f"suspected label errors; showing {len(d['items'])}."
        )
        if d["items"]:
            table(
                None,
                ["#", "post", "given", "model says", "p(given)", "p(model)", "adj.", "text"],
                [
                    [
                        rank,
                        item["post_id"],
                        ", ".join(item["given"]),
                        item["predicted"],
                        item["p_given"],
                        item["p_predicted"],
                        "yes" if item["adjudicated"] else "",
                        _snippet(item["text"]),
                    ]
                    for rank, item in enumerate(d["items"], start=1)
                ],
            )
        if "adjudication" in d:
            sent = d["adjudication"]
            say(
                f"{sent['sent']} sent to {sent['adjudication_project']!r}, "
                f"{sent['already_there']} already there. "
                f"Then: annotate pull {sent['adjudication_project']!r}"
            )
        elif to_adjudication:
            say("Nothing to send to adjudication.")

    emit(data, as_json, render)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"
