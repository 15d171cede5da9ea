"""The lookups several modules make in the store, spelled once next to the tables they read.

Usage::

    with store.session() as session:
        project = get_project(session, "round-1")   # or an AnnotateError naming the known ones
        project, taxonomy = project_and_taxonomy(session, "round-1")
        rows = session.exec(
            live_annotations(project.id, Task.post_pk, Annotator.pseudonym, Annotation.labels)
        ).all()                                     # oldest first: the latest one comes last
        texts = session.exec(tasks_with_posts(project.id, Post.id, Post.text)).all()

The ``select`` builders return queries a caller may narrow further (``.where(...)``) before
running them; they never open a session themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlmodel import Session, col, select

from annotate.errors import AnnotateError
from annotate.store.models import Annotation, Annotator, GoldItem, Post, Project, Task, Taxonomy
from annotate.taxonomy import Taxonomy as TaxonomySpec

__all__ = [
    "adjudication_project",
    "find_taxonomy",
    "get_project",
    "live_annotations",
    "project_and_taxonomy",
    "project_gold",
    "record_taxonomy",
    "stored_taxonomy",
    "tasks_with_posts",
]


# -- projects and their taxonomy ------------------------------------------------------------------


def get_project(session: Session, name: str) -> Project:
    """The project called ``name``; an :class:`AnnotateError` naming the known ones if none."""
    project = session.exec(select(Project).where(Project.name == name)).first()
    if project is None:
        known = session.exec(select(Project.name).order_by(Project.name)).all()
        hint = f"Known projects: {', '.join(known)}." if known else "Create one first."
        raise AnnotateError(f"There is no project {name!r} in the store.", hint=hint)
    return project


def project_and_taxonomy(session: Session, name: str) -> tuple[Project, TaxonomySpec]:
    """The project called ``name`` and the taxonomy it was made under (or last synced to)."""
    project = get_project(session, name)
    row = session.get(Taxonomy, project.taxonomy_id) if project.taxonomy_id else None
    if row is None:
        raise AnnotateError(
            f"Project {name!r} has no taxonomy in the store, so its fields are unknown.",
            hint=f"Record it with 'annotate project sync {name}'.",
        )
    return project, stored_taxonomy(row)


def adjudication_project(session: Session, project_id: int) -> Project | None:
    """The adjudication project made for the project ``project_id``, if there is one yet."""
    return session.exec(
        select(Project).where(
            Project.parent_project_id == project_id, Project.kind == "adjudication"
        )
    ).first()


def find_taxonomy(
    session: Session, name: str | None, version: str, content_hash: str
) -> Taxonomy | None:
    """The store's row for the taxonomy of this name, version and content hash, if any."""
    return session.exec(
        select(Taxonomy).where(
            Taxonomy.name == name,
            Taxonomy.version == version,
            Taxonomy.content_hash == content_hash,
        )
    ).first()


def record_taxonomy(session: Session, taxonomy: TaxonomySpec) -> Taxonomy:
    """The store's row for this exact taxonomy (name, version, content hash), made if new."""
    row = find_taxonomy(session, taxonomy.name, taxonomy.version, taxonomy.content_hash)
    if row is None:
        row = Taxonomy(
            name=taxonomy.name,
            version=taxonomy.version,
            content_hash=taxonomy.content_hash,
            definition=taxonomy.model_dump(mode="json"),
        )
        session.add(row)
        session.flush()
    return row


def stored_taxonomy(row: Taxonomy) -> TaxonomySpec:
    """The taxonomy a stored row holds."""
    return TaxonomySpec.model_validate(row.definition)


# -- what a project holds -------------------------------------------------------------------------


def live_annotations(
    project_id: int, *columns: Any, skipped: bool = False, oldest_first: bool = True
) -> Select:
    """``select(*columns)`` over the project's annotations that are not deleted, joined with
    their task and annotator; skipped (cancelled) ones only with ``skipped``.

    ``oldest_first`` orders them by Label Studio's update time (none first) and then by id, so
    that of several annotations by one annotator on one task the latest comes last; without it
    the query is unordered (for grouping).
    """
    query = (
        select(*columns)
        .select_from(Annotation)
        .join(Task, col(Task.id) == Annotation.task_id)
        .join(Annotator, col(Annotator.id) == Annotation.annotator_id)
        .where(Task.project_id == project_id, col(Annotation.deleted_at).is_(None))
    )
    if not skipped:
        query = query.where(col(Annotation.was_cancelled).is_(False))
    if oldest_first:
        query = query.order_by(col(Annotation.ls_updated_at).nulls_first(), col(Annotation.id))
    return query


def tasks_with_posts(project_id: int, *columns: Any) -> Select:
    """``select(*columns)`` over the project's tasks joined with their posts (deleted tasks
    included: narrow with ``.where(...)``)."""
    return (
        select(*columns)
        .select_from(Task)
        .join(Post, col(Post.id) == Task.post_pk)
        .where(Task.project_id == project_id)
    )


def project_gold(project_id: int, *columns: Any) -> Select:
    """``select(*columns)`` over the gold answers of the project's posts, joined with their
    task (one row per post: a post is one task per project)."""
    return (
        select(*columns)
        .select_from(GoldItem)
        .join(Task, col(Task.post_pk) == GoldItem.post_pk)
        .where(Task.project_id == project_id)
    )
