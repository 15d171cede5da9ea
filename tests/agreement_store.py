"""A project filled without Label Studio (:func:`annotate.store.record_annotations`), for the
agreement tests.

Every annotation written here is also recorded in :class:`FilledProject`, so a test can compute
what ``annotate agreement`` must find with :mod:`annotate.agreement` directly.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from annotate.store import Post, Store, record_annotations
from annotate.taxonomy import load_taxonomy

SCRIPT_TEXT = "内部消息称某银行明天暂停取款 <script>alert(1)</script> 快去取钱 http://t.cn/A6x"
ANNOTATORS = ("ann-1", "ann-2", "ann-3", "ann-4")
# ann-4 copies the consensus only this often, so it stands out from the others.
CAREFUL, CARELESS = 0.9, 0.3
START = datetime(2024, 10, 8, tzinfo=UTC)


@dataclass
class FilledProject:
    """What was written: the rows agreement must use, per field, and the rest."""

    name: str
    rows: dict[str, list[tuple[Any, str, Any]]] = field(default_factory=dict)
    n_single_items: int = 0
    script_post: int = 0
    gold: dict[int, frozenset] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    batch_of: dict[int, int] = field(default_factory=dict)

    def field_rows(self, name: str, min_annotators: int = 2) -> list[tuple[Any, str, Any]]:
        rows = self.rows[name]
        counts = Counter(item for item, _, _ in rows)
        return [row for row in rows if counts[row[0]] >= min_annotators]


def fill_project(store: Store, name: str = "round-1", n_posts: int = 40, seed: int = 5):
    """A project of ``n_posts`` posts in two batches, each post annotated by three of the four
    annotators; plus a gold post, a post with markup, posts with a single valid annotation
    (others deleted or skipped), and one annotation replaced by a later one."""
    rng = random.Random(seed)
    taxonomy = load_taxonomy()
    labels = taxonomy.field("category").label_ids
    filled = FilledProject(name=name)
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    minutes = itertools.count(1000)
    singles = range(n_posts, n_posts + 3)
    with store.transaction() as session:
        posts = [
            Post(
                source="demo",
                post_id=f"p{number}",
                text=SCRIPT_TEXT if number == 7 else _text(number, n_posts),
                text_hash=f"h{number}",
                lang="zh",
            )
            for number in range(n_posts + 3)
        ]
        session.add_all(posts)
        session.flush()
        pk = [post.id for post in posts]
    # Rows of the first batch (with the posts that have a single valid annotation), then the
    # second; timestamps in the order the annotations were made.
    rows: list[list[dict[str, Any]]] = [[], []]
    gold: dict[int, dict[str, Any]] = {}

    def annotate(number: int, who: str, values: dict[str, Any], **state: Any) -> None:
        batch = 0 if number in singles else number * 2 // n_posts
        rows[batch].append(
            {
                "post": pk[number],
                "annotator": f"{who}@example.com",
                "labels": values,
                "updated_at": START + timedelta(minutes=next(minutes)),
                **state,
            }
        )
        if not state:
            latest[(pk[number], who)] = values

    for number in range(n_posts):
        truth = [labels[number % len(labels)]]
        if number % 5 == 0:
            truth.append(labels[(number + 3) % len(labels)])
        if number == 3:
            gold[pk[number]] = {"category": truth}
            filled.gold[pk[number]] = frozenset(truth)
        if number == 7:
            filled.script_post = pk[number]
        skipped = number % len(ANNOTATORS)
        for index, who in enumerate(ANNOTATORS):
            if index == skipped:
                continue
            careful = CAREFUL if who != "ann-4" else CARELESS
            category = truth if rng.random() < careful else [rng.choice(labels)]
            if number == 7:  # every annotator reads this post differently
                category = [labels[index]]
            if number == 5 and who == "ann-1":  # replaced by a later annotation
                annotate(number, who, {"category": ["not_financial"]})
            annotate(
                number,
                who,
                {
                    "category": category,
                    "severity": rng.choice(["low", "medium", "high"]),
                    "confidence": rng.choice(["1", "2", "3"]),
                    "needs_expert": rng.random() < 0.2,
                    "evidence": [{"start": 0, "end": 4, "label": "misleading_claim"}],
                    "rationale": None,
                },
            )

    # Items with one valid annotation: counted, left out of agreement.
    for number, extra in zip(singles, (None, "deleted", "skipped"), strict=True):
        annotate(number, ANNOTATORS[0], {"category": ["legitimate"]})
        if extra == "deleted":
            annotate(number, ANNOTATORS[1], {"category": ["legitimate"]}, deleted_at=START)
        elif extra == "skipped":
            annotate(number, ANNOTATORS[1], {"category": []}, skipped=True)
        filled.n_single_items += 1

    for strategy, batch_rows in zip(("random", "uncertainty"), rows, strict=True):
        recorded = record_annotations(
            store,
            name,
            batch_rows,
            taxonomy=taxonomy,
            batch=strategy,
            gold=gold if strategy == "random" else None,
            pseudonymise=lambda email: email.split("@")[0],
        )
        filled.batches.append(recorded.batch_id)
        filled.batch_of.update(dict.fromkeys(recorded.task_ids, recorded.batch_id))

    for name_of_field in ("category", "severity", "needs_expert"):
        rows = []
        for (item, annotator), values in latest.items():
            value = values.get(name_of_field)
            if name_of_field == "category":
                value = frozenset(value)
            if value is not None:
                rows.append((item, annotator, value))
        filled.rows[name_of_field] = rows
    return filled


def _text(number: int, n_posts: int) -> str:
    return f"第{number}条：听说某城商行资金链断裂？" if number < n_posts else f"第{number}条"
