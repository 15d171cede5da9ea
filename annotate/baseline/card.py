"""The model card in Markdown, from the card's JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_card_markdown(card: dict[str, Any], labels: Sequence[str]) -> str:
    """A short human card: what the model is, what it was trained on, how well it did."""
    dataset = card.get("dataset") or {}
    taxonomy = card.get("taxonomy") or {}
    training = card.get("training") or {}
    lines = [
        f"# Baseline classifier: {card.get('field', '?')}",
        "",
        f"- Model: {card.get('classifier', 'one-vs-rest logistic regression')} over "
        "hashed TF-IDF of character 1–3-grams and Latin-script word 1–2-grams.",
    ]
    if dataset:
        lines.append(
            f"- Dataset: {dataset.get('name')} {dataset.get('version')} "
            f"(fingerprint `{dataset.get('fingerprint')}`, source {dataset.get('source')})"
        )
    if taxonomy:
        lines.append(
            f"- Taxonomy: {taxonomy.get('name')} {taxonomy.get('version')} "
            f"(sha256 `{taxonomy.get('sha256')}`)"
        )
    lines += [
        f"- Trained on {training.get('posts', '?')} posts in {training.get('seconds', '?')} s; "
        f"soft labels: {'yes' if training.get('soft_labels') else 'no'}; "
        f"seed {training.get('seed', 0)}.",
        "- Libraries: "
        + ", ".join(f"{name} {value}" for name, value in (card.get("libraries") or {}).items()),
        "",
        "| label | threshold | precision | recall | F1 | support |",
        "|---|---|---|---|---|---|",
    ]
    per_label = ((card.get("metrics") or {}).get("per_label")) or {}
    for label in labels:
        scores = per_label.get(label) or {}
        threshold = (card.get("thresholds") or {}).get(label)
        lines.append(
            f"| {label} | {_number(threshold)} | {_number(scores.get('precision'))} | "
            f"{_number(scores.get('recall'))} | {_number(scores.get('f1'))} | "
            f"{scores.get('support', '–')} |"
        )
    metrics = card.get("metrics") or {}
    if metrics.get("macro"):
        lines += [
            "",
            f"Split `{metrics.get('split')}`: macro-F1 {_number(metrics['macro'].get('f1'))}, "
            f"micro-F1 {_number((metrics.get('micro') or {}).get('f1'))}; majority-class "
            f"baseline macro-F1 {_number((metrics.get('majority') or {}).get('macro_f1'))}.",
        ]
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"
