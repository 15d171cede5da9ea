"""Writing a version's rows: the rows spilled by :mod:`annotate.registry.read`, copied into
one Parquet file per split once the splits are chosen, and what the card says about them
(:class:`Stats`), gathered on the way."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotate.registry.manifest import SPLITS
from annotate.registry.read import Plan


@dataclass
class Stats:
    """What the card says about the rows written, gathered while they stream past."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    labels: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in SPLITS})
    annotators: set[str] = field(default_factory=set)
    adjudicated: int = 0
    download_size: int = 0  # bytes of the Parquet files


def write_splits(folder: Path, spill_path: Path, plan: Plan, split_codes, progress) -> Stats:
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
    stats = Stats()
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
