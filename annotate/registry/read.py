"""Reading a version out of the store: one pass over its posts keeps what choosing the splits
needs (:class:`Plan`) and spills the rows, as Arrow, to a file in the staging folder, to be
split into Parquet files once the splits are known (:mod:`annotate.registry.write`).

Memory holds a chunk of rows, not the texts of the version. The chunks are read on a thread
(:func:`_prefetched`) while the previous one becomes Arrow (:func:`_chunk`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Integer, LargeBinary, Text, cast, func, literal, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import select

from annotate import __version__
from annotate.aggregation_runs import ensure_aggregated
from annotate.config import WorkspaceFolder
from annotate.errors import AnnotateError
from annotate.registry.card import features
from annotate.store import Aggregate, Batch, Post, Project, PullRun
from annotate.store import Taxonomy as TaxonomyRow
from annotate.store.queries import stored_taxonomy


@dataclass
class Plan:
    """What choosing the splits needs of a version, one entry per post in every list (the
    rows themselves are spilled; see :func:`plan_version`)."""

    taxonomy: Any
    more_projects: bool = False  # rows come from more than one project
    pks: set[int] = field(default_factory=set)  # with more projects: the posts taken
    post_ids: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    near_groups: list[Any] = field(default_factory=list)
    label_sets: list[tuple[str, ...]] = field(default_factory=list)
    severities: list[str | None] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    # Annotated posts that got no aggregate (no label reached the threshold): in no split.
    left_out: list[str] = field(default_factory=list)
    demo: bool = False  # posts of the demo corpus (synthetic, labelled by a simulated team)
    provenance: dict[str, Any] = field(default_factory=dict)
    pseudonyms: dict[str | None, str] = field(default_factory=dict)
    parsed_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schema: Any = None

    def frozen_label_sets(self) -> list[frozenset[str]]:
        """Every post's labels as a frozenset (what choosing the splits takes), one object
        per distinct set: a new set per post would be a million more objects for the garbage
        collector to track."""
        frozen = {labels: frozenset(labels) for labels in set(self.label_sets)}
        return [frozen[labels] for labels in self.label_sets]

    def labels_by_post(self, split_codes: Any) -> dict[str, list]:
        """``post_id → [labels, severity]`` of the posts whose split code is 0 or more (the
        manifest's map), one list per distinct pair, shared by the posts that have it (read
        only: not a million pairs of lists for the garbage collector to track)."""
        pairs = {
            pair: [list(pair[0]), pair[1]]
            for pair in set(zip(self.label_sets, self.severities, strict=True))
        }
        return {
            post_id: pairs[labels, severity]
            for post_id, labels, severity, code in zip(
                self.post_ids, self.label_sets, self.severities, split_codes.tolist(), strict=True
            )
            if code >= 0
        }

    def accounts_of(self, workspace: WorkspaceFolder, account_ids: list[str | None]) -> list[str]:
        """The keyed pseudonyms of poster accounts ("" for none), each computed once."""
        pseudonyms = self.pseudonyms
        for account_id in set(account_ids) - pseudonyms.keys():
            pseudonyms[account_id] = (
                workspace.pseudonymise(account_id, "account") if account_id else ""
            )
        return list(map(pseudonyms.__getitem__, account_ids))


def plan_version(store, workspace, projects, batches, method, min_annotators, on_stale, spill_path):
    """Read every post of the version from the store once: the light columns that choose
    the splits stay in memory (:class:`Plan`), the rows go to an Arrow file at
    ``spill_path`` (in the order of the plan's lists), to be split when the splits are
    known (:func:`annotate.registry.write.write_splits`)."""
    import pyarrow as pa

    from annotate.splits import near_duplicate_groups

    runs = [ensure_aggregated(store, p, method, on_stale=on_stale) for p in projects]
    provenance: dict[str, Any] = {"projects": [], "batches": [], "aggregation": method}
    plan: Plan | None = None
    wanted_batches = set(batches) if batches is not None else None
    with store.session() as session:
        for project_name, run in zip(projects, runs, strict=True):
            taxonomy = stored_taxonomy(session.get(TaxonomyRow, run.taxonomy_id))
            if plan is None:
                plan = Plan(taxonomy=taxonomy, more_projects=len(projects) > 1)
                plan.excluded = {"no_aggregate": 0, "too_few_annotators": 0}
                plan.schema = features(taxonomy).arrow_schema
                spill = pa.ipc.new_file(str(spill_path), plan.schema)
            elif taxonomy.content_hash != plan.taxonomy.content_hash:
                raise AnnotateError(
                    f"Project {project_name!r} uses {taxonomy.ref}, not {plan.taxonomy.ref}; "
                    "one dataset version has one taxonomy."
                )
            project = session.get(Project, run.project_id)
            pull_run = session.exec(
                select(PullRun).where(PullRun.project_id == project.id).order_by(PullRun.id.desc())
            ).first()
            used_batches: set[int] = set()
            query = _rows_query().where(
                Aggregate.project_id == project.id, Aggregate.method == method
            )
            with gc_paused():
                for part in _prefetched(_driver_rows(session.connection(), query)):
                    kept = plan_rows(plan, part, workspace, wanted_batches, min_annotators)
                    if kept is not None:
                        table, batch_ids = kept
                        spill.write_table(table)
                        used_batches.update(batch_ids)
            for batch in session.exec(select(Batch).where(Batch.id.in_(sorted(used_batches)))):
                provenance["batches"].append(
                    {
                        "id": batch.id,
                        "project": project_name,
                        "strategy": batch.strategy,
                        "seed": batch.seed,
                        "size": batch.size,
                        "params": batch.params,
                    }
                )
            plan.demo = plan.demo or _has_demo_posts(session, project.id)
            provenance["projects"].append(
                {
                    "name": project_name,
                    "label_studio_project_id": project.ls_project_id,
                    "last_pull_at": pull_run.finished_at.isoformat() if pull_run else None,
                    "aggregated_at": run.finished_at.isoformat() if run.finished_at else None,
                }
            )
        spill.close()
        if len(projects) > 1 and plan.pks:
            # Stored near-duplicate groups are per project; across projects, group again.
            with pa.memory_map(str(spill_path)) as source:
                texts = pa.ipc.open_file(source).read_all().column("text").to_pylist()
            plan.near_groups = near_duplicate_groups(texts)
    taxonomy = plan.taxonomy
    provenance["taxonomy"] = {
        "name": taxonomy.name,
        "version": taxonomy.version,
        "sha256": taxonomy.content_hash,
    }
    provenance["agreement"] = {
        p: run.agreement or {} for p, run in zip(projects, runs, strict=True)
    }
    provenance["tool"] = f"annotate {__version__}"
    provenance["published_at"] = datetime.now(UTC).isoformat()
    plan.provenance = provenance
    return plan


def plan_rows(plan: Plan, rows, workspace, wanted_batches, min_annotators):
    """Add the posts of one chunk of :func:`_rows_query` to the plan; their rows as an
    Arrow table of the version's schema and their batch ids (None when none is kept)."""
    # zip(*rows) makes an iterator per row, each tracked by the garbage collector: fast with
    # the collector paused (see gc_paused), else they set off collections of the whole heap.
    columns = list(zip(*rows, strict=True))
    parsed, excluded, pks = plan.parsed_labels, plan.excluded, plan.pks
    for text in set(columns[LABELS]) - parsed.keys():  # a few hundred distinct label sets
        parsed[text] = tuple(_json(text) or ())
    label_sets = list(map(parsed.__getitem__, columns[LABELS]))
    every = wanted_batches is None and not pks  # no other batch, no earlier project
    if not (every and min(columns[ANNOTATORS]) >= min_annotators and all(label_sets)):
        wanted = [
            (wanted_batches is None or batch in wanted_batches) and pk not in pks
            for pk, batch in zip(columns[PK], columns[BATCH], strict=True)
        ]  # else another batch, or taken from an earlier project
        enough = [n >= min_annotators for n in columns[ANNOTATORS]]
        keep = [
            want and ok and bool(values)
            for want, ok, values in zip(wanted, enough, label_sets, strict=True)
        ]
        excluded["too_few_annotators"] += sum(
            want and not ok for want, ok in zip(wanted, enough, strict=True)
        )
        no_aggregate = [
            post_id
            for post_id, want, ok, values in zip(
                columns[POST_ID], wanted, enough, label_sets, strict=True
            )
            if want and ok and not values
        ]
        excluded["no_aggregate"] += len(no_aggregate)
        plan.left_out.extend(no_aggregate)
        positions = [position for position, kept in enumerate(keep) if kept]
        columns = [[column[position] for position in positions] for column in columns]
        label_sets = [label_sets[position] for position in positions]
    if not columns[PK]:
        return None
    accounts = plan.accounts_of(workspace, columns[ACCOUNT])
    if plan.more_projects:  # to leave out, in later projects, the posts taken here
        pks.update(columns[PK])
    plan.post_ids.extend(columns[POST_ID])
    plan.accounts.extend(accounts)
    plan.near_groups.extend(columns[NEAR])
    plan.label_sets.extend(label_sets)
    plan.severities.extend(columns[SEVERITY])
    return _chunk(columns, accounts, plan, plan.schema), set(columns[BATCH]) - {None}


def _has_demo_posts(session: Any, project_id: int) -> bool:
    """Whether the project's posts come from the demo corpus: ingested as source ``demo``,
    with the hidden true labels the demo writes (one post is looked at)."""
    from annotate.demo.generator import DEMO_SOURCE, HIDDEN_FIELDS

    meta = session.exec(
        select(Post.meta)
        .join(Aggregate, Aggregate.post_pk == Post.id)
        .where(Aggregate.project_id == project_id, Post.source == DEMO_SOURCE)
        .limit(1)
    ).first()
    return isinstance(meta, dict) and HIDDEN_FIELDS[0] in meta


_YIELD = 20_000
# Positions in a row of _rows_query.
(PK, POST_ID, TEXT, PLATFORM, ACCOUNT, CREATED, LABELS, NESTED) = range(8)
(SEVERITY, ANNOTATORS, AGREEMENT, ADJUDICATED, GOLD, BATCH, NEAR) = range(8, 15)
_WIDTH = 15


def _rows_query() -> Any:
    """Every column a version's rows need, and what choosing the splits needs, per post."""
    return (
        select(
            Aggregate.post_pk,
            _post_id(),
            Utf8(Post.text),
            Post.platform,
            Post.account_id,
            _raw(Post.created_at),
            _json_text("labels"),
            Utf8(_nested_document()),
            Aggregate.severity,
            Aggregate.n_annotators,
            Aggregate.item_agreement,
            _raw(Aggregate.adjudicated, Integer),
            _raw(Aggregate.gold, Integer),
            Aggregate.batch_id,
            Aggregate.near_group,
        )
        .join(Post, Post.id == Aggregate.post_pk)
        .order_by(Aggregate.post_pk)
    )


class Utf8(FunctionElement):
    """A text expression as its UTF-8 bytes, which the driver hands over as ``bytes``: Arrow
    takes those as they are, where a ``str`` is decoded by the driver and encoded again by
    Arrow (for the texts of a million posts, about half a second)."""

    type = LargeBinary()
    inherit_cache = True


@compiles(Utf8)
def _utf8_cast(element: Utf8, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS BLOB)"


@compiles(Utf8, "postgresql")
def _utf8_convert(element: Utf8, compiler: Any, **kw: Any) -> str:
    # Not CAST(... AS bytea), which reads backslashes in the text as escapes.
    return f"convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')"


def _json_text(name: str) -> Any:
    """The aggregate's JSON column ``name`` as text (``[]`` for none)."""
    return func.coalesce(cast(getattr(Aggregate, name), Text), "[]")


def _nested_document() -> Any:
    """The nested columns of a row as one line of JSON, ``{"labels": ..., "label_probs":
    ..., "annotations": ..., "evidence": ...}``, put together by the database: one string
    per row for the driver to hand over instead of four (see :func:`_nested`)."""
    document: Any = literal("{", Text)
    for number, name in enumerate(_NESTED):
        document = document + literal(f'{"," if number else ""}"{name}":', Text)
        document = document + _json_text(name)
    return document + literal("}", Text)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for the block, then as it was (enabled or not),
    however the block ends.

    For the loop that reads the rows: the database driver makes a tuple per row, each
    tracked by the collector until its first collection, and the collections the tuples
    set off (a thousand per million rows, none of which finds garbage) took a fifth of the
    time of reading. Nothing in the loop makes reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _driver_rows(connection: Connection, query: Any) -> Iterator[list[tuple]]:
    """The rows of ``query`` in chunks of :data:`_YIELD`, as the database driver returns them
    (a server-side cursor on PostgreSQL).

    SQLAlchemy would wrap every row in a ``Row`` (the query's columns have no result
    processing to apply), and each ``Row`` is tracked by the garbage collector where a
    plain tuple of strings and numbers is untracked at its first collection: fetching the
    million rows of the publish benchmark took 12.0 s of CPU through SQLAlchemy (22
    collections of the whole heap) and 8.4 s from the driver (2)."""
    compiled = query.compile(dialect=connection.dialect)
    values = compiled.construct_params()
    if compiled.positional:
        values = tuple(values[name] for name in compiled.positiontup)
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        cursor = driver.cursor(name="annotate_publish_rows")
    else:
        cursor = driver.cursor()
    try:
        cursor.execute(str(compiled), values)
        while part := cursor.fetchmany(_YIELD):
            yield part
    finally:
        cursor.close()


def _prefetched(parts: Iterator[Any], ahead: int = 2) -> Iterator[Any]:
    """``parts`` read on a thread, ``ahead`` chunks in advance: the database driver works
    (without the GIL) while the caller turns the previous chunk into Arrow."""
    import queue
    import threading

    done = object()
    buffer: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def read() -> None:
        try:
            for part in parts:
                if stop.is_set():
                    return
                buffer.put(part)
        except BaseException as error:  # handed to the caller
            buffer.put(error)
            return
        buffer.put(done)

    reader = threading.Thread(target=read, name="store-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # let a blocked reader finish its put
            try:
                buffer.get_nowait()
            except queue.Empty:
                reader.join(timeout=0.1)


def _chunk(columns, accounts, plan: Plan, schema):
    """Columns of :func:`_rows_query` (and the rows' account pseudonyms) as an Arrow table
    of the version's schema.

    The JSON columns are parsed by Arrow's JSON reader straight into the nested types (one
    newline-delimited document per chunk): building Python dicts and converting them took
    several times longer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    post_ids = columns[POST_ID]
    nested = _nested(columns[NESTED], schema)
    labels = nested.column("labels").combine_chunks()
    category = pa.array(plan.taxonomy.field("category").label_ids)
    severity = pa.array(plan.taxonomy.field("severity").label_ids)

    def typed(name: str, values: Any) -> pa.Array:
        return pa.array(values, schema.field(name).type)

    table = pa.Table.from_arrays(
        [
            typed("post_id", post_ids),
            _text(columns[TEXT]),
            typed("platform", columns[PLATFORM]).fill_null(""),
            typed("account", accounts),
            _iso_column(columns[CREATED]),
            pa.ListArray.from_arrays(
                labels.offsets, pc.index_in(labels.flatten(), value_set=category).cast(pa.int64())
            ),
            nested.column("label_probs"),
            pc.index_in(pa.array(columns[SEVERITY], pa.string()), value_set=severity)
            .fill_null(-1)
            .cast(pa.int64()),
            typed("n_annotators", columns[ANNOTATORS]),
            typed("item_agreement", columns[AGREEMENT]),
            nested.column("annotations"),
            nested.column("evidence"),
            _flags(columns[ADJUDICATED]),
            _flags(columns[GOLD]),
            typed("batch", columns[BATCH]).fill_null(-1),
        ],
        schema=schema,
    )
    return table


def _text(values: Sequence[bytes]) -> Any:
    """UTF-8 bytes as an Arrow string column (checked to be UTF-8, not copied)."""
    import pyarrow as pa

    return pa.array(values, pa.binary()).cast(pa.string())


def _flags(values: Sequence[Any]) -> Any:
    """A flag column as Arrow booleans, from SQLite's 0/1 or PostgreSQL's booleans."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values)
    if pa.types.is_integer(array.type):
        array = pc.not_equal(array, 0)
    return array.cast(pa.bool_()).fill_null(False)


_NESTED = ("labels", "label_probs", "annotations", "evidence")


def _nested(documents: Sequence[bytes], schema: Any) -> Any:
    """The nested columns of a chunk (labels, label_probs, annotations, evidence), one JSON
    document per row (:func:`_nested_document`, UTF-8), parsed by Arrow's JSON reader into
    the schema's nested types."""
    import pyarrow as pa
    import pyarrow.json as pj

    longest = max(map(len, documents), default=0)
    data = b"\n".join(documents)
    types = pa.schema(
        [("labels", pa.list_(pa.string()))] + [schema.field(name) for name in _NESTED[1:]]
    )
    # Arrow parses blocks of the document on several threads; a block holds whole lines, so
    # it must be larger than the longest.
    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=max(1 << 20, longest + 2)),
        parse_options=pj.ParseOptions(explicit_schema=types),
    )


def _raw(column: Any, as_type: Any = Text) -> Any:
    """``column`` as the database driver returns it, without SQLAlchemy's per-value
    processing (JSON parsed by the standard library, SQLite's dates parsed by a regular
    expression): on the million-row reads of publishing that processing took most of the
    time. :func:`_json`, :func:`_iso` and ``bool`` decode what comes back, from either
    SQLite (text, 0/1) or PostgreSQL (already parsed, true/false)."""
    return type_coerce(column, as_type)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _post_id() -> Any:
    """``source:post_id``, put together by the database."""
    return (Post.source + literal(":", Text) + Post.post_id).label("post_id")


# SQLAlchemy keeps SQLite's times as text, YYYY-MM-DD HH:MM:SS.ffffff.
_SQLITE_TIME = r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.000000$)?"


def _iso_column(values: tuple) -> Any:
    """Stored times as ``datetime.isoformat`` gives them, as an Arrow string array: SQLite's
    text rewritten by Arrow (the common case), PostgreSQL's datetimes one by one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if all(type(value) is str and len(value) == 26 for value in values):
        return pc.replace_substring_regex(
            pa.array(values, pa.string()), pattern=_SQLITE_TIME, replacement=r"\1T\2"
        )
    return pa.array([_iso(value) for value in values], pa.string())


def _iso(value: Any) -> str:
    """A stored time as ``datetime.isoformat`` gives it (SQLAlchemy keeps SQLite's times as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text; PostgreSQL's driver returns datetimes)."""
    if value is None:
        return ""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            # The common case without parsing: isoformat leaves out zero microseconds.
            return f"{value[:10]}T{value[11:19]}" + ("" if value.endswith("000000") else value[19:])
        value = datetime.fromisoformat(value)
    return value.isoformat()
