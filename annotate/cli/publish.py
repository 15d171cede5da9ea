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
    listed,
    new_app,
    progress_bar,
    say,
    table,
    workspace,
)
from annotate.errors import InputError
from annotate.registry import SPLITS, LabelChanges
from annotate.semver import SemVer

# Why annotated posts are in no split, as the publish table says it.
EXCLUDED = {
    "no_aggregate": "no aggregate",
    "too_few_annotators": "fewer annotators than --min-annotators",
    "withheld_between_splits": "withheld (account or near-duplicates in another split)",
}
SHOWN = 20  # post ids a table lists before "and N more"

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
    license: Annotated[
        str,
        typer.Option(
            help="License of the version, as a Hub identifier (cc-by-4.0, apache-2.0...). "
            "The default, other, says on the card that no license was chosen and who decides."
        ),
    ] = "other",
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
            license=license,
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
        rows = [[s, n] for s, n in d["rows"].items()]
        rows += [[f"left out: {EXCLUDED[why]}", n] for why, n in d["excluded"].items() if n]
        table(None, ["split", "posts"], rows)
        left_out = d["left_out"].get("no_aggregate", [])
        if left_out:
            say(
                "No aggregate (no label reached the threshold), so in no split: "
                f"{listed(left_out, SHOWN)}"
                " (all in the version's manifest.json, left_out; annotate review-queue or "
                "adjudicate settles them)."
            )
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
    """A version's rows per split, provenance and changelog (checksums verified first)."""
    details = workspace(ctx).datasets.show(ref)

    def render(d: dict) -> None:
        newest = " (the newest version)" if details.newest else ""
        say(f"{details.name} {details.version}{newest} at {details.path} (checksums verified)")
        table(None, ["split", "posts"], [[s, n] for s, n in d["rows"].items()])
        table(None, ["", ""], version_rows(d))

    emit(details.as_dict(), as_json, render)


def version_rows(manifest: dict) -> list[list[str]]:
    """A manifest's provenance and changelog as (what, value) rows people read."""
    from annotate.registry.card import agreement_line

    provenance, changelog = manifest["provenance"], manifest["changelog"]
    taxonomy = provenance["taxonomy"]
    rows = [
        [
            "taxonomy",
            f"{taxonomy['name']} {taxonomy['version']} (sha256 {taxonomy['sha256'][:12]})",
        ],
        ["aggregation", str(provenance.get("aggregation"))],
    ]
    for project in provenance.get("projects", []):
        pulled = project.get("last_pull_at")
        rows.append(
            [
                "project",
                f"{project['name']} ({f'last pull {pulled}' if pulled else 'never pulled'})",
            ]
        )
    for name, values in provenance.get("agreement", {}).items():
        rows.append(["agreement", agreement_line(name, values)])
    for batch in provenance.get("batches", []):
        rows.append(
            [
                "batch",
                f"{batch['id']}: {batch['size']} posts of {batch['project']}, "
                f"{batch['strategy']}"
                + (f", seed {batch['seed']}" if batch.get("seed") is not None else ""),
            ]
        )
    cut = provenance.get("splits") or manifest.get("split") or {}
    if cut:
        fractions = " / ".join(str(f) for f in cut.get("fractions", []))
        withheld = f", {cut['withheld']} withheld" if cut.get("withheld") else ""
        rows.append(["splits", f"{fractions}, seed {cut.get('seed')}{withheld}"])
    rows.append(["published", f"{provenance.get('published_at')} by {provenance.get('tool')}"])
    since = f"since {changelog['previous']}" if changelog.get("previous") else "first version"
    counts = ", ".join(
        f"{changelog.get(key, 0)} {key}" for key in ("added", "removed", "relabelled")
    )
    rows.append(
        ["changelog", f"{changelog['suggested_bump']} ({since}): {changelog['reason']}; {counts}"]
    )
    if changelog.get("left_out"):
        rows.append(["left out", f"{changelog['left_out']} annotated posts with no aggregate"])
    return rows


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME: the newest)")],
    new: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME: the newest)")],
    limit: Annotated[
        int, typer.Option(min=0, help="Posts the table lists (0: all); --json lists all.")
    ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Posts added, removed and relabelled, and how many posts carry each label, from one
    version to another.

    The table has one row per post that changed: 'change' is added, removed or relabelled;
    'before' and 'after' are its labels (and severity) in the old and the new version.
    """
    difference = workspace(ctx).datasets.diff(old, new)

    def render(d: dict) -> None:
        say(
            f"{d['old']} → {d['new']}: {len(d['added'])} added, {len(d['removed'])} removed, "
            f"{len(d['relabelled'])} relabelled."
        )
        rows = diff_rows(difference.changes)
        if rows:
            shown = rows if not limit else rows[:limit]
            table(None, ["post", "change", "before", "after"], shown)
            if len(shown) < len(rows):
                say(f"… and {len(rows) - len(shown)} more (--limit 0 lists all, --json too).")
        if d["label_count_changes"]:
            say("Posts carrying each label, new minus old:")
            table(
                None,
                ["label", "posts"],
                [[label, f"{n:+d}"] for label, n in d["label_count_changes"].items()],
            )

    emit(difference.as_dict(), as_json, render)


def diff_rows(changes: LabelChanges) -> list[list[str]]:
    """One row per changed post (relabelled first, then added, then removed): post id,
    change, labels before, labels after."""
    from annotate.registry.card import labels_text

    return [
        *(
            [item.post_id, "relabelled", labels_text(item.old), labels_text(item.new)]
            for item in changes.relabelled
        ),
        *([post, "added", "", ""] for post in changes.added),
        *([post, "removed", "", ""] for post in changes.removed),
    ]


@app.command("pull")
def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, or NAME for the newest version")],
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
    newest = " (the newest version)" if pulled.newest else ""
    emit(
        pulled.as_dict(),
        as_json,
        lambda d: say(
            f"Pulled {where}{newest} to {d['path']} (checksums verified). "
            f'Load it with: datasets.load_dataset("{d["path"]}")'
        ),
    )
