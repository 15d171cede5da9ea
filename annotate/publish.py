"""Publishing dataset versions: aggregated labels, leakage-free splits, a dataset card, and an
immutable, checksummed folder in the local registry (``exports/registry/NAME/VERSION/``).

A version folder has the Hugging Face Hub layout, so ``datasets.load_dataset(folder)`` loads
it: ``README.md`` (the card, YAML metadata first) and ``data/{split}-00000-of-00001.parquet``,
plus ``manifest.json`` (content checksums and provenance). A version is written to a hidden
temporary folder next to its final place and renamed into place at the end, so a publish that
fails or is interrupted leaves no partial version behind; an existing version is never
rewritten. What a killed publish leaves (its staging folder; a version without its row in the
store) is tidied by the next publish or listing: see :mod:`annotate.registry`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Integer, Text, cast, func, literal, type_coerce
from sqlmodel import select

from annotate import __version__
from annotate.aggregation import Aggregation
from annotate.aggregation_runs import ensure_aggregated
from annotate.config import Settings, WorkspaceFolder, hide_passwords, mask_url
from annotate.errors import AnnotateError, InputError
from annotate.locks import locks_projects
from annotate.registry import (
    MANIFEST,
    Staging,
    copy_listed,
    file_entries,
    read_manifest,
    record_version,
    survey,
    verify,
    version_folder,
)
from annotate.semver import Bump, SemVer
from annotate.store import Aggregate, Batch, DatasetVersion, Post, Project, PullRun, Store
from annotate.store import Taxonomy as TaxonomyRow
from annotate.store.queries import stored_taxonomy

NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
SPLITS = ("train", "validation", "test")


@dataclass
class PublishReport:
    name: str
    version: str
    path: str | None
    rows: dict[str, int]
    excluded: dict[str, int]
    suggested_bump: str
    changelog: dict[str, Any]
    dry_run: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # what the registry had to say
    hub: dict[str, Any] | None = None  # the Hub repo and tag, when pushed there

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.hub is None:
            del data["hub"]
        return data


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (as a decorator, for a whole call): publishing makes
    millions of small objects without cycles, and the collections they set off, each one
    slower as the heap grows, took a third of the time of a million-post version."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@locks_projects("projects", command="publish")
@_no_gc()
def publish(
    store: Store,
    settings: Settings,
    workspace: WorkspaceFolder,
    name: str,
    version: str,
    *,
    projects: list[str],
    batches: list[int] | None = None,
    aggregation: Aggregation | str = Aggregation.DAWID_SKENE,
    min_annotators: int = 1,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    message: str | None = None,
    dry_run: bool = False,
    on_stale: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> PublishReport:
    """Build and write one dataset version (see the module docstring).

    Labels come from the projects' stored aggregates (:mod:`annotate.aggregation_runs`); a project
    whose aggregates are missing or older than its annotations is aggregated first
    (``on_stale`` is told). One pass over the store keeps what choosing the splits needs
    (ids, accounts, labels, near-duplicate groups) and spills the rows, as Arrow, to a file
    in the staging folder; once the splits are chosen, the spilled rows are copied into the
    Parquet file of their split. Memory holds a chunk of rows, not the texts of the version.
    ``progress(stage, done, total)`` hears how far it got. Holds the lock of every project
    it reads (``wait``, ``on_wait``: see :mod:`annotate.locks`).
    """
    from annotate.splits import leak_free_splits

    if not NAME.fullmatch(name):
        raise InputError(f"Dataset name {name!r} must be lower-case letters, digits, . _ -.")
    number = SemVer.parse(version)
    aggregation = Aggregation.parse(aggregation)
    target = version_folder(settings, name, version)
    found = survey(settings, name, None if dry_run else store, tidy=not dry_run)
    if target.exists():
        raise AnnotateError(
            f"{name} {version} is already published at {target}; versions are immutable.",
            hint="Publish a new version number.",
        )
    if not projects:
        raise InputError("Name at least one project (--project).")
    with store.session() as session:
        recorded = session.exec(
            select(DatasetVersion).where(
                DatasetVersion.name == name, DatasetVersion.version == version
            )
        ).first()
    if recorded is not None:
        raise AnnotateError(
            f"{name} {version} was already published (to {recorded.location}); versions are "
            "immutable.",
            hint="Publish a new version number.",
        )
    previous, broken = found.previous(version)

    progress = progress or (lambda stage, done, total: None)
    progress("reading the store", 0, None)
    # Everything is written in a hidden folder next to the version's place, renamed into
    # place at the end: a failed or interrupted publish leaves no partial version.
    stage = Staging.open(target)
    staging = stage.folder
    spill = staging / "rows.arrow"
    try:
        plan = _plan(
            store, workspace, projects, batches, aggregation, min_annotators, on_stale, spill
        )
        if not plan.post_ids:
            raise AnnotateError("Nothing to publish: no post of these projects has an aggregate.")
        progress("choosing splits", 0, None)
        splits = leak_free_splits(
            plan.post_ids,
            plan.label_sets,
            plan.accounts,
            plan.near_groups,
            fractions=split,
            seed=seed,
            previous=previous["splits_by_post"] if previous else None,
        )
        assignment = splits.assignment
        plan.excluded["withheld_between_splits"] = len(splits.withheld)
        plan.provenance["splits"] = {"fractions": list(split), "seed": seed, **splits.as_dict()}
        split_codes = splits.codes  # per post of the plan, -1 when withheld
        labels_by_post = {
            post_id: [list(labels), severity]
            for post_id, labels, severity, code in zip(
                plan.post_ids, plan.label_sets, plan.severities, split_codes.tolist(), strict=True
            )
            if code >= 0
        }
        changelog = _changelog(previous, labels_by_post, plan.taxonomy, broken)
        counts = Counter(assignment.values())
        report = PublishReport(
            name=name,
            version=version,
            path=None,
            rows={s: counts.get(s, 0) for s in SPLITS},
            excluded=plan.excluded,
            suggested_bump=changelog["suggested_bump"],
            changelog=changelog,
            dry_run=dry_run,
            provenance=plan.provenance,
            notices=found.publish_notices(broken, previous),
        )
        bump = Bump(changelog["suggested_bump"])
        if previous and number.bump_from(SemVer.parse(previous["version"])).rank < bump.rank:
            raise AnnotateError(
                f"{name} {version} needs a {bump} bump over {previous['version']} "
                f"({changelog['reason']}).",
            )
        if dry_run:
            stage.discard()
            return report
        stats = _write_splits(staging, spill, plan, split_codes, progress)
        spill.unlink()
        card = render_card(name, version, plan.taxonomy, stats, plan.provenance, changelog, message)
        (staging / "README.md").write_text(card, encoding="utf-8")
        manifest = _write_manifest(
            staging,
            name=name,
            version=version,
            counts=stats.counts,
            provenance=plan.provenance,
            changelog=changelog,
            split=split,
            seed=seed,
            splits_by_post=assignment,
            labels_by_post=labels_by_post,
            withheld=splits.withheld,
        )
        stage.promote()
    except BaseException:
        stage.discard()
        raise
    record_version(store, manifest, target)
    report.path = str(target)
    return report


@dataclass
class _Plan:
    """What choosing the splits needs of a version, one entry per post in every list (the
    rows themselves are spilled; see :func:`_plan`)."""

    taxonomy: Any
    pks: set[int] = field(default_factory=set)  # posts taken (from the first project)
    post_ids: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    near_groups: list[Any] = field(default_factory=list)
    label_sets: list[tuple[str, ...]] = field(default_factory=list)
    severities: list[str | None] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    pseudonyms: dict[str, str] = field(default_factory=dict)
    parsed_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schema: Any = None

    def account(self, workspace: WorkspaceFolder, account_id: str | None) -> str:
        """The keyed pseudonym of a poster account ("" for none), computed once per account."""
        if not account_id:
            return ""
        found = self.pseudonyms.get(account_id)
        if found is None:
            found = self.pseudonyms[account_id] = workspace.pseudonymise(account_id, "account")
        return found


def _plan(store, workspace, projects, batches, method, min_annotators, on_stale, spill_path):
    """Read every post of the version from the store once: the light columns that choose
    the splits stay in memory (:class:`_Plan`), the rows go to an Arrow file at
    ``spill_path`` (in the order of the plan's lists), to be split when the splits are
    known (:func:`_write_splits`)."""
    import pyarrow as pa

    from annotate.splits import near_duplicate_groups

    runs = [ensure_aggregated(store, p, method, on_stale=on_stale) for p in projects]
    provenance: dict[str, Any] = {"projects": [], "batches": [], "aggregation": method}
    plan: _Plan | None = None
    wanted_batches = set(batches) if batches is not None else None
    with store.session() as session:
        for project_name, run in zip(projects, runs, strict=True):
            taxonomy = stored_taxonomy(session.get(TaxonomyRow, run.taxonomy_id))
            if plan is None:
                plan = _Plan(taxonomy=taxonomy)
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
            result = (
                session.connection()
                .execution_options(yield_per=_YIELD)
                .execute(
                    _rows_query().where(
                        Aggregate.project_id == project.id, Aggregate.method == method
                    )
                )
            )
            for part in _prefetched(result.partitions()):
                kept = _plan_rows(plan, part, workspace, wanted_batches, min_annotators)
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


def _plan_rows(plan: _Plan, rows, workspace, wanted_batches, min_annotators):
    """Add the posts of one chunk of :func:`_rows_query` to the plan; their rows as an
    Arrow table of the version's schema and their batch ids (None when none is kept)."""

    columns = list(zip(*rows, strict=True))
    parsed, excluded, pks = plan.parsed_labels, plan.excluded, plan.pks
    for text in set(columns[LABELS]) - parsed.keys():  # a few hundred distinct label sets
        parsed[text] = tuple(_json(text) or ())
    label_sets = [parsed[text] for text in columns[LABELS]]
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
    excluded["no_aggregate"] += sum(
        want and ok and not values
        for want, ok, values in zip(wanted, enough, label_sets, strict=True)
    )
    if not all(keep):
        positions = [position for position, kept in enumerate(keep) if kept]
        columns = [[column[position] for position in positions] for column in columns]
        label_sets = [label_sets[position] for position in positions]
    if not columns[PK]:
        return None
    accounts = [plan.account(workspace, account) for account in columns[ACCOUNT]]
    pks.update(columns[PK])
    plan.post_ids.extend(columns[POST_ID])
    plan.accounts.extend(accounts)
    plan.near_groups.extend(columns[NEAR])
    plan.label_sets.extend(label_sets)
    plan.severities.extend(columns[SEVERITY])
    return _chunk(columns, accounts, plan, plan.schema), set(columns[BATCH]) - {None}


_YIELD = 20_000


@dataclass
class _Stats:
    """What the card says about the rows written, gathered while they stream past."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    labels: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in SPLITS})
    annotators: set[str] = field(default_factory=set)
    adjudicated: int = 0
    download_size: int = 0  # bytes of the Parquet files


# Positions in a row of _rows_query.
(PK, POST_ID, TEXT, PLATFORM, ACCOUNT, CREATED, LABELS, PROBS, ANSWERS, EVIDENCE) = range(10)
(SEVERITY, ANNOTATORS, AGREEMENT, ADJUDICATED, GOLD, BATCH, NEAR) = range(10, 17)


def _rows_query() -> Any:
    """Every column a version's rows need, and what choosing the splits needs, per post."""
    return (
        select(
            Aggregate.post_pk,
            _post_id(),
            Post.text,
            Post.platform,
            Post.account_id,
            _raw(Post.created_at),
            *(func.coalesce(cast(getattr(Aggregate, name), Text), "[]") for name in _NESTED),
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


def _write_splits(folder: Path, spill_path: Path, plan: _Plan, split_codes, progress) -> _Stats:
    """Copy the spilled rows into ``data/{split}-00000-of-00001.parquet``: ``split_codes``
    holds each row's split number (-1: withheld), in the order of the spill."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = plan.schema
    names = list(plan.taxonomy.field("category").label_ids)
    data = folder / "data"
    data.mkdir()
    writers: dict[str, Any] = {}
    stats = _Stats()
    total = int((split_codes >= 0).sum())
    # One thread: writes reach each file in the order they were submitted.
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
    pending: list[Any] = []
    try:
        with pa.memory_map(str(spill_path)) as source:
            reader = pa.ipc.open_file(source)
            offset = 0
            for number in range(reader.num_record_batches):
                batch = reader.get_batch(number)
                codes = split_codes[offset : offset + batch.num_rows]
                offset += batch.num_rows
                table = pa.Table.from_batches([batch])
                for code, split in enumerate(SPLITS):
                    mask = codes == code
                    if not mask.any():
                        continue
                    piece = table.filter(pa.array(mask))
                    writer = writers.get(split)
                    if writer is None:
                        path = data / f"{split}-00000-of-00001.parquet"
                        writer = writers[split] = pq.ParquetWriter(path, schema)
                    # Parquet encoding runs on a thread while the next chunk is filtered.
                    pending.append(background.submit(writer.write_table, piece))
                    stats.counts[split] += piece.num_rows
                    stats.sizes[split] += piece.nbytes
                    flat = pc.list_flatten(piece.column("labels"))
                    for entry in pc.value_counts(flat).to_pylist():
                        stats.labels[split][names[entry["values"]]] += entry["counts"]
                    answers = pc.list_flatten(piece.column("annotations"))
                    stats.annotators.update(
                        pc.unique(pc.struct_field(answers, "annotator")).to_pylist()
                    )
                    stats.adjudicated += pc.sum(piece.column("adjudicated")).as_py() or 0
                    while len(pending) > 3:  # bound the pieces held in memory
                        pending.pop(0).result()
                progress("writing posts", sum(stats.counts.values()), total)
            for future in pending:
                future.result()
    finally:
        background.shutdown(wait=True, cancel_futures=True)
        for writer in writers.values():
            writer.close()
    stats.download_size = sum(path.stat().st_size for path in data.iterdir())
    return stats


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


def _chunk(columns, accounts, plan: _Plan, schema):
    """Columns of :func:`_rows_query` (and the rows' account pseudonyms) as an Arrow table
    of the version's schema.

    The JSON columns are parsed by Arrow's JSON reader straight into the nested types (one
    newline-delimited document per chunk): building Python dicts and converting them took
    several times longer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    post_ids = columns[POST_ID]
    nested = _nested([columns[number] for number in (LABELS, PROBS, ANSWERS, EVIDENCE)], schema)
    labels = nested.column("labels").combine_chunks()
    category = pa.array(plan.taxonomy.field("category").label_ids)
    severity = pa.array(plan.taxonomy.field("severity").label_ids)
    adjudicated = pa.array([bool(value) for value in columns[ADJUDICATED]], pa.bool_())

    def typed(name: str, values: Any) -> pa.Array:
        return pa.array(values, schema.field(name).type)

    table = pa.Table.from_arrays(
        [
            typed("post_id", post_ids),
            typed("text", columns[TEXT]),
            typed("platform", [value or "" for value in columns[PLATFORM]]),
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
            adjudicated,
            typed("gold", [bool(value) for value in columns[GOLD]]),
            typed("batch", [value or -1 for value in columns[BATCH]]),
        ],
        schema=schema,
    )
    return table


_NESTED = ("labels", "label_probs", "annotations", "evidence")


def _nested(columns, schema):
    """The JSON columns of a chunk (labels, label_probs, annotations, evidence; as text)
    parsed by Arrow's JSON reader into the schema's nested types."""
    import pyarrow as pa
    import pyarrow.json as pj

    documents = [
        f'{{"labels":{a},"label_probs":{b},"annotations":{c},"evidence":{d}}}'
        for a, b, c, d in zip(*columns, strict=True)
    ]
    longest = max(map(len, documents), default=0)
    data = "\n".join(documents).encode()
    types = pa.schema(
        [("labels", pa.list_(pa.string()))] + [schema.field(name) for name in _NESTED[1:]]
    )
    # Arrow parses blocks of the document on several threads; a block holds whole lines, so
    # it must be larger than the longest (in bytes: up to 4 per character).
    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=max(1 << 20, 4 * longest + 2)),
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


def _write_manifest(folder: Path, **fields: Any) -> dict[str, Any]:
    manifest = {
        "name": fields["name"],
        "version": fields["version"],
        "files": file_entries(folder),
        "rows": fields["counts"],
        "provenance": fields["provenance"],
        "changelog": fields["changelog"],
        "split": {"fractions": list(fields["split"]), "seed": fields["seed"]},
        "splits_by_post": fields["splits_by_post"],
        "labels_by_post": fields["labels_by_post"],
        # Posts left out so that no account or near-duplicate group straddles two splits.
        "withheld": fields["withheld"],
    }
    (folder / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


def features(taxonomy):
    from datasets import ClassLabel, Features, Sequence, Value

    categories = list(taxonomy.field("category").label_ids)
    severities = list(taxonomy.field("severity").label_ids)
    return Features(
        {
            "post_id": Value("string"),
            "text": Value("string"),
            "platform": Value("string"),
            "account": Value("string"),
            "created_at": Value("string"),
            "labels": Sequence(ClassLabel(names=categories)),
            "label_probs": Sequence(Value("float32")),
            "severity": ClassLabel(names=severities),
            "n_annotators": Value("int32"),
            "item_agreement": Value("float32"),
            "annotations": [
                {
                    "annotator": Value("string"),
                    "labels": Sequence(Value("string")),
                    "severity": Value("string"),
                }
            ],
            "evidence": [
                {
                    "annotator": Value("string"),
                    "start": Value("int32"),
                    "end": Value("int32"),
                    "label": Value("string"),
                }
            ],
            "adjudicated": Value("bool"),
            "gold": Value("bool"),
            "batch": Value("int32"),
        }
    )


def render_card(name, version, taxonomy, stats: _Stats, provenance, changelog, message) -> str:
    from datasets import DatasetInfo
    from huggingface_hub import DatasetCardData

    counts, sizes = stats.counts, stats.sizes
    total = sum(counts.values())
    size = size_category(total)
    present = [s for s in SPLITS if counts.get(s)]
    info = DatasetInfo(features=features(taxonomy))._to_yaml_dict()
    info["splits"] = [
        {"name": s, "num_bytes": sizes[s], "num_examples": counts[s]} for s in present
    ]
    # Sizes also tell datasets' cache apart: it keys a local folder on its name and this
    # metadata, not on the files (see the README's note on loading versions).
    info["download_size"] = stats.download_size
    info["dataset_size"] = sum(sizes[s] for s in present)
    card = DatasetCardData(
        language=["zh", "en"],
        license="other",
        task_categories=["text-classification"],
        task_ids=["multi-label-classification"],
        size_categories=[size],
        pretty_name=f"{name} (financial misinformation, {taxonomy.name} {taxonomy.version})",
        annotations_creators=["expert-generated"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in present],
            }
        ],
        dataset_info=info,
    )
    category = taxonomy.field("category")
    lines = [
        "---",
        card.to_yaml(),
        "---",
        "",
        f"# {name} {version}",
        "",
        "Posts of financial self-media accounts labelled for misinformation: fabricated "
        "rumours, distorted policy, baseless doom-mongering, illegal securities activity, "
        "extortion, impersonation and incitement, against legitimate financial content and "
        "off-topic posts. Intended for training and evaluating enforcement classifiers; not for "
        "judging individual accounts without human review.",
        "",
        "## Taxonomy",
        "",
        f"{taxonomy.ref}",
        "",
        "| label | 中文 | definition |",
        "|---|---|---|",
    ]
    for label in category.labels:
        definition = label.definition.en if label.definition else ""
        lines.append(f"| `{label.id}` | {label.zh} | {_md(definition)} |")
    lines += ["", "## Label counts per split", "", "| label | " + " | ".join(present) + " |"]
    lines.append("|---|" + "---:|" * len(present))
    for label in category.label_ids:
        cells = [str(stats.labels[s][label]) for s in present]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Annotation",
        "",
        _agreement_lines(provenance.get("agreement", {})),
        "",
        f"{len(stats.annotators)} annotators (identities are never published; annotations carry "
        f"keyed pseudonyms). Aggregation: {provenance['aggregation']}; {stats.adjudicated} items "
        "adjudicated by an expert. Splits are stratified by label and grouped so that one "
        "account's posts and near-duplicates of one post never straddle splits; test items "
        "stay in test in later versions." + _withheld_note(provenance.get("splits") or {}),
        "",
        "## Provenance",
        "",
        "```json",
        json.dumps(provenance, ensure_ascii=False, indent=2),
        "```",
        "",
        "## Changelog",
        "",
        f"{message or ''}".strip(),
        "",
        "```json",
        json.dumps(changelog, ensure_ascii=False, indent=2),
        "```",
        "",
        "## Limitations",
        "",
        "Labels reflect the annotators' and adjudicators' judgement under the taxonomy and "
        "guidelines cited above. Account ids are keyed hashes; post texts are published as "
        "posted.",
        "",
    ]
    return "\n".join(lines)


def _withheld_note(splits: dict[str, Any]) -> str:
    if not splits.get("cut_groups"):
        return ""
    return (
        f" Reposts linked {splits['cut_items']} posts into {splits['cut_groups']} group(s) "
        "larger than the smallest split; they were divided along accounts, and the "
        f"{splits['withheld']} posts whose account and near-duplicates ended up in different "
        "splits are withheld from this version."
    )


_SIZE_TIERS = ("1K", "10K", "100K", "1M", "10M", "100M", "1B", "10B", "100B", "1T")


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` value for a dataset of ``rows`` rows.

    >>> size_category(999), size_category(120_000), size_category(1_000_000)
    ('n<1K', '100K<n<1M', '1M<n<10M')
    """
    bound = 1_000
    for number, tier in enumerate(_SIZE_TIERS):
        if rows < bound:
            return f"{_SIZE_TIERS[number - 1]}<n<{tier}" if number else f"n<{tier}"
        bound *= 10
    return f"n>{_SIZE_TIERS[-1]}"


def _agreement_lines(agreement: dict[str, Any]) -> str:
    lines = ["Agreement on the category field (Krippendorff's α, 95% bootstrap interval):", ""]
    for project_name, values in agreement.items():
        alpha = values.get("krippendorff_alpha")
        if alpha is None:
            lines.append(f"- {project_name}: undefined ({values.get('undefined', 'no data')})")
            continue
        interval = values.get("ci95")
        shown = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "no interval"
        lines.append(
            f"- {project_name}: α = {alpha:.3f} {shown} over {values['n_items']} posts "
            f"with two or more annotations"
        )
    return "\n".join(lines)


def _changelog(previous, labels_by_post, taxonomy, broken=()) -> dict[str, Any]:
    """What changed since ``previous`` (a manifest; ``None`` for the first version);
    ``broken`` are the broken versions after it, named as skipped."""
    skipped = {"broken_skipped": [entry.version for entry in broken]} if broken else {}
    if previous is None:
        return {
            "previous": None,
            "suggested_bump": "major",
            "reason": "first readable version" if broken else "first version",
            "added": len(labels_by_post),
            "removed": 0,
            "relabelled": 0,
            **skipped,
        }
    old = previous["labels_by_post"]
    new = labels_by_post
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    relabelled = sorted(pk for pk in set(new) & set(old) if new[pk] != old[pk])
    old_taxonomy = previous["provenance"]["taxonomy"]
    if (
        old_taxonomy["sha256"] != taxonomy.content_hash
        and SemVer.parse(taxonomy.version).major > SemVer.parse(old_taxonomy["version"]).major
    ):
        bump, reason = "major", "the taxonomy changed incompatibly"
    elif added or removed:
        bump, reason = "minor", f"{len(added)} items added, {len(removed)} removed"
    elif relabelled:
        bump, reason = "patch", f"{len(relabelled)} items relabelled"
    else:
        bump, reason = "patch", "no change in items or labels"
    return {
        "previous": previous["version"],
        "suggested_bump": bump,
        "reason": reason,
        "added": len(added),
        "removed": len(removed),
        "relabelled": len(relabelled),
        **skipped,
    }


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------- Hub


def push_to_hub(
    folder: Path,
    settings: Settings,
    repo: str,
    *,
    private: bool = True,
    message: str | None = None,
) -> dict[str, Any]:
    """Upload a published version folder to the Hub (or any Hub-compatible endpoint) as one
    commit and tag it ``vX.Y.Z``. The files are the registry's, byte for byte, so the
    manifest's checksums hold on the Hub too."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    manifest = verify(folder)
    version = manifest["version"]
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    if token is None:
        raise AnnotateError("Publishing to the Hub needs a token.", hint="Set HF_TOKEN.")
    api = HfApi(endpoint=settings.hf_endpoint or None, token=token)
    tag = f"v{version}"
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo, repo_type="dataset")
        if any(ref.name == tag for ref in refs.tags):
            raise AnnotateError(f"{repo} already has the tag {tag}; versions are immutable.")
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo,
            repo_type="dataset",
            commit_message=message or f"{manifest['name']} {version}",
            delete_patterns=["data/*"],  # a version replaces the previous one's data files
        )
        api.create_tag(repo, tag=tag, repo_type="dataset", revision=commit.oid)
    except HfHubHTTPError as error:
        raise AnnotateError(
            f"The Hub at {mask_url(api.endpoint)} refused the upload: "
            f"{hide_passwords(str(error), api.endpoint)}."
        ) from None
    endpoint = mask_url(api.endpoint)
    return {"repo": repo, "tag": tag, "commit": commit.oid, "endpoint": endpoint}


def pull_from_hub(settings: Settings, repo: str, version: str, destination: Path) -> Path:
    """Download tag ``vVERSION`` of a Hub dataset into ``destination`` and verify every file
    against the manifest that came with it (never trusting a cache: offline, the Hub client
    can return the newest cached revision for an older tag)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Downloaded next to the destination, which gets only what the manifest lists: not the
    # repo's .gitattributes, nor the client's .cache folder.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=destination.parent) as download:
        try:
            snapshot_download(
                repo,
                repo_type="dataset",
                revision=f"v{version}",
                local_dir=download,
                token=token,
                endpoint=settings.hf_endpoint or None,
            )
        except HfHubHTTPError as error:
            reason = hide_passwords(str(error), settings.hf_endpoint)
            raise AnnotateError(f"Could not download {repo} v{version}: {reason}.") from None
        copy_listed(Path(download), destination, read_manifest(Path(download)))
    manifest = verify(destination)
    if manifest["version"] != version:
        raise AnnotateError(
            f"{repo} at v{version} holds version {manifest['version']}; do not use this copy."
        )
    return destination
