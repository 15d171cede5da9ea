"""Label Studio results and normalised labels, both ways, and the taxonomy's rules on them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from annotate.taxonomy.model import TEXT_NAME, Field, Taxonomy

#: Label Studio's result type for each field kind.
LS_TYPE = {
    "choices": "choices",
    "ordinal": "choices",
    "flag": "choices",
    "spans": "labels",
    "text": "textarea",
}


@dataclass
class MappedAnnotation:
    """Normalised labels from one Label Studio result, and what could not be taken as it was.

    ``unknown`` keeps labels and fields the taxonomy does not know (never dropped silently);
    ``problems`` says what was wrong or repaired, one sentence each.
    """

    labels: dict[str, Any]
    unknown: dict[str, list[Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def labels_from_result(
    taxonomy: Taxonomy, result: list[dict[str, Any]], text: str | None = None
) -> MappedAnnotation:
    """Map a Label Studio ``result`` list to normalised labels.

    With the post ``text``, every span is checked against ``text[start:end]`` and repaired
    when Label Studio counted UTF-16 units (astral-plane characters such as emoji count two)
    or when the span's text occurs elsewhere; what cannot be repaired is reported.
    """
    mapped = MappedAnnotation(labels={item.name: item.empty for item in taxonomy.fields})
    names = {item.name: item for item in taxonomy.fields}
    for region in result:
        name = region.get("from_name")
        item = names.get(name)
        value = region.get("value") or {}
        if item is None:
            mapped.unknown.setdefault(str(name), []).append(value)
            mapped.problems.append(f"unknown field {name!r}")
            continue
        if item.kind == "text":
            parts = value.get("text") or []
            joined = "\n".join(parts) if isinstance(parts, list) else str(parts)
            mapped.labels[item.name] = joined.strip() or None
        elif item.kind == "spans":
            span = _span(item, value, text, mapped)
            if span is not None:
                mapped.labels[item.name].append(span)
        else:
            _choices(item, value.get("choices") or [], mapped)
    for item in taxonomy.fields:
        if item.kind == "spans":
            mapped.labels[item.name].sort(key=lambda span: (span["start"], span["end"]))
        elif item.multiple:
            order = {label: index for index, label in enumerate(item.label_ids)}
            mapped.labels[item.name] = sorted(set(mapped.labels[item.name]), key=order.get)
    return mapped


def _choices(item: Field, chosen: list[str], mapped: MappedAnnotation) -> None:
    if item.kind == "flag":
        known = [choice for choice in chosen if choice == item.name]
    else:
        known = [choice for choice in chosen if choice in item.label_ids]
    for choice in chosen:
        if choice not in known:
            mapped.unknown.setdefault(item.name, []).append(choice)
            mapped.problems.append(f"unknown label {choice!r} in field {item.name!r}")
    if item.kind == "flag":
        mapped.labels[item.name] = bool(known)
    elif item.multiple:
        mapped.labels[item.name].extend(known)
    elif len(known) > 1:
        mapped.problems.append(f"field {item.name!r} takes one label, found {known}")
        mapped.labels[item.name] = known[0]
    elif known:
        mapped.labels[item.name] = known[0]


def _span(
    item: Field, value: dict[str, Any], text: str | None, mapped: MappedAnnotation
) -> dict[str, Any] | None:
    chosen = value.get("labels") or []
    start, end, span_text = value.get("start"), value.get("end"), value.get("text")
    if not isinstance(start, int) or not isinstance(end, int) or start > end:
        mapped.problems.append(f"span in {item.name!r} has no valid offsets ({start}, {end})")
        mapped.unknown.setdefault(item.name, []).append(value)
        return None
    known = [label for label in chosen if label in item.label_ids]
    for label in chosen:
        if label not in known:
            mapped.unknown.setdefault(item.name, []).append(value)
            mapped.problems.append(f"unknown label {label!r} in field {item.name!r}")
    if not known:
        return None
    if text is not None:
        repaired = repair_span(text, start, end, span_text)
        if repaired is None:
            mapped.problems.append(
                f"span {start}-{end} in {item.name!r} does not match the post text "
                f"({span_text!r} vs {text[start:end]!r}); kept as given"
            )
        elif repaired != (start, end):
            mapped.problems.append(
                f"span {start}-{end} in {item.name!r} repaired to {repaired[0]}-{repaired[1]}"
            )
            start, end = repaired
        span_text = text[start:end] if repaired is not None else span_text
    return {"start": start, "end": end, "label": known[0], "text": span_text}


def repair_span(text: str, start: int, end: int, span_text: str | None) -> tuple[int, int] | None:
    """Code-point offsets of a span whose ``span_text`` should be ``text[start:end]``.

    Returns ``(start, end)`` unchanged when they match (or when there is no ``span_text`` to
    check), offsets converted from UTF-16 units when those match, the nearest occurrence of
    ``span_text`` otherwise, or None when the text does not contain it.

    >>> repair_span("谣言😱来了", 3, 5, "来了")   # code points: already right
    (3, 5)
    >>> repair_span("谣言😱来了", 4, 6, "来了")   # UTF-16 units: 😱 counts twice
    (3, 5)
    """
    if span_text is None or text[start:end] == span_text:
        return start, end
    units = _utf16_to_code_points(text)
    if end < len(units) and text[units[start] : units[end]] == span_text:
        return units[start], units[end]
    candidates = [match.start() for match in re.finditer(re.escape(span_text), text)]
    if not candidates or not span_text:
        return None
    nearest = min(candidates, key=lambda position: abs(position - start))
    return nearest, nearest + len(span_text)


def _utf16_to_code_points(text: str) -> list[int]:
    """``index[u]`` = the code-point offset at UTF-16 offset ``u`` (len = UTF-16 length + 1)."""
    index = []
    for position, char in enumerate(text):
        index.extend([position] * (2 if ord(char) > 0xFFFF else 1))
    index.append(len(text))
    return index


def result_from_labels(
    taxonomy: Taxonomy, labels: dict[str, Any], text: str | None = None
) -> list[dict[str, Any]]:
    """A Label Studio ``result`` list for normalised ``labels`` (annotations, predictions).

    Raises ``ValueError`` for fields or labels the taxonomy does not know.
    """
    unknown_fields = sorted(set(labels) - {item.name for item in taxonomy.fields})
    if unknown_fields:
        raise ValueError(f"unknown field {unknown_fields[0]!r}")
    result: list[dict[str, Any]] = []
    for item in taxonomy.fields:
        value = labels.get(item.name, item.empty)
        if value in (None, [], False, ""):
            continue
        region = {"from_name": item.name, "to_name": TEXT_NAME, "type": LS_TYPE[item.kind]}
        if item.kind == "text":
            region["value"] = {"text": [str(value)]}
        elif item.kind == "flag":
            region["value"] = {"choices": [item.name]}
        elif item.kind == "spans":
            for span in value:
                if span["label"] not in item.label_ids:
                    raise ValueError(f"unknown label {span['label']!r} in field {item.name!r}")
                span_text = span.get("text")
                if text is not None:
                    span_text = text[span["start"] : span["end"]]
                result.append(
                    {
                        **region,
                        "id": _region_id(item.name, span["start"], span["end"], span["label"]),
                        "value": {
                            "start": span["start"],
                            "end": span["end"],
                            "text": span_text,
                            "labels": [span["label"]],
                        },
                    }
                )
            continue
        else:
            chosen = list(value) if isinstance(value, list | tuple) else [value]
            for label in chosen:
                if label not in item.label_ids:
                    raise ValueError(f"unknown label {label!r} in field {item.name!r}")
            region["value"] = {"choices": chosen}
        region["id"] = _region_id(item.name)
        result.append(region)
    return result


def _region_id(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=5).hexdigest()


def check_rules(taxonomy: Taxonomy, labels: dict[str, Any]) -> list[str]:
    """The taxonomy's rules that ``labels`` break, one sentence each (empty when valid)."""
    problems = []
    for item in taxonomy.fields:
        value = labels.get(item.name, item.empty)
        answered = value not in (None, [], "")
        if item.required and not answered:
            problems.append(f"{item.name} is required")
        condition = item.required_when
        if condition is not None and not answered:
            chosen = labels.get(condition.field) or []
            chosen = chosen if isinstance(chosen, list) else [chosen]
            triggers = [label for label in chosen if label in condition.any_of]
            if triggers:
                problems.append(f"{item.name} is required when {condition.field} is {triggers[0]}")
        if item.multiple and isinstance(value, list) and len(value) > 1:
            for label in item.labels:
                if label.exclusive and label.id in value:
                    others = [other for other in value if other != label.id]
                    problems.append(
                        f"{item.name} {label.id} cannot be chosen with {', '.join(others)}"
                    )
    return problems
