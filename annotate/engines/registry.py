"""External corpora: Parquet datasets registered by name, inspected, never copied.

A corpus is a folder of Parquet files (hive partitions such as ``platform=weibo/month=2024-10/``
become columns), a glob, or one file. Registering reads only the files' footers: the schema
(every file must have the same one), the hive partitions, the row count, and a fingerprint of
every file's path, size and modification time. Sampling checks the fingerprint first, so a
corpus whose files changed since it was registered is refused until ``corpus refresh``.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlmodel import select

from annotate.errors import InputError
from annotate.ingest.readers import _refuse_float_ids
from annotate.store import Corpus, Store
from annotate.store.models import utcnow

__all__ = ["CorpusFiles", "CorpusInfo", "add_corpus", "get_corpus", "list_corpora", "scan_files"]

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class CorpusFiles:
    """What a scan of a corpus's files found: ``root`` is the folder partition paths start in."""

    root: Path
    files: tuple[Path, ...]
    sizes: tuple[int, ...]
    fingerprint: str

    @property
    def bytes(self) -> int:
        return sum(self.sizes)

    def partition_of(self, path: Path | str) -> dict[str, str]:
        """The hive partition values in ``path`` (``platform=weibo/month=2024-10/…``)."""
        relative = Path(path).relative_to(self.root) if Path(path).is_absolute() else Path(path)
        values = {}
        for part in relative.parts[:-1]:
            name, equals, value = part.partition("=")
            if equals and name:
                values[name] = unquote(value)
        return values


@dataclass
class CorpusInfo:
    """A registered corpus as sampling and ``corpus show`` see it."""

    name: str
    uri: str
    source: str
    id_field: str
    text_field: str
    columns: list[dict[str, str]]
    partition_columns: list[str]
    partitions: dict[str, list[str]]
    files: int
    bytes: int
    rows: int
    fingerprint: str
    registered_at: str = ""
    refreshed_at: str = ""
    changed: dict[str, int] | None = field(default=None)

    @classmethod
    def of(cls, row: Corpus) -> CorpusInfo:
        return cls(
            name=row.name,
            uri=row.uri,
            source=row.source,
            id_field=row.id_field,
            text_field=row.text_field,
            columns=list(row.columns or []),
            partition_columns=list(row.partition_columns or []),
            partitions=dict(row.partitions or {}),
            files=row.files,
            bytes=row.bytes,
            rows=row.rows,
            fingerprint=row.fingerprint,
            registered_at=row.registered_at.isoformat(),
            refreshed_at=row.refreshed_at.isoformat(),
        )

    def column_type(self, name: str) -> str | None:
        return next((column["type"] for column in self.columns if column["name"] == name), None)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def scan_files(uri: str) -> CorpusFiles:
    """The Parquet files of ``uri`` (a folder, searched recursively; a glob; or a file), sorted,
    with their fingerprint. Hidden files and Spark's ``_SUCCESS`` markers are skipped."""
    if any(char in uri for char in _GLOB_CHARS):
        root = Path(_glob_root(uri))
        found = [Path(path) for path in glob.glob(uri, recursive=True)]
        if not root.is_dir():
            raise InputError(f"Corpus path {root} does not exist.")
    else:
        path = Path(uri)
        if not path.exists():
            raise InputError(f"Corpus path {uri} does not exist.")
        root = path if path.is_dir() else path.parent
        found = list(path.rglob("*")) if path.is_dir() else [path]
    files = sorted(
        file.resolve()
        for file in found
        if file.is_file()
        and not any(part.startswith((".", "_")) for part in file.relative_to(root).parts)
        and file.suffix in {".parquet", ".pq", ""}
    )
    files = [file for file in files if _is_parquet(file)]
    if not files:
        raise InputError(
            f"Corpus path {uri} holds no Parquet files.",
            hint="Point at a folder of .parquet files (hive partitions allowed) or a glob.",
        )
    root = root.resolve()
    hasher = hashlib.sha256()
    sizes = []
    for file in files:
        stat = file.stat()
        sizes.append(stat.st_size)
        hasher.update(
            f"{file.relative_to(root)}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}\n".encode()
        )
    return CorpusFiles(root, tuple(files), tuple(sizes), hasher.hexdigest())


def _glob_root(pattern: str) -> str:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if any(char in part for char in _GLOB_CHARS):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _is_parquet(path: Path) -> bool:
    if path.suffix in {".parquet", ".pq"}:
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def inspect_corpus(name: str, uri: str, source: str, id_field: str, text_field: str) -> Corpus:
    """Read the footers of every file: one schema, the id and text columns, partitions, rows.

    Raises :class:`InputError` naming the file for a missing path, no Parquet files, an
    unreadable file, schemas that differ between files, a missing id or text column, or a
    floating-point id column (as ``ingest`` does).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not name.strip() or "/" in name:
        raise InputError(f"Corpus name {name!r} must be non-empty and have no '/'.")
    if not source.strip():
        raise InputError("The source name is empty.")
    scanned = scan_files(uri)
    schema: pa.Schema | None = None
    first: Path | None = None
    rows = 0
    partitions: dict[str, set[str]] = {}
    for file in scanned.files:
        try:
            metadata = pq.read_metadata(file)
        except (pa.ArrowInvalid, OSError) as error:
            raise InputError(f"{file} is not a readable Parquet file ({error}).") from None
        file_schema = metadata.schema.to_arrow_schema().remove_metadata()
        if schema is None:
            schema, first = file_schema, file
        elif not file_schema.equals(schema):
            raise InputError(
                f"Corpus {name!r} mixes schemas: {file} has {_describe(file_schema)}, "
                f"but {first} has {_describe(schema)}.",
                hint="Rewrite the odd files with the common schema, or register them apart.",
            )
        rows += metadata.num_rows
        for key, value in scanned.partition_of(file).items():
            partitions.setdefault(key, set()).add(value)
    assert schema is not None
    partition_columns = sorted(partitions)
    shared = [column for column in partition_columns if column in schema.names]
    if shared:
        raise InputError(
            f"Corpus {name!r}: column {shared[0]!r} is both in the files and a hive partition."
        )
    names = [*schema.names, *partition_columns]
    for role, column in (("id", id_field), ("text", text_field)):
        if column not in names:
            raise InputError(
                f"Corpus {name!r} has no {role} column {column!r}; its columns are "
                f"{', '.join(names)}.",
                hint=f"Name the {role} column with --{role}-field.",
            )
    if id_field in schema.names and pa.types.is_floating(schema.field(id_field).type):
        _refuse_float_ids(first, id_field, str(schema.field(id_field).type))
    columns = [{"name": f.name, "type": str(f.type)} for f in schema]
    columns += [{"name": column, "type": "partition"} for column in partition_columns]
    row = Corpus(
        name=name,
        uri=uri,
        source=source,
        id_field=id_field,
        text_field=text_field,
        columns=columns,
        partition_columns=partition_columns,
        partitions={key: sorted(values) for key, values in partitions.items()},
        files=len(scanned.files),
        bytes=scanned.bytes,
        rows=rows,
        fingerprint=scanned.fingerprint,
    )
    return row


def _describe(schema: Any) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


def add_corpus(
    store: Store,
    name: str,
    uri: str,
    *,
    source: str | None = None,
    id_field: str = "post_id",
    text_field: str = "text",
) -> CorpusInfo:
    """Register a Parquet dataset as corpus ``name`` (see :func:`inspect_corpus`)."""
    uri = os.path.abspath(Path(uri).expanduser())  # the same files from any folder
    with store.session() as session:
        if session.exec(select(Corpus).where(Corpus.name == name)).first() is not None:
            raise InputError(
                f"A corpus named {name!r} is already registered.",
                hint=f"Run annotate corpus refresh {name} after its files change.",
            )
    row = inspect_corpus(name, uri, source or name, id_field, text_field)
    with store.transaction() as session:
        session.add(row)
        session.flush()
        return CorpusInfo.of(row)


def get_corpus(store: Store, name: str) -> CorpusInfo:
    with store.session() as session:
        row = session.exec(select(Corpus).where(Corpus.name == name)).first()
        if row is None:
            known = [corpus.name for corpus in session.exec(select(Corpus).order_by(Corpus.name))]
            raise InputError(
                f"No corpus named {name!r}"
                + (f"; registered: {', '.join(known)}." if known else "; none is registered."),
                hint="Register one with annotate corpus add NAME PATH.",
            )
        return CorpusInfo.of(row)


def corpus_id(session: Any, name: str) -> int:
    """The id of corpus ``name``, read in ``session`` (the caller's transaction)."""
    return session.exec(select(Corpus.id).where(Corpus.name == name)).one()


def list_corpora(store: Store) -> list[CorpusInfo]:
    with store.session() as session:
        return [CorpusInfo.of(row) for row in session.exec(select(Corpus).order_by(Corpus.name))]


def show_corpus(store: Store, name: str) -> CorpusInfo:
    """The corpus as registered, with ``changed`` counting files added, removed or modified
    since (all zero when its fingerprint still holds)."""
    info = get_corpus(store, name)
    info.changed = _changes(info)
    return info


def refresh_corpus(store: Store, name: str) -> CorpusInfo:
    """Scan the corpus's files again and record what they are now (same checks as ``add``)."""
    info = get_corpus(store, name)
    row = inspect_corpus(name, info.uri, info.source, info.id_field, info.text_field)
    with store.transaction() as session:
        stored = session.exec(select(Corpus).where(Corpus.name == name)).one()
        for column in ("columns", "partition_columns", "partitions", "files", "bytes", "rows"):
            setattr(stored, column, getattr(row, column))
        stored.fingerprint = row.fingerprint
        stored.refreshed_at = utcnow()
        session.add(stored)
        session.flush()
        return CorpusInfo.of(stored)


def check_fingerprint(info: CorpusInfo) -> CorpusFiles:
    """The corpus's files, if they are still the ones registered; else :class:`InputError`."""
    try:
        scanned = scan_files(info.uri)
    except InputError as error:
        raise InputError(
            f"Corpus {info.name!r}: {error.message}",
            hint=f"Restore the files, or run annotate corpus refresh {info.name}.",
        ) from None
    if scanned.fingerprint != info.fingerprint:
        changed = _changes(info, scanned)
        raise InputError(
            f"Corpus {info.name!r} changed since it was registered "
            f"({changed['files']} files now, {info.files} then; size {changed['bytes']:,} bytes "
            f"now, {info.bytes:,} then, or files modified); its fingerprint does not match.",
            hint=f"Check the files, then run annotate corpus refresh {info.name}.",
        )
    return scanned


def _changes(info: CorpusInfo, scanned: CorpusFiles | None = None) -> dict[str, int]:
    try:
        scanned = scanned or scan_files(info.uri)
    except InputError:
        return {"files": 0, "bytes": 0, "matches": 0}
    return {
        "files": len(scanned.files),
        "bytes": scanned.bytes,
        "matches": int(scanned.fingerprint == info.fingerprint),
    }
