"""The local dataset registry: one folder per version, ``REGISTRY/NAME/VERSION/``, and the
manifest that says what a version folder holds.

A version folder has the Hugging Face Hub layout (``README.md``, ``data/*.parquet``) plus
``manifest.json``: every other file's sha256 and size, the rows per split, provenance, the
changelog and the per-post maps that later versions are compared against.

Nothing lost, nothing duplicated:

- A version is written in a hidden staging folder next to its place (``NAME/.VERSION-XXXX/``,
  :class:`Staging`) and renamed into place when complete, so a version folder is whole or
  absent. The publish holds a lock (``flock``) on the owner file ``.publishing`` in its
  staging folder, which names the host and the process, for as long as it runs; the kernel
  drops the lock when the process ends, however it ends (SIGKILL too).
- :func:`survey`, run by every publish and by ``datasets list``, removes the staging folders
  of publishes that no longer run: those whose lock it can take. One made on another host
  (the owner file says which) is left alone and reported, as a lock is not to be trusted
  across hosts; one without an owner file (an older annotate) is removed once nothing in it
  changed for an hour.
- It then makes the store agree with the registry: a version folder the store has no row for
  (a publish killed between the rename and recording the version) is adopted, the row
  recreated from its manifest, when every file verifies; otherwise it is reported as broken,
  with the folder to delete.
- A version folder that cannot be used (no manifest, an unreadable one, a file missing,
  changed or not listed) is reported as broken with its folder and reason; the other versions
  stay usable.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from annotate.config import Settings
from annotate.errors import AnnotateError
from annotate.semver import PATTERN, SemVer
from annotate.store import DatasetVersion, Store

MANIFEST = "manifest.json"
OWNER = ".publishing"  # in a staging folder: who writes it (locked while they do)
STAGING = re.compile(rf"\.{PATTERN.pattern}-\w+")
# A staging folder without an owner file is abandoned once nothing in it changed for this long.
ABANDONED_AFTER = 3600.0

# Per-post maps of the manifest: kept in the registry, not copied into the store.
PER_POST = ("splits_by_post", "labels_by_post", "withheld")


def version_folder(settings: Settings, name: str, version: str) -> Path:
    return settings.effective_registry / name / version


def list_versions(settings: Settings, name: str) -> list[str]:
    """The version folders of dataset ``name``, oldest first (broken ones included)."""
    folder = settings.effective_registry / name
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and SemVer.is_valid(p.name)]
    return sorted(found, key=SemVer.parse)


class Damage(StrEnum):
    """Why a version folder cannot be used."""

    NO_MANIFEST = "no manifest"
    BAD_MANIFEST = "unreadable manifest"
    MISSING_FILE = "missing file"
    CHANGED_FILE = "changed file"
    UNLISTED_FILE = "unlisted file"


class BrokenVersion(AnnotateError):
    """A version folder that does not hold what its manifest says, or has no usable manifest.

    The message names the file at fault."""

    def __init__(self, folder: Path, damage: Damage, message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.folder = folder
        self.damage = damage


# What every reader of a manifest relies on (``withheld`` came later: optional).
_REQUIRED = ("name", "version", "files", "rows", "provenance", "changelog", *PER_POST[:2])
_RESTORE = "Other versions are not affected; restore this folder from a copy, or delete it."


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the version folder ``folder``; :class:`BrokenVersion` (naming the file
    and what is wrong with it) when there is none or it cannot be read."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BrokenVersion(
            folder, Damage.NO_MANIFEST, f"{folder} is not a dataset version (no {MANIFEST})."
        )
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        where = f"{error.msg} at line {error.lineno}, column {error.colno}"
        problem = f"is not valid JSON ({where}): it was cut short or edited"
    else:
        problem = _manifest_problem(manifest)
    if problem:
        raise BrokenVersion(
            folder,
            Damage.BAD_MANIFEST,
            f"{path} {problem}.",
            hint=_RESTORE,
        )
    return manifest


def _manifest_problem(manifest: Any) -> str | None:
    """What makes a parsed manifest unusable, if anything."""
    if not isinstance(manifest, dict):
        return "is not a JSON object"
    missing = [key for key in _REQUIRED if key not in manifest]
    if missing:
        return f"lacks {', '.join(missing)}"
    files = manifest["files"]
    if not isinstance(files, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in files.values()
    ):
        return "lists files without their checksums"
    for relative in files:
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
            return f"lists a file outside the version folder ({relative!r})"
    return None


def check(folder: Path, *, checksums: bool = True) -> dict[str, Any]:
    """The manifest of the version at ``folder`` once its files match it: no file it does not
    list, every listed file there, of its listed size and (with ``checksums``) sha256.
    :class:`BrokenVersion` names the first file that does not."""
    manifest = read_manifest(folder)
    present = {
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir()
    }
    unlisted = sorted(present - set(manifest["files"]) - {MANIFEST})
    if unlisted:
        named = ", ".join(str(folder / relative) for relative in unlisted[:3])
        more = f" and {len(unlisted) - 3} more" if len(unlisted) > 3 else ""
        raise BrokenVersion(
            folder,
            Damage.UNLISTED_FILE,
            f"{named}{more}: not listed in the manifest, added after publishing; do not use "
            "this copy.",
            hint="Versions are immutable: delete what does not belong there.",
        )
    for relative, expected in manifest["files"].items():
        path = folder / relative
        if not path.is_file():
            raise BrokenVersion(
                folder, Damage.MISSING_FILE, f"{path} is missing: the version is incomplete."
            )
        size = path.stat().st_size
        if expected.get("bytes", size) != size:
            raise BrokenVersion(
                folder,
                Damage.CHANGED_FILE,
                f"{path} does not match the manifest ({size} bytes, expected "
                f"{expected['bytes']}); do not use this copy.",
            )
        if not checksums:
            continue
        actual = sha256_file(path)
        if actual != expected["sha256"]:
            raise BrokenVersion(
                folder,
                Damage.CHANGED_FILE,
                f"{path} does not match the manifest (sha256 {actual[:12]}…, expected "
                f"{expected['sha256'][:12]}…); do not use this copy.",
            )
    return manifest


def verify(folder: Path) -> dict[str, Any]:
    """Check every file of a version against its manifest, checksums too; raise on any
    difference (:class:`BrokenVersion`)."""
    return check(folder, checksums=True)


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
                hint=_RESTORE,
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


class StagingState(StrEnum):
    """Whether a staging folder belongs to a publish that may still be writing it."""

    IN_USE = "in use"
    ABANDONED = "abandoned"
    ELSEWHERE = "made on another host"


@dataclass
class Staging:
    """The hidden folder a version is written in, next to its place, and the locked owner
    file that tells :func:`sweep_staging` it is in use (see the module docstring)."""

    target: Path
    folder: Path
    owner: IO[str] = field(repr=False)

    @classmethod
    def open(cls, target: Path) -> Staging:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        claim = folder / f"{OWNER}.new"
        owner = claim.open("w")
        fcntl.flock(owner, fcntl.LOCK_EX)
        started = datetime.now(UTC).isoformat()
        owner.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": started}))
        owner.flush()
        claim.rename(folder / OWNER)  # visible only once locked
        return cls(target, folder, owner)

    def promote(self) -> None:
        """Rename the complete version into place."""
        (self.folder / OWNER).unlink()
        self.folder.rename(self.target)
        self.owner.close()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.owner.close()


def sweep_staging(settings: Settings, name: str) -> list[str]:
    """Remove the staging folders of dataset ``name`` that no publish uses any more; what was
    removed, or left because it was made on another host, as sentences."""
    parent = settings.effective_registry / name
    notices = []
    for folder in sorted(parent.iterdir()) if parent.is_dir() else []:
        if not (folder.is_dir() and STAGING.fullmatch(folder.name)):
            continue
        state, owner = _staging_state(folder)
        by = (
            f"pid {owner.get('pid')} on {owner.get('host')}"
            if owner
            else "no owner file, nothing changed for an hour"
        )
        if state is StagingState.ABANDONED:
            shutil.rmtree(folder, ignore_errors=True)
            notices.append(f"Removed {folder}, left by a publish that was interrupted ({by}).")
        elif state is StagingState.ELSEWHERE:
            notices.append(
                f"Kept {folder}: a publish on {owner['host']} (pid {owner.get('pid', '?')}) may "
                "still be writing it; delete it once none runs there."
            )
    return notices


def _staging_state(folder: Path) -> tuple[StagingState, dict[str, Any]]:
    try:
        handle = (folder / OWNER).open()
    except FileNotFoundError:  # an older annotate, or a publish renaming its version now
        try:
            changed = max(path.stat().st_mtime for path in [folder, *folder.rglob("*")])
        except FileNotFoundError:
            return StagingState.IN_USE, {}
        idle = time.time() - changed
        return (StagingState.ABANDONED if idle > ABANDONED_AFTER else StagingState.IN_USE), {}
    with handle:
        try:
            owner = json.loads(handle.read())
        except ValueError:
            owner = {}
        if not isinstance(owner, dict):
            owner = {}
        if owner.get("host", socket.gethostname()) != socket.gethostname():
            return StagingState.ELSEWHERE, owner
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return StagingState.IN_USE, owner
        return StagingState.ABANDONED, owner


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


def copy_listed(source: Path, target: Path, manifest: dict[str, Any]) -> None:
    """Copy the manifest and the files it lists from ``source`` to ``target`` (a file
    missing from ``source`` is left for the verification of ``target`` to name)."""
    for relative in [*manifest["files"], MANIFEST]:
        path = source / relative
        if path.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)


def file_entries(folder: Path) -> dict[str, dict[str, Any]]:
    """What a manifest lists of the staging folder ``folder``: each file's sha256 and size,
    by relative path (not the owner file, which is gone once the version is in place)."""
    return {
        path.relative_to(folder).as_posix(): {
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
        }
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() != OWNER
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
