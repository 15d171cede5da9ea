"""The local registry: one folder per version, ``REGISTRY/NAME/VERSION/``.

Nothing lost, nothing duplicated:

- A version is written in a staging folder and renamed into place when complete
  (:mod:`annotate.registry.staging`), so a version folder is whole or absent.
- :func:`survey`, run by every publish and by ``datasets list``, removes the staging folders
  of publishes that no longer run, then makes the store agree with the registry: a version
  folder the store has no row for (a publish killed between the rename and recording the
  version) is adopted, the row recreated from its manifest, when every file verifies;
  otherwise it is reported as broken, with the folder to delete.
- A version folder that cannot be used (no manifest, an unreadable one, a file missing,
  changed or not listed; :mod:`annotate.registry.manifest`) is reported as broken with its
  folder and reason; the other versions stay usable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from annotate.config import Settings
from annotate.errors import AnnotateError
from annotate.registry.manifest import (
    MANIFEST,
    PER_POST,
    RESTORE,
    BrokenVersion,
    Damage,
    check,
    copy_listed,
    verify,
)
from annotate.registry.staging import sweep_staging
from annotate.semver import SemVer
from annotate.store import DatasetVersion, Store


def version_folder(settings: Settings, name: str, version: str) -> Path:
    return settings.effective_registry / name / version


def list_versions(settings: Settings, name: str) -> list[str]:
    """The version folders of dataset ``name``, oldest first (broken ones included)."""
    folder = settings.effective_registry / name
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and SemVer.is_valid(p.name)]
    return sorted(found, key=SemVer.parse)


@dataclass(frozen=True)
class VersionEntry:
    """A version folder of the registry: its manifest, or why it cannot be used."""

    name: str
    version: str
    folder: Path
    manifest: dict[str, Any] | None = field(default=None, repr=False)
    problem: BrokenVersion | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def dataset_names(settings: Settings) -> list[str]:
    registry = settings.effective_registry
    if not registry.is_dir():
        return []
    return sorted(p.name for p in registry.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan(settings: Settings, name: str) -> list[VersionEntry]:
    """Every version folder of dataset ``name``, oldest first, each with its manifest or what
    is wrong with it. Files are checked for presence and size, not checksums: one broken
    version is reported, not raised, and leaves the others usable."""
    return [_entry(settings, name, version) for version in list_versions(settings, name)]


def _entry(settings: Settings, name: str, version: str, checksums: bool = False) -> VersionEntry:
    folder = version_folder(settings, name, version)
    try:
        manifest = check(folder, checksums=checksums)
        if (manifest["name"], manifest["version"]) != (name, version):
            raise BrokenVersion(
                folder,
                Damage.BAD_MANIFEST,
                f"{folder / MANIFEST} describes {manifest['name']} {manifest['version']}, not "
                f"{name} {version}; the folder was copied or renamed.",
                hint=RESTORE,
            )
    except BrokenVersion as problem:
        return VersionEntry(name, version, folder, problem=problem)
    return VersionEntry(name, version, folder, manifest)


def resolve(settings: Settings, name: str, version: str | None) -> tuple[str, Path]:
    """The version and folder that ``NAME[@VERSION]`` names; without a version, the newest
    usable one. A named version is returned as it is (its reader verifies it)."""
    versions = list_versions(settings, name)
    if not versions:
        raise AnnotateError(f"No dataset {name!r} in {settings.effective_registry}.")
    if version is None:
        usable = [entry for entry in scan(settings, name) if entry.ok]
        if not usable:
            raise AnnotateError(
                f"No version of {name} can be used; 'annotate datasets list' says why."
            )
        version = usable[-1].version
    elif version not in versions:
        raise AnnotateError(
            f"{name} has no version {version}.", hint=f"Versions: {', '.join(versions)}."
        )
    return version, version_folder(settings, name, version)


@dataclass
class Survey:
    """The versions of one dataset (as :func:`scan` gives them) and what tidying the registry
    did (:func:`survey`)."""

    entries: list[VersionEntry]
    notices: list[str] = field(default_factory=list)  # staging folders removed or kept, adoptions
    unadopted: list[VersionEntry] = field(default_factory=list)  # not in the store, broken

    def previous(self, version: str) -> tuple[dict[str, Any] | None, list[VersionEntry]]:
        """The manifest of the newest usable version before ``version`` (``None``: there is
        none) and the broken versions between the two, which a new version cannot be
        compared with."""
        this = SemVer.parse(version)
        earlier = [entry for entry in self.entries if SemVer.parse(entry.version) < this]
        usable = [entry for entry in earlier if entry.ok]
        newest = SemVer.parse(usable[-1].version) if usable else None
        skipped = [
            entry
            for entry in earlier
            if not entry.ok and (newest is None or SemVer.parse(entry.version) > newest)
        ]
        return (usable[-1].manifest if usable else None), skipped

    def publish_notices(
        self, skipped: list[VersionEntry], previous: dict[str, Any] | None
    ) -> list[str]:
        """What a publish says about the registry: what tidying did, the version folders it
        could not adopt, and the broken versions it did not compare with."""
        skipped_versions = {entry.version for entry in skipped}
        return [
            *self.notices,
            *(
                f"{entry.name} {entry.version} cannot be adopted: {entry.problem.message}"
                for entry in self.unadopted
                if entry.version not in skipped_versions
            ),
            *(_skipped_notice(entry, previous) for entry in skipped),
        ]


def survey(settings: Settings, name: str, store: Store | None = None, tidy: bool = True) -> Survey:
    """The versions of dataset ``name`` after tidying (see the module docstring): with
    ``tidy``, abandoned staging folders are removed and, given the ``store``, version folders
    it has no row for are adopted or reported as broken."""
    found = Survey(scan(settings, name), sweep_staging(settings, name) if tidy else [])
    if tidy and store is not None:
        recorded = _recorded_versions(store, name)
        found.entries = [
            entry if entry.version in recorded else _adopt(store, settings, entry, found)
            for entry in found.entries
        ]
    return found


def _recorded_versions(store: Store, name: str) -> set[str]:
    with store.session() as session:
        rows = session.exec(select(DatasetVersion.version).where(DatasetVersion.name == name))
        return set(rows.all())


def _adopt(store: Store, settings: Settings, entry: VersionEntry, found: Survey) -> VersionEntry:
    """A version folder the store has no row for: recorded from its manifest if every file
    verifies, else broken, with the folder to delete."""
    if entry.ok:
        entry = _entry(settings, entry.name, entry.version, checksums=True)
    if entry.ok:
        record_version(store, entry.manifest, entry.folder)
        found.notices.append(
            f"Adopted {entry.name} {entry.version} at {entry.folder} into the store: the "
            "publish that wrote it stopped before recording it."
        )
        return entry
    problem = BrokenVersion(
        entry.folder,
        entry.problem.damage,
        f"{entry.problem.message.rstrip('.')}; the store has no record of it either: delete "
        f"{entry.folder}.",
    )
    broken = VersionEntry(entry.name, entry.version, entry.folder, problem=problem)
    found.unadopted.append(broken)
    return broken


def record_version(store: Store, manifest: dict[str, Any], folder: Path) -> None:
    """The store's row for a version in the registry (its manifest without the per-post
    maps); a row recorded meanwhile by another run (a listing adopting the version of a
    publish about to record it) is left as it is."""
    name, version = manifest["name"], manifest["version"]
    row = DatasetVersion(
        name=name,
        version=version,
        target="local",
        location=str(folder),
        manifest={k: v for k, v in manifest.items() if k not in PER_POST},
    )
    try:
        with store.transaction() as session:
            session.add(row)
    except IntegrityError:
        if version not in _recorded_versions(store, name):
            raise


def _skipped_notice(entry: VersionEntry, previous: dict[str, Any] | None) -> str:
    """What a publish says about a broken earlier version it could not compare with."""
    against = f"{previous['version']}, the newest good version" if previous else "no version"
    return (
        f"Skipped {entry.name} {entry.version}, which is broken "
        f"({entry.problem.message.rstrip('.')}): the changelog is against {against}, and test "
        f"posts of {entry.version} are not kept in test."
    )


def pull_destination(to: Path, name: str, version: str) -> Path:
    """Where ``datasets pull --to TO`` puts a version: ``TO`` if it is new or empty, else
    ``TO/NAME-VERSION`` (which must be new or empty)."""
    target = to / f"{name}-{version}" if to.is_dir() and any(to.iterdir()) else to
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AnnotateError(f"{target} exists and is not empty.")
    return target


def pull_version(folder: Path, target: Path) -> dict[str, Any]:
    """Copy the version at ``folder`` to ``target``: verified first, then only the files
    its manifest lists (and the manifest), then the copy verified again."""
    copy_listed(folder, target, verify(folder))
    return verify(target)
