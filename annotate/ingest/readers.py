"""Streaming readers of post files: JSON Lines, CSV/TSV (either optionally ``.gz``), Parquet,
and Hugging Face dataset folders.

A reader yields numbered rows (a record, or the reason the row cannot be read) and keeps memory
flat whatever the file size. :func:`open_reader` picks the reader by suffix and refuses, before
anything is read, what cannot be ingested: a missing or empty file, an unknown type, a JSON
array, a file in another encoding than the one asked for, floating-point ids. A file that
cannot be read on from some point raises :class:`_Damaged` there.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, AnyStr

import orjson

from annotate.errors import InputError
from annotate.ingest.validation import MAX_FIELD_CHARS, _type_name

SNIFF_BYTES = 256 * 1024
_SURROGATES = re.compile("[\udc80-\udcff]")
READ_BATCH_SIZE = 10_000
"""Rows per record batch read from a Parquet row group (as many as a write batch holds)."""

_READ_ERRORS = (EOFError, OSError, zlib.error)
"""What reading a cut-off or corrupted file raises (gzip streams, disks, Parquet pages)."""


class _Damaged(InputError):
    """A file that cannot be read on from some point: cut off, corrupted or unreadable."""

    def __init__(self, path: Path, where: str, error: BaseException):
        text = str(error).strip()
        detail = text.splitlines()[0].rstrip(".") if text else type(error).__name__
        self.problem = f"{path}: the file is cut off or damaged {where} ({detail})"
        super().__init__(f"{self.problem}.")


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
                for batch in parquet.iter_batches(batch_size=READ_BATCH_SIZE, row_groups=[group]):
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
