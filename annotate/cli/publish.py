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
from annotate.publish import SPLITS, pull_from_hub
from annotate.registry import (
    PER_POST,
    dataset_names,
    pull_destination,
    pull_version,
    resolve,
    survey,
    verify,
)
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


def _parse_ref(ref: str, need_version: bool = False) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    if need_version and not version:
        raise InputError(f"{ref!r} needs a version: NAME@VERSION.")
    return name, version or None


def _resolve(ctx: typer.Context, ref: str) -> tuple[str, str, Path]:
    name, version = _parse_ref(ref)
    version, folder = resolve(workspace(ctx).settings, name, version)
    return name, version, folder


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Published datasets and versions with their row counts; a broken version is listed
    with its folder and what is wrong with it.

    Also tidies the registry: removes the staging folders of interrupted publishes, and
    records in the store a complete version whose publish stopped before recording it.
    """
    ws = workspace(ctx)
    settings = ws.settings
    # Without a workspace there is no store to reconcile with (and none is created).
    has_store = settings.database_url or settings.workspace.is_dir()
    store = ws.store if has_store else None
    rows = []
    for name in dataset_names(settings):
        found = survey(settings, name, store)
        for notice in found.notices:
            say(notice)
        for entry in found.entries:
            rows.append(
                {
                    "name": name,
                    "version": entry.version,
                    "path": str(entry.folder),
                    "status": "ok" if entry.ok else "broken",
                    "problem": None if entry.ok else entry.problem.message,
                    **{s: entry.manifest["rows"].get(s) if entry.ok else None for s in SPLITS},
                }
            )

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

    emit(rows, as_json, render)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION (default: newest).")],
    as_json: JsonOpt = False,
) -> None:
    """A version's rows, provenance and changelog (checksums verified)."""
    name, version, folder = _resolve(ctx, ref)
    manifest = verify(folder)
    data = {k: v for k, v in manifest.items() if k not in PER_POST}
    data["path"] = str(folder)

    def render(d: dict) -> None:
        say(f"{name} {version} at {folder} (checksums verified)")
        table(None, ["split", "posts"], [[s, n] for s, n in d["rows"].items()])
        say(f"taxonomy: {d['provenance']['taxonomy']}")
        say(f"changelog: {d['changelog']}")

    emit(data, as_json, render)


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="NAME@VERSION")],
    new: Annotated[str, typer.Argument(help="NAME@VERSION")],
    as_json: JsonOpt = False,
) -> None:
    """Added, removed and relabelled posts, and label count changes, between two versions."""
    _, _, old_folder = _resolve(ctx, old)
    _, _, new_folder = _resolve(ctx, new)
    before, after = verify(old_folder)["labels_by_post"], verify(new_folder)["labels_by_post"]
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    relabelled = sorted(p for p in set(after) & set(before) if after[p] != before[p])
    counts: dict[str, int] = {}
    for labels_by_post, sign in ((before, -1), (after, 1)):
        for labels, _severity in labels_by_post.values():
            for label in labels:
                counts[label] = counts.get(label, 0) + sign
    data = {
        "old": old,
        "new": new,
        "added": added,
        "removed": removed,
        "relabelled": [{"post_id": p, "old": before[p], "new": after[p]} for p in relabelled],
        "label_count_changes": {k: v for k, v in sorted(counts.items()) if v},
    }

    def render(d: dict) -> None:
        say(
            f"{d['old']} → {d['new']}: {len(d['added'])} added, {len(d['removed'])} removed, "
            f"{len(d['relabelled'])} relabelled."
        )
        if d["label_count_changes"]:
            table(None, ["label", "change"], list(d["label_count_changes"].items()))

    emit(data, as_json, render)


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
    name, version = _parse_ref(ref, need_version=True)
    target = pull_destination(to, name, version)
    if from_hub:
        pull_from_hub(workspace(ctx).settings, from_hub, version, target)
        data = {"name": name, "version": version, "path": str(target), "repo": from_hub}
        emit(
            data,
            as_json,
            lambda d: say(
                f"Pulled {from_hub} v{version} to {d['path']} (checksums verified). "
                f'Load it with: datasets.load_dataset("{d["path"]}")'
            ),
        )
        return
    _, _, folder = _resolve(ctx, ref)
    pull_version(folder, target)
    data = {"name": name, "version": version, "path": str(target)}
    emit(
        data,
        as_json,
        lambda d: say(
            f"Pulled {name} {version} to {d['path']} (checksums verified). "
            f'Load it with: datasets.load_dataset("{d["path"]}")'
        ),
    )
