"""Who is who: pseudonyms mapped to Label Studio accounts, for leads (local store only).

Usage:
    annotate annotators round-1
    annotate annotators round-1 --field severity --json
"""

from __future__ import annotations

from typing import Annotated

import typer

from annotate.cli._shared import JsonOpt, ProjectArg, emit, say, table, workspace


def register(app: typer.Typer) -> None:
    app.command("annotators")(annotators)


def annotators(
    ctx: typer.Context,
    project: ProjectArg,
    field: Annotated[
        str, typer.Option(help="Taxonomy field to measure agreement on.")
    ] = "category",
    as_json: JsonOpt = False,
) -> None:
    """List a project's annotators: pseudonym, Label Studio e-mail, work, agreement, outliers.

    Reports and dataset versions name annotators only by pseudonym; this mapping comes from
    the local store and is printed here only. 'annotate agreement PROJECT --reveal' puts the
    e-mails into a report file for a lead's own use.
    """
    roster = [row.as_dict() for row in workspace(ctx).annotators(project, field=field)]

    def render(rows: list[dict]) -> None:
        if not rows:
            say(f"No annotations in {project!r} yet: annotate pull {project!r}")
            return
        table(
            None,
            ["pseudonym", "e-mail", "done", "skips", "items", "LOO agr.", "outlier"],
            [
                [
                    r["pseudonym"],
                    r["email"],
                    r["annotations"],
                    r["skipped"],
                    r["items"],
                    r["loo_agreement"],
                    "yes" if r["outlier"] else "",
                ]
                for r in rows
            ],
        )
        for r in rows:
            if r["outlier"]:
                say(f"{r['pseudonym']} is an outlier: {r['outlier_reason']}.")
        say(
            "done: annotations; skips: skipped tasks; LOO agr.: leave-one-out agreement with "
            "the others on the same posts."
        )
        say("Internal: do not share e-mails beyond the team; published data uses pseudonyms.")

    emit(roster, as_json, render)
