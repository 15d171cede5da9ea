"""Publishing dataset versions and working with the local registry.

Usage:
    annotate publish finmis --version 1.0.0 --project round-1 --split 0.8,0.1,0.1
    annotate publish finmis --version 1.1.0 --project round-1 --dry-run
    annotate datasets list
    annotate datasets show finmis@1.0.0
    annotate datasets diff finmis@1.0.0 finmis@1.1.0
    annotate datasets pull finmis@1.0.0 --to /tmp/finmis
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from annotate.aggregation import Aggregation
from annotate.cli._shared import (
    AggregationOpt,
    JsonOpt,
    NoWaitOpt,
    emit,
    new_app,
    progress_bar,
    say,
    table,
    workspace,
)
from annotate.errors import InputError
from annotate.registry import SPLITS
from annotate.semver import SemVer

app = new_app("datasets", help="List, inspect, compare and pull published dataset versions.")


def register(main: typer.Typer) -> None:
    main.command("publish")(publish)
    main.add_typer(app)


def publish(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name (lower-case, digits, . _ -).")],
    version: Annotated[str, typer.Option("--version", help="Semantic version, e.g. 1.0.0.")],
    project: Annotated[
        list[str], typer.Option("--project", help="Project to take labels from (repeatable).")
    ],
    batch: Annotated[
        list[int] | None, typer.Option("--batch", help="Only these batches (repeatable).")
    ] = None,
    aggregation: AggregationOpt = Aggregation.DAWID_SKENE,
    min_annotators: Annotated[
        int, typer.Option(min=1, help="Leave out posts with fewer annotations.")
    ] = 1,
    split: Annotated[str, typer.Option(help="train,validation,test fractions.")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="Split seed.")] = 0,
    message: Annotated[str | None, typer.Option(help="Changelog message.")] = None,
    to: Annotated[
        str, typer.Option(help="local (registry), hub, or both; hub versions are built locally.")
    ] = "local",
    hub_repo: Annotated[
        str | None, typer.Option("--hub-repo", help="ORG/NAME on the Hub (HF_ENDPOINT, HF_TOKEN).")
    ] = None,
    private: Annotated[
        bool, typer.Option("--private/--public", help="Visibility of a new Hub repo.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be published; write nothing.")
    ] = False,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish an immutable dataset version to the local registry (exports/registry).

    Labels come from 'annotate aggregate' (run again here when a pull or decision came
    later): aggregated labels (soft labels too), leakage-free splits (one account, one
    near-duplicate group: one split; test items stay in test), a dataset card and a
    checksummed manifest.
    The suggested bump: major for an incompatible taxonomy change, minor when items were
    added, patch when only labels changed.
    """
    SemVer.parse(version, "--version")
    try:
        fractions = tuple(float(part) for part in split.split(","))
    except ValueError:
        raise InputError(f"--split {split!r} must be three fractions like 0.8,0.1,0.1.") from None
    if len(fractions) != 3:
        raise InputError(f"--split {split!r} must be three fractions like 0.8,0.1,0.1.")
    ws = workspace(ctx)
    with progress_bar() as bar:
        task = bar.add_task("publishing", total=None)
        report = ws.publish(
            name,
            version,
            projects=project,
            batches=batch,
            aggregation=aggregation,
            min_annotators=min_annotators,
            split=fractions,
            seed=seed,
            message=message,
            to=to,
            hub_repo=hub_repo,
            private=private,
            dry_run=dry_run,
            wait=not no_wait,
            progress=lambda stage, done, total: bar.update(
                task, description=stage, completed=done, total=total
            ),
        )
    data = report.as_dict()

    def render(d: dict) -> None:
        for notice in d["notices"]:
            say(notice)
        verb = "Would publish" if d["dry_run"] else "Published"
        say(f"{verb} {d['name']} {d['version']}" + (f" at {d['path']}" if d["path"] else ""))
        table(None, ["split", "posts"], [[s, n] for s, n in d["rows"].items()])
        say(f"Suggested bump: {d['suggested_bump']} ({d['changelog']['reason']}).")
        if d["path"]:
            say(f'Load it with: datasets.load_dataset("{d["path"]}")')
        if d.get("hub"):
            hub = d["hub"]
            say(
                f"On the Hub as {hub['repo']} tag {hub['tag']}: "
                f'datasets.load_dataset("{hub["repo"]}", revision="{hub["tag"]}")'
            )

    emit(data, as_json, render)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Published datasets and versions with their row counts; a broken version is listed
    with its folder and what is wrong with it.

    Also tidies the registry: removes the staging folders of interrupted publishes, and
    records in the store a complete version whose publish stopped before recording it.
    """
    listing = workspace(ctx).datasets.list()
    for notice in listing.notices:
        say(notice)

    def render(items: list) -> None:
        if not items:
            say("No dataset versions yet: annotate publish NAME --version 1.0.0 --project P")
            return
        table(
            None,
            ["dataset", "version", *SPLITS, "status"],
            [[r["name"], r["version"], *(r[s] for s in SPLITS), r["status"]] for r in items],
        )
        for r in items:
            if r["problem"]:
                say(f"{r['name']} {r['version']} is broken: {r['problem']}")

    emit([row.as_dict() for row in listing.versions], as_json, render)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION (default: newest).")],
    as_json: JsonOpt = False,
) -> None:
    """A version's rows, provenance and changelog (checksums verified)."""
    details = workspace(ctx).datasets.show(ref)

    def render(d: dict) -> None:
        say(f"{details.name} {details.version} at {details.path} (checksums verified)")
        table(None, ["split", "posts"], [[s, n] for s, n in d["rows"].items()])
        say(f"taxonomy: {d['provenance']['taxonomy']}")
        say(f"changelog: {d['changelog']}")

    emit(details.as_dict(), as_json, render)


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="NAME@VERSION")],
    new: Annotated[str, typer.Argument(help="NAME@VERSION")],
    as_json: JsonOpt = False,
) -> None:
    """Added, removed and relabelled posts, and label count changes, between two versions."""
    difference = workspace(ctx).datasets.diff(old, new)

    def render(d: dict) -> None:
        say(
            f"{d['old']} → {d['new']}: {len(d['added'])} added, {len(d['removed'])} removed, "
            f"{len(d['relabelled'])} relabelled."
        )
        if d["label_count_changes"]:
            table(None, ["label", "change"], list(d["label_count_changes"].items()))

    emit(difference.as_dict(), as_json, render)


@app.command("pull")
def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    to: Annotated[Path, typer.Option(help="Copy the version here.")] = Path("."),
    from_hub: Annotated[
        str | None,
        typer.Option("--from-hub", help="Download tag vVERSION of this Hub repo instead."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy a version out of the registry (or the Hub), verifying every checksum against its
    manifest (a file it does not list is refused), and print how to load it."""
    pulled = workspace(ctx).datasets.pull(ref, to=to, from_hub=from_hub)
    where = f"{pulled.repo} v{pulled.version}" if pulled.repo else f"{pulled.name} {pulled.version}"
    emit(
        pulled.as_dict(),
        as_json,
        lambda d: say(
            f"Pulled {where} to {d['path']} (checksums verified). "
            f'Load it with: datasets.load_dataset("{d["path"]}")'
        ),
    )
