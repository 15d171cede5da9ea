"""Label Studio projects made from the taxonomy, and their records in the store.

A project is created with the rendered labelling config, the guidelines as instructions and
the overlap settings agreement needs; the store keeps its Label Studio id and the exact
taxonomy (version and content hash) it was made under.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import select

from annotate.errors import AnnotateError, InputError
from annotate.labelstudio import TITLE_LENGTH, LabelStudioConnection
from annotate.store import Project, Store, Taxonomy
from annotate.store.models import utcnow
from annotate.store.queries import (
    get_project,
    project_and_taxonomy,
    record_taxonomy,
)
from annotate.taxonomy import (
    Taxonomy as TaxonomySpec,
)
from annotate.taxonomy import (
    diff_taxonomies,
    guidelines_html,
    load_guidelines,
    load_taxonomy,
    render_label_config,
    taxonomy_ref,
)


@dataclass
class ProjectInfo:
    """A project as the store and (when asked) Label Studio see it."""

    name: str
    ls_project_id: int | None
    ls_url: str | None
    kind: str
    taxonomy: str | None
    annotators_per_task: int | None
    overlap: float | None
    created_at: str
    server: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SyncReport:
    name: str
    changed: bool
    old: str
    new: str
    diff: dict[str, Any]
    annotations: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def project_settings(
    taxonomy: TaxonomySpec, guidelines: str | None, annotators_per_task: int, overlap: float
) -> dict[str, Any]:
    """The Label Studio project fields annotate manages."""
    fields: dict[str, Any] = {
        "label_config": render_label_config(taxonomy),
        "description": f"Taxonomy {taxonomy.ref} (managed by annotate)",
        "maximum_annotations": annotators_per_task,
        # Label Studio gives `maximum_annotations` annotators to this share of the tasks,
        # one annotator to the rest, and serves the overlapping tasks first.
        "overlap_cohort_percentage": round(overlap * 100),
        "show_overlap_first": overlap < 1,
        "show_skip_button": True,
        "show_instruction": guidelines is not None,
    }
    if guidelines is not None:
        fields["expert_instruction"] = guidelines_html(guidelines)
    return fields


def create_project(
    store: Store,
    connection: LabelStudioConnection,
    name: str,
    *,
    taxonomy_path: Path | None = None,
    annotators_per_task: int = 3,
    overlap: float = 0.2,
) -> ProjectInfo:
    """Create the Label Studio project ``name`` from the taxonomy and record it in the store."""
    low, high = TITLE_LENGTH
    if not low <= len(name) <= high:
        raise InputError(f"Project name {name!r} must be {low} to {high} characters long.")
    if annotators_per_task < 1:
        raise InputError("--annotators-per-task must be at least 1.")
    if not 0 <= overlap <= 1:
        raise InputError(f"--overlap must be a fraction between 0 and 1, not {overlap}.")
    taxonomy = load_taxonomy(taxonomy_path)
    guidelines = load_guidelines(taxonomy_path)
    with store.session() as session:
        existing = session.exec(select(Project).where(Project.name == name)).first()
        if existing is not None:
            raise AnnotateError(
                f"Project {name!r} already exists (Label Studio project "
                f"{existing.ls_project_id} at {existing.ls_url}).",
                hint="Pick another name, or use 'annotate project sync' to update it.",
            )
    wanted = project_settings(taxonomy, guidelines, annotators_per_task, overlap)
    project, row, server = make_project(
        store,
        connection,
        Project(
            name=name,
            kind="annotation",
            annotators_per_task=annotators_per_task,
            overlap=overlap,
        ),
        taxonomy,
        wanted,
    )
    info = _info(project, row)
    info.server = _server_summary(server)
    return info


def make_project(
    store: Store,
    connection: LabelStudioConnection,
    project: Project,
    taxonomy: TaxonomySpec,
    wanted: dict[str, Any],
) -> tuple[Project, Taxonomy, dict[str, Any]]:
    """Create ``project`` in Label Studio with ``wanted`` settings, check what Label Studio
    stored, and record it (with its taxonomy) in the store; if anything fails after Label
    Studio made the project, it is deleted again, so nothing is left half-made."""
    server = connection.create_project(title=project.name, **wanted)
    try:
        _check_settings(server, wanted)
        with store.transaction() as session:
            row = record_taxonomy(session, taxonomy)
            project.ls_url = connection.url
            project.ls_project_id = server["id"]
            project.taxonomy_id = row.id
            session.add(project)
            session.flush()
            session.expunge(project)
            session.expunge(row)
    except BaseException:
        connection.delete_project(server["id"])
        raise
    return project, row, server


def _check_settings(server: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Read back what Label Studio stored and refuse to go on if it differs."""
    for key in ("label_config", "maximum_annotations", "overlap_cohort_percentage"):
        if server.get(key) != wanted[key]:
            shown = "" if key == "label_config" else f" ({server.get(key)!r}, not {wanted[key]!r})"
            raise AnnotateError(f"Label Studio stored another {key} than annotate sent{shown}.")


def list_projects(store: Store) -> list[ProjectInfo]:
    with store.session() as session:
        rows = session.exec(select(Project).order_by(Project.id)).all()
        return [_info(row, session.get(Taxonomy, row.taxonomy_id)) for row in rows]


def show_project(store: Store, connection: LabelStudioConnection | None, name: str) -> ProjectInfo:
    """The project's record, with Label Studio's live view of it when connected."""
    with store.session() as session:
        project = get_project(session, name)
        info = _info(project, session.get(Taxonomy, project.taxonomy_id))
    if connection is not None and project.ls_project_id is not None:
        info.server = _server_summary(connection.get_project(project.ls_project_id))
    return info


def sync_project(
    store: Store,
    connection: LabelStudioConnection,
    name: str,
    *,
    taxonomy_path: Path | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> SyncReport:
    """Bring a project's labelling config up to the current taxonomy.

    A compatible change is applied. A breaking one (see :func:`diff_taxonomies`) on a project
    that already has annotations is refused unless ``force``, with what would break; so is a
    changed taxonomy whose version number was not bumped enough.
    """
    new = load_taxonomy(taxonomy_path)
    guidelines = load_guidelines(taxonomy_path)
    with store.session() as session:
        project, old = project_and_taxonomy(session, name)
        ls_project_id = project.ls_project_id
        overlap, per_task = project.overlap or 0.0, project.annotators_per_task or 1
    server = connection.get_project(ls_project_id)
    annotations = int(server.get("total_annotations_number") or 0)
    difference = diff_taxonomies(old, new)
    wanted = project_settings(new, guidelines, per_task, overlap)
    report = SyncReport(
        name=name,
        changed=server.get("label_config") != wanted["label_config"]
        or old.content_hash != new.content_hash,
        old=old.ref,
        new=new.ref,
        diff=difference.as_dict(),
        annotations=annotations,
    )
    if not force:
        if difference.breaking and annotations:
            raise AnnotateError(
                f"Project {name!r} has {annotations} annotations and the taxonomy change is "
                f"breaking: {'; '.join(difference.breaking_changes)}.",
                hint="Those annotations would no longer map to the taxonomy. Publish a new "
                "major version into a new project, or rerun with --force to apply it anyway.",
            )
        if not difference.version_ok:
            raise AnnotateError(
                f"The taxonomy changed ({difference.required_bump} change) but its version went "
                f"from {old.version} to {new.version} ({difference.version_bump}).",
                hint=f"Bump the version in the taxonomy file ({difference.required_bump}).",
            )
    if dry_run or not report.changed:
        return report
    connection.update_project(ls_project_id, **wanted)
    with store.transaction() as session:
        row = record_taxonomy(session, new)
        project = get_project(session, name)
        project.taxonomy_id = row.id
        session.add(project)
    return report


def _info(project: Project, taxonomy: Taxonomy | None) -> ProjectInfo:
    return ProjectInfo(
        name=project.name,
        ls_project_id=project.ls_project_id,
        ls_url=project.ls_url,
        kind=project.kind,
        taxonomy=(
            taxonomy_ref(taxonomy.name, taxonomy.version, taxonomy.content_hash)
            if taxonomy is not None
            else None
        ),
        annotators_per_task=project.annotators_per_task,
        overlap=project.overlap,
        created_at=(project.created_at or utcnow()).isoformat(),
    )


def _server_summary(server: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "title",
        "task_number",
        "num_tasks_with_annotations",
        "total_annotations_number",
        "skipped_annotations_number",
        "maximum_annotations",
        "overlap_cohort_percentage",
        "show_overlap_first",
        "description",
    )
    return {key: server.get(key) for key in keys}
