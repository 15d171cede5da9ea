"""The dataset version a model is trained or evaluated on: ``NAME@VERSION`` from the local
registry, a folder ``datasets.load_dataset`` loads, or ``ORG/NAME@REVISION`` on the Hub
(``HF_ENDPOINT``, ``HF_TOKEN``) — and the columns of one field in it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotate.config import Settings
from annotate.errors import InputError
from annotate.registry.manifest import MANIFEST

#: The column that holds a field's labels, where it is not named after the field.
FIELD_COLUMNS = {"category": "labels"}


@dataclass
class DatasetSource:
    """A dataset version opened from ``ref``: its folder, manifest (None for a folder
    without one), name and version, and where it came from (registry, folder or hub)."""

    ref: str
    path: Path
    name: str
    version: str
    source: str
    manifest: dict[str, Any] | None

    def load(self) -> Any:
        """The ``DatasetDict`` (``datasets.load_dataset`` on the folder), read afresh:
        ``datasets`` caches a folder under its name and card, not its files (README: loading
        a version), and a model must never be trained on another version's rows."""
        from datasets import load_dataset

        try:
            return load_dataset(str(self.path), download_mode="force_redownload")
        except Exception as error:  # datasets raises many types for a folder it cannot read
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise InputError(f"{self.path} cannot be loaded as a dataset ({reason}).") from None

    def fingerprint(self) -> str:
        """sha256 over the data files' contents in name order: the same rows, the same print."""
        digest = hashlib.sha256()
        files = sorted((self.path / "data").glob("*.parquet")) or sorted(
            self.path.rglob("*.parquet")
        )
        for file in files:
            digest.update(file.name.encode())
            with file.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        """Name, version, source and fingerprint, as a model card keeps them."""
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "fingerprint": self.fingerprint(),
        }

    def taxonomy(self) -> dict[str, Any] | None:
        """Name, version and sha256 of the taxonomy the version was labelled under."""
        return ((self.manifest or {}).get("provenance") or {}).get("taxonomy")


@contextlib.contextmanager
def open_dataset(settings: Settings, ref: str | Path) -> Iterator[DatasetSource]:
    """The dataset ``ref`` names, for the duration of the ``with``: a registry version
    (verified), a local folder, or a Hub version downloaded (and verified) into a temporary
    folder."""
    from annotate.registry.api import VersionRef
    from annotate.registry.hub import pull_from_hub
    from annotate.registry.local import resolve
    from annotate.registry.manifest import verify

    text = str(ref)
    folder = Path(text).expanduser()
    if folder.is_dir():
        manifest_path = folder / MANIFEST
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
        name = (manifest or {}).get("name") or folder.name
        version = (manifest or {}).get("version") or "unversioned"
        yield DatasetSource(text, folder, name, version, "folder", manifest)
        return
    if "/" in text:
        repo, _, revision = text.partition("@")
        if not revision:
            raise InputError(f"{text!r} is not a folder; a Hub version is ORG/NAME@VERSION.")
        version = revision.removeprefix("v")
        with tempfile.TemporaryDirectory(prefix="annotate-hub-") as download:
            target = Path(download) / "version"
            pull_from_hub(settings, repo, version, target)
            manifest = json.loads((target / MANIFEST).read_text())
            yield DatasetSource(text, target, manifest["name"], version, "hub", manifest)
        return
    wanted = VersionRef.parse(text)
    version, folder = resolve(settings, wanted.name, wanted.version)
    yield DatasetSource(text, folder, wanted.name, version, "registry", verify(folder))


@dataclass
class FieldColumns:
    """One split's posts for one field: texts, label lists (taxonomy ids), soft labels
    ``(n, len(labels))`` where the version has them, and the annotators' own labels."""

    labels: list[str]
    multiple: bool
    post_ids: list[str]
    texts: list[str]
    label_lists: list[list[str]]
    label_probs: np.ndarray | None
    annotations: list[list[list[str]]] | None


def field_columns(split: Any, field: str) -> FieldColumns:
    """The columns of ``field`` in one split of a dataset (a ``datasets.Dataset``); posts
    without a value for a single-choice field are left out."""
    from datasets import ClassLabel
    from datasets import Sequence as SequenceFeature

    column = FIELD_COLUMNS.get(field, field)
    features = split.features
    if column not in features or "text" not in features:
        raise InputError(
            f"The dataset has no {column!r} column for field {field!r} (or no 'text').",
            hint=f"Its columns: {', '.join(features)}.",
        )
    feature = features[column]
    inner = getattr(feature, "feature", None)
    if isinstance(feature, ClassLabel):
        names, multiple = list(feature.names), False
    elif isinstance(feature, SequenceFeature | list) or isinstance(inner, ClassLabel):
        inner = feature[0] if isinstance(feature, list) else inner
        if not isinstance(inner, ClassLabel):
            raise InputError(f"Column {column!r} does not hold taxonomy labels (ClassLabel).")
        names, multiple = list(inner.names), True
    else:
        raise InputError(f"Column {column!r} does not hold taxonomy labels (ClassLabel).")
    codes = list(split[column])
    if multiple:
        keep = list(range(len(codes)))
        label_lists = [[names[code] for code in row] for row in codes]
    else:
        keep = [i for i, code in enumerate(codes) if code is not None and code >= 0]
        label_lists = [[names[codes[i]]] for i in keep]
    texts = list(split["text"])
    post_ids = (
        list(split["post_id"]) if "post_id" in features else [str(i) for i in range(len(texts))]
    )
    probs = None
    if multiple and column == "labels" and "label_probs" in features:
        rows = list(split["label_probs"])
        if all(len(row) == len(names) for row in rows):
            probs = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))
    annotations = None
    if "annotations" in features:
        every = list(split["annotations"])
        annotations = [[_as_list(entry.get(column)) for entry in every[i] or []] for i in keep]
    return FieldColumns(
        labels=names,
        multiple=multiple,
        post_ids=[post_ids[i] for i in keep],
        texts=[texts[i] for i in keep],
        label_lists=label_lists,
        label_probs=None if probs is None else probs[keep],
        annotations=annotations,
    )


def _as_list(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(item) for item in values if item not in (None, "")]
