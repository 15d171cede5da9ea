"""Long tables for agreement, read from the store or from a file (the IO side of agreement).

:mod:`annotate.agreement` is pure and takes long tables ``(item, annotator, value)``; this
module builds them:

- :func:`project_table`: one field of a project, from the store's non-deleted, non-skipped
  annotations (items are post ids, annotators their pseudonyms), with the gold answers of gold
  tasks and the batch of every item;
- :func:`read_table_file`: a CSV or JSONL file with ``item_id,annotator,label`` columns (or
  ``labels``, ``|``-separated, for a multi-label field; optionally ``batch``);
- :func:`post_texts`: the posts behind a few items, for the report's most-disagreed items.

A value has the form its field kind calls for (see :func:`field_value`).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from annotate.errors import AnnotateError, InputError
from annotate.store import Annotation, Annotator, Batch, GoldItem, Post, Store, Task
from annotate.store.queries import live_annotations, project_and_taxonomy
from annotate.taxonomy import Field

__all__ = [
    "FILE_LEVELS",
    "FieldTable",
    "PostText",
    "field_value",
    "post_texts",
    "project_table",
    "read_table_file",
]

#: Field kinds agreement can be measured on (free text cannot).
MEASURABLE_KINDS = ("choices", "ordinal", "flag", "spans")
#: Levels of measurement a ``--input`` file may be read at.
FILE_LEVELS = ("nominal", "ordinal", "interval", "ratio")
#: The field kind a file's values are treated as, by level (``numeric``: interval and ratio).
FILE_KIND = {"nominal": "choices", "ordinal": "ordinal", "interval": "numeric", "ratio": "numeric"}
ITEM_COLUMN, ANNOTATOR_COLUMN, LABEL_COLUMN, LABELS_COLUMN, BATCH_COLUMN = (
    "item_id",
    "annotator",
    "label",
    "labels",
    "batch",
)
LABEL_SEPARATOR = "|"
JSONL_SUFFIXES = (".jsonl", ".ndjson")

Row = tuple[Any, Any, Any]


@dataclass
class FieldTable:
    """One field's annotations as a long table, and what a report needs around it.

    - ``rows``: ``(item, annotator, value)`` of the items with at least ``min_annotators``
      annotations; ``dropped_rows``: those of the items with fewer (counted, not measured).
    - ``kind``: the field kind (``choices``, ``ordinal``, ``flag``, ``spans``), or ``numeric``
      for interval and ratio data from a file; ``multiple``: values are sets of labels.
    - ``level``: Krippendorff's level of measurement for α.
    - ``labels``: every possible label in taxonomy order (scale order when ordinal), or None
      when only the data says what they are; ``label_names``: display names (Chinese first).
    - ``gold``: the known answer of gold items; ``batch_of``: each item's batch, and
      ``batch_names`` how to show a batch; ``batch``: the one batch read, if only one was.
    """

    source: str
    field: str
    kind: str
    level: str
    multiple: bool = False
    labels: tuple[Any, ...] | None = None
    label_names: dict[Any, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    dropped_rows: list[Row] = field(default_factory=list)
    min_annotators: int = 2
    gold: dict[Any, Any] = field(default_factory=dict)
    batch_of: dict[Any, Any] = field(default_factory=dict)
    batch_names: dict[Any, str] = field(default_factory=dict)
    project: str | None = None
    batch: int | None = None
    taxonomy: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_dropped_items(self) -> int:
        return len({item for item, _, _ in self.dropped_rows})

    @property
    def order(self) -> tuple[Any, ...] | None:
        """The full value list to pass as ``order=`` (single-valued categorical fields)."""
        if self.multiple or self.kind in ("spans", "numeric"):
            return None
        return self.labels

    def gold_rows(self) -> list[Row]:
        """Dropped rows of gold items: too few annotators for agreement, still graded."""
        return [row for row in self.dropped_rows if row[0] in self.gold]


@dataclass(frozen=True)
class PostText:
    """A post as the report shows it next to an item."""

    source: str
    post_id: str
    text: str


# -- values ---------------------------------------------------------------------------------------


def field_value(spec: Field, raw: Any) -> Any:
    """A stored label value in the form agreement takes, or None when not answered.

    choices with ``multiple``: a frozenset of labels (empty: "none of the labels", an answer);
    choices and ordinal: the label; flag: a bool; spans: a list of ``(start, end, label)``.
    """
    if raw is None:
        return None
    if spec.kind == "choices" and spec.multiple:
        return frozenset(raw if isinstance(raw, list | tuple | set | frozenset) else [raw])
    if spec.kind == "flag":
        return bool(raw)
    if spec.kind == "spans":
        return [(int(span["start"]), int(span["end"]), span["label"]) for span in raw]
    if isinstance(raw, list):  # a single-choice answer stored as a one-element list
        return raw[0] if len(raw) == 1 else None
    return raw


def _measurable(spec: Field, project: str) -> None:
    if spec.kind not in MEASURABLE_KINDS:
        raise AnnotateError(
            f"Field {spec.name!r} of project {project!r} is free {spec.kind}; agreement needs "
            f"a {', '.join(MEASURABLE_KINDS[:-1])} or {MEASURABLE_KINDS[-1]} field.",
            hint="Pick another with --field.",
        )


def split_by_annotator_count(rows: Iterable[Row], min_annotators: int) -> tuple[list, list]:
    """``(kept, dropped)``: rows of items with at least / fewer than ``min_annotators``."""
    rows = list(rows)
    counts = Counter(item for item, _, _ in rows)
    kept = [row for row in rows if counts[row[0]] >= min_annotators]
    dropped = [row for row in rows if counts[row[0]] < min_annotators]
    return kept, dropped


def _field_labels(spec: Field, rows: list[Row], taxonomy_ref: str) -> tuple[Any, ...]:
    """Every label of the field, in taxonomy order (scale order for ordinal fields).

    Labels the annotations use but the taxonomy does not (made under an older version) are
    added at the end; an ordinal field cannot place them on its scale, so they are an error.
    """
    if spec.kind == "flag":
        return (False, True)
    seen: set[Any] = set()
    for _, _, value in rows:
        if spec.kind == "spans":
            seen.update(label for _, _, label in value)
        else:
            seen.update(value if spec.multiple else [value])
    unknown = sorted(seen - set(spec.label_ids), key=str)
    if unknown and spec.kind == "ordinal":
        raise AnnotateError(
            f"Field {spec.name!r} has annotations with {unknown[0]!r}, which is not on its scale "
            f"in taxonomy {taxonomy_ref}.",
            hint="Record the taxonomy they were made under with 'annotate project sync'.",
        )
    return (*spec.label_ids, *unknown)


# -- the store ------------------------------------------------------------------------------------


def project_table(
    store: Store,
    project_name: str,
    field: str = "category",
    batch: int | None = None,
    min_annotators: int = 2,
) -> FieldTable:
    """The long table of one field of a project (one batch with ``batch``), from the store.

    Uses annotations that are neither deleted nor skipped (cancelled); when an annotator has
    several on one task (Label Studio allows it), the latest counts. Items are post ids
    (``Post.id``), annotators pseudonyms. Items with fewer than ``min_annotators`` annotations
    go to ``dropped_rows``.
    """
    if min_annotators < 1:
        raise InputError("--min-annotators must be at least 1.")
    with store.session() as session:
        project, taxonomy = project_and_taxonomy(session, project_name)
        try:
            spec = taxonomy.field(field)
        except KeyError:
            names = ", ".join(item.name for item in taxonomy.fields)
            raise AnnotateError(
                f"Project {project_name!r} has no field {field!r}; its fields are {names}.",
                hint="Pick one with --field.",
            ) from None
        _measurable(spec, project_name)

        # Oldest first, so the latest annotation of an annotator on a task wins below.
        query = live_annotations(
            project.id,
            Task.post_pk,
            Task.batch_id,
            Task.is_gold,
            Annotator.pseudonym,
            Annotation.labels,
        )
        if batch is not None:
            in_project = select(Batch.id).where(Batch.id == batch, Batch.project_id == project.id)
            if session.exec(in_project).first() is None:
                known = session.exec(
                    select(Batch.id).where(Batch.project_id == project.id).order_by(Batch.id)
                ).all()
                raise AnnotateError(
                    f"Project {project_name!r} has no batch {batch}.",
                    hint=f"Its batches: {', '.join(map(str, known))}."
                    if known
                    else "It has no batches yet.",
                )
            query = query.where(Task.batch_id == batch)
        annotations = session.exec(query).all()
        batches = session.exec(select(Batch).where(Batch.project_id == project.id)).all()
        gold_posts = {post_pk for post_pk, _, is_gold, _, _ in annotations if is_gold}
        gold_answers = (
            session.exec(select(GoldItem).where(col(GoldItem.post_pk).in_(gold_posts))).all()
            if gold_posts
            else []
        )

    value_of: dict[tuple[int, str], Any] = {}
    batch_of: dict[int, Any] = {}
    replaced = 0
    for post_pk, batch_id, _, pseudonym, labels in annotations:
        batch_of[post_pk] = batch_id
        replaced += (post_pk, pseudonym) in value_of
        value_of[(post_pk, pseudonym)] = field_value(spec, (labels or {}).get(field))
    rows = [
        (item, annotator, value)
        for (item, annotator), value in value_of.items()
        if value is not None  # the field was left unanswered
    ]
    kept, dropped = split_by_annotator_count(rows, min_annotators)
    table = FieldTable(
        source=f"project {project_name}" + (f", batch {batch}" if batch is not None else ""),
        field=field,
        kind=spec.kind,
        level="ordinal" if spec.kind == "ordinal" else "nominal",
        multiple=spec.multiple,
        labels=_field_labels(spec, rows, taxonomy.ref),
        label_names=(
            {False: "否 / no", True: "是 / yes"}
            if spec.kind == "flag"
            else {label.id: label.zh for label in spec.labels}
        ),
        rows=kept,
        dropped_rows=dropped,
        min_annotators=min_annotators,
        batch_of={item: batch_of[item] for item, _, _ in rows},
        batch_names={row.id: f"#{row.id} {row.strategy}" for row in batches},
        project=project_name,
        batch=batch,
        taxonomy=taxonomy.ref,
    )
    for gold in gold_answers:
        value = field_value(spec, (gold.labels or {}).get(field))
        if value is not None:
            table.gold[gold.post_pk] = value
    if replaced:
        table.notes.append(
            "Annotations replaced by the same annotator's later annotation of the same task: "
            f"{replaced}."
        )
    return table


def post_texts(store: Store, post_pks: Iterable[int]) -> dict[int, PostText]:
    """The posts with these ids (``Post.id``), for showing items next to their text."""
    wanted = sorted(set(post_pks))
    if not wanted:
        return {}
    with store.session() as session:
        posts = session.exec(
            select(Post.id, Post.source, Post.post_id, Post.text).where(col(Post.id).in_(wanted))
        ).all()
    return {pk: PostText(source, post_id, text) for pk, source, post_id, text in posts}


# -- files ----------------------------------------------------------------------------------------


def read_table_file(
    path: Path | str,
    *,
    level: str = "nominal",
    order: tuple[str, ...] | None = None,
    min_annotators: int = 2,
) -> FieldTable:
    """A long table from a CSV or JSONL file, one annotation per row or line.

    Columns: ``item_id``, ``annotator``, and ``label`` (one value) or ``labels`` (a
    multi-label field: ``|``-separated in CSV, a list or ``|``-separated string in JSONL; empty
    means "none of the labels"); optional ``batch``. An empty ``label`` is "not annotated" and
    skipped. ``level`` ``interval`` and ``ratio`` need numbers; numbers are also read as
    numbers for ``ordinal`` unless ``order`` lists the values. Bad rows raise
    :class:`InputError` as ``FILE:LINE: reason``.
    """
    path = Path(path)
    if level not in FILE_LEVELS:
        raise InputError(f"Unknown level {level!r}; use one of {', '.join(FILE_LEVELS)}.")
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    records = _jsonl_records(path) if _is_jsonl(path) else _csv_records(path)

    multiple: bool | None = None
    line_of: dict[tuple[Any, Any], int] = {}
    rows: list[Row] = []
    batch_of: dict[Any, Any] = {}
    for line, record in records:
        if multiple is None:
            multiple = LABELS_COLUMN in record and LABEL_COLUMN not in record
            if LABELS_COLUMN in record and LABEL_COLUMN in record:
                raise InputError(
                    f"{path}:{line}: has both a 'label' and a 'labels' column; keep 'label' for "
                    "one value per annotation or 'labels' for a multi-label field."
                )
        item = _required(record, ITEM_COLUMN, path, line)
        annotator = _required(record, ANNOTATOR_COLUMN, path, line)
        if multiple:
            if LABELS_COLUMN not in record:
                raise InputError(f"{path}:{line}: no 'labels' value (earlier lines have one).")
            value = _label_set(record[LABELS_COLUMN], path, line)
        else:
            if LABEL_COLUMN not in record:
                raise InputError(f"{path}:{line}: no 'label' (or 'labels') value.")
            value = _label(record[LABEL_COLUMN], level, order, path, line)
            if value is None:
                continue
        key = (item, annotator)
        if key in line_of:
            raise InputError(
                f"{path}:{line}: annotator {annotator!r} already labelled item {item!r} on line "
                f"{line_of[key]}; keep one annotation per item and annotator."
            )
        line_of[key] = line
        rows.append((item, annotator, value))
        batch = record.get(BATCH_COLUMN)
        if batch not in (None, ""):
            batch_of[item] = batch
    if not rows:
        raise InputError(f"{path}: has no annotations.")
    if level == "ordinal" and order is None:
        values = {value for _, _, value in rows}
        if not all(isinstance(value, int | float) for value in values):
            raise InputError(
                f"{path}: ordinal labels that are not numbers need their order.",
                hint="Pass --order with every label from lowest to highest, e.g. "
                "--order low,medium,high.",
            )
    if order is not None:
        unknown = sorted({value for _, _, value in rows} - set(order), key=str)
        if unknown:
            bad_line = min(
                line_of[(item, annotator)] for item, annotator, value in rows if value in unknown
            )
            raise InputError(
                f"{path}:{bad_line}: label {unknown[0]!r} is not in --order {','.join(order)}."
            )
    kept, dropped = split_by_annotator_count(rows, max(min_annotators, 1))
    return FieldTable(
        source=str(path),
        field=LABELS_COLUMN if multiple else LABEL_COLUMN,
        kind=FILE_KIND[level],
        level=level,
        multiple=bool(multiple),
        labels=tuple(order) if order else None,
        rows=kept,
        dropped_rows=dropped,
        min_annotators=min_annotators,
        batch_of=batch_of,
        batch_names={batch: str(batch) for batch in set(batch_of.values())},
    )


def _is_jsonl(path: Path) -> bool:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in JSONL_SUFFIXES:
        return True
    if suffixes and suffixes[-1] in (".csv", ".tsv"):
        return False
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        start = handle.read(256).lstrip()
    return start.startswith("{")


def _jsonl_records(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with path.open(encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}:{line}: not valid JSON ({error.msg}).") from None
            if not isinstance(record, dict):
                raise InputError(
                    f"{path}:{line}: a line must be a JSON object with item_id, annotator and "
                    "label; got "
                    f"{type(record).__name__}."
                )
            yield line, record


def _csv_records(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        needed = [ITEM_COLUMN, ANNOTATOR_COLUMN]
        missing = [name for name in needed if name not in header]
        if missing or not {LABEL_COLUMN, LABELS_COLUMN} & set(header):
            name = missing[0] if missing else "label"
            raise InputError(
                f"{path}:1: no {name!r} column; the header needs item_id, annotator and label "
                "(or labels, for a multi-label field)."
            )
        for record in reader:
            if None in record:
                raise InputError(
                    f"{path}:{reader.line_num}: more values than the header has columns."
                )
            yield reader.line_num, {name: (value or "").strip() for name, value in record.items()}


def _required(record: Mapping[str, Any], name: str, path: Path, line: int) -> Any:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{path}:{line}: no {name}.")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InputError(f"{path}:{line}: {name} must be text or an integer, not {value!r}.")
    return value


def _label(value: Any, level: str, order: tuple | None, path: Path, line: int) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, list | dict):
        raise InputError(
            f"{path}:{line}: label must be one value; use a 'labels' column for a multi-label "
            "field."
        )
    if level in ("interval", "ratio") or (level == "ordinal" and order is None):
        number = _number(value)
        if number is None:
            if level == "ordinal":
                return value
            raise InputError(f"{path}:{line}: label {value!r} is not a number (--level {level}).")
        return number
    return value


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def _label_set(value: Any, path: Path, line: int) -> frozenset:
    if value is None or value == "":
        return frozenset()
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(LABEL_SEPARATOR)]
    elif isinstance(value, list) and all(isinstance(part, str | int) for part in value):
        parts = [str(part).strip() for part in value]
    else:
        raise InputError(
            f"{path}:{line}: labels must be '|'-separated text or a list of labels, not {value!r}."
        )
    if any(not part for part in parts):
        raise InputError(f"{path}:{line}: labels {value!r} has an empty label.")
    return frozenset(parts)


def items_by_batch(table: FieldTable) -> dict[Any, list[Row]]:
    """The kept rows grouped by their item's batch (None: items without a batch)."""
    groups: dict[Any, list[Row]] = defaultdict(list)
    for row in table.rows:
        groups[table.batch_of.get(row[0])].append(row)
    return dict(groups)
