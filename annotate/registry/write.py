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

ROW_GROUP = 50_000


@dataclass
class Stats:
    """What the card says about the rows written, gathered while they stream past."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    labels: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in SPLITS})
    annotators: set[str] = field(default_factory=set)
    adjudicated: int = 0
    download_size: int = 0  # bytes of the Parquet files

    def add(self, split: str, rows: Any, names: list[str]) -> None:
        """Count the Arrow table ``rows`` of ``split`` (``names``: the category labels, by
        class number)."""
        import pyarrow.compute as pc

        self.counts[split] += rows.num_rows
        self.sizes[split] += rows.nbytes
        flat = pc.list_flatten(rows.column("labels"))
        for entry in pc.value_counts(flat).to_pylist():
            self.labels[split][names[entry["values"]]] += entry["counts"]
        answers = pc.list_flatten(rows.column("annotations"))
        self.annotators.update(pc.unique(pc.struct_field(answers, "annotator")).to_pylist())
        self.adjudicated += pc.sum(rows.column("adjudicated")).as_py() or 0


def write_splits(folder: Path, spill_path: Path, plan: Plan, split_codes, progress) -> Stats:
    """Copy the spilled rows into ``data/{split}-00000-of-00001.parquet``: ``split_codes``
    holds each row's split number (-1: withheld), in the order of the spill.

    The rows of a split are gathered into row groups of :data:`ROW_GROUP` rows (a chunk of
    the spill holds a few thousand rows of the smaller splits, and a row group per chunk
    made files slower to write and to read); each row group is encoded on a thread while
    the next chunk is filtered."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = plan.schema
    names = list(plan.taxonomy.field("category").label_ids)
    data = folder / "data"
    data.mkdir()
    writers: dict[str, Any] = {}
    gathered: dict[str, list[Any]] = {split: [] for split in SPLITS}
    stats = Stats()
    total, done = int((split_codes >= 0).sum()), 0
    # One thread: writes reach each file in the order they were submitted.
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
    pending: list[Any] = []

    def flush(split: str) -> None:
        table = pa.concat_tables(gathered[split])
        gathered[split] = []
        writer = writers.get(split)
        if writer is None:
            path = data / f"{split}-00000-of-00001.parquet"
            writer = writers[split] = pq.ParquetWriter(path, schema)
        pending.append(background.submit(writer.write_table, table, row_group_size=ROW_GROUP))
        stats.add(split, table, names)
        while len(pending) > 2:  # bound the rows held in memory
            pending.pop(0).result()

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
                    gathered[split].append(table.filter(pa.array(mask)))
                    if sum(piece.num_rows for piece in gathered[split]) >= ROW_GROUP:
                        flush(split)
                done += int((codes >= 0).sum())
                progress("writing posts", done, total)
            for split in SPLITS:
                if gathered[split]:
                    flush(split)
            for future in pending:
                future.result()
    finally:
        background.shutdown(wait=True, cancel_futures=True)
        for writer in writers.values():
            writer.close()
    stats.download_size = sum(path.stat().st_size for path in data.iterdir())
    return stats
