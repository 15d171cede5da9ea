"""Gold posts: posts with known answers, read from a JSON Lines file and found in the store,
to be mixed into batches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import false, select, tuple_

from annotate.errors import InputError
from annotate.sampling.candidates import Candidate, candidate_columns, has_task_in_project
from annotate.sampling.params import is_int
from annotate.store import Post, Store
from annotate.taxonomy import Taxonomy, check_rules

__all__ = ["GoldAnswer", "load_gold", "read_gold_candidates"]

_GOLD_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class GoldAnswer:
    """A post with known answers: ``labels`` are normalised like annotations (see
    :mod:`annotate.taxonomy`), ``origin`` is ``FILE:LINE`` for messages."""

    post_id: str
    source: str
    labels: dict[str, Any]
    origin: str = ""


_GOLD_KEYS = frozenset({"post_id", "source"})
_GOLD_IGNORED_KEYS = frozenset({"text", "note"})  # for the people who keep the file


class _GoldError(ValueError):
    """One problem with one line of a gold file."""


def load_gold(path: Path | str, taxonomy: Taxonomy) -> list[GoldAnswer]:
    """Read a JSON Lines gold file: one object per line with ``post_id``, optional
    ``source`` (default ``"default"``) and answers for the taxonomy's fields.

    Labels are checked against the taxonomy (known labels, the field's kind, its rules);
    ``text`` and ``note`` keys are allowed and ignored. Every problem is reported as
    ``FILE:LINE: reason``; the first is the error's message, the count and the next few
    are its hint.
    """
    path = Path(path)
    items: list[GoldAnswer] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line_number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                origin = f"{path}:{line_number}"
                try:
                    item = _gold_item(json.loads(line), taxonomy, origin)
                except json.JSONDecodeError as error:
                    problems.append(f"{origin}: invalid JSON ({error.msg}, column {error.colno})")
                    continue
                except _GoldError as error:
                    problems.append(f"{origin}: {error}")
                    continue
                key = (item.source, item.post_id)
                if key in seen:
                    problems.append(
                        f"{origin}: post {item.post_id!r} is already on line {seen[key]}"
                    )
                    continue
                seen[key] = line_number
                items.append(item)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text.") from None
    if problems:
        more = len(problems) - 1
        hint = f"{more} more: " + "; ".join(problems[1:4]) + ("; ..." if more > 3 else "")
        raise InputError(f"{problems[0]}.", hint=hint + "." if more else None)
    if not items:
        raise InputError(f"{path} has no gold items.")
    return items


def _gold_item(record: Any, taxonomy: Taxonomy, origin: str) -> GoldAnswer:
    if not isinstance(record, dict):
        raise _GoldError("expected a JSON object")
    post_id = record.get("post_id")
    if isinstance(post_id, bool) or not isinstance(post_id, str | int) or not str(post_id).strip():
        raise _GoldError("missing 'post_id' (a string or an integer)")
    source = record.get("source", "default")
    if not isinstance(source, str) or not source.strip():
        raise _GoldError("'source' must be a non-empty string")
    fields = {item.name: item for item in taxonomy.fields}
    unknown = sorted(set(record) - _GOLD_KEYS - _GOLD_IGNORED_KEYS - set(fields))
    if unknown:
        raise _GoldError(
            f"unknown field {unknown[0]!r} (the taxonomy's fields are {', '.join(fields)})"
        )
    labels = {name: _gold_value(item, record.get(name)) for name, item in fields.items()}
    problems = check_rules(taxonomy, labels)
    if problems:
        raise _GoldError(problems[0])
    return GoldAnswer(str(post_id).strip(), source.strip(), labels, origin)


def _gold_value(item: Any, value: Any) -> Any:
    """A gold answer for one field, normalised like :func:`annotate.taxonomy.labels_from_result`."""
    name, ids = item.name, item.label_ids
    if value is None:
        return item.empty
    if item.kind == "flag":
        if not isinstance(value, bool):
            raise _GoldError(f"{name!r} must be true or false")
        return value
    if item.kind == "text":
        if not isinstance(value, str):
            raise _GoldError(f"{name!r} must be a string")
        return value.strip() or None
    if item.kind == "spans":
        if not isinstance(value, list):
            raise _GoldError(f"{name!r} must be a list of spans")
        return sorted((_gold_span(name, ids, span) for span in value), key=_span_order)
    chosen = value if isinstance(value, list) else [value]
    labels = []
    for label in chosen:
        label = str(label) if is_int(label) else label  # ordinal ids such as "1" may be numbers
        if label not in ids:
            raise _GoldError(f"unknown label {label!r} in field {name!r}")
        labels.append(label)
    if item.multiple:
        return sorted(set(labels), key=ids.index)
    if len(labels) != 1:
        raise _GoldError(f"field {name!r} takes one label, found {len(labels)}")
    return labels[0]


def _gold_span(name: str, ids: tuple[str, ...], span: Any) -> dict[str, Any]:
    if not isinstance(span, dict):
        raise _GoldError(f"a span in {name!r} must be an object with start, end and label")
    start, end, label = span.get("start"), span.get("end"), span.get("label")
    if not (is_int(start) and is_int(end) and 0 <= start < end):
        raise _GoldError(f"a span in {name!r} needs whole-number offsets with start < end")
    if label not in ids:
        raise _GoldError(f"unknown label {label!r} in field {name!r}")
    text = span.get("text")
    if text is not None and not isinstance(text, str):
        raise _GoldError(f"a span's text in {name!r} must be a string")
    return {"start": start, "end": end, "label": label, "text": text}


def _span_order(span: dict[str, Any]) -> tuple[int, int]:
    return span["start"], span["end"]


def read_gold_candidates(
    store: Store, items: Sequence[GoldAnswer], *, exclude_project_id: int | None = None
) -> list[Candidate]:
    """The stored posts of ``items``, as candidates; gold posts that already have a task in
    ``exclude_project_id`` are left out (a post is one task per project).

    A gold post that is not in the store is an :class:`InputError` naming its line.
    """
    posts = Post.__table__
    wanted = {(item.source, item.post_id): item for item in items}
    found: dict[tuple[str, str], Candidate] = {}
    in_project: set[int] = set()
    keys = list(wanted)
    in_project_column = (
        has_task_in_project(exclude_project_id) if exclude_project_id is not None else false()
    )
    with store.engine.connect() as connection:
        for start in range(0, len(keys), _GOLD_LOOKUP_CHUNK):
            chunk = keys[start : start + _GOLD_LOOKUP_CHUNK]
            query = select(*candidate_columns(store.dialect), in_project_column).where(
                tuple_(posts.c.source, posts.c.post_id).in_(chunk)
            )
            for *values, taken in connection.execute(query):
                post = Candidate._make(values)
                found[(post.source, post.post_id)] = post
                if taken:
                    in_project.add(post.pk)
    missing = [item for key, item in wanted.items() if key not in found]
    if missing:
        first = missing[0]
        raise InputError(
            f"{first.origin}: gold post {first.post_id!r} (source {first.source!r}) is not in "
            f"the store{f', nor are {len(missing) - 1} more' if len(missing) > 1 else ''}.",
            hint="Ingest the gold posts first (annotate ingest FILE --source SOURCE).",
        )
    return [found[key] for key in wanted if found[key].pk not in in_project]
