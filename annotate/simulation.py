"""Simulated annotators for the demo and tests (pure, deterministic).

Each annotator copies the post's hidden true labels with probability ``skill`` and otherwise
makes the mistakes people make with this taxonomy: confusing neighbouring categories (rumour
and impersonation, doom-mongering and sound bearish analysis), dropping a secondary label,
misjudging severity by one step. Their answers go to Label Studio as annotations by real
Label Studio users, so the rest of the loop treats them like anyone else's.

What they can answer comes from the taxonomy: its category labels (an exclusive one stands
alone), the violations that need a severity, and the severity and confidence levels in order.
Which labels they mix up is demo data (``confused_with`` per category in the demo data file,
see :mod:`annotate.demo`), checked against the taxonomy like the templates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotate.demo import DemoDataError, load_demo_data
from annotate.taxonomy import Taxonomy


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
    *,
    taxonomy: Taxonomy | None = None,
    templates: Path | str | None = None,
) -> dict[str, Any]:
    """Normalised labels this annotator gives this post (same inputs, same answer).

    The answer fits ``taxonomy`` (default: the taxonomy every command uses); mistakes follow
    the demo data file ``templates`` (default: the packaged one). A true label the taxonomy
    does not define is a :class:`~annotate.demo.DemoDataError`.
    """
    data = load_demo_data(taxonomy, templates)
    unknown = [label for label in true_labels if label not in data.confusions]
    if unknown:
        raise DemoDataError(
            f"Post {post_key!r} has true label {unknown[0]!r}, which taxonomy "
            f"{data.taxonomy} does not define.",
            "Generate the demo corpus again with this taxonomy.",
        )
    if len(data.confidences) < 2:
        raise DemoDataError(
            f"Taxonomy {data.taxonomy} has no confidence field with two or more levels for "
            "simulated annotators to answer."
        )
    chance = random.Random(f"{seed}:{annotator.name}:{post_key}")
    labels = list(true_labels) or list(data.no_truth)
    if chance.random() > annotator.skill:
        first = chance.choice(labels)
        wrong = chance.choice(data.confusions[first])
        labels = [wrong if label == first else label for label in labels]
        if len(labels) > 1 and chance.random() < 0.5:
            labels.pop()
    labels = sorted(set(labels))
    exclusive = [label for label in labels if label in data.exclusive]
    if exclusive and len(labels) > 1:
        labels = exclusive[:1]
    severity = None
    if any(label in data.violations for label in labels):
        levels = data.severities
        base = levels.index(true_severity) if true_severity in levels else len(levels) // 2
        if chance.random() > annotator.skill:
            base = min(len(levels) - 1, max(0, base + chance.choice((-1, 1))))
        severity = levels[base]
    confidences = data.confidences
    sure = chance.random() < annotator.skill
    confidence = confidences[-1] if sure else chance.choice(confidences[:-1])
    return {
        "category": labels,
        "severity": severity,
        "confidence": confidence,
        "needs_expert": chance.random() < 0.03,
    }


def lead_time(annotator: SimulatedAnnotator, text: str, post_key: str, seed: int = 0) -> float:
    chance = random.Random(f"lead:{seed}:{annotator.name}:{post_key}")
    return round(5 + annotator.speed * len(text) * chance.uniform(0.6, 1.6), 1)
