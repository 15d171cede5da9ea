"""What changed between two versions: one diff of their ``labels_by_post`` maps, which the
changelog of a new version counts and ``datasets diff`` lists.

A ``labels_by_post`` map goes from post id to ``[labels, severity]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotate.semver import Bump, SemVer


@dataclass(frozen=True)
class Relabelled:
    """A post in both versions whose labels or severity changed."""

    post_id: str
    old: Any  # [labels, severity]
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"post_id": self.post_id, "old": self.old, "new": self.new}


@dataclass
class LabelChanges:
    """Posts added, removed and relabelled (each sorted by post id), and how many more
    (or fewer) posts carry each label; labels whose count did not change are left out."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    relabelled: list[Relabelled] = field(default_factory=list)
    label_count_changes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "relabelled": [item.as_dict() for item in self.relabelled],
            "label_count_changes": self.label_count_changes,
        }


def diff_labels(before: Mapping[str, Any], after: Mapping[str, Any]) -> LabelChanges:
    """The changes from one ``labels_by_post`` map to another.

    >>> changes = diff_labels(
    ...     {"a": [["rumour"], "high"], "b": [["legit"], None]},
    ...     {"a": [["legit"], None], "c": [["extortion"], "low"]},
    ... )
    >>> changes.added, changes.removed, [item.post_id for item in changes.relabelled]
    (['c'], ['b'], ['a'])
    >>> changes.label_count_changes
    {'extortion': 1, 'rumour': -1}
    """
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    relabelled = [
        Relabelled(post_id, before[post_id], after[post_id])
        for post_id in sorted(p for p in after.keys() & before.keys() if after[p] != before[p])
    ]
    # Only the posts that changed move a label's count.
    counts: Counter[str] = Counter()
    for post_id in added:
        counts.update(after[post_id][0])
    for post_id in removed:
        counts.subtract(before[post_id][0])
    for item in relabelled:
        counts.update(item.new[0])
        counts.subtract(item.old[0])
    return LabelChanges(added, removed, relabelled, {k: v for k, v in sorted(counts.items()) if v})


def changelog(
    previous: dict[str, Any] | None,
    labels_by_post: Mapping[str, Any],
    taxonomy: Any,
    broken: Sequence[Any] = (),
) -> dict[str, Any]:
    """What changed since ``previous`` (a manifest; ``None`` for the first version), and the
    bump that suggests: major for an incompatible taxonomy change (its major version went
    up), minor when posts were added or removed, patch otherwise. ``broken`` are the broken
    versions after ``previous``, named as skipped."""
    skipped = {"broken_skipped": [entry.version for entry in broken]} if broken else {}
    if previous is None:
        return {
            "previous": None,
            "suggested_bump": Bump.MAJOR.value,
            "reason": "first readable version" if broken else "first version",
            "added": len(labels_by_post),
            "removed": 0,
            "relabelled": 0,
            **skipped,
        }
    changes = diff_labels(previous["labels_by_post"], labels_by_post)
    added, removed, relabelled = changes.added, changes.removed, changes.relabelled
    old_taxonomy = previous["provenance"]["taxonomy"]
    if (
        old_taxonomy["sha256"] != taxonomy.content_hash
        and SemVer.parse(taxonomy.version).major > SemVer.parse(old_taxonomy["version"]).major
    ):
        bump, reason = Bump.MAJOR, "the taxonomy changed incompatibly"
    elif added or removed:
        bump, reason = Bump.MINOR, f"{len(added)} items added, {len(removed)} removed"
    elif relabelled:
        bump, reason = Bump.PATCH, f"{len(relabelled)} items relabelled"
    else:
        bump, reason = Bump.PATCH, "no change in items or labels"
    return {
        "previous": previous["version"],
        "suggested_bump": bump.value,
        "reason": reason,
        "added": len(added),
        "removed": len(removed),
        "relabelled": len(relabelled),
        **skipped,
    }
