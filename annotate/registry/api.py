"""The registry as a notebook (and the ``datasets`` commands) see it: one :class:`Registry`
with a method per question, each returning a typed result with ``as_dict()``.

>>> from annotate.config import load_settings
>>> registry = Registry(load_settings())                      # doctest: +SKIP
>>> [row.version for row in registry.list().versions]         # doctest: +SKIP
['1.0.0', '1.1.0']
>>> registry.diff("finmis@1.0.0", "finmis@1.1.0").changes.added[:2]  # doctest: +SKIP
['demo:000123', 'demo:000456']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from annotate.config import Settings
from annotate.errors import InputError
from annotate.registry.changes import LabelChanges, diff_labels
from annotate.registry.hub import pull_from_hub
from annotate.registry.local import (
    dataset_names,
    pull_destination,
    pull_version,
    resolve,
    survey,
)
from annotate.registry.manifest import PER_POST, SPLITS, verify
from annotate.semver import SemVer
from annotate.store import Store


@dataclass(frozen=True)
class VersionRef:
    """``NAME`` or ``NAME@VERSION`` as a user writes it.

    >>> VersionRef.parse("finmis@1.2.0")
    VersionRef(name='finmis', version='1.2.0')
    >>> VersionRef.parse("finmis").version is None
    True
    """

    name: str
    version: str | None = None

    @classmethod
    def parse(cls, ref: str, need_version: bool = False) -> VersionRef:
        name, _, version = ref.partition("@")
        if need_version and not version:
            raise InputError(f"{ref!r} needs a version: NAME@VERSION.")
        if version:
            SemVer.parse(version, f"In {ref!r}, the version")
        return cls(name, version or None)


class VersionStatus(StrEnum):
    OK = "ok"
    BROKEN = "broken"  # see the row's problem


@dataclass(frozen=True)
class VersionRow:
    """One version folder of the registry as ``datasets list`` shows it; ``rows`` per split
    are None for a broken version."""

    name: str
    version: str
    path: Path
    status: VersionStatus
    problem: str | None = None
    rows: dict[str, int | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "path": str(self.path),
            "status": self.status.value,
            "problem": self.problem,
            **{split: self.rows.get(split) for split in SPLITS},
        }


@dataclass
class Listing:
    """Every version of every dataset, oldest first per dataset, and what tidying the
    registry did on the way (staging folders removed, versions adopted into the store)."""

    versions: list[VersionRow] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"versions": [row.as_dict() for row in self.versions], "notices": self.notices}


@dataclass(frozen=True)
class VersionDetails:
    """A version whose every file was verified, and its manifest without the per-post maps
    (rows per split, provenance, changelog, files)."""

    name: str
    version: str
    path: Path
    manifest: dict[str, Any]
    newest: bool = False  # chosen as the newest usable version: the reference named none

    def as_dict(self) -> dict[str, Any]:
        return {**self.manifest, "path": str(self.path), "newest": self.newest}


@dataclass(frozen=True)
class VersionDiff:
    """The posts added, removed and relabelled from ``old`` to ``new`` (``NAME@VERSION``)."""

    old: str
    new: str
    changes: LabelChanges

    def as_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, **self.changes.as_dict()}


@dataclass(frozen=True)
class PulledVersion:
    """A verified copy of a version at ``path``, from the registry or (``repo``) the Hub."""

    name: str
    version: str
    path: Path
    repo: str | None = None
    newest: bool = False  # chosen as the newest usable version: the reference named none

    def as_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "version": self.version, "path": str(self.path)}
        data["newest"] = self.newest
        return {**data, "repo": self.repo} if self.repo else data


class Registry:
    """The local registry of ``settings`` (``exports/registry`` unless set otherwise).

    Given the workspace's ``store``, :meth:`list` also makes the store agree with the
    folders (see :mod:`annotate.registry.local`); without one, nothing is recorded.
    """

    def __init__(self, settings: Settings, store: Store | None = None):
        self.settings = settings
        self.store = store

    def list(self) -> Listing:
        """Every version, a broken one with its folder and what is wrong with it; removes the
        staging folders of interrupted publishes and (with a store) records a complete
        version whose publish stopped before recording it."""
        listing = Listing()
        for name in dataset_names(self.settings):
            found = survey(self.settings, name, self.store)
            listing.notices += found.notices
            for entry in found.entries:
                rows = entry.manifest["rows"] if entry.ok else {}
                listing.versions.append(
                    VersionRow(
                        name=name,
                        version=entry.version,
                        path=entry.folder,
                        status=VersionStatus.OK if entry.ok else VersionStatus.BROKEN,
                        problem=None if entry.ok else entry.problem.message,
                        rows={split: rows.get(split) for split in SPLITS},
                    )
                )
        return listing

    def show(self, ref: str) -> VersionDetails:
        """``NAME@VERSION`` (or the newest usable version of ``NAME``), checksums verified."""
        name, version, folder = self._resolve(ref)
        manifest = verify(folder)
        kept = {key: value for key, value in manifest.items() if key not in PER_POST}
        return VersionDetails(
            name, version, folder, kept, newest=VersionRef.parse(ref).version is None
        )

    def diff(self, old_ref: str, new_ref: str) -> VersionDiff:
        """Posts added, removed and relabelled, and label count changes, from one version to
        another (both verified)."""
        old_name, old_version, old_folder = self._resolve(old_ref)
        new_name, new_version, new_folder = self._resolve(new_ref)
        before = verify(old_folder)["labels_by_post"]
        after = verify(new_folder)["labels_by_post"]
        return VersionDiff(
            f"{old_name}@{old_version}", f"{new_name}@{new_version}", diff_labels(before, after)
        )

    def pull(self, ref: str, to: Path | str = ".", from_hub: str | None = None) -> PulledVersion:
        """Copy version ``NAME@VERSION`` (``NAME``: its newest usable version) to ``to`` (or
        ``to/NAME-VERSION`` when ``to`` is a folder that is not empty), verified before and
        after; with ``from_hub``, download tag ``vVERSION`` of that Hub repo instead (the
        version must then be named)."""
        wanted = VersionRef.parse(ref, need_version=from_hub is not None)
        if from_hub:
            name, version = wanted.name, str(wanted.version)
            target = pull_destination(Path(to), name, version)
            pull_from_hub(self.settings, from_hub, version, target)
            return PulledVersion(name, version, target, repo=from_hub)
        name, version, folder = self._resolve(ref)
        target = pull_destination(Path(to), name, version)
        pull_version(folder, target)
        return PulledVersion(name, version, target, newest=wanted.version is None)

    def _resolve(self, ref: str) -> tuple[str, str, Path]:
        wanted = VersionRef.parse(ref)
        version, folder = resolve(self.settings, wanted.name, wanted.version)
        return wanted.name, version, folder
