"""Why a person should decide a post: a typed reason (kind + detail), not a sentence to split.

>>> reason = Reason(ReasonKind.SEVERITY_SPREAD, "severity from low to high")
>>> reason.as_dict()
{'kind': 'severity spread', 'detail': 'severity from low to high'}
>>> Reason.from_stored(reason.as_dict()) == reason
True
>>> count_posts_by_kind([[reason], [reason, Reason(ReasonKind.NEEDS_EXPERT, "needs an expert")]])
{'needs expert': 1, 'severity spread': 2}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ReasonKind(StrEnum):
    """The kinds of reasons, in the words the adjudication table prints."""

    UNCERTAIN_LABEL = "uncertain label"  # a label's posterior between 1-P and P (ties too)
    SEVERITY_SPREAD = "severity spread"  # annotators' severities far apart
    NEEDS_EXPERT = "needs expert"  # an annotator asked for one
    MISSING_SEVERITY = "missing severity"  # a violation selected without an agreed severity
    NO_LABEL = "no label"  # no label reached the threshold
    SUSPECTED_ERROR = "suspected label error"  # the review queue's model disputes the label
    OTHER = "other"  # a reason stored as plain text by an older version


@dataclass(frozen=True)
class Reason:
    """One reason: its ``kind`` (for counting) and a ``detail`` sentence (for the expert)."""

    kind: ReasonKind
    detail: str

    def __str__(self) -> str:
        return self.detail

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "detail": self.detail}

    @classmethod
    def from_stored(cls, value: Any) -> Reason:
        """A reason as stored in the database (a dict; plain text from older versions)."""
        if isinstance(value, dict):
            return cls(ReasonKind(value["kind"]), str(value["detail"]))
        return cls(ReasonKind.OTHER, str(value))


def count_posts_by_kind(reasons_per_post: Iterable[Iterable[Reason]]) -> dict[str, int]:
    """How many posts have at least one reason of each kind, by kind name."""
    counts: dict[str, int] = {}
    for reasons in reasons_per_post:
        for kind in {reason.kind for reason in reasons}:
            counts[kind.value] = counts.get(kind.value, 0) + 1
    return dict(sorted(counts.items()))
