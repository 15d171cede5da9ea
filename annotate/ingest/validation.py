"""Validating one input record into the columns of its post.

Ids are kept exactly (strings, or integers however long; a float id is refused beyond 2**53),
texts are NFC-normalised and limited to :data:`MAX_FIELD_CHARS`, NUL characters are removed
(PostgreSQL cannot store them), language tags are mapped to the stored codes (or the language
is detected), timestamps become UTC instants and counts non-negative integers; any other field
is kept in ``meta`` as JSON. A bad field raises :class:`_RowError` with the reason.
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any

from annotate.text import detect_language, language_of_tag, normalise_text, text_hash

MAX_FIELD_CHARS = 10 * 2**20
"""The longest text (and, in CSV, the longest field) a row may have, in characters. Far beyond
any post (a long article is about 200,000), and far within what the stores take (a text column
holds up to 1 GB on PostgreSQL and on SQLite with its default limits)."""
COUNT_FIELDS = ("likes", "reposts", "comments", "views")
OPTIONAL_FIELDS = ("platform", "account_id", "created_at", "url", "lang", *COUNT_FIELDS)
_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")


class _RowError(Exception):
    """A row-level problem: the row is rejected (or, with --strict, the run stops)."""


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


def _raw_record(record: dict[str, Any] | None) -> str | None:
    if record is None:
        return None
    return json.dumps(_jsonable(record), ensure_ascii=False)[:2000]
