"""SQLModel tables: the store's schema.

Every change to these classes needs an Alembic migration in ``migrations/versions`` (the test
suite fails when the models and the migrations disagree).

Vocabulary: a *post* is ingested text; a *taxonomy* defines fields and labels; a *project* is a
Label Studio project; a *batch* is one sampling run into a project; a *task* is one post in one
project; an *annotation* is one annotator's answer to a task; an *adjudication* is an expert's
final decision; a *dataset version* is one published, immutable release.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Named constraints let later migrations drop or alter them, which SQLite's batch mode needs.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


class IngestRun(SQLModel, table=True):
    """One run of ``annotate ingest``: what was read, from where, with what outcome."""

    __tablename__ = "ingest_runs"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200)
    files: list[str] | None = _json()
    strict: bool = False
    status: str = Field(default="running", max_length=20)
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    #: Rows whose id was stored (or read earlier in the run) with another text: not stored.
    conflicts: int = 0
    same_text: int = 0
    rejected: int = 0
    started_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = _when()
    #: The process that ran the ingest, and its machine: a run still "running" whose process
    #: is gone was killed, and the next ingest marks it "interrupted".
    pid: int | None = None
    host: str | None = Field(default=None, max_length=255)


class Post(SQLModel, table=True):
    """A social-media post. ``(source, post_id)`` is unique; ``text_hash`` groups identical text.

    Only the two lookups ingest needs are indexed: every extra index slows ingest, and
    sampling reads whole strata anyway.
    """

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("source", "post_id"),
        Index(None, "text_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200)
    post_id: str = Field(max_length=200)
    text: str = Field(sa_type=Text)
    text_hash: str = Field(max_length=32)
    lang: str = Field(max_length=8)
    platform: str | None = Field(default=None, max_length=50)
    account_id: str | None = Field(default=None, max_length=200)
    created_at: datetime | None = _when()
    url: str | None = Field(default=None, sa_type=Text)
    likes: int | None = Field(default=None, sa_type=BigInteger)
    reposts: int | None = Field(default=None, sa_type=BigInteger)
    comments: int | None = Field(default=None, sa_type=BigInteger)
    views: int | None = Field(default=None, sa_type=BigInteger)
    meta: dict[str, Any] | None = _json()
    ingest_run_id: int | None = Field(default=None, foreign_key="ingest_runs.id")
    ingested_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Taxonomy(SQLModel, table=True):
    """A taxonomy version as it was used: name, semantic version, content hash and body."""

    __tablename__ = "taxonomies"
    __table_args__ = (UniqueConstraint("name", "version", "content_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    version: str = Field(max_length=40)
    content_hash: str = Field(max_length=64)
    definition: dict[str, Any] | None = _json()
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Project(SQLModel, table=True):
    """A Label Studio project managed by annotate (for annotation or for adjudication)."""

    __tablename__ = "projects"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    kind: str = Field(default="annotation", max_length=20)
    ls_url: str | None = Field(default=None, sa_type=Text)
    ls_project_id: int | None = None
    taxonomy_id: int | None = Field(default=None, foreign_key="taxonomies.id")
    parent_project_id: int | None = Field(default=None, foreign_key="projects.id")
    annotators_per_task: int | None = None
    overlap: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    last_pull_at: datetime | None = _when()
    #: Label Studio's own time of the newest task change the last successful pull saw.
    pull_watermark: datetime | None = _when()


class Batch(SQLModel, table=True):
    """One sampling run into a project: strategy, parameters and seed, for reproducibility."""

    __tablename__ = "batches"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    strategy: str = Field(max_length=40)
    params: dict[str, Any] | None = _json()
    seed: int | None = None
    size: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    #: How posts were ranked (annotate.sampling.ranking); batches made before version 2 are 1.
    rank_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class Task(SQLModel, table=True):
    """One post in one project; each post is at most one task per project."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("project_id", "post_pk"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    post_pk: int = Field(foreign_key="posts.id", index=True)
    batch_id: int | None = Field(default=None, foreign_key="batches.id", index=True)
    ls_task_id: int | None = Field(default=None, index=True)
    is_gold: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    pushed_at: datetime | None = _when()
    #: When a pull found the task gone from Label Studio: never pushed again, not counted.
    deleted_at: datetime | None = _when()
    #: The model (``model_version``) whose prediction Label Studio shows on the task, the
    #: suggested labels and score (:mod:`annotate.suggestions`), and when it was attached.
    suggested_by: str | None = Field(default=None, max_length=200)
    suggestion: dict[str, Any] | None = _json()
    suggested_at: datetime | None = _when()


class ProjectLock(SQLModel, table=True):
    """Who holds a project's lock (:mod:`annotate.locks`), written by the holder once it has it.

    The lock itself is the database server's or the operating system's; this row only lets a
    waiter say whom it waits for, and may outlive a holder that was killed.
    """

    __tablename__ = "project_locks"

    project_id: int = Field(foreign_key="projects.id", primary_key=True)
    pid: int
    host: str = Field(max_length=255)
    command: str = Field(max_length=100)
    acquired_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Annotator(SQLModel, table=True):
    """A Label Studio user. The email stays in the store; published data uses the pseudonym."""

    __tablename__ = "annotators"

    id: int | None = Field(default=None, primary_key=True)
    ls_user_id: int = Field(unique=True)
    email: str | None = Field(default=None, max_length=320)
    pseudonym: str = Field(max_length=40, unique=True)


class Annotation(SQLModel, table=True):
    """One Label Studio annotation, normalised to labels; one row per Label Studio annotation id."""

    __tablename__ = "annotations"

    id: int | None = Field(default=None, primary_key=True)
    ls_annotation_id: int = Field(unique=True)
    task_id: int = Field(foreign_key="tasks.id", index=True)
    annotator_id: int = Field(foreign_key="annotators.id", index=True)
    result: list[Any] | None = _json()
    labels: dict[str, Any] | None = _json()
    was_cancelled: bool = False
    lead_time: float | None = None
    ls_created_at: datetime | None = _when()
    ls_updated_at: datetime | None = _when()
    deleted_at: datetime | None = _when()
    pulled_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    #: What the mapping repaired or could not take, and the taxonomy rules the labels break.
    problems: list[str] | None = _json()


class GoldItem(SQLModel, table=True):
    """A post with a known answer, mixed into batches to check annotators."""

    __tablename__ = "gold_items"

    id: int | None = Field(default=None, primary_key=True)
    post_pk: int = Field(foreign_key="posts.id", unique=True)
    labels: dict[str, Any] | None = _json()
    origin: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class PullRun(SQLModel, table=True):
    """One successful ``annotate pull`` of a project: when, how, and what changed."""

    __tablename__ = "pull_runs"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    full: bool = False
    started_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = _when()
    watermark: datetime | None = _when()
    tasks: int = 0
    counts: dict[str, Any] | None = _json()


class Adjudication(SQLModel, table=True):
    """An expert's decision on a post; it overrides the aggregate of the annotations."""

    __tablename__ = "adjudications"

    id: int | None = Field(default=None, primary_key=True)
    post_pk: int = Field(foreign_key="posts.id", index=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="tasks.id")
    decided_by: int | None = Field(default=None, foreign_key="annotators.id")
    labels: dict[str, Any] | None = _json()
    overrides: list[int] | None = _json()
    ls_annotation_id: int | None = None
    decided_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class DatasetVersion(SQLModel, table=True):
    """A published dataset version; ``(name, version)`` is unique and never rewritten."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    version: str = Field(max_length=40)
    target: str = Field(default="local", max_length=20)
    location: str | None = Field(default=None, sa_type=Text)
    manifest: dict[str, Any] | None = _json()
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class AggregationRun(SQLModel, table=True):
    """One run of ``annotate aggregate`` over a project: method, what it read, what it found.

    ``inputs`` fingerprints the annotations, adjudications and gold answers it aggregated, so
    a later pull or decision makes the run stale; ``agreement`` is the agreement summary of
    those annotations, for the dataset card.
    """

    __tablename__ = "aggregation_runs"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    method: str = Field(max_length=20)
    taxonomy_id: int | None = Field(default=None, foreign_key="taxonomies.id")
    inputs: dict[str, Any] | None = _json()
    items: int = 0
    agreement: dict[str, Any] | None = _json()
    started_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = _when()


class Aggregate(SQLModel, table=True):
    """The aggregated labels of one post in one project by one method: what a dataset version
    publishes. Rewritten as a whole by each aggregation run of its project and method.

    ``annotations`` holds ``{annotator (pseudonym), labels, severity ("" for none)}`` per
    annotator, ``evidence`` ``{annotator, start, end, label}`` per span, ``label_probs`` the
    posterior of each category label in the taxonomy's order. ``near_group`` is the smallest
    post id of the post's near-duplicate group among the
    project's aggregated posts (:func:`annotate.splits.near_duplicate_groups`).
    """

    __tablename__ = "aggregates"
    __table_args__ = (UniqueConstraint("project_id", "method", "post_pk"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="aggregation_runs.id", index=True)
    project_id: int = Field(foreign_key="projects.id")
    method: str = Field(max_length=20)
    post_pk: int = Field(foreign_key="posts.id", index=True)
    labels: list[str] | None = _json()
    severity: str | None = Field(default=None, max_length=100)
    label_probs: list[float] | None = _json()
    n_annotators: int = 0
    #: Share of the post's annotators whose labels equal the final ones; None with a single
    #: annotator (agreement is not measurable).
    item_agreement: float | None = None
    annotations: list[Any] | None = _json()
    evidence: list[Any] | None = _json()
    reasons: list[str] | None = _json()
    adjudicated: bool = False
    gold: bool = False
    batch_id: int | None = Field(default=None, foreign_key="batches.id")
    near_group: int | None = None


class Corpus(SQLModel, table=True):
    """An external corpus: a Parquet dataset registered by ``annotate corpus add``, not copied.

    ``columns`` is its schema (``[{"name", "type"}]``), ``partition_columns`` its hive
    partition keys and ``partitions`` the values each takes; ``fingerprint`` is SHA-256 of
    every file's path, size and modification time when it was last (re)scanned.
    """

    __tablename__ = "corpora"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    uri: str = Field(sa_type=Text)
    source: str = Field(max_length=200)
    id_field: str = Field(max_length=200)
    text_field: str = Field(max_length=200)
    columns: list[dict[str, str]] | None = _json()
    partition_columns: list[str] | None = _json()
    partitions: dict[str, list[str]] | None = _json()
    files: int = 0
    bytes: int = Field(default=0, sa_type=BigInteger)
    rows: int = Field(default=0, sa_type=BigInteger)
    fingerprint: str = Field(max_length=64)
    registered_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    refreshed_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class CorpusPost(SQLModel, table=True):
    """Where a post sampled from an external corpus came from: corpus, file, partition."""

    __tablename__ = "corpus_posts"

    post_pk: int = Field(foreign_key="posts.id", primary_key=True)
    corpus_id: int = Field(foreign_key="corpora.id", index=True)
    file: str = Field(sa_type=Text)
    partition: dict[str, str] | None = _json()
