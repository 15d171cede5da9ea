"""The demo corpus as a data lake holds it: hive-partitioned Parquet, written in chunks.

Usage::

    write_lake("lake/", 1_000_000)   # lake/platform=weibo/month=2024-10/part-0-0.parquet, …
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from annotate.demo.generator import generate_posts

__all__ = ["LAKE_PARTITIONS", "write_lake"]

#: Hive partition keys: the platform and the UTC month of ``created_at``.
LAKE_PARTITIONS = ("platform", "month")
CHUNK = 200_000


def write_lake(
    folder: Path | str,
    size: int,
    seed: int = 0,
    *,
    posts: Any = None,
    chunk: int = CHUNK,
    row_group_size: int = 50_000,
    partitions: tuple[str, ...] = LAKE_PARTITIONS,
    start: int = 0,
) -> int:
    """Write ``size`` demo posts (or the given ``posts``) under ``folder`` as Parquet
    partitioned by ``partitions`` (platform and month), ``chunk`` posts at a time (memory
    stays flat); returns the number of files written. ``created_at`` becomes a UTC timestamp
    and ``month`` its ``YYYY-MM``. ``start`` numbers the files of this call after those of
    earlier calls into the same folder."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    folder = Path(folder)
    stream = iter(posts) if posts is not None else generate_posts(size, seed)
    schema = None
    files = 0
    for number in itertools.count(start):
        rows = list(itertools.islice(stream, chunk))
        if not rows:
            break
        columns: dict[str, list[Any]] = {}
        for row in rows:
            created = row.get("created_at")
            moment = datetime.fromisoformat(created).astimezone(UTC) if created else None
            row = {**row, "created_at": moment}
            row["month"] = f"{moment:%Y-%m}" if moment else "unknown"
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        table = pa.table(columns) if schema is None else pa.table(columns, schema=schema)
        schema = schema or table.schema
        written: list[str] = []
        ds.write_dataset(
            table,
            folder,
            format="parquet",
            partitioning=list(partitions),
            partitioning_flavor="hive",
            basename_template=f"part-{number}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            max_rows_per_group=row_group_size,
            min_rows_per_group=min(row_group_size, 10_000),
            file_visitor=lambda file, found=written: found.append(file.path),
        )
        files += len(written)
    return files
