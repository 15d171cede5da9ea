"""The local dataset registry: one folder per version, ``REGISTRY/NAME/VERSION/``, and the
manifest that says what a version folder holds.

A version folder has the Hugging Face Hub layout (``README.md``, ``data/*.parquet``) plus
``manifest.json``: every other file's sha256 and size, the rows per split, provenance, the
changelog and the per-post maps that later versions are compared against.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from annotate.config import Settings
from annotate.errors import AnnotateError
from annotate.taxonomy import SEMVER

MANIFEST = "manifest.json"

# Per-post maps of the manifest: kept in the registry, not copied into the store.
PER_POST = ("splits_by_post", "labels_by_post", "withheld")


def version_folder(settings: Settings, name: str, version: str) -> Path:
    return settings.effective_registry / name / version


def list_versions(settings: Settings, name: str) -> list[str]:
    """The version folders of dataset ``name``, oldest first (broken ones included)."""
    folder = settings.effective_registry / name
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and SEMVER.fullmatch(p.name)]
    return sorted(found, key=version_key)


def version_key(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


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


def _entry(settings: Settings, name: str, version: str) -> VersionEntry:
    folder = version_folder(settings, name, version)
    try:
        manifest = check(folder, checksums=False)
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


def previous_version(
    settings: Settings, name: str, version: str
) -> tuple[dict[str, Any] | None, list[VersionEntry]]:
    """The manifest of the newest usable version before ``version`` (``None``: there is none)
    and the broken versions between the two, which a new version cannot be compared with."""
    earlier = [
        entry for entry in scan(settings, name) if version_key(entry.version) < version_key(version)
    ]
    usable = [entry for entry in earlier if entry.ok]
    previous = usable[-1] if usable else None
    skipped = [
        entry
        for entry in earlier
        if not entry.ok
        and (previous is None or version_key(entry.version) > version_key(previous.version))
    ]
    return (previous.manifest if previous else None), skipped


def skipped_notice(entry: VersionEntry, previous: dict[str, Any] | None) -> str:
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
    """What a manifest lists of ``folder``: each file's sha256 and size, by relative path."""
    return {
        str(path.relative_to(folder)): {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
