"""The taxonomy: fields and labels, their rules, and what Label Studio makes of them (pure).

``label_config/taxonomy.yaml`` is the single source of truth. This module loads and validates
it, renders it to a Label Studio labelling config, maps Label Studio results to normalised
labels and back, checks the taxonomy's rules on every annotation, and compares two versions.

Normalised labels are a dict ``{field: value}``:

============  ==============================================================
kind          value
============  ==============================================================
choices       ``[label, ...]`` in taxonomy order when ``multiple``, else ``label`` or None
ordinal       ``label`` or None (labels are listed from lowest to highest)
spans         ``[{"start", "end", "label", "text"}, ...]`` (code-point offsets)
flag          True or False
text          a string or None
============  ==============================================================
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from annotate.errors import InputError

SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_]*")
#: Single keys Label Studio already uses in the labelling screen.
RESERVED_HOTKEYS = frozenset({"u", "enter", "escape", "backspace", "delete"})
#: The object the labels refer to, and the task data fields the rendered config shows.
TEXT_NAME = "text"
TASK_DATA_FIELDS = ("text", "platform", "created_at", "account")
TAXONOMY_FILE = "taxonomy.yaml"
GUIDELINES_FILE = "guidelines.md"
RENDERED_FILE = "financial_misinfo.xml"

FieldKind = Literal["choices", "ordinal", "spans", "flag", "text"]
#: Label Studio's result type for each field kind.
LS_TYPE = {
    "choices": "choices",
    "ordinal": "choices",
    "flag": "choices",
    "spans": "labels",
    "text": "textarea",
}


class TaxonomyError(InputError):
    """The taxonomy file is not valid (the message names the file and line)."""


class _Located(ValueError):
    """A rule broken somewhere inside the document; ``where`` is the path to it."""

    def __init__(self, message: str, *where: str | int):
        super().__init__(message)
        self.where = where


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Strict):
    zh: str
    en: str

    def display(self) -> str:
        return f"{self.zh} / {self.en}"


class Label(_Strict):
    """One label of a field."""

    id: str
    zh: str
    en: str
    definition: Bilingual | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    hotkey: str | None = None
    #: An exclusive label is never chosen together with another label of its field.
    exclusive: bool = False
    #: Ids this label had before a rename, so that a diff sees a rename, not remove + add.
    previous_ids: tuple[str, ...] = ()

    @field_validator("id", "hotkey", mode="before")
    @classmethod
    def _numbers_are_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("id")
    @classmethod
    def _id_is_an_identifier(cls, value: str) -> str:
        if not IDENTIFIER.fullmatch(value):
            raise ValueError(f"label id {value!r} must be lower-case letters, digits and _")
        return value

    @property
    def name(self) -> str:
        return f"{self.zh} / {self.en}"


class Condition(_Strict):
    """True when the labels of ``field`` include any of ``any_of``."""

    field: str
    any_of: tuple[str, ...]


class Field(_Strict):
    """One question annotators answer about a post."""

    name: str
    kind: FieldKind
    title: Bilingual
    multiple: bool = False
    required: bool = False
    required_when: Condition | None = None
    labels: tuple[Label, ...] = ()
    definition: Bilingual | None = None
    hotkey: str | None = None

    @field_validator("name")
    @classmethod
    def _name_is_an_identifier(cls, value: str) -> str:
        if not IDENTIFIER.fullmatch(value):
            raise ValueError(f"field name {value!r} must be lower-case letters, digits and _")
        return value

    @model_validator(mode="after")
    def _labels_fit_the_kind(self) -> Field:
        has_labels = self.kind in {"choices", "ordinal", "spans"}
        if has_labels and not self.labels:
            raise ValueError(f"field {self.name!r} ({self.kind}) needs labels")
        if not has_labels and self.labels:
            raise ValueError(f"field {self.name!r} ({self.kind}) takes no labels")
        if self.multiple and self.kind != "choices":
            raise ValueError(f"field {self.name!r}: only choices fields can be multiple")
        if self.hotkey is not None and self.kind != "flag":
            raise ValueError(f"field {self.name!r}: only flag fields have their own hotkey")
        ids = [label.id for label in self.labels]
        repeated = sorted({label for label in ids if ids.count(label) > 1})
        if repeated:
            raise ValueError(f"field {self.name!r} repeats label id {repeated[0]!r}")
        if any(label.exclusive for label in self.labels) and not self.multiple:
            raise ValueError(f"field {self.name!r}: exclusive labels need a multiple field")
        if self.required and self.required_when is not None:
            raise ValueError(f"field {self.name!r}: use required or required_when, not both")
        return self

    @property
    def label_ids(self) -> tuple[str, ...]:
        return tuple(label.id for label in self.labels)

    def label(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)

    @property
    def empty(self) -> Any:
        """The normalised value of an unanswered field."""
        if self.kind == "flag":
            return False
        if self.kind == "spans" or self.multiple:
            return []
        return None


class Taxonomy(_Strict):
    """A named, versioned set of fields. Build it with :func:`load_taxonomy`."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    name: str
    version: str
    languages: tuple[str, ...] = ("zh", "en")
    title: Bilingual
    description: str = ""
    fields: tuple[Field, ...]

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_semantic(cls, value: Any) -> Any:
        if not isinstance(value, str) or not SEMVER.fullmatch(value):
            raise ValueError(f"version {value!r} is not a semantic version like 1.2.0")
        return value

    @model_validator(mode="after")
    def _fields_fit_together(self) -> Taxonomy:
        names = [item.name for item in self.fields]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise _Located(f"field {name!r} is defined twice", "fields", index, "name")
            if name == TEXT_NAME:
                raise _Located(
                    f"{TEXT_NAME!r} is the post itself and cannot be a field name",
                    "fields",
                    index,
                    "name",
                )
        keys: dict[str, str] = {}
        for index, item in enumerate(self.fields):
            owners = [
                (label.hotkey, f"{item.name}.{label.id}", ("labels", number, "hotkey"))
                for number, label in enumerate(item.labels)
            ]
            owners.append((item.hotkey, item.name, ("hotkey",)))
            for key, owner, where in owners:
                if key is None:
                    continue
                if key.lower() in RESERVED_HOTKEYS:
                    raise _Located(
                        f"hotkey {key!r} of {owner} is used by Label Studio itself",
                        "fields",
                        index,
                        *where,
                    )
                if key in keys:
                    raise _Located(
                        f"hotkey {key!r} is used by {keys[key]} and {owner}",
                        "fields",
                        index,
                        *where,
                    )
                keys[key] = owner
            condition = item.required_when
            if condition is not None:
                if condition.field not in names or condition.field == item.name:
                    raise _Located(
                        f"field {item.name!r}: required_when refers to unknown field "
                        f"{condition.field!r}",
                        "fields",
                        index,
                        "required_when",
                    )
                known = self.field(condition.field).label_ids
                unknown = [label for label in condition.any_of if label not in known]
                if unknown:
                    raise _Located(
                        f"field {item.name!r}: required_when names unknown label {unknown[0]!r}",
                        "fields",
                        index,
                        "required_when",
                    )
        return self

    def field(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the whole taxonomy (any change changes it)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def ref(self) -> str:
        """``name version sha256:abcdef123456``: how projects and datasets cite a taxonomy."""
        return taxonomy_ref(self.name, self.version, self.content_hash)


def taxonomy_ref(name: str, version: str, content_hash: str) -> str:
    """``name version sha256:abcdef123456``, for a taxonomy or a stored row of one."""
    return f"{name} {version} sha256:{content_hash[:12]}"


# ------------------------------------------------------------------------------ loading


def packaged_label_config() -> Path:
    """The ``label_config`` folder that ships inside the package."""
    return Path(str(resources.files("annotate") / "label_config"))


def default_taxonomy_path() -> Path:
    """``label_config/taxonomy.yaml`` in the current folder if there is one, else the default."""
    local = Path("label_config") / TAXONOMY_FILE
    return local if local.is_file() else packaged_label_config() / TAXONOMY_FILE


def copy_label_config(destination: Path) -> list[Path]:
    """Copy the packaged taxonomy, guidelines and rendered config into ``destination``.

    Files that already exist there are kept (the team's edits win); returns what was copied.
    """
    import shutil

    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(packaged_label_config().iterdir()):
        target = destination / source.name
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)
            copied.append(target)
    return copied


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load and validate a taxonomy file; errors name the file and line."""
    path = Path(path) if path is not None else default_taxonomy_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaxonomyError(f"{path} does not exist.") from None
    except UnicodeDecodeError:
        raise TaxonomyError(f"{path} is not UTF-8 text.") from None
    return parse_taxonomy(text, str(path))


def parse_taxonomy(text: str, source: str = "<taxonomy>") -> Taxonomy:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise TaxonomyError(f"{source}{line}: not valid YAML ({problem}).") from None
    if not isinstance(document, dict):
        raise TaxonomyError(f"{source}: expected a mapping with name, version and fields.")
    try:
        return Taxonomy.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        location = tuple(first["loc"]) + (cause.where if isinstance(cause, _Located) else ())
        line = _line_of(text, location)
        where = ".".join(str(part) for part in location) or "taxonomy"
        message = first["msg"].removeprefix("Value error, ")
        raise TaxonomyError(f"{source}{line}: {where}: {message}.") from None


def _line_of(text: str, location: tuple[Any, ...]) -> str:
    """``:LINE`` of the YAML node at a pydantic error location (as far as it exists)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return ""
    found = node
    for part in location:
        if isinstance(node, yaml.MappingNode):
            match = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            match = node.value[part] if part < len(node.value) else None
        else:
            match = None
        if match is None:
            break
        node = found = match
    return f":{found.start_mark.line + 1}" if found is not None else ""


# ---------------------------------------------------------------------------- rendering


def render_label_config(taxonomy: Taxonomy, *, adjudication: bool = False) -> str:
    """The Label Studio labelling config (XML) for ``taxonomy``.

    ``adjudication`` adds the annotators' labels (task field ``annotator_labels``) above
    the post, for an expert deciding between them.

    Every label's ``value`` is its id (what results and exports contain); what annotators see
    is the bilingual name in the ``html`` attribute (HTML-escaped, then XML-escaped by the
    serializer) and the definition as a hover hint. Post metadata (platform, time, account)
    is shown above the text; evidence labels come first so that spans can be marked in the
    text below them.
    """
    view = ET.Element("View")
    ET.SubElement(view, "Style").text = _STYLE
    ET.SubElement(
        view,
        "Header",
        value=f"{taxonomy.title.display()} · {taxonomy.name} {taxonomy.version}",
        size="5",
    )
    meta = ET.SubElement(view, "View", className="annotate-meta")
    for name in TASK_DATA_FIELDS[1:]:
        ET.SubElement(meta, "Header", value=f"${name}", size="6", underline="false")
    if adjudication:
        # The expert sees every annotator's answer (pseudonymised) above the post.
        ET.SubElement(view, "Header", value="标注员意见 / Annotators' labels", size="5")
        ET.SubElement(view, "Text", name="annotator_labels", value="$annotator_labels")
    for item in taxonomy.fields:
        if item.kind == "spans":
            _spans(view, item)
    ET.SubElement(view, "Text", name=TEXT_NAME, value=f"${TEXT_NAME}", granularity="symbol")
    for item in taxonomy.fields:
        if item.kind == "spans":
            continue
        box = ET.SubElement(view, "View", className=f"annotate-field annotate-{item.name}")
        condition = item.required_when
        if condition is not None:
            # Shown only when it applies; the rule itself is checked on every pulled annotation.
            box.attrib.update(
                visibleWhen="choice-selected",
                whenTagName=condition.field,
                whenChoiceValue=",".join(condition.any_of),
            )
        ET.SubElement(box, "Header", value=item.title.display(), size="5")
        if item.kind == "text":
            ET.SubElement(
                box,
                "TextArea",
                name=item.name,
                toName=TEXT_NAME,
                rows="2",
                maxSubmissions="1",
                editable="true",
                placeholder=item.title.display(),
            )
            continue
        attributes = {"name": item.name, "toName": TEXT_NAME}
        if item.kind == "flag":
            attributes["choice"] = "multiple"
        else:
            attributes["choice"] = "multiple" if item.multiple else "single-radio"
            attributes["showInline"] = "false" if item.multiple else "true"
        if item.required:
            attributes["required"] = "true"
        choices = ET.SubElement(box, "Choices", attributes)
        if item.kind == "flag":
            _option(choices, "Choice", item.name, item.title, item.definition, item.hotkey)
        for label in item.labels:
            _option(
                choices,
                "Choice",
                label.id,
                Bilingual(zh=label.zh, en=label.en),
                label.definition,
                label.hotkey,
            )
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode")


def _spans(parent: ET.Element, item: Field) -> None:
    ET.SubElement(parent, "Header", value=item.title.display(), size="5")
    labels = ET.SubElement(parent, "Labels", name=item.name, toName=TEXT_NAME)
    for label, colour in zip(item.labels, _SPAN_COLOURS * 4, strict=False):
        element = _option(
            labels,
            "Label",
            label.id,
            Bilingual(zh=label.zh, en=label.en),
            label.definition,
            label.hotkey,
        )
        element.set("background", colour)


def _option(
    parent: ET.Element,
    tag: str,
    value: str,
    name: Bilingual,
    definition: Bilingual | None,
    hotkey: str | None,
) -> ET.Element:
    attributes = {
        "value": value,
        "html": f"<b>{html.escape(name.zh)}</b> <span>{html.escape(name.en)}</span>",
    }
    if definition is not None:
        attributes["hint"] = f"{definition.zh}\n{definition.en}"
    if hotkey is not None:
        attributes["hotkey"] = hotkey
    return ET.SubElement(parent, tag, attributes)


_SPAN_COLOURS = ["#ffb3ba", "#bae1ff", "#ffdfba", "#baffc9", "#e0bbff"]
_STYLE = """
.annotate-meta { display: flex; gap: 1.5em; color: #555; }
.annotate-field { margin-top: 0.8em; }
""".strip()


def guidelines_html(markdown_text: str) -> str:
    """The guidelines as HTML for the project's instructions (raw HTML in them is escaped)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)


def load_guidelines(taxonomy_path: Path | None = None) -> str | None:
    """``guidelines.md`` next to the taxonomy file, if there is one."""
    folder = (taxonomy_path or default_taxonomy_path()).parent
    path = folder / GUIDELINES_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else None


# ------------------------------------------------------------------------------ mapping


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


# --------------------------------------------------------------------------------- diff


BUMPS = ("none", "patch", "minor", "major")


@dataclass
class TaxonomyDiff:
    """What changed between two taxonomies and which version bump that needs."""

    old: str
    new: str
    added_fields: list[str] = field(default_factory=list)
    removed_fields: list[str] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)
    added_labels: dict[str, list[str]] = field(default_factory=dict)
    removed_labels: dict[str, list[str]] = field(default_factory=dict)
    renamed_labels: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    wording: list[str] = field(default_factory=list)
    breaking_changes: list[str] = field(default_factory=list)
    required_bump: str = "none"
    version_bump: str = "none"

    @property
    def breaking(self) -> bool:
        return bool(self.breaking_changes)

    @property
    def version_ok(self) -> bool:
        """The new version number is bumped at least as much as the change needs."""
        if self.version_bump == "downgrade":
            return False
        return BUMPS.index(self.version_bump) >= BUMPS.index(self.required_bump)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["breaking"] = self.breaking
        data["version_ok"] = self.version_ok
        return data


def diff_taxonomies(old: Taxonomy, new: Taxonomy) -> TaxonomyDiff:
    """Compare two taxonomies: added, removed and renamed labels, and whether it breaks.

    A change is breaking (needs a major version) when annotations made under ``old`` may not
    be valid under ``new``: a field or label is removed or renamed, a field changes kind or
    cardinality, or a rule gets stricter (a field becomes required, a label exclusive). Added
    labels and optional fields need a minor version; wording, examples and hotkeys a patch.
    """
    result = TaxonomyDiff(old=old.ref, new=new.ref)
    result.version_bump = _version_bump(old.version, new.version)
    old_fields = {item.name: item for item in old.fields}
    new_fields = {item.name: item for item in new.fields}
    minor = patch = False
    for name in old_fields.keys() - new_fields.keys():
        result.removed_fields.append(name)
        result.breaking_changes.append(f"field {name!r} was removed")
    for name in new_fields.keys() - old_fields.keys():
        result.added_fields.append(name)
        item = new_fields[name]
        if item.required:
            result.breaking_changes.append(f"new field {name!r} is required")
        minor = True
    for name in [name for name in new_fields if name in old_fields]:
        before, after = old_fields[name], new_fields[name]
        if (before.kind, before.multiple) != (after.kind, after.multiple):
            what = f"{before.kind}{' multiple' * before.multiple}"
            now = f"{after.kind}{' multiple' * after.multiple}"
            result.changed_fields.append(name)
            result.breaking_changes.append(f"field {name!r} changed from {what} to {now}")
        if after.required and not before.required:
            result.breaking_changes.append(f"field {name!r} became required")
        if after.required_when != before.required_when and after.required_when is not None:
            result.breaking_changes.append(f"field {name!r} has a new required_when rule")
        if (before.title, before.definition, before.hotkey) != (
            after.title,
            after.definition,
            after.hotkey,
        ):
            result.wording.append(f"field {name!r}: title, definition or hotkey")
            patch = True
        label_minor, label_patch = _diff_labels(name, before, after, result)
        minor, patch = minor or label_minor, patch or label_patch
    if (old.title, old.description, old.languages) != (new.title, new.description, new.languages):
        result.wording.append("taxonomy title, description or languages")
        patch = True
    if result.breaking_changes:
        result.required_bump = "major"
    elif minor:
        result.required_bump = "minor"
    elif patch or old.content_hash != new.content_hash:
        result.required_bump = "patch"
    return result


def _diff_labels(name: str, before: Field, after: Field, result: TaxonomyDiff) -> tuple[bool, bool]:
    old_labels = {label.id: label for label in before.labels}
    new_labels = {label.id: label for label in after.labels}
    removed = [label for label in before.label_ids if label not in new_labels]
    added = [label for label in after.label_ids if label not in old_labels]
    renamed = []
    for new_id in list(added):
        label = new_labels[new_id]
        match = next((old_id for old_id in removed if old_id in label.previous_ids), None)
        if match is None:
            old_label = None
            for old_id in removed:
                candidate = old_labels[old_id]
                if candidate.zh == label.zh or candidate.en == label.en:
                    old_label = candidate
                    break
            match = old_label.id if old_label is not None else None
        if match is not None:
            renamed.append((match, new_id))
            removed.remove(match)
            added.remove(new_id)
    if removed:
        result.removed_labels[name] = removed
        for label in removed:
            result.breaking_changes.append(f"label {name}.{label} was removed")
    if renamed:
        result.renamed_labels[name] = renamed
        for old_id, new_id in renamed:
            result.breaking_changes.append(f"label {name}.{old_id} was renamed to {new_id}")
    if added:
        result.added_labels[name] = added
    patch = False
    for label_id in after.label_ids:
        if label_id not in old_labels:
            continue
        old_label, new_label = old_labels[label_id], new_labels[label_id]
        if new_label.exclusive and not old_label.exclusive:
            result.breaking_changes.append(f"label {name}.{label_id} became exclusive")
        if old_label.model_dump(exclude={"exclusive"}) != new_label.model_dump(
            exclude={"exclusive"}
        ):
            result.wording.append(f"label {name}.{label_id}")
            patch = True
    return bool(added), patch


def _version_bump(old: str, new: str) -> str:
    before = tuple(int(part) for part in old.split("."))
    after = tuple(int(part) for part in new.split("."))
    if after < before:
        return "downgrade"
    if after[0] > before[0]:
        return "major"
    if after[1] > before[1]:
        return "minor"
    if after[2] > before[2]:
        return "patch"
    return "none"
