"""Ingest: reading post files into the store.

Formats: JSON Lines (``.jsonl``, ``.ndjson``, ``.json`` holding one object per line, optionally
``.gz``), CSV/TSV (optionally ``.gz``), Parquet, and a folder written by
``datasets.Dataset.save_to_disk`` (or a Hub-layout folder of Parquet files).

Files are streamed and written in batches, so memory stays flat whatever the file size. A bad
row is skipped and reported as ``FILE:LINE: reason`` (or, with ``strict``, stops the run and
nothing from the run is stored). ``(source, post_id)`` is unique: ingesting a file again
inserts nothing, and an id that comes again with another text is a conflict, not stored.
Each run is recorded in ``ingest_runs``; a run whose process died is marked ``interrupted``
by the next one.

Modules
-------
:mod:`~annotate.ingest.readers` (:func:`open_reader`: the streaming readers, encoding checks,
damaged files), :mod:`~annotate.ingest.validation` (:func:`post_values`: one record into the
columns of its post), :mod:`~annotate.ingest.writer` (batched writes, duplicates, conflicts,
same-text groups), :mod:`~annotate.ingest.runs` (the ``ingest_runs`` record, interrupted runs,
the reject log), :mod:`~annotate.ingest.report` (:class:`Reject`, :class:`IngestReport`) and
:mod:`~annotate.ingest.stats` (:func:`post_stats`).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from annotate.errors import InputError
from annotate.ingest.readers import _Damaged, _Reader, open_reader
from annotate.ingest.report import IngestReport, Reject
from annotate.ingest.runs import (
    _finish_run,
    _mark_interrupted_runs,
    _record_failure,
    _RejectLog,
    _release_run,
    _start_run,
)
from annotate.ingest.stats import post_stats
from annotate.ingest.validation import MAX_FIELD_CHARS, _raw_record, _RowError, post_values
from annotate.ingest.writer import _PostWriter
from annotate.store import IngestRun, Store

__all__ = [
    "MAX_FIELD_CHARS",
    "IngestReport",
    "ProgressCallback",
    "Reject",
    "ingest_files",
    "open_reader",
    "post_stats",
    "post_values",
]

ProgressCallback = Callable[[str, int, int, int, str], None]
"""``progress(file, done, total, rows_read, unit)``, called every few hundred rows."""


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
