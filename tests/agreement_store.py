"""A project filled directly with store rows (no Label Studio), for the agreement tests.

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

from annotate.projects import record_taxonomy
from annotate.store import Annotation, Annotator, Batch, GoldItem, Post, Project, Store, Task
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
    ls_ids = itertools.count(1000)
    with store.transaction() as session:
        project = Project(name=name, taxonomy_id=record_taxonomy(session, taxonomy).id)
        session.add(project)
        session.flush()
        batches = [
            Batch(project_id=project.id, strategy="random", seed=1, size=n_posts // 2),
            Batch(project_id=project.id, strategy="uncertainty", seed=2, size=n_posts // 2),
        ]
        people = [
            Annotator(ls_user_id=index, email=f"{pseudonym}@example.com", pseudonym=pseudonym)
            for index, pseudonym in enumerate(ANNOTATORS, start=1)
        ]
        session.add_all([*batches, *people])
        session.flush()
        filled.batches = [batch.id for batch in batches]

        def add_post(number: int, text: str, batch: Batch, is_gold: bool = False) -> Task:
            post = Post(
                source="demo", post_id=f"p{number}", text=text, text_hash=f"h{number}", lang="zh"
            )
            session.add(post)
            session.flush()
            task = Task(project_id=project.id, post_pk=post.id, batch_id=batch.id, is_gold=is_gold)
            session.add(task)
            session.flush()
            filled.batch_of[post.id] = batch.id
            return task

        def annotate(task: Task, who: Annotator, values: dict[str, Any], **state: Any) -> None:
            ls_id = next(ls_ids)
            session.add(
                Annotation(
                    ls_annotation_id=ls_id,
                    task_id=task.id,
                    annotator_id=who.id,
                    labels=values,
                    ls_updated_at=START + timedelta(minutes=ls_id),
                    **state,
                )
            )
            if not state:
                latest[(task.post_pk, who.pseudonym)] = values

        for number in range(n_posts):
            is_script = number == 7
            text = SCRIPT_TEXT if is_script else f"第{number}条：听说某城商行资金链断裂？"
            task = add_post(number, text, batches[number * 2 // n_posts], is_gold=number == 3)
            truth = [labels[number % len(labels)]]
            if number % 5 == 0:
                truth.append(labels[(number + 3) % len(labels)])
            if number == 3:
                session.add(GoldItem(post_pk=task.post_pk, labels={"category": truth}))
                filled.gold[task.post_pk] = frozenset(truth)
            if is_script:
                filled.script_post = task.post_pk
            skipped = number % len(people)
            for index, who in enumerate(people):
                if index == skipped:
                    continue
                careful = CAREFUL if who.pseudonym != "ann-4" else CARELESS
                category = truth if rng.random() < careful else [rng.choice(labels)]
                if is_script:  # every annotator reads this post differently
                    category = [labels[index]]
                if number == 5 and who.pseudonym == "ann-1":  # replaced by a later annotation
                    annotate(task, who, {"category": ["not_financial"]})
                annotate(
                    task,
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
        for number, extra in ((n_posts, None), (n_posts + 1, "deleted"), (n_posts + 2, "skipped")):
            task = add_post(number, f"第{number}条", batches[0])
            annotate(task, people[0], {"category": ["legitimate"]})
            if extra == "deleted":
                annotate(task, people[1], {"category": ["legitimate"]}, deleted_at=START)
            elif extra == "skipped":
                annotate(task, people[1], {"category": []}, was_cancelled=True)
            filled.n_single_items += 1

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
