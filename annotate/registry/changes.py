"""What changed between two versions: one diff of their ``labels_by_post`` maps, which the
changelog of a new version counts and ``datasets diff`` lists.

A ``labels_by_post`` map goes from post id to ``[labels, severity]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

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


def relabel_transitions(changes: LabelChanges) -> list[dict[str, Any]]:
    """How the relabelled posts moved, grouped by ``[labels, severity]`` before and after,
    most common first: what a card can show without listing post ids.

    >>> changes = diff_labels({"a": [["rumour"], "high"], "b": [["rumour"], "high"]},
    ...                       {"a": [["legit"], None], "b": [["legit"], None]})
    >>> relabel_transitions(changes)
    [{'old': [['rumour'], 'high'], 'new': [['legit'], None], 'posts': 2}]
    """
    counts = Counter(
        (orjson.dumps(item.old), orjson.dumps(item.new)) for item in changes.relabelled
    )
    return [
        {"old": orjson.loads(old), "new": orjson.loads(new), "posts": posts}
        for (old, new), posts in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    ]


def changelog(
    previous: dict[str, Any] | None,
    labels_by_post: Mapping[str, Any],
    taxonomy: Any,
    broken: Sequence[Any] = (),
    *,
    previous_taxonomy: Any = None,
    left_out: Sequence[str] = (),
) -> dict[str, Any]:
    """What changed since ``previous`` (a manifest; ``None`` for the first version), and the
    bump that suggests, the largest of:

    - the taxonomy's change, from what changed (:func:`annotate.taxonomy.diff_taxonomies`
      against ``previous_taxonomy``), not from the version it declares: major when
      annotations made under the old one may not fit the new one; without the old
      taxonomy (not in the store, not in the manifest), from the declared versions;
    - minor when posts were added or removed, or annotated posts were newly ``left_out``
      (no label reached the threshold, so no aggregate: they are in no split);
    - patch otherwise.

    ``broken`` are the broken versions after ``previous``, named as skipped."""
    skipped = {"broken_skipped": [entry.version for entry in broken]} if broken else {}
    left_out_note = {"left_out": len(left_out)} if left_out else {}
    if previous is None:
        return {
            "previous": None,
            "suggested_bump": Bump.MAJOR.value,
            "reason": "first readable version" if broken else "first version",
            "added": len(labels_by_post),
            "removed": 0,
            "relabelled": 0,
            **left_out_note,
            **skipped,
        }
    changes = diff_labels(previous["labels_by_post"], labels_by_post)
    added, removed, relabelled = changes.added, changes.removed, changes.relabelled
    newly_left_out = sorted(
        set(left_out) - set(previous.get("left_out", {}).get("no_aggregate", ()))
    )
    reasons: list[tuple[Bump, str]] = []
    taxonomy_change = _taxonomy_change(previous, taxonomy, previous_taxonomy)
    if taxonomy_change:
        reasons.append((Bump(taxonomy_change["required_bump"]), taxonomy_change["reason"]))
    if added or removed:
        reasons.append((Bump.MINOR, f"{len(added)} items added, {len(removed)} removed"))
    if newly_left_out:
        reasons.append(
            (Bump.MINOR, f"{len(newly_left_out)} annotated posts left out with no aggregate")
        )
    if relabelled:
        reasons.append((Bump.PATCH, f"{len(relabelled)} items relabelled"))
    if not reasons:
        reasons.append((Bump.PATCH, "no change in items or labels"))
    bump = max((bump for bump, _ in reasons), key=lambda bump: bump.rank)
    return {
        "previous": previous["version"],
        "suggested_bump": bump.value,
        "reason": "; ".join(reason for _, reason in reasons),
        "added": len(added),
        "removed": len(removed),
        "relabelled": len(relabelled),
        **left_out_note,
        "newly_left_out": len(newly_left_out),
        "label_count_changes": changes.label_count_changes,
        "relabelled_by_change": relabel_transitions(changes),
        **({"taxonomy_change": taxonomy_change} if taxonomy_change else {}),
        **skipped,
    }


def _taxonomy_change(
    previous: dict[str, Any], taxonomy: Any, previous_taxonomy: Any
) -> dict[str, Any] | None:
    """The bump the taxonomy's change needs since the ``previous`` manifest, and why; None
    when it did not change."""
    old = previous["provenance"]["taxonomy"]
    if old["sha256"] == taxonomy.content_hash:
        return None
    if previous_taxonomy is None:  # only the declared versions to go by
        declared = SemVer.parse(taxonomy.version).bump_from(SemVer.parse(old["version"]))
        bump = declared if declared.rank > Bump.PATCH.rank else Bump.PATCH
        return {
            "required_bump": bump.value,
            "reason": f"the taxonomy changed ({old['version']} → {taxonomy.version}; the old "
            "taxonomy is not at hand, so its declared version decides)",
            "breaking_changes": [],
            "compared": False,
        }
    from annotate.taxonomy import diff_taxonomies

    difference = diff_taxonomies(previous_taxonomy, taxonomy)
    required = Bump(difference.required_bump) if difference.required_bump != "none" else Bump.PATCH
    if difference.breaking:
        reason = "the taxonomy changed incompatibly: " + "; ".join(difference.breaking_changes)
    else:
        reason = f"the taxonomy changed compatibly ({required.value})"
    if not difference.version_ok:
        reason += (
            f" (it declares {old['version']} → {taxonomy.version}, a {difference.version_bump} "
            f"bump, where the change needs {difference.required_bump})"
        )
    return {
        "required_bump": required.value,
        "reason": reason,
        "breaking_changes": difference.breaking_changes,
        "compared": True,
    }
