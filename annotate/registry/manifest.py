"""The manifest of a version folder: what it holds, read, written and checked.

``manifest.json`` lists every other file of the version with its sha256 and size, and
carries the rows per split, provenance, the changelog and the per-post maps that later
versions are compared against (``splits_by_post``, ``labels_by_post``, ``withheld``).
"""

from __future__ import annotations

import hashlib
import shutil
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from annotate.errors import AnnotateError

MANIFEST = "manifest.json"
OWNER = ".publishing"  # in a staging folder: who writes it (locked while they do)
SPLITS = ("train", "validation", "test")

# Per-post maps of the manifest, and the taxonomy's full text: kept in the registry, not
# copied into the store nor shown by ``datasets show``.
PER_POST = ("splits_by_post", "labels_by_post", "withheld", "left_out", "taxonomy_definition")
# What every reader of a manifest relies on (``withheld`` came later: optional).
_REQUIRED = ("name", "version", "files", "rows", "provenance", "changelog", *PER_POST[:2])
RESTORE = "Other versions are not affected; restore this folder from a copy, or delete it."


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
        raise BrokenVersion(folder, Damage.BAD_MANIFEST, f"{path} {problem}.", hint=RESTORE)
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


def write_manifest(folder: Path, **fields: Any) -> dict[str, Any]:
    """Write the manifest of the complete staging folder ``folder`` (its files' checksums,
    then ``fields``: name, version, counts, provenance, changelog, split, seed and the
    per-post maps); the manifest."""
    manifest = {
        "name": fields["name"],
        "version": fields["version"],
        "files": file_entries(folder),
        "rows": fields["counts"],
        "provenance": fields["provenance"],
        "changelog": fields["changelog"],
        "split": {"fractions": list(fields["split"]), "seed": fields["seed"]},
        "splits_by_post": fields["splits_by_post"],
        "labels_by_post": fields["labels_by_post"],
        # Posts left out so that no account or near-duplicate group straddles two splits.
        "withheld": fields["withheld"],
        # Annotated posts in no split: no label reached the aggregation's threshold.
        "left_out": fields.get("left_out", {}),
        # The taxonomy itself, so that a later version can tell what changed in it.
        "taxonomy_definition": fields.get("taxonomy_definition"),
    }
    (folder / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


def copy_listed(source: Path, target: Path, manifest: dict[str, Any]) -> None:
    """Copy the manifest and the files it lists from ``source`` to ``target`` (a file
    missing from ``source`` is left for the verification of ``target`` to name)."""
    for relative in [*manifest["files"], MANIFEST]:
        path = source / relative
        if path.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            # Not copy2: a copy gets the modes the umask gives new files, not the source's
            # (a download cache's 0600, say).
            shutil.copyfile(path, target / relative)


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
