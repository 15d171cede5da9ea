"""The headline agreement numbers of one field, as ``annotate agreement --json`` prints them."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

from annotate.agreement.alpha import alpha_statistic
from annotate.agreement.coefficients import (
    Level,
    Weights,
    _check_weights,
    encode_for_level,
    evaluate_many,
)
from annotate.agreement.kappa import _PairAgreement, pairwise_kappas
from annotate.agreement.results import AgreementSummary

__all__ = ["summarise"]


def summarise(
    data: Any,
    level: Level = "nominal",
    *,
    order: Sequence[Hashable] | None = None,
    labels: Sequence[Hashable] | None = None,
    weights: Weights | Literal["auto"] = "auto",
    ci: bool = True,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> AgreementSummary:
    """Percent agreement, Krippendorff's α at ``level``, Fleiss' κ, Gwet's AC1 and Cohen's κ for
    every pair of annotators, with bootstrap intervals (all from the same resamples of items).

    ``weights`` applies to Fleiss' κ, Gwet's coefficient (AC2 when weighted) and the pairwise
    Cohen's κ; ``"auto"`` is ``"quadratic"`` for ordinal data and None otherwise. Coefficients
    other than α treat the values as categories (distinct numbers, or distinct label sets of
    a multi-label field). ``summarise(...).as_dict()`` is the JSON document.

    >>> data = [(1, "A", "x"), (1, "B", "x"), (2, "A", "y"), (2, "B", "y"), (3, "A", "x"),
    ...         (3, "B", "y"), (4, "A", "y")]
    >>> summary = summarise(data, ci=False)
    >>> document = summary.as_dict()
    >>> sorted(document)  # doctest: +NORMALIZE_WHITESPACE
    ['ci', 'cohen_kappa_pairs', 'details', 'fleiss_kappa', 'gwet_ac1', 'krippendorff_alpha',
     'n_annotations', 'n_annotators', 'n_items', 'percent_agreement']
    >>> round(document["percent_agreement"], 4), document["cohen_kappa_pairs"][0]["n"]
    (0.6667, 3)
    """
    table = encode_for_level(data, level, order=order, labels=labels)
    if weights == "auto":
        weights = "quadratic" if level == "ordinal" else None
    _check_weights(weights, table)
    percent, alpha, fleiss, gwet = evaluate_many(
        table,
        [
            _PairAgreement("percent", table.n_values),
            alpha_statistic(table, level),
            _PairAgreement("fleiss", table.n_values, weights),
            _PairAgreement("gwet", table.n_values, weights),
        ],
        ci=ci,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    return AgreementSummary(
        percent_agreement=percent,
        krippendorff_alpha=alpha,
        fleiss_kappa=fleiss,
        gwet_ac1=gwet,
        n_items=table.n_items,
        n_annotators=table.n_annotators,
        n_annotations=table.n_annotations,
        cohen_kappa_pairs=tuple(pairwise_kappas(table, weights)),
        level=level,
        weights=weights,
        details={
            "n_pairable_items": alpha.n_pairable,
            "n_unpairable_items": alpha.n_unpairable,
            "n_missing_values": table.n_missing,
            "values": [table.value_label(code) for code in range(table.n_values)],
        },
    )
