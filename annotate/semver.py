"""Semantic versions (``MAJOR.MINOR.PATCH``), the one way a version string is read.

Dataset versions and taxonomy versions are both semantic; this module sits outside both
(:mod:`annotate.taxonomy` is pure and must not import the registry, which imports it).

>>> SemVer.parse("1.2.0") < SemVer.parse("1.10.0")
True
>>> str(SemVer.parse("1.2.3").bump(Bump.MINOR))
'1.3.0'
>>> SemVer.parse("2.0.0").bump_from(SemVer.parse("1.4.1"))
<Bump.MAJOR: 'major'>
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from annotate.errors import InputError

#: ``MAJOR.MINOR.PATCH`` without leading zeros (no pre-release or build suffix).
PATTERN = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


class Bump(StrEnum):
    """Which part of a version went up (``DOWNGRADE``: the new one is lower), in order of size."""

    DOWNGRADE = "downgrade"
    NONE = "none"
    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"

    @property
    def rank(self) -> int:
        """-1 for a downgrade, then 0 (none) to 3 (major): compare bumps by this."""
        return list(Bump).index(self) - 1


class VersionError(InputError, ValueError):
    """A string that is not a semantic version (a ``ValueError`` too, so that pydantic
    validators report it as a validation error)."""


@dataclass(frozen=True, order=True)
class SemVer:
    """A semantic version; ordered by major, then minor, then patch."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: object, what: str = "Version") -> SemVer:
        """``text`` as a version; :class:`VersionError` (``what`` names it) otherwise.

        >>> SemVer.parse("1.0")
        Traceback (most recent call last):
        ...
        annotate.semver.VersionError: Version '1.0' is not a semantic version like 1.0.0.
        """
        found = PATTERN.fullmatch(text) if isinstance(text, str) else None
        if found is None:
            raise VersionError(f"{what} {text!r} is not a semantic version like 1.0.0.")
        return cls(*(int(part) for part in found.groups()))

    @staticmethod
    def is_valid(text: object) -> bool:
        return isinstance(text, str) and PATTERN.fullmatch(text) is not None

    def bump(self, part: Bump | str) -> SemVer:
        """The next version with ``part`` (major, minor or patch) bumped, lower parts reset."""
        part = Bump(part)
        if part is Bump.MAJOR:
            return SemVer(self.major + 1, 0, 0)
        if part is Bump.MINOR:
            return SemVer(self.major, self.minor + 1, 0)
        if part is Bump.PATCH:
            return SemVer(self.major, self.minor, self.patch + 1)
        raise ValueError(f"Cannot bump the {part} part of a version.")

    def bump_from(self, old: SemVer) -> Bump:
        """How this version moved on from ``old``: the highest part that went up."""
        if self < old:
            return Bump.DOWNGRADE
        if self.major > old.major:
            return Bump.MAJOR
        if self.minor > old.minor:
            return Bump.MINOR
        if self.patch > old.patch:
            return Bump.PATCH
        return Bump.NONE

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"
