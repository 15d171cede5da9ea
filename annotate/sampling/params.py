"""What a batch should look like: :class:`SamplingParams`, ``--where`` parsing, and the names
sampling uses for strategies, allocations, fields and pools."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from annotate.errors import InputError
from annotate.neardup import DEFAULT_NEAR_DUPLICATE_THRESHOLD
from annotate.sampling.ranking import RANK_VERSION, RANK_VERSIONS

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_KEYWORD_SHARE",
    "GOLD_POOL",
    "KEYWORD_POOL",
    "MODEL_STRATEGIES",
    "SAMPLING_FIELDS",
    "STRATEGIES",
    "UNKNOWN",
    "SamplingParams",
    "parse_where",
]

#: Strategies that rank posts by a model's scores (:mod:`annotate.model_sampling`); strata
#: (``by``) are optional with them.
MODEL_STRATEGIES = ("uncertainty", "activelab")
STRATEGIES = ("random", "stratified", "keyword", "mixed", *MODEL_STRATEGIES)
ALLOCATIONS = ("proportional", "equal")
#: Post attributes a batch can be stratified by (``by``) or filtered on (``where``).
SAMPLING_FIELDS = ("platform", "lang", "source", "month", "account_id")
#: The value of a missing platform, language, month or account.
UNKNOWN = "unknown"
DEFAULT_KEYWORD_SHARE = 0.3
GOLD_POOL = "gold"
KEYWORD_POOL = "keyword"

_KEYWORD_STRATEGIES = frozenset({"keyword", "mixed"})
_STRATIFIED_STRATEGIES = frozenset({"stratified", "mixed"})
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_MAX_SEED = 2**64 - 1


@dataclass(frozen=True)
class SamplingParams:
    """What the next batch should look like; invalid values raise :class:`InputError`.

    ``by`` and ``where`` use :data:`SAMPLING_FIELDS`; ``month`` is ``YYYY-MM`` of
    ``created_at`` in UTC, and every missing value is :data:`UNKNOWN`. ``where`` maps a field
    to the values it may take (one of them: several values of a field are alternatives,
    several fields must all hold). ``keyword_share`` applies to the ``keyword`` and ``mixed``
    strategies only and defaults to :data:`DEFAULT_KEYWORD_SHARE` there.
    """

    size: int
    strategy: str = "random"
    by: tuple[str, ...] = ()
    allocation: str = "proportional"
    keyword_share: float | None = None
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dedupe: bool = True
    seed: int = 0
    gold_rate: float = 0.0
    near_duplicate_threshold: float = DEFAULT_NEAR_DUPLICATE_THRESHOLD
    #: How posts are ranked (:mod:`~annotate.sampling.ranking`): batches recorded before
    #: version 2 keep version 1, and sampling with it again reproduces them.
    rank_version: int = RANK_VERSION

    def __post_init__(self) -> None:
        if not is_int(self.size) or self.size < 1:
            raise InputError(
                f"The batch size must be a whole number of at least 1, not {self.size!r}."
            )
        if self.strategy not in STRATEGIES:
            raise InputError(
                f"Unknown sampling strategy {self.strategy!r}; use one of {', '.join(STRATEGIES)}."
            )
        by = (self.by,) if isinstance(self.by, str) else tuple(self.by)
        for name in by:
            if name not in SAMPLING_FIELDS:
                raise InputError(
                    f"Cannot stratify by {name!r}; use one or more of {', '.join(SAMPLING_FIELDS)}."
                )
        if len(set(by)) < len(by):
            raise InputError(f"A field is repeated in --by {','.join(by)}.")
        object.__setattr__(self, "by", by)
        stratified = self.strategy in _STRATIFIED_STRATEGIES
        if stratified and not by:
            raise InputError(
                f"The {self.strategy} strategy needs at least one field to stratify by.",
                hint="Pass --by, for example --by platform,month.",
            )
        if by and not stratified and self.strategy not in MODEL_STRATEGIES:
            raise InputError(
                f"Strata (--by) apply to the stratified and mixed strategies, "
                f"not to {self.strategy}.",
                hint="Add --strategy stratified, or --strategy mixed for keywords as well.",
            )
        if self.allocation not in ALLOCATIONS:
            raise InputError(
                f"Unknown allocation {self.allocation!r}; use {' or '.join(ALLOCATIONS)}."
            )
        if self.keyword_share is not None:
            if self.strategy not in _KEYWORD_STRATEGIES:
                raise InputError(
                    f"A keyword share applies to the keyword and mixed strategies, "
                    f"not to {self.strategy}."
                )
            if not _is_number(self.keyword_share) or not 0 < self.keyword_share <= 1:
                raise InputError(
                    f"The keyword share must be above 0 and at most 1, not {self.keyword_share!r}."
                )
        if not _is_number(self.gold_rate) or not 0 <= self.gold_rate < 1:
            raise InputError(
                f"The gold rate must be at least 0 and below 1, not {self.gold_rate!r}."
            )
        threshold = self.near_duplicate_threshold
        if not _is_number(threshold) or not 0 < threshold <= 1:
            raise InputError(
                f"The near-duplicate threshold must be above 0 and at most 1, not {threshold!r}."
            )
        if not is_int(self.seed) or not 0 <= self.seed <= _MAX_SEED:
            raise InputError(
                f"The seed must be a whole number from 0 to 2**64 - 1, not {self.seed!r}."
            )
        if self.rank_version not in RANK_VERSIONS or not is_int(self.rank_version):
            raise InputError(
                f"Unknown rank version {self.rank_version!r}; use "
                f"{' or '.join(map(str, RANK_VERSIONS))}."
            )
        if not isinstance(self.dedupe, bool):
            raise InputError(f"dedupe must be true or false, not {self.dedupe!r}.")
        object.__setattr__(self, "where", normalise_where(self.where))

    @property
    def uses_lexicon(self) -> bool:
        return self.strategy in _KEYWORD_STRATEGIES

    @property
    def effective_keyword_share(self) -> float:
        """The keyword share in force: 0 for strategies without keywords."""
        if not self.uses_lexicon:
            return 0.0
        return DEFAULT_KEYWORD_SHARE if self.keyword_share is None else float(self.keyword_share)

    @property
    def base_pool(self) -> str:
        """The name of the pool that fills the rest of the batch: random or stratified (or
        the model strategy's name)."""
        if self.strategy in MODEL_STRATEGIES:
            return self.strategy
        return "stratified" if self.strategy in _STRATIFIED_STRATEGIES else "random"

    @property
    def gold_size(self) -> int:
        """``round(size * gold_rate)`` (halves up), leaving at least one regular post."""
        if self.gold_rate == 0:
            return 0
        return min(_round_half_up(self.size * self.gold_rate), self.size - 1)

    def keyword_size(self, regular: int) -> int:
        """The keyword pool's quota in a regular part of ``regular`` posts."""
        return _round_half_up(regular * self.effective_keyword_share)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as JSON-ready values (to record with the batch)."""
        values = asdict(self)
        values["by"] = list(self.by)
        values["where"] = {name: list(options) for name, options in self.where.items()}
        values["keyword_share"] = self.effective_keyword_share if self.uses_lexicon else None
        return values


def parse_where(items: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``["platform=weibo,douyin", "month=2024-09"]`` → ``{"platform": ("weibo", "douyin"),
    "month": ("2024-09",)}``. Values are separated by ``,`` or ``|``; a field given twice
    takes both lists of values.

    >>> parse_where(["platform=weibo|douyin", "platform=wechat", "month=2024-09"])
    {'platform': ('weibo', 'douyin', 'wechat'), 'month': ('2024-09',)}
    """
    where: dict[str, list[str]] = {}
    for item in items:
        name, equals, values = item.partition("=")
        name = name.strip()
        options = [value.strip() for value in re.split(r"[,|]", values) if value.strip()]
        if not equals or not name or not options:
            raise InputError(
                f"--where {item!r} is not FIELD=VALUE.",
                hint="For example --where platform=weibo --where month=2024-09.",
            )
        where.setdefault(name, []).extend(options)
    return normalise_where(where)


def normalise_where(where: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    normalised: dict[str, tuple[str, ...]] = {}
    for name, values in where.items():
        if name not in SAMPLING_FIELDS:
            raise InputError(f"Cannot filter on {name!r}; use one of {', '.join(SAMPLING_FIELDS)}.")
        options = (values,) if isinstance(values, str) else tuple(values)
        if not options or not all(isinstance(value, str) and value for value in options):
            raise InputError(f"--where {name} needs at least one non-empty value.")
        if name in ("platform", "lang"):
            options = tuple(value.lower() for value in options)  # stored lower-case by ingest
        if name == "month":
            for value in options:
                if value != UNKNOWN and not _MONTH.fullmatch(value):
                    raise InputError(f"Month {value!r} is not YYYY-MM (or {UNKNOWN!r}).")
        normalised[name] = tuple(dict.fromkeys(options))
    return normalised


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)
