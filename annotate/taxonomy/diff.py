"""What changed between two taxonomies, and which semantic version bump that needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from annotate.semver import Bump, SemVer
from annotate.taxonomy.model import Field, Taxonomy


@dataclass
class TaxonomyDiff:
    """What changed between two taxonomies and which version bump that needs."""

    old: str
    new: str
    added_fields: list[str] = field(default_factory=list)
    removed_fields: list[str] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)
    added_labels: dict[str, list[str]] = field(default_factory=dict)
    removed_labels: dict[str, list[str]] = field(default_factory=dict)
    renamed_labels: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    wording: list[str] = field(default_factory=list)
    breaking_changes: list[str] = field(default_factory=list)
    required_bump: str = "none"
    version_bump: str = "none"

    @property
    def breaking(self) -> bool:
        return bool(self.breaking_changes)

    @property
    def version_ok(self) -> bool:
        """The new version number is bumped at least as much as the change needs."""
        return Bump(self.version_bump).rank >= Bump(self.required_bump).rank

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["breaking"] = self.breaking
        data["version_ok"] = self.version_ok
        return data


def diff_taxonomies(old: Taxonomy, new: Taxonomy) -> TaxonomyDiff:
    """Compare two taxonomies: added, removed and renamed labels, and whether it breaks.

    A change is breaking (needs a major version) when annotations made under ``old`` may not
    be valid under ``new``: a field or label is removed or renamed, a field changes kind or
    cardinality, or a rule gets stricter (a field becomes required, a label exclusive). Added
    labels and optional fields need a minor version; wording, examples and hotkeys a patch.
    """
    result = TaxonomyDiff(old=old.ref, new=new.ref)
    result.version_bump = SemVer.parse(new.version).bump_from(SemVer.parse(old.version)).value
    old_fields = {item.name: item for item in old.fields}
    new_fields = {item.name: item for item in new.fields}
    minor = patch = False
    for name in old_fields.keys() - new_fields.keys():
        result.removed_fields.append(name)
        result.breaking_changes.append(f"field {name!r} was removed")
    for name in new_fields.keys() - old_fields.keys():
        result.added_fields.append(name)
        item = new_fields[name]
        if item.required:
            result.breaking_changes.append(f"new field {name!r} is required")
        minor = True
    common = [name for name in new_fields if name in old_fields]
    for name in common:
        label_minor, label_patch = _diff_labels(name, old_fields[name], new_fields[name], result)
        minor, patch = minor or label_minor, patch or label_patch
    for name in common:
        before, after = old_fields[name], new_fields[name]
        if (before.kind, before.multiple) != (after.kind, after.multiple):
            what = f"{before.kind}{' multiple' * before.multiple}"
            now = f"{after.kind}{' multiple' * after.multiple}"
            result.changed_fields.append(name)
            result.breaking_changes.append(f"field {name!r} changed from {what} to {now}")
        if after.required and not before.required:
            result.breaking_changes.append(f"field {name!r} became required")
        rule = _rule_change(before, after, result.renamed_labels)
        if rule == "stricter":
            result.breaking_changes.append(f"field {name!r} has a new required_when rule")
        elif rule == "looser":
            result.wording.append(f"field {name!r}: required_when asks for less")
            minor = True
        if (before.title, before.definition, before.hotkey) != (
            after.title,
            after.definition,
            after.hotkey,
        ):
            result.wording.append(f"field {name!r}: title, definition or hotkey")
            patch = True
    if (old.title, old.description, old.languages) != (new.title, new.description, new.languages):
        result.wording.append("taxonomy title, description or languages")
        patch = True
    if result.breaking_changes:
        result.required_bump = "major"
    elif minor:
        result.required_bump = "minor"
    elif patch or old.content_hash != new.content_hash:
        result.required_bump = "patch"
    return result


def _diff_labels(name: str, before: Field, after: Field, result: TaxonomyDiff) -> tuple[bool, bool]:
    old_labels = {label.id: label for label in before.labels}
    new_labels = {label.id: label for label in after.labels}
    removed = [label for label in before.label_ids if label not in new_labels]
    added = [label for label in after.label_ids if label not in old_labels]
    renamed = []
    for new_id in list(added):
        label = new_labels[new_id]
        match = next((old_id for old_id in removed if old_id in label.previous_ids), None)
        if match is None:
            old_label = None
            for old_id in removed:
                candidate = old_labels[old_id]
                if candidate.zh == label.zh or candidate.en == label.en:
                    old_label = candidate
                    break
            match = old_label.id if old_label is not None else None
        if match is not None:
            renamed.append((match, new_id))
            removed.remove(match)
            added.remove(new_id)
    if removed:
        result.removed_labels[name] = removed
        for label in removed:
            result.breaking_changes.append(f"label {name}.{label} was removed")
    if renamed:
        result.renamed_labels[name] = renamed
        for old_id, new_id in renamed:
            result.breaking_changes.append(f"label {name}.{old_id} was renamed to {new_id}")
    if added:
        result.added_labels[name] = added
    patch = False
    for label_id in after.label_ids:
        if label_id not in old_labels:
            continue
        old_label, new_label = old_labels[label_id], new_labels[label_id]
        if new_label.exclusive and not old_label.exclusive:
            result.breaking_changes.append(f"label {name}.{label_id} became exclusive")
        if old_label.model_dump(exclude={"exclusive"}) != new_label.model_dump(
            exclude={"exclusive"}
        ):
            result.wording.append(f"label {name}.{label_id}")
            patch = True
    return bool(added), patch


def _rule_change(
    before: Field, after: Field, renamed: dict[str, list[tuple[str, str]]]
) -> str | None:
    """How a field's ``required_when`` changed, reading the old rule through the labels that
    were renamed: None (the same), ``stricter`` (new, or asked for in more cases: annotations
    made under the old rule may now lack the field) or ``looser``."""
    old, new = before.required_when, after.required_when
    if new is None:
        return None if old is None else "looser"
    if old is None or old.field != new.field:
        return "stricter"
    renames = dict(renamed.get(old.field, []))
    old_labels = {renames.get(label, label) for label in old.any_of}
    new_labels = set(new.any_of)
    if new_labels == old_labels:
        return None
    return "looser" if new_labels < old_labels else "stricter"
