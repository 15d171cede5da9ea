"""The local dataset registry: one folder per version, ``REGISTRY/NAME/VERSION/``, and the
manifest that says what a version folder holds.

A version folder has the Hugging Face Hub layout (``README.md``, ``data/*.parquet``) plus
``manifest.json``: every other file's sha256 and size, the rows per split, provenance, the
changelog and the per-post maps that later versions are compared against.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
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


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise AnnotateError(f"{folder} is not a dataset version (no {MANIFEST}).")
    return orjson.loads(path.read_bytes())


def verify(folder: Path) -> dict[str, Any]:
    """Check every file of a version against its manifest; raise on any difference."""
    manifest = read_manifest(folder)
    for relative, expected in manifest["files"].items():
        path = folder / relative
        if not path.is_file():
            raise AnnotateError(f"{path} is missing: the version is incomplete.")
        actual = sha256_file(path)
        if actual != expected["sha256"]:
            raise AnnotateError(
                f"{path} does not match the manifest (sha256 {actual[:12]}…, expected "
                f"{expected['sha256'][:12]}…); do not use this copy."
            )
    return manifest


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
