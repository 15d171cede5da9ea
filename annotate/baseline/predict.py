"""Scores for posts in chunks, so that any number of posts runs in flat memory: posts from a
file (any format ``ingest`` reads, through its streaming readers) or the store's posts that
have no annotation yet."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from annotate.baseline.model import Baseline
from annotate.errors import InputError

CHUNK = 10_000


@dataclass
class PostChunk:
    post_ids: list[str]
    texts: list[str]


@dataclass
class PredictionChunk:
    """Scores of one chunk of posts: ``probabilities`` ``(n, len(labels))`` and the labels
    the model predicts for each post."""

    post_ids: list[str]
    probabilities: np.ndarray
    labels: list[list[str]]

    def records(self, label_names: list[str]) -> Iterator[dict[str, Any]]:
        for post_id, row, chosen in zip(
            self.post_ids, self.probabilities.tolist(), self.labels, strict=True
        ):
            scores = {name: round(value, 5) for name, value in zip(label_names, row, strict=True)}
            yield {"post_id": post_id, "labels": chosen, "scores": scores}


@dataclass
class Predictions:
    """A run of predictions, lazily: iterate for :class:`PredictionChunk` s (once). ``posts``
    and ``skipped`` (rows without a text, with the reason) count what went by."""

    model: Baseline
    chunks_of_posts: Iterator[PostChunk]
    posts: int = 0
    skipped: list[str] = field(default_factory=list)
    #: Told the number of posts scored so far after every chunk (a progress bar).
    on_chunk: Callable[[int], None] | None = None

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    def __iter__(self) -> Iterator[PredictionChunk]:
        for chunk in self.chunks_of_posts:
            probabilities = self.model.predict_proba(chunk.texts)
            self.posts += len(chunk.texts)
            if self.on_chunk is not None:
                self.on_chunk(self.posts)
            yield PredictionChunk(chunk.post_ids, probabilities, self.model.decide(probabilities))


def posts_from_file(
    path: Path, skipped: list[str], chunk: int = CHUNK, text_field: str = "text"
) -> Iterator[PostChunk]:
    """The posts of a file in chunks; a row without text is skipped (and said in
    ``skipped``, at most 100 reasons kept). A file that cannot be read is refused here, before
    anything is scored or written."""
    from annotate.ingest.readers import open_reader

    return _chunks_of(open_reader(path), path, skipped, chunk, text_field)


def _chunks_of(
    reader: Any, path: Path, skipped: list[str], chunk: int, text_field: str
) -> Iterator[PostChunk]:
    ids: list[str] = []
    texts: list[str] = []
    for row in reader.rows():
        text = (row.record or {}).get(text_field)
        if row.record is None or not isinstance(text, str) or not text.strip():
            where = row.where or str(path)
            reason = row.error or f"no {text_field!r}"
            if len(skipped) < 100:
                skipped.append(f"{where}, line {row.line}: {reason}")
            continue
        post_id = row.record.get("post_id")
        ids.append(str(post_id) if post_id is not None else f"line {row.line}")
        texts.append(text)
        if len(texts) >= chunk:
            yield PostChunk(ids, texts)
            ids, texts = [], []
    if texts:
        yield PostChunk(ids, texts)


def unlabelled_posts(store: Any, project: str | None, chunk: int = CHUNK) -> Iterator[PostChunk]:
    """The store's posts with no annotation (in ``project`` when given), in chunks by id,
    as ``source:post_id`` (the id published versions use)."""
    from sqlmodel import select

    from annotate.store import Annotation, Post, Task
    from annotate.store.queries import get_project

    with store.session() as session:
        labelled = (
            select(Task.post_pk)
            .join(Annotation, Annotation.task_id == Task.id)
            .where(Annotation.deleted_at.is_(None), Annotation.was_cancelled.is_(False))
        )
        if project is not None:
            labelled = labelled.where(Task.project_id == get_project(session, project).id)
    last = 0
    while True:
        with store.session() as session:
            rows = session.exec(
                select(Post.id, Post.source, Post.post_id, Post.text)
                .where(Post.id > last, Post.id.not_in(labelled))
                .order_by(Post.id)
                .limit(chunk)
            ).all()
        if not rows:
            return
        last = rows[-1][0]
        yield PostChunk(
            [f"{source}:{post_id}" for _, source, post_id, _ in rows], [r[3] for r in rows]
        )


def write_predictions(predictions: Predictions, handle: IO[str], as_array: bool = False) -> int:
    """Write every prediction as a line of JSON (or, ``as_array``, one JSON array) to
    ``handle``, chunk by chunk; returns how many."""
    written = 0
    if as_array:
        handle.write("[")
    for chunk in predictions:
        for record in chunk.records(predictions.labels):
            line = json.dumps(record, ensure_ascii=False)
            if as_array:
                handle.write(("," if written else "") + "\n  " + line)
            else:
                handle.write(line + "\n")
            written += 1
    if as_array:
        handle.write("\n]\n" if written else "]\n")
    return written


def check_output(out: Path) -> None:
    """Predictions are written as JSON Lines; another suffix is a mistake worth a sentence."""
    if out.suffix.lower() not in (".jsonl", ".ndjson"):
        raise InputError(f"--out {out}: predictions are written as JSON Lines (.jsonl).")
