"""Which aggregation turns a post's annotations into its labels: one name for the choice.

The library takes it as ``aggregation=``, the CLI as ``--aggregation``, and the store keeps its
value in the ``method`` column of aggregation runs and aggregates.
"""

from __future__ import annotations

from enum import StrEnum

from annotate.aggregation.dawid_skene import DawidSkene
from annotate.aggregation.majority_vote import MajorityVote
from annotate.errors import InputError


class Aggregation(StrEnum):
    """Dawid–Skene (annotators' confusion matrices estimated by EM) or majority vote."""

    DAWID_SKENE = "dawid-skene"
    MAJORITY = "majority"

    @classmethod
    def parse(cls, value: Aggregation | str) -> Aggregation:
        """The aggregation named ``value``; an :class:`InputError` naming the choices if none."""
        try:
            return cls(value)
        except ValueError:
            choices = " or ".join(member.value for member in cls)
            raise InputError(f"Unknown aggregation {value!r}; use {choices}.") from None

    def estimator(self) -> DawidSkene | MajorityVote:
        """A new single-label aggregator of this kind, with default settings."""
        return DawidSkene() if self is Aggregation.DAWID_SKENE else MajorityVote()
