"""The taxonomy model: fields, labels and the rules that hold them together (pure).

A :class:`Taxonomy` is built from ``taxonomy.yaml`` by :func:`annotate.taxonomy.load_taxonomy`;
validation happens here, in the models, and a broken rule says where in the document it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from annotate.errors import InputError
from annotate.semver import SemVer

IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_]*")
#: Single keys Label Studio already uses in the labelling screen.
RESERVED_HOTKEYS = frozenset({"u", "enter", "escape", "backspace", "delete"})
#: The object the labels refer to.
TEXT_NAME = "text"

FieldKind = Literal["choices", "ordinal", "spans", "flag", "text"]


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
        SemVer.parse(value, "version")  # a ValueError that pydantic reports where it is
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
