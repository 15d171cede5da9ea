"""Commands about the posts in the store.

Usage:
    annotate posts stats
    annotate posts stats --json
"""

from __future__ import annotations

import typer

from annotate.cli._shared import JsonOpt, emit, new_app, say, table, workspace

app = new_app("posts", help="Look at the posts in the store.")


@app.command("stats")
def stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Counts of stored posts by source, platform, language and month, and duplicate text."""
    data = workspace(ctx).post_stats()

    def render(data: dict) -> None:
        if data["first_post_at"]:
            say(f"Posts from {data['first_post_at']} to {data['last_post_at']} (UTC).")
        table(
            None,
            ["", "count"],
            [
                ["posts", data["posts"]],
                ["accounts", data["accounts"]],
                ["identical-text groups", data["duplicate_text_groups"]],
                ["posts in those groups", data["posts_in_duplicate_text_groups"]],
            ],
        )
        for key in ("by_source", "by_platform", "by_lang", "by_month"):
            rows = [[name, count] for name, count in data[key].items()]
            table(key.replace("_", " "), [key.removeprefix("by_"), "posts"], rows)

    emit(data, as_json, render)
