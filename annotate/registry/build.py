"""Publishing a dataset version: aggregated labels, leakage-free splits, a dataset card, and an
immutable, checksummed folder in the local registry (``exports/registry/NAME/VERSION/``).

A version folder has the Hugging Face Hub layout, so ``datasets.load_dataset(folder)`` loads
it: ``README.md`` (the card, YAML metadata first) and ``data/{split}-00000-of-00001.parquet``,
plus ``manifest.json`` (content checksums and provenance). A version is written to a hidden
staging folder next to its final place and renamed into place at the end, so a publish that
fails or is interrupted leaves no partial version behind; an existing version is never
rewritten. What a killed publish leaves (its staging folder; a version without its row in the
store) is tidied by the next publish or listing: see :mod:`annotate.registry.local`.

The steps: :mod:`~annotate.registry.read` (the store, once), :mod:`annotate.splits`,
:mod:`~annotate.registry.changes` (the changelog), :mod:`~annotate.registry.write` (Parquet),
:mod:`~annotate.registry.card`, :mod:`~annotate.registry.manifest`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import select

from annotate.aggregation import Aggregation
from annotate.config import Settings, WorkspaceFolder
from annotate.errors import AnnotateError, InputError
from annotate.locks import locks_projects
from annotate.registry import card, read, write
from annotate.registry.changes import changelog as make_changelog
from annotate.registry.local import record_version, survey, version_folder
from annotate.registry.manifest import SPLITS, write_manifest
from annotate.registry.staging import Staging
from annotate.semver import Bump, SemVer
from annotate.store import DatasetVersion, Store

NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
# The card's license unless --license says otherwise: explicit that nobody chose one yet.
DEFAULT_LICENSE = "other"
LICENSE = re.compile(r"[a-z0-9][a-z0-9_.+-]{0,63}")


@dataclass
class PublishReport:
    name: str
    version: str
    path: str | None
    rows: dict[str, int]
    excluded: dict[str, int]
    suggested_bump: str
    changelog: dict[str, Any]
    dry_run: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # what the registry had to say
    # Annotated posts in no split, by why: ``no_aggregate`` (no label reached the threshold).
    left_out: dict[str, list[str]] = field(default_factory=dict)
    license: str = DEFAULT_LICENSE
    hub: dict[str, Any] | None = None  # the Hub repo and tag, when pushed there

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.hub is None:
            del data["hub"]
        return data


@locks_projects("projects", command="publish")
def publish(
    store: Store,
    settings: Settings,
    workspace: WorkspaceFolder,
    name: str,
    version: str,
    *,
    projects: list[str],
    batches: list[int] | None = None,
    aggregation: Aggregation | str = Aggregation.DAWID_SKENE,
    min_annotators: int = 1,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    message: str | None = None,
    license: str = DEFAULT_LICENSE,
    dry_run: bool = False,
    on_stale: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> PublishReport:
    """Build and write one dataset version (see the module docstring).

    Labels come from the projects' stored aggregates (:mod:`annotate.aggregation_runs`); a project
    whose aggregates are missing or older than its annotations is aggregated first
    (``on_stale`` is told). One pass over the store keeps what choosing the splits needs
    (ids, accounts, labels, near-duplicate groups) and spills the rows, as Arrow, to a file
    in the staging folder; once the splits are chosen, the spilled rows are copied into the
    Parquet file of their split. Memory holds a chunk of rows, not the texts of the version.
    ``progress(stage, done, total)`` hears how far it got. Holds the lock of every project
    it reads (``wait``, ``on_wait``: see :mod:`annotate.locks`).
    """
    from annotate.splits import leak_free_splits

    if not NAME.fullmatch(name):
        raise InputError(f"Dataset name {name!r} must be lower-case letters, digits, . _ -.")
    number = SemVer.parse(version)
    if not LICENSE.fullmatch(license):
        raise InputError(
            f"--license {license!r} is not a license identifier of the Hub (lower-case, such as "
            "cc-by-4.0, cc-by-nc-4.0, apache-2.0 or other)."
        )
    aggregation = Aggregation.parse(aggregation)
    target = version_folder(settings, name, version)
    found = survey(settings, name, None if dry_run else store, tidy=not dry_run)
    if target.exists():
        raise AnnotateError(
            f"{name} {version} is already published at {target}; versions are immutable.",
            hint="Publish a new version number.",
        )
    if not projects:
        raise InputError("Name at least one project (--project).")
    with store.session() as session:
        recorded = session.exec(
            select(DatasetVersion).where(
                DatasetVersion.name == name, DatasetVersion.version == version
            )
        ).first()
    if recorded is not None:
        raise AnnotateError(
            f"{name} {version} was already published (to {recorded.location}); versions are "
            "immutable.",
            hint="Publish a new version number.",
        )
    previous, broken = found.previous(version)

    progress = progress or (lambda stage, done, total: None)
    progress("reading the store", 0, None)
    # Everything is written in a hidden folder next to the version's place, renamed into
    # place at the end: a failed or interrupted publish leaves no partial version.
    stage = Staging.open(target)
    staging = stage.folder
    spill = staging / "rows.arrow"
    try:
        plan = read.plan_version(
            store, workspace, projects, batches, aggregation, min_annotators, on_stale, spill
        )
        if not plan.post_ids:
            raise AnnotateError("Nothing to publish: no post of these projects has an aggregate.")
        progress("choosing splits", 0, None)
        splits = leak_free_splits(
            plan.post_ids,
            plan.frozen_label_sets(),
            plan.accounts,
            plan.near_groups,
            fractions=split,
            seed=seed,
            previous=previous["splits_by_post"] if previous else None,
        )
        assignment = splits.assignment
        plan.excluded["withheld_between_splits"] = len(splits.withheld)
        plan.provenance["splits"] = {"fractions": list(split), "seed": seed, **splits.as_dict()}
        split_codes = splits.codes  # per post of the plan, -1 when withheld
        labels_by_post = plan.labels_by_post(split_codes)
        changelog = make_changelog(
            previous,
            labels_by_post,
            plan.taxonomy,
            broken,
            previous_taxonomy=previous_taxonomy(store, previous),
            left_out=plan.left_out,
        )
        counts = Counter(assignment.values())
        report = PublishReport(
            name=name,
            version=version,
            path=None,
            rows={s: counts.get(s, 0) for s in SPLITS},
            excluded=plan.excluded,
            suggested_bump=changelog["suggested_bump"],
            changelog=changelog,
            dry_run=dry_run,
            provenance=plan.provenance,
            notices=found.publish_notices(broken, previous),
            left_out={"no_aggregate": plan.left_out},
            license=license,
        )
        bump = Bump(changelog["suggested_bump"])
        if previous and number.bump_from(SemVer.parse(previous["version"])).rank < bump.rank:
            raise AnnotateError(
                f"{name} {version} needs a {bump} bump over {previous['version']} "
                f"({changelog['reason']}).",
            )
        if dry_run:
            stage.discard()
            return report
        stats = write.write_splits(staging, spill, plan, split_codes, progress)
        spill.unlink()
        text = card.render_card(
            name,
            version,
            plan.taxonomy,
            stats,
            plan.provenance,
            changelog,
            message,
            license=license,
            demo=plan.demo,
        )
        (staging / "README.md").write_text(text, encoding="utf-8")
        manifest = write_manifest(
            staging,
            name=name,
            version=version,
            counts=stats.counts,
            provenance=plan.provenance,
            changelog=changelog,
            split=split,
            seed=seed,
            splits_by_post=assignment,
            labels_by_post=labels_by_post,
            withheld=splits.withheld,
            left_out={"no_aggregate": plan.left_out},
            taxonomy_definition=plan.taxonomy.model_dump(mode="json"),
        )
        stage.promote()
    except BaseException:
        stage.discard()
        raise
    record_version(store, manifest, target)
    report.path = str(target)
    return report


def previous_taxonomy(store: Store, previous: dict[str, Any] | None) -> Any:
    """The taxonomy the ``previous`` version was published under, to diff against: from its
    manifest, else the store's copy of that taxonomy; None when neither has it."""
    from annotate.store.queries import find_taxonomy, stored_taxonomy
    from annotate.taxonomy import Taxonomy

    if previous is None:
        return None
    if previous.get("taxonomy_definition"):
        return Taxonomy.model_validate(previous["taxonomy_definition"])
    old = previous["provenance"]["taxonomy"]
    with store.session() as session:
        row = find_taxonomy(session, old.get("name"), old["version"], old["sha256"])
        return stored_taxonomy(row) if row is not None else None
