"""Reading post files into the store.

Formats: JSON Lines (``.jsonl``, ``.ndjson``, ``.json`` holding one object per line, optionally
``.gz``), CSV/TSV (optionally ``.gz``), Parquet, and a folder written by
``datasets.Dataset.save_to_disk`` (or a Hub-layout folder of Parquet files).

Files are streamed and written in batches, so memory stays flat whatever the file size. A bad
row is skipped and reported as ``FILE:LINE: reason`` (or, with ``strict``, stops the run and
nothing from the run is stored). ``(source, post_id)`` is unique: ingesting a file again
inserts nothing, and an id that comes again with another text is a conflict, not stored.
Each run is recorded in ``ingest_runs``; a run whose process died is marked ``interrupted``
by the next one.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import io
import json
import math
import os
import re
import socket
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, AnyStr

import orjson
from sqlalchemy import JSON, Connection, DateTime, Row, select, update

from annotate.errors import InputError
from annotate.store import IngestRun, Post, Store
from annotate.text import detect_language, language_of_tag, normalise_text, text_hash

BATCH_SIZE = 10_000
MAX_FIELD_CHARS = 10 * 2**20
"""The longest text (and, in CSV, the longest field) a row may have, in characters. Far beyond
any post (a long article is about 200,000), and far within what the stores take (a text column
holds up to 1 GB on PostgreSQL and on SQLite with its default limits)."""
SNIFF_BYTES = 256 * 1024
COUNT_FIELDS = ("likes", "reposts", "comments", "views")
OPTIONAL_FIELDS = ("platform", "account_id", "created_at", "url", "lang", *COUNT_FIELDS)
_SURROGATES = re.compile("[\udc80-\udcff]")
_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")


@dataclass
class Reject:
    """A row that was not stored, and why."""

    file: str
    line: int
    reason: str
    raw: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class IngestReport:
    """What one ingest run did. ``duplicates`` counts rows whose ``(source, post_id)`` was
    already stored (or read earlier in the run) with the same text; ``conflicts`` counts rows
    whose id was, but with another text (not stored: the earlier text stays); ``same_text``
    counts new posts whose text was already stored under another id (they are stored and
    grouped by ``text_hash``)."""

    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    same_text: int = 0
    run_id: int | None = None
    #: Earlier runs found dead (killed, or their machine went down) and marked interrupted.
    interrupted_runs: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _RowError(Exception):
    """A row-level problem: the row is rejected (or, with --strict, the run stops)."""


_READ_ERRORS = (EOFError, OSError, zlib.error)
"""What reading a cut-off or corrupted file raises (gzip streams, disks, Parquet pages)."""


class _Damaged(InputError):
    """A file that cannot be read on from some point: cut off, corrupted or unreadable."""

    def __init__(self, path: Path, where: str, error: BaseException):
        text = str(error).strip()
        detail = text.splitlines()[0].rstrip(".") if text else type(error).__name__
        self.problem = f"{path}: the file is cut off or damaged {where} ({detail})"
        super().__init__(f"{self.problem}.")


# --------------------------------------------------------------------------- readers


@dataclass
class _Row:
    line: int
    record: dict[str, Any] | None
    error: str | None = None
    raw: str | None = None
    where: str | None = None  # overrides the file name in messages (a dataset's split)
    escaped_nul: bool = False  # a JSON line with \u0000: its fields need the NUL removed


class _Reader:
    """A streaming source of rows from one file. ``done``/``total`` drive the progress bar."""

    unit = "bytes"
    json_native = False  # True when rows come from a JSON parser and need no conversion

    def __init__(self, path: Path, encoding: str, id_field: str):
        self.path = path
        self.encoding = encoding
        self.id_field = id_field
        self.total = 0
        self.done = 0

    def rows(self) -> Iterator[_Row]:
        raise NotImplementedError


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _read_head(path: Path, size: int) -> bytes:
    with _open_binary(path) as handle:
        try:
            return handle.read(size)
        except _READ_ERRORS as error:
            raise _Damaged(path, "near its start", error) from None


def _read_lines(path: Path, handle: Iterable[AnyStr]) -> Iterator[AnyStr]:
    """The lines of ``handle``; a read that fails raises :class:`_Damaged` after the last whole
    line (a cut-off gzip stream ends in an error, not in a short last line)."""
    number = 0
    try:
        for line in handle:
            number += 1
            yield line
    except _READ_ERRORS as error:
        raise _Damaged(path, f"after line {number}", error) from None


def _check_encoding(path: Path, encoding: str) -> None:
    """Fail early, with the fix, when a file is in another encoding than the one asked for."""
    head = _read_head(path, SNIFF_BYTES)
    if codecs.lookup(encoding).name not in {"utf-8", "utf-8-sig"}:
        _refuse_utf8(path, encoding, head)
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        return
    except UnicodeDecodeError as error:
        line = head[: error.start].count(b"\n") + 1
    if codecs.lookup(encoding).name == "utf-8":
        try:
            decoded = codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        except UnicodeDecodeError:
            return  # isolated bad bytes: those rows are rejected one by one
        if re.search(r"[\u4e00-\u9fff]", decoded):
            raise InputError(
                f"{path}:{line}: the file is not UTF-8; it looks like GBK (Chinese).",
                hint="Rerun with --encoding gbk.",
            )


def _refuse_utf8(path: Path, encoding: str, head: bytes) -> None:
    """Refuse to read as ``encoding`` a file whose head is UTF-8 (and not plain ASCII, which
    reads the same in either): its text would be stored garbled."""
    first = re.search(rb"[\x80-\xff]", head)
    if first is None:
        return
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return
    line = head[: first.start()].count(b"\n") + 1
    raise InputError(
        f"{path}:{line}: the file is UTF-8, not {encoding}; reading it as {encoding} would store "
        "garbled text.",
        hint=f"Drop --encoding {encoding} (UTF-8 is the default), or add --force-encoding to "
        f"read it as {encoding} anyway.",
    )


class _JsonLinesReader(_Reader):
    """JSON Lines, parsed with orjson: about twice as fast as ``json`` and strict (no NaN)."""

    json_native = True

    def rows(self) -> Iterator[_Row]:
        utf8 = codecs.lookup(self.encoding).name == "utf-8"
        with _open_binary(self.path) as handle:
            self.total = self.path.stat().st_size
            for line_number, raw in enumerate(_read_lines(self.path, handle), 1):
                if line_number % 256 == 0:
                    self.done = _compressed_position(handle)
                if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    record = orjson.loads(raw if utf8 else raw.decode(self.encoding))
                except (orjson.JSONDecodeError, UnicodeDecodeError):
                    if not raw.strip():
                        continue
                    yield self._bad_line(line_number, raw)
                    continue
                if type(record) is not dict:
                    text = raw.decode(self.encoding, "replace")
                    found = _type_name(record)
                    yield _Row(line_number, None, f"expected a JSON object, found {found}", text)
                    continue
                if (
                    type(record.get(self.id_field)) is float
                    or type(record.get("account_id")) is float
                ):
                    # orjson reads integers beyond 64 bits as floats; json keeps every digit.
                    record = json.loads(raw.decode(self.encoding), parse_constant=_refuse_constant)
                # A backslash is found much faster than the escape, and most lines have none.
                escaped_nul = b"\\" in raw and b"\\u0000" in raw
                yield _Row(line_number, record, escaped_nul=escaped_nul)
        self.done = self.total

    def _bad_line(self, line_number: int, raw: bytes) -> _Row:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as error:
            reason = f"undecodable bytes at byte {error.start + 1} (not {self.encoding})"
            return _Row(line_number, None, reason, raw.decode(self.encoding, "replace"))
        try:
            json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as error:
            reason = f"invalid JSON ({error.msg}, column {error.colno})"
        else:  # pragma: no cover - orjson and json disagree only on exotic input
            reason = "invalid JSON"
        return _Row(line_number, None, reason, text)


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


class _Lines:
    """The lines of a text stream, numbered, counting the quote characters of the record being
    read: after a record that cannot be parsed, an odd count means its end is still ahead."""

    def __init__(self, path: Path, text: IO[str]):
        self.number = 0
        self.quotes = 0
        self.exhausted = False
        self.lines = self._read(path, text)

    def _read(self, path: Path, text: IO[str]) -> Iterator[str]:
        for line in _read_lines(path, text):
            self.number += 1
            self.quotes += line.count('"')
            yield line
        self.exhausted = True

    def skip_record(self) -> None:
        """Read on to the end of the record under way (where its quotes are balanced)."""
        while self.quotes % 2 and next(self.lines, None) is not None:
            pass


def _next_record(reader: Iterator[list[str]]) -> list[str]:
    """The next CSV record, with fields up to MAX_FIELD_CHARS; the csv module's limit is
    process-wide, so it is raised for this call only."""
    previous = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        return next(reader)
    finally:
        csv.field_size_limit(previous)


class _CsvReader(_Reader):
    def __init__(self, path: Path, encoding: str, id_field: str, delimiter: str):
        super().__init__(path, encoding, id_field)
        self.delimiter = delimiter

    def rows(self) -> Iterator[_Row]:
        encoding = "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding
        with _open_binary(self.path) as binary:
            self.total = self.path.stat().st_size
            # surrogateescape keeps undecodable bytes visible, so that only their row is rejected.
            text = io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline="")
            lines = _Lines(self.path, text)
            reader = csv.reader(lines.lines, delimiter=self.delimiter)
            try:
                header = _next_record(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InputError(f"{self.path}:1: cannot read the CSV header ({error}).") from None
            if _SURROGATES.search("".join(header)):
                raise InputError(
                    f"{self.path}:1: the header has bytes that are not {self.encoding}.",
                    hint="Pass the file's encoding with --encoding.",
                )
            header = [name.strip() for name in header]
            width = len(header)
            while True:
                line_number = lines.number + 1
                lines.quotes = 0
                try:
                    values = _next_record(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    # The parser stopped inside the record: read past its end and start afresh,
                    # so that the rest of it does not turn into rows of its own.
                    lines.skip_record()
                    reader = csv.reader(lines.lines, delimiter=self.delimiter)
                    yield _Row(line_number, None, _csv_error_reason(error))
                    continue
                if line_number % 256 == 0:
                    self.done = _compressed_position(binary)
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                raw = self.delimiter.join(values)
                if lines.quotes % 2 and lines.exhausted:
                    yield _Row(
                        line_number,
                        None,
                        "a quoted field opened in this row is not closed before the end of the "
                        "file",
                        raw[:2000],
                    )
                    continue
                if _SURROGATES.search(raw):
                    yield _Row(
                        line_number,
                        None,
                        f"undecodable bytes (not {self.encoding})",
                        raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                    )
                    continue
                if len(values) != width:
                    yield _Row(
                        line_number, None, f"expected {width} fields, found {len(values)}", raw
                    )
                    continue
                # CSV has no nulls: an empty cell is a missing value.
                record = {name: value for name, value in zip(header, values, strict=True) if value}
                yield _Row(line_number, record, raw=raw)
        self.done = self.total


def _csv_error_reason(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return f"a field is longer than {MAX_FIELD_CHARS:,} characters"
    return f"malformed CSV ({error})"


class _ParquetReader(_Reader):
    unit = "rows"

    def __init__(self, path: Path, encoding: str, id_field: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(path, encoding, id_field)
        try:
            self.parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise InputError(f"{path} is not a readable Parquet file ({error}).") from None
        schema = self.parquet.schema_arrow
        if id_field in schema.names and pa.types.is_floating(schema.field(id_field).type):
            _refuse_float_ids(path, id_field, str(schema.field(id_field).type))

    def rows(self) -> Iterator[_Row]:
        import pyarrow as pa

        parquet = self.parquet
        self.total = parquet.metadata.num_rows
        line_number = 0
        groups = parquet.num_row_groups
        for group in range(groups):
            try:
                for batch in parquet.iter_batches(batch_size=BATCH_SIZE, row_groups=[group]):
                    for record in batch.to_pylist():
                        line_number += 1
                        yield _Row(line_number, record)
                    self.done = line_number
            except (*_READ_ERRORS, pa.ArrowException) as error:
                where = f"in row group {group + 1} of {groups}, after row {line_number}"
                raise _Damaged(self.path, where, error) from None


class _HuggingFaceReader(_Reader):
    """A folder written by ``save_to_disk`` (Arrow, memory-mapped) or a Hub-layout folder."""

    unit = "rows"

    def __init__(self, path: Path, encoding: str, id_field: str):
        import datasets

        super().__init__(path, encoding, id_field)
        self.splits = list(self._splits(datasets))
        for _, dataset in self.splits:
            feature = (dataset.features or {}).get(id_field)
            if isinstance(feature, datasets.Value) and feature.dtype.startswith("float"):
                _refuse_float_ids(path, id_field, feature.dtype)

    def rows(self) -> Iterator[_Row]:
        for split, dataset in self.splits:
            self.total += len(dataset) if hasattr(dataset, "__len__") else 0
            line_number = 0
            for chunk in dataset.iter(batch_size=1_000):
                names = list(chunk)
                for values in zip(*(chunk[name] for name in names), strict=True):
                    line_number += 1
                    self.done += 1
                    yield _Row(
                        line_number,
                        dict(zip(names, values, strict=True)),
                        where=f"{self.path}[{split}]",
                    )

    def _splits(self, datasets) -> Iterator[tuple[str, Any]]:
        saved = (self.path / "dataset_dict.json").exists() or (self.path / "state.json").exists()
        try:
            loaded = (
                datasets.load_from_disk(str(self.path))
                if saved
                else datasets.load_dataset(str(self.path))
            )
        except Exception as error:
            raise InputError(
                f"{self.path} is not a Hugging Face dataset folder ({error}).",
                hint="Pass a folder written by save_to_disk, or a .jsonl/.csv/.parquet file.",
            ) from None
        if isinstance(loaded, datasets.DatasetDict):
            yield from loaded.items()
        else:
            yield "train", loaded


def _compressed_position(handle: IO[bytes]) -> int:
    raw = getattr(handle, "fileobj", None)  # gzip: report progress in compressed bytes
    return (raw or handle).tell()


def _refuse_float_ids(path: Path, column: str, type_name: str) -> None:
    raise InputError(
        f"{path}: the id column {column!r} holds floating-point numbers ({type_name}), which "
        "cannot keep ids longer than 15 digits exactly.",
        hint="Write the file again with the ids as strings or int64 (casting this column would "
        "keep its rounded values).",
    )


def open_reader(
    path: Path, encoding: str = "utf-8", id_field: str = "post_id", force_encoding: bool = False
) -> _Reader:
    """The reader for ``path``, chosen by its suffix; unusable paths are one clear error.

    The head of a text file is checked against ``encoding`` (a GBK file read as UTF-8, or a
    UTF-8 file read as anything else, is refused with the fix) unless ``force_encoding``.
    """
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    if path.is_dir():
        return _HuggingFaceReader(path, encoding, id_field)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"Unknown encoding {encoding!r}.", hint="Try utf-8 or gbk.") from None
    suffixes = [suffix.lower() for suffix in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty.")
    if suffix in {".parquet", ".pq"}:
        return _ParquetReader(path, encoding, id_field)
    if suffix in {".jsonl", ".ndjson", ".json"}:
        if suffix == ".json":
            _refuse_json_array(path)
        if not force_encoding:
            _check_encoding(path, encoding)
        return _JsonLinesReader(path, encoding, id_field)
    if suffix in {".csv", ".tsv"}:
        if not force_encoding:
            _check_encoding(path, encoding)
        return _CsvReader(path, encoding, id_field, "\t" if suffix == ".tsv" else ",")
    raise InputError(
        f"{path}: unknown file type {suffix or '(no suffix)'!r}.",
        hint="Use .jsonl, .csv, .tsv or .parquet (optionally .gz), or a saved dataset folder.",
    )


def _refuse_json_array(path: Path) -> None:
    head = _read_head(path, 4096).lstrip(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"["):
        raise InputError(
            f"{path} holds a JSON array; annotate reads JSON Lines (one object per line).",
            hint=f"Convert it first: jq -c '.[]' {path} > {path.with_suffix('.jsonl')}",
        )


# ------------------------------------------------------------------------- validation


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _without_nul(text: str) -> str:
    """``text`` without NUL characters, which PostgreSQL cannot store in text or JSON."""
    return text.replace("\x00", "") if "\x00" in text else text


def _post_id(value: Any, name: str) -> str:
    if value is None or value == "":
        raise _RowError(f"missing {name!r} (the post id)")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _RowError(f"{name!r} must be a string or an integer, found {_type_name(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise _RowError(f"{name!r} must be a string or an integer, found {value!r}")
        if abs(value) >= 2**53:  # where floats stop holding every integer
            raise _RowError(
                f"{name!r} is a floating-point number beyond 2**53 ({value!r}), whose digits are "
                "not exact; write ids as strings or integers"
            )
        value = int(value)
    post_id = _without_nul(str(value)).strip()
    if not post_id:
        raise _RowError(f"{name!r} (the post id) is blank")
    if len(post_id) > 200:
        raise _RowError(f"{name!r} is longer than 200 characters")
    return post_id


def _text(value: Any, name: str) -> str:
    if value is None:
        raise _RowError(f"missing {name!r} (the post text)")
    if not isinstance(value, str):
        raise _RowError(f"{name!r} must be a string, found {_type_name(value)}")
    if len(value) > MAX_FIELD_CHARS:
        raise _RowError(f"{name!r} is longer than {MAX_FIELD_CHARS:,} characters")
    text = normalise_text(value)
    if not text:
        raise _RowError(f"{name!r} (the post text) is empty")
    return text


def _short_string(value: Any, name: str, limit: int) -> str | None:
    if type(value) is str and len(value) <= limit and "\x00" not in value:  # the common case
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _RowError(f"{name!r} must be a string, found {_type_name(value)}")
    text = _without_nul(str(value)).strip()
    if len(text) > limit:
        raise _RowError(f"{name!r} is longer than {limit} characters")
    return text or None


def _count(value: Any, name: str) -> int | None:
    if type(value) is int and value >= 0:
        return value
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _RowError(f"{name!r} must be a non-negative integer, found a boolean")
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not text.isdigit():
            raise _RowError(f"{name!r} must be a non-negative integer, found {value!r}")
        return int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise _RowError(f"{name!r} must be a non-negative integer, found {value!r}")
    return value


def _timestamp(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise _RowError(f"{name!r} is not a date: {value!r}")
        seconds = value / 1000 if abs(value) > 1e11 else value  # epoch milliseconds
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise _RowError(f"{name!r} is not a date: {value!r}") from None
    elif isinstance(value, str) and _EPOCH.fullmatch(value.strip()):
        return _timestamp(float(value), name)  # CSV cells are text, epochs included
    elif isinstance(value, str):
        text = _without_nul(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise _RowError(
                f"{name!r} is not an ISO 8601 date or epoch seconds: {value!r}"
            ) from None
    else:
        raise _RowError(f"{name!r} must be a date string or a number, found {_type_name(value)}")
    # Naive times are taken as UTC, so that SQLite and PostgreSQL store the same instant.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON types, without NUL characters in its strings."""
    if isinstance(value, str):
        return _without_nul(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return _without_nul(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {_without_nul(str(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@functools.cache
def _known_fields(id_field: str, text_field: str) -> frozenset[str]:
    return frozenset({id_field, text_field, *OPTIONAL_FIELDS})


def post_values(
    record: dict[str, Any], id_field: str, text_field: str, json_native: bool = False
) -> dict[str, Any]:
    """Validate one input record and return the columns of its post (raises ``_RowError``).

    ``json_native`` says the record came from a JSON parser, so its extra fields need no
    conversion before they are stored as JSON.
    """
    text = _text(record.get(text_field), text_field)
    lang = _short_string(record.get("lang"), "lang", 64)
    if lang is not None:
        lang = language_of_tag(lang)
    values = {
        "post_id": _post_id(record.get(id_field), id_field),
        "text": text,
        "text_hash": text_hash(text),
        "lang": lang or detect_language(text),
        "platform": _short_string(record.get("platform"), "platform", 50),
        "account_id": _short_string(record.get("account_id"), "account_id", 200),
        "created_at": _timestamp(record.get("created_at"), "created_at"),
        "url": _short_string(record.get("url"), "url", 4096),
    }
    if values["platform"]:
        values["platform"] = values["platform"].lower()
    for name in COUNT_FIELDS:
        values[name] = _count(record.get(name), name)
    known = _known_fields(id_field, text_field)
    meta = {key: value for key, value in record.items() if key not in known}
    values["meta"] = (meta if json_native else _jsonable(meta)) or None
    return values


# ---------------------------------------------------------------------------- writing


class _Places:
    """Where each post id of a run was first read, in 16 bytes per row: ids are kept as their
    ``hash()`` and places as ``file number << 40 | line``; names are looked up only for the
    rare ids that conflict."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.numbers: dict[str, int] = {}
        self.hashes = array("q")
        self.places = array("q")

    def add(self, post_id: str, where: str, line: int) -> int:
        """Record that ``post_id`` was read at ``where:line``; return the encoded place."""
        number = self.numbers.get(where)
        if number is None:
            number = self.numbers[where] = len(self.names)
            self.names.append(where)
        place = number << 40 | line
        self.hashes.append(hash(post_id))
        self.places.append(place)
        return place

    def locate(self, place: int) -> tuple[str, int]:
        """The file (or dataset split) and line of an encoded place."""
        return self.names[place >> 40], place & (1 << 40) - 1

    def where(self, place: int) -> str:
        return "{}:{}".format(*self.locate(place))

    def first(self, post_ids: list[str]) -> dict[str, str]:
        """``FILE:LINE`` where each of ``post_ids`` was first read in this run."""
        import numpy as np

        wanted = {hash(post_id): post_id for post_id in post_ids}
        hashes = np.frombuffer(self.hashes, dtype=np.int64)
        found: dict[str, str] = {}
        for index in np.flatnonzero(np.isin(hashes, list(wanted))).tolist():
            post_id = wanted[self.hashes[index]]
            found.setdefault(post_id, self.where(self.places[index]))
        return found


class _PostWriter:
    """Buffers validated posts and writes them in batches, skipping known ``(source, post_id)``.

    A known id with the same text is a duplicate; with another text it is a conflict, handed
    to ``on_conflict`` and not stored.

    Rows go to the driver's ``executemany`` as tuples, with SQLAlchemy's own bind processors
    for the date and JSON columns: per-row statement handling in SQLAlchemy costs more than
    everything else in an ingest.
    """

    def __init__(
        self,
        connection: Connection,
        source: str,
        run_id: int,
        report: IngestReport,
        commit: bool,
        on_conflict: Callable[[Reject], None],
    ):
        dialect = connection.dialect
        if dialect.name not in {"sqlite", "postgresql"}:
            raise InputError(f"Ingest supports SQLite and PostgreSQL, not {dialect.name}.")
        self.connection = connection
        self.commit = commit
        self.source = source
        self.run_id = run_id
        self.report = report
        self.on_conflict = on_conflict
        self.buffer: dict[str, dict[str, Any]] = {}
        self.buffer_places: dict[str, int] = {}
        self.places = _Places()
        table = Post.__table__
        self.table = table
        self.columns = [column.name for column in table.columns if column.name != "id"]
        self.processors = {
            column.name: processor
            for column in table.columns
            if column.name in self.columns
            and isinstance(column.type, JSON | DateTime)
            and (processor := column.type.dialect_impl(dialect).bind_processor(dialect))
        }
        self.mark = mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.insert_sql = (
            f"INSERT INTO {table.name} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join(mark for _ in self.columns)}) "
            "ON CONFLICT (source, post_id) DO NOTHING"
        )

    def _lookup(self, sql: str, params: list[Any], values: list[str]) -> list[Row]:
        """The rows of ``SQL IN values``, in plain SQL (SQLAlchemy's expanding IN compiles
        10,000 parameter names per batch, which costs more than the query)."""
        if self.connection.dialect.name == "postgresql":
            sql, params = f"{sql} = ANY({self.mark})", [*params, values]
        else:
            sql, params = f"{sql} IN ({', '.join('?' * len(values))})", [*params, *values]
        return list(self.connection.exec_driver_sql(sql, tuple(params)))

    def _bind(self, name: str, value: Any) -> Any:
        processor = self.processors.get(name)
        return processor(value) if processor is not None else value

    def _conflict(self, values: dict[str, Any], place: int, why: str) -> None:
        self.report.conflicts += 1
        name, line = self.places.locate(place)
        raw = _raw_record({"post_id": values["post_id"], "text": values["text"]})
        self.on_conflict(Reject(name, line, f"conflict: post_id {values['post_id']!r} {why}", raw))

    def add(self, values: dict[str, Any], where: str, line: int) -> None:
        post_id = values["post_id"]
        place = self.places.add(post_id, where, line)
        earlier = self.buffer.get(post_id)
        if earlier is not None:
            if earlier["text"] == values["text"]:
                self.report.duplicates += 1
            else:
                first = self.places.where(self.buffer_places[post_id])
                self._conflict(values, place, f"was read at {first} with a different text")
            return
        self.buffer[post_id] = values
        self.buffer_places[post_id] = place
        if len(self.buffer) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        posts, self.buffer = self.buffer, {}
        places, self.buffer_places = self.buffer_places, {}
        table = self.table
        stored = {
            post_id: (text, run_id)
            for post_id, text, run_id in self._lookup(
                f"SELECT post_id, text, ingest_run_id FROM {table.name} "
                f"WHERE source = {self.mark} AND post_id",
                [self.source],
                list(posts),
            )
        }
        new = []
        read_in_this_run = []
        for post_id, values in posts.items():
            if post_id not in stored:
                new.append(values)
                continue
            text, run_id = stored[post_id]
            if text == values["text"]:
                self.report.duplicates += 1
            elif run_id == self.run_id:
                read_in_this_run.append(post_id)
            else:
                why = f"is already stored with a different text (ingest run {run_id})"
                self._conflict(values, places[post_id], why)
        if read_in_this_run:
            for post_id, first in self.places.first(read_in_this_run).items():
                why = f"was read at {first} with a different text"
                self._conflict(posts[post_id], places[post_id], why)
        if not new:
            return
        hashes = {values["text_hash"] for values in new}
        seen_text = {
            row[0]
            for row in self._lookup(
                f"SELECT DISTINCT text_hash FROM {table.name} WHERE text_hash", [], list(hashes)
            )
        }
        fixed = {"source": self.source, "ingest_run_id": self.run_id, "ingested_at": _utcnow()}
        fixed = {name: self._bind(name, value) for name, value in fixed.items()}
        per_row = [(name, fn) for name, fn in self.processors.items() if name not in fixed]
        columns = self.columns
        rows = []
        for values in new:
            if values["text_hash"] in seen_text:
                self.report.same_text += 1
            seen_text.add(values["text_hash"])
            values.update(fixed)
            for name, processor in per_row:
                values[name] = processor(values[name])
            rows.append(tuple([values[name] for name in columns]))
        result = self.connection.exec_driver_sql(self.insert_sql, rows)
        # A concurrent ingest may have stored some of these ids between the check and the insert.
        inserted = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else 0
        self.report.inserted += inserted
        self.report.duplicates += len(new) - inserted
        if self.commit:
            self.connection.commit()


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- ingest


ProgressCallback = Callable[[str, int, int, int, str], None]
"""``progress(file, done, total, rows_read, unit)``, called every few hundred rows."""


class _RejectLog:
    """Reports rows that are not stored (rejected, or in conflict) as they happen and appends
    them to a JSONL file under ``folder``; with ``strict`` the first one stops the run."""

    def __init__(
        self,
        folder: Path | None,
        run_id: int,
        callback: Callable[[Reject], None] | None,
        strict: bool,
    ):
        self.folder = None if strict else folder
        self.run_id = run_id
        self.callback = callback
        self.strict = strict
        self.path: Path | None = None
        self.handle: IO[str] | None = None

    def add(self, item: Reject) -> None:
        if self.strict:
            raise InputError(f"{item}.", hint="Nothing from this run was stored (--strict).")
        if self.callback is not None:
            self.callback(item)
        if self.folder is None:
            return
        if self.handle is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            self.path = self.folder / f"ingest-{self.run_id}-{stamp}.jsonl"
            self.handle = self.path.open("w", encoding="utf-8")
        self.handle.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def ingest_files(
    store: Store,
    paths: Iterable[Path],
    *,
    source: str = "default",
    strict: bool = False,
    encoding: str = "utf-8",
    force_encoding: bool = False,
    id_field: str = "post_id",
    text_field: str = "text",
    rejects_dir: Path | None = None,
    on_reject: Callable[[Reject], None] | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest post files into the store and return what happened.

    Every file is checked (exists, not empty, known format, right encoding unless
    ``force_encoding``, no floating-point id column) before anything is written. Without
    ``strict`` each batch is committed as it is written, so an interrupted run keeps what it
    stored and a rerun completes it; rejected rows and conflicts are reported through
    ``on_reject`` and written to a JSONL file in ``rejects_dir``. With ``strict`` the whole run
    is one transaction: the first bad row or conflict raises :class:`InputError` with nothing
    stored, and a run that completes is committed whole.
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise InputError("No files given.", hint="Pass one or more .jsonl, .csv or .parquet files.")
    if not source.strip():
        raise InputError("The source name is empty.")
    readers = [open_reader(path, encoding, id_field, force_encoding) for path in paths]
    report = IngestReport(files=[str(path) for path in paths])
    started = time.perf_counter()

    with store.engine.connect() as connection:
        report.interrupted_runs = _mark_interrupted_runs(connection)
        run = IngestRun(
            source=source,
            files=report.files,
            strict=strict,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        report.run_id = _start_run(connection, run, commit=not strict)
        rejects = _RejectLog(rejects_dir, report.run_id, on_reject, strict)
        writer = _PostWriter(
            connection, source, report.run_id, report, commit=not strict, on_conflict=rejects.add
        )
        status = "failed"
        try:
            for reader in readers:
                _ingest_one(reader, writer, report, rejects, id_field, text_field, progress)
            writer.flush()
            status = "done"
        except _Damaged as damage:
            if strict:
                outcome = "nothing from this run was stored (--strict)"
            else:
                writer.flush()  # the rows read before the damage
                outcome = (
                    f"this run stored {report.inserted} posts before it and is recorded as failed"
                )
            raise InputError(
                f"{damage.problem}; {outcome}.",
                hint="Replace the file and ingest it again: posts already stored are not stored "
                "twice.",
            ) from None
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            rejects.close()
            report.rejects_file = str(rejects.path) if rejects.path else None
            report.seconds = time.perf_counter() - started
            try:
                if status == "done":
                    # One commit: a strict run's posts and its record, or a run's last batch.
                    _finish_run(connection, report, status)
                else:
                    # Strict runs keep nothing unless they finish; others keep committed batches.
                    connection.rollback()
                    if not strict:
                        _record_failure(connection, report, status)
            finally:
                _release_run(connection, report.run_id)
    if report.read and report.rejected == report.read:
        raise InputError(
            f"Every row was rejected ({report.rejected}); nothing was stored.",
            hint=f"See {report.rejects_file or 'the messages above'}.",
        )
    return report


def _ingest_one(
    reader: _Reader,
    writer: _PostWriter,
    report: IngestReport,
    rejects: _RejectLog,
    id_field: str,
    text_field: str,
    progress: ProgressCallback | None,
) -> None:
    name = str(reader.path)
    rows_in_file = 0
    for row in reader.rows():
        rows_in_file += 1
        report.read += 1
        where = row.where or name
        error = row.error
        if error is None:
            try:
                native = reader.json_native and not row.escaped_nul
                values = post_values(row.record, id_field, text_field, native)
            except _RowError as row_error:
                error = str(row_error)
            else:
                writer.add(values, where, row.line)
        if error is not None:
            report.rejected += 1
            rejects.add(Reject(where, row.line, error, row.raw or _raw_record(row.record)))
        if progress is not None and report.read % 500 == 0:
            progress(name, reader.done, reader.total, report.read, reader.unit)
    if rows_in_file == 0:
        raise InputError(f"{name} has no rows.", hint="An empty file is not a successful ingest.")
    if progress is not None:
        progress(name, reader.total, reader.total, report.read, reader.unit)


def _raw_record(record: dict[str, Any] | None) -> str | None:
    if record is None:
        return None
    return json.dumps(_jsonable(record), ensure_ascii=False)[:2000]


# --------------------------------------------------------------------------- runs

_RUN_LOCK = 0x616E6E6F  # "anno": the class of PostgreSQL advisory locks held by ingest runs


def _start_run(connection: Connection, run: IngestRun, commit: bool) -> int:
    values = run.model_dump(exclude={"id"})
    table = IngestRun.__table__
    run_id = connection.execute(table.insert().values(**values)).inserted_primary_key[0]
    if connection.dialect.name == "postgresql":
        # Held by this session while the run lives, and taken before others can see the run:
        # the server drops it when the session ends, whichever machine the run was on.
        connection.exec_driver_sql("SELECT pg_advisory_lock(%s, %s)", (_RUN_LOCK, run_id))
    if commit:
        connection.commit()
    return run_id


def _release_run(connection: Connection, run_id: int) -> None:
    if connection.dialect.name != "postgresql":
        return
    try:
        connection.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", (_RUN_LOCK, run_id))
        connection.commit()
    except Exception:
        connection.rollback()  # a broken session has dropped the lock already


def _mark_interrupted_runs(connection: Connection) -> list[int]:
    """Mark as ``interrupted`` the runs still ``running`` whose process is gone, and return
    their ids.

    On PostgreSQL a run is gone when its advisory lock is free (its session ended, on any
    machine). On SQLite it is gone when it ran on this machine and its pid is no longer a
    process, or is a process started after the run (the pid was reused); a run from another
    machine is left as it is. Runs recorded without a pid (before annotate recorded them) are
    left as they are.
    """
    table = IngestRun.__table__
    running = connection.execute(
        select(table.c.id, table.c.pid, table.c.host, table.c.started_at).where(
            table.c.status == "running", table.c.pid.is_not(None)
        )
    ).all()
    gone = [run.id for run in running if _run_is_gone(connection, run)]
    if gone:
        connection.execute(
            update(table)
            .where(table.c.id.in_(gone), table.c.status == "running")
            .values(status="interrupted", finished_at=datetime.now(UTC))
        )
    connection.commit()
    return gone


def _run_is_gone(connection: Connection, run: Row) -> bool:
    if connection.dialect.name == "postgresql":
        key = (_RUN_LOCK, run.id)
        free = connection.exec_driver_sql("SELECT pg_try_advisory_lock(%s, %s)", key).scalar()
        if free:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", key)
        return bool(free)
    if run.host != socket.gethostname():
        return False  # another machine's processes cannot be seen from here
    started = run.started_at
    return _process_is_gone(run.pid, started.replace(tzinfo=started.tzinfo or UTC))


def _process_is_gone(pid: int, since: datetime) -> bool:
    """True when no process ``pid`` runs on this machine, or the one that does was killed and
    not yet reaped, or started after ``since`` (its pid was reused). Where that cannot be told
    (not POSIX), the process counts as running."""
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's process
    try:  # Linux: state and start time (clock ticks after boot) of the process
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        stat = Path("/proc/stat").read_text().split()
        booted = int(stat[stat.index("btime") + 1])
    except (OSError, ValueError, IndexError):
        return False
    if fields[0] == "Z":
        return True
    started = booted + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started > since.timestamp() + 5  # a few seconds for the clock's coarse boot time


def _finish_run(connection: Connection, report: IngestReport, status: str) -> None:
    table = IngestRun.__table__
    connection.execute(
        update(table)
        .where(table.c.id == report.run_id)
        .values(
            status=status,
            finished_at=datetime.now(UTC),
            same_text=report.same_text,
            **report.counts(),
        )
    )
    connection.commit()


def _record_failure(connection: Connection, report: IngestReport, status: str) -> None:
    try:
        _finish_run(connection, report, status)
    except Exception:
        connection.rollback()  # the run's own record is bookkeeping; never mask the real error


# ------------------------------------------------------------------------------ stats


def post_stats(store: Store) -> dict[str, Any]:
    """Counts of stored posts overall and by source, platform, language and month."""
    from sqlalchemy import func

    table = Post.__table__
    if store.dialect == "postgresql":
        month = func.to_char(func.timezone("UTC", table.c.created_at), "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", table.c.created_at)
    with store.engine.connect() as connection:

        def grouped(column) -> dict[str, int]:
            query = select(column, func.count()).group_by(column).order_by(column)
            return {
                str(key) if key is not None else "(unknown)": count
                for key, count in connection.execute(query)
            }

        groups = (
            select(func.count().label("n"))
            .select_from(table)
            .group_by(table.c.text_hash)
            .having(func.count() > 1)
        ).subquery()
        duplicate_groups, duplicate_posts = connection.execute(
            select(func.count(), func.coalesce(func.sum(groups.c.n), 0))
        ).one()
        first, last = connection.execute(
            select(func.min(table.c.created_at), func.max(table.c.created_at))
        ).one()
        return {
            "posts": connection.scalar(select(func.count()).select_from(table)),
            "accounts": connection.scalar(select(func.count(table.c.account_id.distinct()))),
            "duplicate_text_groups": duplicate_groups,
            "posts_in_duplicate_text_groups": int(duplicate_posts),
            "first_post_at": first.isoformat() if first else None,
            "last_post_at": last.isoformat() if last else None,
            "by_source": grouped(table.c.source),
            "by_platform": grouped(table.c.platform),
            "by_lang": grouped(table.c.lang),
            "by_month": grouped(month),
        }
