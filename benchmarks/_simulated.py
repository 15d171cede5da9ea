"""Simulated labelling shared by the model benchmarks (run as scripts: this folder is on
sys.path): demo posts with known true labels, the demo's simulated annotators of known
accuracy, and majority-vote aggregation per label."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from annotate import demo
from annotate.simulation import DEFAULT_TEAM, SimulatedAnnotator, simulate_labels
from annotate.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
LABELS = list(TAXONOMY.field("category").label_ids)


@dataclass
class Corpus:
    """Demo posts: ids, texts and true category labels."""

    post_ids: list[str]
    texts: list[str]
    truth: list[list[str]]

    @classmethod
    def demo(cls, size: int, seed: int) -> Corpus:
        posts = list(demo.generate_posts(size, seed=seed))
        return cls(
            [post["post_id"] for post in posts],
            [post["text"] for post in posts],
            [list(post.get("true_labels") or []) for post in posts],
        )

    def subset(self, indices: Sequence[int]) -> Corpus:
        return Corpus(
            [self.post_ids[i] for i in indices],
            [self.texts[i] for i in indices],
            [self.truth[i] for i in indices],
        )


@dataclass
class Crowd:
    """Who labelled what: per post ``{annotator: labels}``; each annotation costs one."""

    corpus: Corpus
    seed: int
    team: tuple[SimulatedAnnotator, ...] = DEFAULT_TEAM
    given: dict[int, dict[str, frozenset[str]]] = field(default_factory=dict)
    spent: int = 0

    def __post_init__(self) -> None:
        self.chance = random.Random(self.seed)

    def can_take_more(self, index: int) -> bool:
        return len(self.given.get(index, {})) < len(self.team)

    def annotate(self, index: int) -> None:
        """One more annotation of post ``index`` by a team member who has not labelled it."""
        done = self.given.setdefault(index, {})
        free = [member for member in self.team if member.name not in done]
        member = self.chance.choice(free)
        answer = simulate_labels(
            member,
            self.corpus.post_ids[index],
            self.corpus.truth[index],
            None,
            self.seed,
            taxonomy=TAXONOMY,
        )
        done[member.name] = frozenset(answer["category"])
        self.spent += 1

    def labelled(self) -> list[int]:
        return sorted(self.given)

    def aggregate(self, index: int) -> list[str]:
        """Majority vote per label (a tie keeps the label); never empty."""
        votes = self.given[index]
        counts = {label: sum(label in answer for answer in votes.values()) for label in LABELS}
        kept = [label for label in LABELS if counts[label] * 2 >= len(votes) and counts[label]]
        return kept or [max(LABELS, key=counts.__getitem__)]


def macro_f1(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Macro-F1 over the labels present in ``truth``."""
    from sklearn.metrics import f1_score

    from annotate.baseline import label_matrix

    expected = label_matrix(truth, LABELS)
    present = np.flatnonzero(expected.sum(axis=0))
    got = label_matrix(predicted, LABELS)
    return float(f1_score(expected[:, present], got[:, present], average="macro", zero_division=0))
