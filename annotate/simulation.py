"""Simulated annotators for the demo and tests (pure, deterministic).

Each annotator copies the post's hidden true labels with probability ``skill`` and otherwise
makes the mistakes people make with this taxonomy: confusing neighbouring categories (rumour
and impersonation, doom-mongering and sound bearish analysis), dropping a secondary label,
misjudging severity by one step. Their answers go to Label Studio as annotations by real
Label Studio users, so the rest of the loop treats them like anyone else's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

#: Categories annotators mix up, in both directions.
CONFUSABLE = {
    "fabricated_rumour": ["impersonation", "market_badmouthing"],
    "impersonation": ["fabricated_rumour"],
    "policy_distortion": ["fabricated_rumour", "legitimate"],
    "market_badmouthing": ["legitimate", "incitement"],
    "illegal_securities": ["fabricated_rumour", "legitimate"],
    "extortion": ["fabricated_rumour"],
    "incitement": ["market_badmouthing"],
    "legitimate": ["market_badmouthing", "policy_distortion", "not_financial"],
    "not_financial": ["legitimate"],
}
SEVERITIES = ("low", "medium", "high")
EXCLUSIVE = ("legitimate", "not_financial")


@dataclass(frozen=True)
class SimulatedAnnotator:
    name: str
    skill: float
    speed: float = 1.0  # seconds per character of the post, roughly


DEFAULT_TEAM = (
    SimulatedAnnotator("expert", 0.92, 0.05),
    SimulatedAnnotator("careful", 0.85, 0.08),
    SimulatedAnnotator("hasty", 0.62, 0.02),
)


def simulate_labels(
    annotator: SimulatedAnnotator,
    post_key: str,
    true_labels: list[str],
    true_severity: str | None,
    seed: int = 0,
) -> dict[str, Any]:
    """Normalised labels this annotator gives this post (same inputs, same answer)."""
    chance = random.Random(f"{seed}:{annotator.name}:{post_key}")
    labels = list(true_labels) or ["not_financial"]
    if chance.random() > annotator.skill:
        first = chance.choice(labels)
        wrong = chance.choice(CONFUSABLE.get(first, ["legitimate"]))
        labels = [wrong if label == first else label for label in labels]
        if len(labels) > 1 and chance.random() < 0.5:
            labels.pop()
    labels = sorted(set(labels))
    if any(label in EXCLUSIVE for label in labels) and len(labels) > 1:
        labels = [next(label for label in labels if label in EXCLUSIVE)]
    violation = not any(label in EXCLUSIVE for label in labels)
    severity = None
    if violation:
        base = SEVERITIES.index(true_severity) if true_severity in SEVERITIES else 1
        if chance.random() > annotator.skill:
            base = min(2, max(0, base + chance.choice((-1, 1))))
        severity = SEVERITIES[base]
    confidence = "3" if chance.random() < annotator.skill else chance.choice(("1", "2"))
    return {
        "category": labels,
        "severity": severity,
        "confidence": confidence,
        "needs_expert": chance.random() < 0.03,
    }


def lead_time(annotator: SimulatedAnnotator, text: str, post_key: str, seed: int = 0) -> float:
    chance = random.Random(f"lead:{seed}:{annotator.name}:{post_key}")
    return round(5 + annotator.speed * len(text) * chance.uniform(0.6, 1.6), 1)
