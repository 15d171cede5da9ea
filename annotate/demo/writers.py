"""Writers: a demo corpus as JSON lines, CSV or Parquet, streamed so memory stays flat."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from annotate.demo.generator import DEMO_SEED, POST_FIELDS, generate_posts
from annotate.taxonomy import Taxonomy

_PARQUET_ROW_GROUP = 50_000


def _write_jsonl(path: Path, posts: Iterable[dict[str, Any]]) -> int:
    # One encoder for the whole file: json.dumps(..., ensure_ascii=False) builds a new one per call.
    encode = json.JSONEncoder(ensure_ascii=False).encode
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for post in posts:
            out.write(encode(post) + "\n")
            count += 1
    return count


def _write_csv(path: Path, posts: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(POST_FIELDS)
        for post in posts:
            row = [post[field] for field in POST_FIELDS]
            row[-2] = "|".join(post["true_labels"])
            row[-1] = post["true_severity"] or ""
            writer.writerow(row)
            count += 1
    return count


def _write_parquet(path: Path, posts: Iterable[dict[str, Any]]) -> int:
    import pyarrow as pa  # imported here so the generator stays usable without pyarrow
    import pyarrow.parquet as pq

    integer_fields = {"likes", "reposts", "comments"}
    schema = pa.schema(
        [
            pa.field("true_labels", pa.list_(pa.string()), nullable=False)
            if field == "true_labels"
            else pa.field(field, pa.int64(), nullable=False)
            if field in integer_fields
            else pa.field(field, pa.string(), nullable=field == "true_severity")
            for field in POST_FIELDS
        ]
    )
    count = 0
    columns: dict[str, list[Any]] = {field: [] for field in POST_FIELDS}
    with pq.ParquetWriter(path, schema) as writer:
        for post in posts:
            for field in POST_FIELDS:
                columns[field].append(post[field])
            count += 1
            if count % _PARQUET_ROW_GROUP == 0:
                writer.write_table(pa.Table.from_pydict(columns, schema=schema))
                columns = {field: [] for field in POST_FIELDS}
        if columns["post_id"]:
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))
    return count


_WRITERS: dict[str, Callable[[Path, Iterable[dict[str, Any]]], int]] = {
    ".jsonl": _write_jsonl,
    ".csv": _write_csv,
    ".parquet": _write_parquet,
}


def write_corpus(
    path: str | Path,
    size: int,
    seed: int = DEMO_SEED,
    *,
    taxonomy: Taxonomy | None = None,
    templates: Path | str | None = None,
) -> int:
    """Write ``size`` demo posts to ``path`` and return how many were written.

    The format follows the suffix: ``.jsonl`` (one JSON object per line, UTF-8), ``.csv``
    (UTF-8 with a header row, ``true_labels`` joined with ``|``, no severity as an empty cell)
    or ``.parquet`` (written in row groups, so memory stays flat). The file includes the hidden
    ground-truth fields; strip :data:`HIDDEN_FIELDS` before anything leaves the workspace.

    ``taxonomy`` and ``templates`` are as for :func:`generate_posts`; a label the data file
    does not cover is an error before the file is created.
    """
    path = Path(path)
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        known = ", ".join(_WRITERS)
        raise ValueError(
            f"Cannot write a corpus to {path}: unknown suffix {path.suffix!r}; use one of {known}."
        )
    if size < 1:
        raise ValueError(f"The corpus size must be at least 1, not {size}.")
    posts = generate_posts(size, seed, taxonomy=taxonomy, templates=templates)
    path.parent.mkdir(parents=True, exist_ok=True)
    return writer(path, posts)
