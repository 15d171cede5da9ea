"""Sampling: which posts go into the next batch of a project.

Usage::

    params = SamplingParams(size=200, strategy="mixed", by=("platform", "month"), seed=7,
                            gold_rate=0.05)
    gold = read_gold_candidates(store, load_gold("gold.jsonl", load_taxonomy()),
                                exclude_project_id=project.id)
    candidates = read_candidates(store, params.where, exclude_project_id=project.id)
    selection = select_batch(candidates, params, load_lexicon(), gold=gold)
    selection.task_pks        # every post of the batch, gold included, in task order
    selection.gold_pks        # the ones to record as gold (the task itself does not say so)
    selection.composition     # per pool and stratum: available, quota, selected, suppressed

How a batch is chosen
---------------------
*Rank.* Every post gets a rank, a keyed hash of ``(seed, source, post_id)``
(:func:`rank_key`). Each pool (below) takes its posts in rank order, lowest first: a bottom-k
sample, which is a uniform random sample for a fixed seed. A post's rank never depends on
the other posts, so the same seed and corpus give the same batch, a bigger corpus changes the
batch only where new posts rank in, and bottom-k lists of partitions merge into the bottom-k
list of the whole (:meth:`Shortlist.merge`).

*Pools.* A batch of ``size`` posts is made of, in this order:

1. ``gold``: ``round(size * gold_rate)`` posts with known answers, the best-ranked of the gold
   posts given (fewer when there are fewer; the regular part then grows so that the batch
   keeps its size; at least one post is always regular);
2. ``keyword`` (strategies ``keyword`` and ``mixed``): ``round(regular * keyword_share)``
   posts that match the risk lexicon (``label_config/keywords.yaml``);
3. the rest from all candidates: ``random`` (one stratum) for strategies ``random`` and
   ``keyword``, ``stratified`` over the ``by`` fields for ``stratified`` and ``mixed``, with
   proportional (largest remainder) or equal allocation. A stratum that runs short passes
   its shortfall on to the strata that still have posts, by the same allocation.

No post appears twice; gold posts never appear among the regular picks. ``where`` filters
apply to the regular candidates only: gold posts are chosen by hand.

*Near-duplicates.* Within a pool posts are accepted greedily in rank order, each checked
against every post earlier batches sent to the project and everything accepted so far (gold
first, then keyword, then the rest): a post whose
text hash equals an accepted one's, or whose character shingles are at least
``near_duplicate_threshold`` similar to one's (:func:`annotate.neardup.similarity`: the
shorter post mostly contained in the longer, and of similar length), is suppressed and the
next-ranked post of its stratum takes its place. The similarity is computed exactly (prefix
filtering only prunes comparisons that cannot reach the threshold,
:class:`annotate.neardup.NearDuplicateIndex`), so two posts at or above the threshold
never share a batch, and neither do two reposts of one post that each only add a little to
it. Only the posts actually considered are shingled.

*Passes and memory.* The candidates are streamed once into a :class:`Shortlist`: per stratum
(and for the keyword pool) a bounded heap of the best-ranked candidates, with room for the
largest quota the stratum could get plus a margin for suppressed near-duplicates. Memory is
bounded by the number of strata times that capacity, never by the corpus. When
near-duplicates use up a stratum's margin, one more pass over the candidates collects the
next-ranked ones of the strata that ran short (rare: ``Selection.passes`` says how many
passes were made), which is why the candidates must be iterable more than once.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC
from fractions import Fraction
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml
from sqlalchemy import and_, exists, false, func, or_, select, tuple_

from annotate.errors import InputError
from annotate.neardup import (  # one definition of "near-duplicate", shared with splits
    DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    NearDuplicateIndex,
    shingles,
    similarity,
)
from annotate.store import Post, Store, Task
from annotate.taxonomy import Taxonomy, check_rules, packaged_label_config

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_KEYWORD_SHARE",
    "SAMPLING_FIELDS",
    "STRATEGIES",
    "UNKNOWN",
    "Candidate",
    "GoldAnswer",
    "Lexicon",
    "Pick",
    "SamplingParams",
    "Selection",
    "Shortlist",
    "StoredCandidates",
    "StratumCount",
    "Suppression",
    "allocate_quotas",
    "default_lexicon_path",
    "load_gold",
    "load_lexicon",
    "month_of",
    "parse_where",
    "rank_key",
    "read_candidates",
    "read_gold_candidates",
    "select_batch",
    "shortlist",
    "similarity",
]

STRATEGIES = ("random", "stratified", "keyword", "mixed")
ALLOCATIONS = ("proportional", "equal")
#: Post attributes a batch can be stratified by (``by``) or filtered on (``where``).
SAMPLING_FIELDS = ("platform", "lang", "source", "month", "account_id")
#: The value of a missing platform, language, month or account.
UNKNOWN = "unknown"
DEFAULT_KEYWORD_SHARE = 0.3
LEXICON_FILE = "keywords.yaml"
GOLD_POOL = "gold"
KEYWORD_POOL = "keyword"

_KEYWORD_STRATEGIES = frozenset({"keyword", "mixed"})
_STRATIFIED_STRATEGIES = frozenset({"stratified", "mixed"})
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_MAX_SEED = 2**64 - 1
# Room kept in each shortlist heap for posts that near-duplicate suppression removes: as many
# as the quota, at least 16 (a few megabytes for a batch of thousands, and another pass over
# a million posts costs seconds). Corpora with more duplicates than that cost one more pass.
_MARGIN_SHARE = 1.0
_MARGIN_MIN = 16
_READ_BATCH = 5_000
_GOLD_LOOKUP_CHUNK = 500

Key = TypeVar("Key", bound=Hashable)


# ------------------------------------------------------------------------------ parameters


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

    def __post_init__(self) -> None:
        if not _is_int(self.size) or self.size < 1:
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
        if by and not stratified:
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
        if not _is_int(self.seed) or not 0 <= self.seed <= _MAX_SEED:
            raise InputError(
                f"The seed must be a whole number from 0 to 2**64 - 1, not {self.seed!r}."
            )
        if not isinstance(self.dedupe, bool):
            raise InputError(f"dedupe must be true or false, not {self.dedupe!r}.")
        object.__setattr__(self, "where", _normalise_where(self.where))

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
        """The name of the pool that fills the rest of the batch: random or stratified."""
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
    return _normalise_where(where)


def _normalise_where(where: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


# ------------------------------------------------------------------------------ candidates


class Candidate(NamedTuple):
    """A post that may go into the batch: what sampling needs of it, nothing more.

    ``pk`` is the store's ``posts.id``; missing platform, language, month or account are
    :data:`UNKNOWN`; ``month`` is ``YYYY-MM`` of ``created_at`` in UTC (:func:`month_of`).
    A named tuple because a million of them are built per pass, four times faster than a
    dataclass.
    """

    pk: int
    source: str
    post_id: str
    text: str
    text_hash: str
    platform: str = UNKNOWN
    lang: str = UNKNOWN
    month: str = UNKNOWN
    account_id: str = UNKNOWN


def month_of(created_at: Any) -> str:
    """``YYYY-MM`` of a datetime in UTC (naive times are taken as UTC), or :data:`UNKNOWN`.

    >>> from datetime import datetime, timedelta, timezone
    >>> month_of(datetime(2024, 10, 1, 1, 0, tzinfo=timezone(timedelta(hours=8))))
    '2024-09'
    >>> month_of(None)
    'unknown'
    """
    if created_at is None:
        return UNKNOWN
    if created_at.tzinfo is not None:
        created_at = created_at.astimezone(UTC)
    return f"{created_at.year:04d}-{created_at.month:02d}"


def rank_key(seed: int, source: str, post_id: str) -> int:
    """A post's rank under ``seed``: blake2b keyed with the seed, 128 bits, as an integer.

    The rank depends on nothing but the seed and the post's identity, which is what makes
    samples reproducible and mergeable. With 128 bits two posts never tie in practice.

    >>> rank_key(7, "default", "wb1") == rank_key(7, "default", "wb1")
    True
    >>> rank_key(7, "default", "wb1") == rank_key(8, "default", "wb1")
    False
    """
    hasher = _keyed_hasher(seed).copy()
    hasher.update(_identity(source, post_id))
    return int.from_bytes(hasher.digest(), "big")


def _keyed_hasher(seed: int) -> Any:
    return hashlib.blake2b(key=seed.to_bytes(8, "big"), digest_size=16)


def _identity(source: str, post_id: str) -> bytes:
    return f"{source}\x1f{post_id}".encode()


class StoredCandidates:
    """Candidate posts read from the store; every iteration runs the query again and streams.

    Made by :func:`read_candidates`. Rows come from a server-side cursor on PostgreSQL and
    an incremental cursor on SQLite, ``_READ_BATCH`` at a time, so memory stays flat.
    """

    def __init__(
        self,
        store: Store,
        where: Mapping[str, tuple[str, ...]],
        exclude_project_id: int | None,
    ):
        self.store = store
        self.where = _normalise_where(where)
        self.exclude_project_id = exclude_project_id

    def __iter__(self) -> Iterator[Candidate]:
        with self.store.engine.connect() as connection:
            result = connection.execution_options(yield_per=_READ_BATCH).execute(self._query())
            yield from map(Candidate._make, result)

    def _query(self) -> Any:
        posts = Post.__table__
        month = _month_column(self.store.dialect)
        query = select(*_candidate_columns(self.store.dialect))
        for name, values in self.where.items():
            column = month if name == "month" else posts.c[name]
            known = [value for value in values if value != UNKNOWN]
            conditions = [column.in_(known)] if known else []
            if len(known) < len(values):
                conditions.append(column.is_(None))
            query = query.where(or_(*conditions))
        if self.exclude_project_id is not None:
            query = query.where(~_in_project(self.exclude_project_id))
        return query


def read_candidates(
    store: Store,
    where: Mapping[str, Any] | None = None,
    *,
    exclude_project_id: int | None = None,
) -> StoredCandidates:
    """The posts of the store that may be sampled: matching ``where`` (applied in SQL) and,
    with ``exclude_project_id``, without a task in that project yet.

    The result can be iterated more than once (:func:`select_batch` may need a second pass).
    """
    return StoredCandidates(store, where or {}, exclude_project_id)


def read_sent(store: Store, project_id: int) -> Iterator[tuple[int, str, str]]:
    """``(pk, text_hash, text)`` of every post already a task of the project."""
    with store.session() as session:
        yield from session.execute(
            select(Post.id, Post.text_hash, Post.text)
            .join(Task, Task.post_pk == Post.id)
            .where(Task.project_id == project_id)
            .order_by(Post.id)
        )


def _candidate_columns(dialect: str) -> list[Any]:
    """The columns of :class:`Candidate`, in order; missing strata values come as UNKNOWN."""
    posts = Post.__table__
    strata = (posts.c.platform, posts.c.lang, _month_column(dialect), posts.c.account_id)
    return [
        posts.c.id,
        posts.c.source,
        posts.c.post_id,
        posts.c.text,
        posts.c.text_hash,
        *(func.coalesce(column, UNKNOWN) for column in strata),
    ]


def _month_column(dialect: str) -> Any:
    created_at = Post.__table__.c.created_at
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", created_at), "YYYY-MM")
    # SQLite stores UTC text ("2024-09-01 12:00:00.000000"), which strftime reads directly.
    return func.strftime("%Y-%m", created_at)


def _in_project(project_id: int) -> Any:
    tasks = Task.__table__
    return exists().where(
        and_(tasks.c.project_id == project_id, tasks.c.post_pk == Post.__table__.c.id)
    )


# ------------------------------------------------------------------------------- lexicon


class Lexicon:
    """A risk lexicon: terms grouped by taxonomy category; build it with :func:`load_lexicon`.

    Chinese terms match anywhere; Latin terms match case-insensitively from the start of a
    word (``insider`` finds "Insiders", not "winsider"); full-width letters and digits match
    their ASCII forms; a space in a term matches any run of spaces and hyphens. Matching is
    done by regular expressions shaped as the prefix tree of the terms, run over the
    lower-cased text: about 4 µs a post with the default lexicon on the demo corpus.
    Matches do not overlap; at each position the longest term wins.

    >>> lexicon = Lexicon({"incitement": ["赶紧取钱"], "illegal_securities": ["VIP群", "insider"]})
    >>> sorted(lexicon.matches("快加ＶＩＰ群，Insiders say 赶紧取钱"))
    ['illegal_securities', 'incitement']
    >>> lexicon.is_match("no winsider here")
    False
    """

    def __init__(
        self,
        groups: Mapping[str, Iterable[str]],
        source: str = "<lexicon>",
        name: str | None = None,
        version: str | None = None,
    ):
        self.groups = {group: tuple(terms) for group, terms in groups.items()}
        self.source = source
        self.name = name
        self.version = version
        term_groups: dict[str, set[str]] = {}
        for group, terms in self.groups.items():
            for term in terms:
                if form := _lexicon_form(term):
                    term_groups.setdefault(form, set()).add(group)
        self._term_groups = {term: frozenset(found) for term, found in term_groups.items()}
        # Two expressions, for terms that start with a Latin letter or digit and for the
        # others: the engine tries every first character of a term at every position where
        # one occurs, and Latin letters occur everywhere in English posts. Both run on the
        # lower-cased text rather than with re.IGNORECASE, which would slow them several-fold.
        latin = [term for term in self._term_groups if _starts_latin(term)]
        other = [term for term in self._term_groups if not _starts_latin(term)]
        self._patterns = tuple(
            re.compile(_trie_pattern(terms)) for terms in (other, latin) if terms
        )
        canonical = json.dumps(
            {group: sorted(terms) for group, terms in sorted(self.groups.items())},
            ensure_ascii=False,
        )
        self.content_hash = hashlib.sha256(canonical.encode()).hexdigest()

    def is_match(self, text: str) -> bool:
        """Whether any term occurs in ``text``."""
        text = text.lower()
        return any(pattern.search(text) for pattern in self._patterns)

    def matches(self, text: str) -> frozenset[str]:
        """The groups whose terms occur in ``text``."""
        text = text.lower()
        found: set[str] = set()
        for pattern in self._patterns:
            for match in pattern.finditer(text):
                found.update(self._term_groups.get(_lexicon_form(match.group()), ()))
        return frozenset(found)

    def describe(self) -> dict[str, Any]:
        """What identifies this lexicon in a batch record."""
        return {
            "source": self.source,
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "terms": {group: len(terms) for group, terms in self.groups.items()},
        }


def _lexicon_form(text: str) -> str:
    """How terms and matched text are compared: lower case, full-width letters and digits as
    ASCII, one space for each run of spaces and hyphens, straight apostrophes."""
    text = text.lower().translate(_FULL_WIDTH_ALNUM).replace("’", "'")
    return " ".join(re.split(r"[\s\-]+", text)).strip()


_FULL_WIDTH_ALNUM = {code + 0xFEE0: code for code in range(0x21, 0x7F) if chr(code).isalnum()}


def _starts_latin(term: str) -> bool:
    return term[0].isascii() and term[0].isalnum()


def _trie_pattern(terms: Iterable[str]) -> str:
    """One regular expression for all ``terms`` (in :func:`_lexicon_form`), shaped as their
    prefix tree; each term also in its full-width form."""
    trie: dict[str, dict] = {}
    for term in terms:
        full_width = "".join(
            chr(ord(char) + 0xFEE0) if char.isascii() and char.isalnum() else char for char in term
        )
        for variant in {term, full_width}:
            node = trie
            for char in variant:
                node = node.setdefault(char, {})
            node[""] = {}  # a term ends here
    if not trie:
        return r"(?!x)x"  # matches nothing
    return _trie_node_pattern(trie, root=True)


def _trie_node_pattern(node: dict[str, dict], root: bool = False) -> str:
    branches = []
    for char, child in sorted(node.items()):
        if not char:
            continue
        branch = _trie_char_pattern(char)
        if root and char.isascii() and char.isalnum():
            # A Latin term starts a word: the character before its first is no letter or
            # digit. Checked after the first character, so the expression still starts with it.
            branch += r"(?<![0-9a-z].)"
        branches.append(branch + _trie_node_pattern(child))
    if not branches:
        return ""
    ends_here = "" in node
    if len(branches) == 1 and not ends_here:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" + ("?" if ends_here else "")


def _trie_char_pattern(char: str) -> str:
    if char == " ":
        return r"[\s\-]+"
    if char == "'":
        return "['’]"
    return re.escape(char)


def default_lexicon_path() -> Path:
    """``label_config/keywords.yaml`` in the current folder if there is one, else the default."""
    local = Path("label_config") / LEXICON_FILE
    return local if local.is_file() else packaged_label_config() / LEXICON_FILE


def load_lexicon(path: Path | str | None = None) -> Lexicon:
    """Load a risk lexicon (format: ``label_config/keywords.yaml``); errors name the file."""
    path = Path(path) if path is not None else default_lexicon_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text.") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise InputError(f"{path}{line}: {problem}.") from None
    if not isinstance(document, dict) or not isinstance(document.get("groups"), dict):
        raise InputError(f"{path}: expected a mapping with 'groups' (group -> terms).")
    if not document["groups"]:
        raise InputError(f"{path}: 'groups' is empty.")
    groups: dict[str, tuple[str, ...]] = {}
    for group, body in document["groups"].items():
        terms = body.get("terms") if isinstance(body, dict) else body
        if not isinstance(terms, list) or not terms:
            raise InputError(f"{path}: group {group!r} needs a non-empty list of terms.")
        for term in terms:
            if not isinstance(term, str) or not _lexicon_form(term):
                raise InputError(f"{path}: group {group!r} has a term that is not text: {term!r}.")
        groups[str(group)] = tuple(terms)
    name, version = document.get("name"), document.get("version")
    return Lexicon(
        groups, str(path), str(name) if name else None, str(version) if version else None
    )


# ------------------------------------------------------------------------------ allocation


def allocate_quotas(
    total: int,
    weights: Mapping[Key, int],
    capacities: Mapping[Key, int],
    order: Sequence[Key] | None = None,
) -> dict[Key, int]:
    """Split ``total`` into whole quotas proportional to ``weights``, none above its capacity.

    Strata whose share would exceed their capacity get their capacity and the rest is shared
    again among the others (water-filling); shares are rounded by largest remainder, ties
    going to the key that comes first in ``order`` (default: the order of ``capacities``).
    Quotas add up to ``min(total, sum of capacities of strata with weight)``. Equal
    allocation is this with every weight 1; proportional uses the strata's sizes.

    >>> allocate_quotas(10, {"a": 50, "b": 30, "c": 20}, {"a": 50, "b": 30, "c": 20})
    {'a': 5, 'b': 3, 'c': 2}
    >>> allocate_quotas(7, {"a": 60, "b": 25, "c": 15}, {"a": 60, "b": 25, "c": 15})
    {'a': 4, 'b': 2, 'c': 1}
    >>> allocate_quotas(9, {"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 50, "c": 50})
    {'a': 1, 'b': 4, 'c': 4}
    """
    keys = list(order) if order is not None else list(capacities)
    quotas = {key: 0 for key in keys}
    active = [key for key in keys if capacities.get(key, 0) > 0 and weights.get(key, 0) > 0]
    remaining = min(total, sum(capacities[key] for key in active))
    while active and remaining > 0:
        weight_sum = sum(weights[key] for key in active)
        full = [key for key in active if remaining * weights[key] >= capacities[key] * weight_sum]
        if not full:
            break
        for key in full:
            quotas[key] = capacities[key]
            remaining -= capacities[key]
        active = [key for key in active if key not in full]
    if not active or remaining <= 0:
        return quotas
    weight_sum = sum(weights[key] for key in active)
    shares = {key: Fraction(remaining * weights[key], weight_sum) for key in active}
    for key in active:
        quotas[key] = math.floor(shares[key])
    leftover = remaining - sum(quotas[key] for key in active)
    position = {key: index for index, key in enumerate(keys)}
    by_remainder = sorted(active, key=lambda key: (-(shares[key] - quotas[key]), position[key]))
    for key in by_remainder[:leftover]:
        quotas[key] += 1
    return quotas


# ------------------------------------------------------------------------------ shortlist


class _BottomK:
    """The ``cap`` lowest-ranked candidates offered whose rank is above ``floor``.

    ``heap`` is a max-heap of ``(-rank, pk, candidate)``; ``offered`` counts every offer.
    """

    __slots__ = ("cap", "floor", "heap", "offered")

    def __init__(self, cap: int, floor: int = -1):
        self.cap = cap
        self.floor = floor
        self.heap: list[tuple[int, int, Candidate]] = []
        self.offered = 0

    def offer(self, rank: int, candidate: Candidate) -> None:
        self.offered += 1
        if rank <= self.floor:
            return
        heap = self.heap
        if len(heap) < self.cap:
            heapq.heappush(heap, (-rank, candidate.pk, candidate))
        elif rank < -heap[0][0]:
            heapq.heapreplace(heap, (-rank, candidate.pk, candidate))

    def would_take(self, rank: int) -> bool:
        heap = self.heap
        return rank > self.floor and (len(heap) < self.cap or rank < -heap[0][0])

    def merged(self, other: _BottomK) -> _BottomK:
        """The bottom-k of both (disjoint) sets of offers: the bottom-k of their union."""
        both = _BottomK(self.cap, self.floor)
        both.heap = heapq.nlargest(self.cap, self.heap + other.heap, key=lambda entry: entry[0])
        heapq.heapify(both.heap)
        both.offered = self.offered + other.offered
        return both

    def ranked(self) -> list[tuple[int, Candidate]]:
        """The kept candidates, best-ranked first, as ``(rank, candidate)``."""
        return sorted((-negative, candidate) for negative, _, candidate in self.heap)


def _margin(quota: int) -> int:
    return max(_MARGIN_MIN, math.ceil(quota * _MARGIN_SHARE))


def _refill_size(stratum: _Stratum) -> int:
    """How many more candidates a short stratum fetches: twice what it still needs, scaled by
    the share of its candidates that were usable so far (duplicates get more frequent as the
    batch grows), so that a corpus full of duplicates costs one extra pass rather than many."""
    need = stratum.quota - stratum.selected
    usable = max(stratum.selected, 1) / max(stratum.position, 1)
    wanted = 2 * math.ceil(need / usable) + _MARGIN_MIN
    return min(wanted, stratum.available - stratum.position)


class _ScanPlan:
    """What one pass over the candidates keeps: filters, rank hasher and stratum key."""

    def __init__(self, params: SamplingParams, lexicon: Lexicon | None, exclude: Collection[int]):
        self.params = params
        self.lexicon = lexicon
        self.exclude = frozenset(exclude)
        self.hasher = _keyed_hasher(params.seed)
        checks = [(attrgetter(name), frozenset(values)) for name, values in params.where.items()]
        self.where: Callable[[Candidate], bool] | None = (
            (lambda candidate: all(get(candidate) in values for get, values in checks))
            if checks
            else None
        )
        self.stratum_of = _stratum_getter(params.by)
        keyword_cap = math.ceil(params.size * params.effective_keyword_share)
        if params.dedupe:
            self.stratum_cap = params.size + _margin(params.size)
            self.keyword_cap = keyword_cap + _margin(keyword_cap)
        else:
            self.stratum_cap = params.size
            self.keyword_cap = keyword_cap

    def scan(
        self,
        candidates: Iterable[Candidate],
        strata: dict[tuple[str, ...], _BottomK],
        keyword: _BottomK | None,
        first_pass: bool,
    ) -> None:
        """Offer every candidate to its stratum's heap and, when it matches the lexicon, to
        ``keyword``. The first pass creates the heaps and counts every candidate (the lexicon
        runs on all of them); later passes fill the heaps given and run the lexicon only on
        candidates whose rank ``keyword`` would take."""
        exclude, where, stratum_of = self.exclude, self.where, self.stratum_of
        new_hasher, from_bytes = self.hasher.copy, int.from_bytes
        heappush, heapreplace = heapq.heappush, heapq.heapreplace
        is_match = self.lexicon.is_match if keyword is not None and self.lexicon else None
        cap = self.stratum_cap
        for candidate in candidates:
            if candidate.pk in exclude or (where is not None and not where(candidate)):
                continue
            hasher = new_hasher()
            hasher.update(f"{candidate.source}\x1f{candidate.post_id}".encode())
            rank = from_bytes(hasher.digest(), "big")
            key = stratum_of(candidate)
            bottom = strata.get(key)
            if bottom is None and first_pass:
                bottom = strata[key] = _BottomK(cap)
            if bottom is not None:  # bottom.offer(rank, candidate), inlined: the hot path
                bottom.offered += 1
                heap = bottom.heap
                if len(heap) < bottom.cap:
                    if rank > bottom.floor:
                        heappush(heap, (-rank, candidate.pk, candidate))
                elif rank < -heap[0][0] and rank > bottom.floor:
                    heapreplace(heap, (-rank, candidate.pk, candidate))
            if (
                is_match is not None
                and (first_pass or keyword.would_take(rank))
                and is_match(candidate.text)
            ):
                keyword.offer(rank, candidate)


def _stratum_getter(by: tuple[str, ...]) -> Callable[[Candidate], tuple[str, ...]]:
    if not by:
        return lambda candidate: ()
    if len(by) == 1:
        get = attrgetter(by[0])
        return lambda candidate: (get(candidate),)
    return attrgetter(*by)


@dataclass
class Shortlist:
    """The best-ranked candidates of every stratum (and of the keyword pool), bounded, with
    the number of candidates each had: all that selecting a batch needs from the stream.

    Build it with :func:`shortlist`; shortlists of disjoint partitions of the candidates
    :meth:`merge` into the shortlist of their union, so a batch can be computed per
    partition. :meth:`select` turns it into a :class:`Selection`.
    """

    params: SamplingParams
    lexicon: Lexicon | None
    exclude: frozenset[int]
    strata: dict[tuple[str, ...], _BottomK]
    keyword: _BottomK | None

    def merge(self, other: Shortlist) -> Shortlist:
        """The shortlist of both partitions (which must not share candidates)."""
        same_lexicon = (self.lexicon and self.lexicon.content_hash) == (
            other.lexicon and other.lexicon.content_hash
        )
        if self.params != other.params or self.exclude != other.exclude or not same_lexicon:
            raise ValueError(
                "Only shortlists made with the same parameters, lexicon and gold merge."
            )
        strata = dict(self.strata)
        for key, bottom in other.strata.items():
            strata[key] = strata[key].merged(bottom) if key in strata else bottom
        keyword = (
            self.keyword.merged(other.keyword)
            if self.keyword is not None and other.keyword is not None
            else self.keyword or other.keyword
        )
        return Shortlist(self.params, self.lexicon, self.exclude, strata, keyword)

    def select(
        self,
        candidates: Iterable[Candidate],
        gold: Iterable[Candidate] = (),
        sent: Iterable[tuple[int, str, str]] = (),
    ) -> Selection:
        """The batch. ``candidates`` are read again only when near-duplicates use up a
        stratum's margin; ``gold`` must be the same gold candidates the shortlist excluded;
        ``sent`` as for :func:`select_batch`."""
        gold = list(gold)
        if {candidate.pk for candidate in gold} != set(self.exclude):
            raise ValueError("select() needs the gold candidates the shortlist was made with.")
        return _Selector(self, candidates, gold, sent).run()


def shortlist(
    candidates: Iterable[Candidate],
    params: SamplingParams,
    lexicon: Lexicon | None = None,
    exclude: Collection[int] = (),
) -> Shortlist:
    """Stream ``candidates`` once into a :class:`Shortlist`; ``exclude`` holds the pks of
    the gold candidates, which are never regular picks."""
    _require_lexicon(params, lexicon)
    plan = _ScanPlan(params, lexicon, exclude)
    strata: dict[tuple[str, ...], _BottomK] = {}
    keyword = _BottomK(plan.keyword_cap) if params.uses_lexicon else None
    plan.scan(candidates, strata, keyword, first_pass=True)
    return Shortlist(params, lexicon, plan.exclude, strata, keyword)


def _require_lexicon(params: SamplingParams, lexicon: Lexicon | None) -> None:
    if params.uses_lexicon and lexicon is None:
        raise InputError(
            f"The {params.strategy} strategy needs a keyword lexicon.",
            hint="Pass --keywords FILE, or keep label_config/keywords.yaml in the workspace.",
        )


# ------------------------------------------------------------------------------ selection


@dataclass(frozen=True)
class Pick:
    """One post of the batch: from which pool and stratum, at which rank.

    ``keyword_groups`` are the lexicon groups the post matches (empty without a lexicon).
    """

    pk: int
    source: str
    post_id: str
    rank: int
    pool: str
    stratum: tuple[str, ...]
    keyword_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suppression:
    """A post left out because it duplicates ``duplicate_of`` (a pk already in the batch, or
    sent to the project by an earlier batch); ``similarity`` is 1.0 for identical text."""

    pk: int
    source: str
    post_id: str
    duplicate_of: int
    similarity: float
    pool: str


@dataclass(frozen=True)
class StratumCount:
    """One row of a batch's composition (what ``--dry-run`` shows).

    ``available`` counts the candidates of the pool and stratum; ``quota`` is what the
    allocation asked of it; ``selected`` what it gave; ``suppressed`` how many of its
    candidates were left out as duplicates.
    """

    pool: str
    stratum: dict[str, str]
    available: int
    quota: int
    selected: int
    suppressed: int


@dataclass(frozen=True)
class Selection:
    """The posts of the next batch and how they were chosen.

    ``picks`` are in task order (by rank, gold mixed in where it ranks, so nothing about a
    task's position gives gold away).
    """

    params: SamplingParams
    picks: tuple[Pick, ...]
    composition: tuple[StratumCount, ...]
    suppressed: tuple[Suppression, ...]
    passes: int
    lexicon: dict[str, Any] | None = None

    @property
    def task_pks(self) -> list[int]:
        """Every post of the batch, gold included, in the order to create tasks in."""
        return [pick.pk for pick in self.picks]

    @property
    def post_pks(self) -> list[int]:
        """The regular (non-gold) posts, by rank."""
        return [pick.pk for pick in self.picks if pick.pool != GOLD_POOL]

    @property
    def gold_pks(self) -> list[int]:
        """The gold posts, by rank: to record as gold in the store, never in the task."""
        return [pick.pk for pick in self.picks if pick.pool == GOLD_POOL]

    @property
    def keyword_selected(self) -> int:
        return sum(1 for pick in self.picks if pick.pool == KEYWORD_POOL)

    @property
    def suppressed_near_duplicates(self) -> int:
        return len(self.suppressed)

    @property
    def shortfall(self) -> int:
        """How many posts the batch lacks because there were not enough candidates."""
        return self.params.size - len(self.picks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: parameters, lexicon, post pks, composition and suppressions."""
        return {
            "params": self.params.as_dict(),
            "lexicon": self.lexicon,
            "size": len(self.picks),
            "shortfall": self.shortfall,
            "passes": self.passes,
            "post_pks": self.post_pks,
            "gold_pks": self.gold_pks,
            "keyword_selected": self.keyword_selected,
            "suppressed_near_duplicates": self.suppressed_near_duplicates,
            "composition": [asdict(row) for row in self.composition],
            "picks": [asdict(pick) | {"rank": f"{pick.rank:032x}"} for pick in self.picks],
            "suppressed": [asdict(item) for item in self.suppressed],
        }


def select_batch(
    candidates: Iterable[Candidate],
    params: SamplingParams,
    lexicon: Lexicon | None = None,
    gold: Iterable[Candidate] = (),
    sent: Iterable[tuple[int, str, str]] = (),
) -> Selection:
    """Choose the next batch from ``candidates`` (see the module docstring for how).

    ``candidates`` must be iterable more than once (a list, or :func:`read_candidates`):
    it is streamed once, and once more only if near-duplicates use up the shortlist's
    margin. ``gold`` holds the gold posts that may be mixed in (:func:`read_gold_candidates`).
    ``sent`` holds ``(pk, text_hash, text)`` of the posts earlier batches sent to the
    project (:func:`read_sent`): a near-duplicate of one of them is suppressed too.
    """
    if iter(candidates) is candidates:
        raise TypeError(
            "select_batch needs candidates it can read more than once (a list, or "
            "read_candidates(...)), not a one-shot iterator."
        )
    gold = list(gold)
    listed = shortlist(candidates, params, lexicon, exclude={candidate.pk for candidate in gold})
    return listed.select(candidates, gold, sent)


@dataclass
class _Stratum:
    """A stratum of one pool while the batch is filled: its ranked candidates and progress.

    ``held`` grows when a pass fetches more; ``position`` is how many of them were
    considered; ``available`` counts all candidates of the stratum in the stream.
    """

    key: tuple[str, ...]
    available: int
    held: list[tuple[int, Candidate]]
    quota: int = 0
    position: int = 0
    selected: int = 0
    suppressed: int = 0
    exhausted: bool = False

    @property
    def short(self) -> bool:
        return self.selected < self.quota

    @property
    def needs_more(self) -> bool:
        """Short, every held candidate considered, and the stream has more."""
        return (
            self.short
            and not self.exhausted
            and self.position == len(self.held)
            and self.position < self.available
        )


class _Selector:
    """Fills one batch from a shortlist: gold, then keyword, then the random/stratified pool."""

    def __init__(
        self,
        listed: Shortlist,
        candidates: Iterable[Candidate],
        gold: list[Candidate],
        sent: Iterable[tuple[int, str, str]] = (),
    ):
        self.listed = listed
        self.params = listed.params
        self.lexicon = listed.lexicon
        self.candidates = candidates
        self.gold = gold
        self.plan = _ScanPlan(listed.params, listed.lexicon, listed.exclude)
        self.picks: dict[int, Pick] = {}
        self.suppressed: dict[int, Suppression] = {}
        self.text_owner: dict[str, int] = {}
        self.index = NearDuplicateIndex(listed.params.near_duplicate_threshold)
        self.passes = 1
        self.rows: list[StratumCount] = []
        if self.params.dedupe:
            for pk, text_hash, text in sent:  # earlier batches: their near-duplicates stay out
                self.text_owner.setdefault(text_hash, pk)
                self.index.add(self.index.tokens(shingles(text)), pk)

    def run(self) -> Selection:
        params = self.params
        gold_taken = self._fill_gold()
        regular = params.size - gold_taken
        if params.uses_lexicon and self.listed.keyword is not None:
            keyword = _Stratum((), self.listed.keyword.offered, self.listed.keyword.ranked())
            keyword.quota = min(params.keyword_size(regular), keyword.available)
            self._fill(KEYWORD_POOL, [keyword], self._keyword_refill, redistribute=False)
            self._row(KEYWORD_POOL, keyword)
        base_size = regular - sum(1 for pick in self.picks.values() if pick.pool == KEYWORD_POOL)
        strata = [
            _Stratum(key, bottom.offered, bottom.ranked())
            for key, bottom in sorted(self.listed.strata.items())
        ]
        taken_by_keyword: dict[tuple[str, ...], int] = {}
        for pick in self.picks.values():
            if pick.pool == KEYWORD_POOL:
                taken_by_keyword[pick.stratum] = taken_by_keyword.get(pick.stratum, 0) + 1
        order = self._tie_order(strata)
        quotas = allocate_quotas(
            base_size,
            self._weights(strata),
            {s.key: s.available - taken_by_keyword.get(s.key, 0) for s in strata},
            order,
        )
        for stratum in strata:
            stratum.quota = quotas[stratum.key]
        self._fill(params.base_pool, strata, self._strata_refill, redistribute=True)
        for stratum in strata:
            self._row(params.base_pool, stratum)
        picks = sorted(self.picks.values(), key=lambda pick: pick.rank)
        suppressed = sorted(self.suppressed.values(), key=lambda item: (item.pool, item.pk))
        return Selection(
            params=params,
            picks=tuple(picks),
            composition=tuple(self.rows),
            suppressed=tuple(suppressed),
            passes=self.passes,
            lexicon=self.lexicon.describe() if self.lexicon is not None else None,
        )

    # -- pools -------------------------------------------------------------------------------

    def _fill_gold(self) -> int:
        """Take the best-ranked gold posts; they are indexed for near-duplicates (regular
        posts that copy one are suppressed) but never checked against each other."""
        wanted = self.params.gold_size
        if wanted and not self.gold:
            raise InputError(
                f"A gold rate of {self.params.gold_rate} needs gold posts, and none are left.",
                hint="Pass --gold FILE with posts that are not in this project yet.",
            )
        hasher = self.plan.hasher
        ranked = []
        for candidate in self.gold:
            rank_hasher = hasher.copy()
            rank_hasher.update(_identity(candidate.source, candidate.post_id))
            ranked.append((int.from_bytes(rank_hasher.digest(), "big"), candidate))
        ranked.sort(key=lambda entry: entry[0])
        for rank, candidate in ranked[:wanted]:
            self._accept(candidate, rank, GOLD_POOL, self.plan.stratum_of(candidate), None)
        gold = _Stratum((), len(ranked), ranked, quota=wanted, selected=min(wanted, len(ranked)))
        self._row(GOLD_POOL, gold)
        return gold.selected

    def _fill(
        self,
        pool: str,
        strata: list[_Stratum],
        refill: Callable[[list[_Stratum]], None],
        redistribute: bool,
    ) -> None:
        """Walk the strata's candidates in global rank order until every quota is met,
        fetching more candidates (another pass) and redistributing shortfalls as needed."""
        target = sum(stratum.quota for stratum in strata)
        while True:
            self._walk(pool, strata)
            needing = [stratum for stratum in strata if stratum.needs_more]
            if needing:
                self.passes += 1
                refill(needing)
                continue
            for stratum in strata:
                if stratum.short:
                    stratum.exhausted = True
            shortfall = target - sum(stratum.selected for stratum in strata)
            if shortfall <= 0 or not redistribute:
                return
            spare = {
                stratum.key: 0 if stratum.exhausted else stratum.available - stratum.position
                for stratum in strata
            }
            extra = allocate_quotas(
                shortfall, self._weights(strata), spare, self._tie_order(strata)
            )
            if not any(extra.values()):
                return
            for stratum in strata:
                stratum.quota += extra[stratum.key]

    def _walk(self, pool: str, strata: list[_Stratum]) -> None:
        queue = [
            (stratum.held[stratum.position][0], number)
            for number, stratum in enumerate(strata)
            if stratum.short and stratum.position < len(stratum.held)
        ]
        heapq.heapify(queue)
        while queue:
            rank, number = heapq.heappop(queue)
            stratum = strata[number]
            candidate = stratum.held[stratum.position][1]
            stratum.position += 1
            self._consider(candidate, rank, pool, stratum)
            if stratum.short and stratum.position < len(stratum.held):
                heapq.heappush(queue, (stratum.held[stratum.position][0], number))

    def _consider(self, candidate: Candidate, rank: int, pool: str, stratum: _Stratum) -> None:
        pk = candidate.pk
        if pk in self.picks or pk in self.suppressed:
            return  # decided in an earlier pool
        tokens = None
        if self.params.dedupe:
            owner = self.text_owner.get(candidate.text_hash)
            if owner is not None:
                self._suppress(candidate, owner, 1.0, pool, stratum)
                return
            tokens = self.index.tokens(shingles(candidate.text))
            found = self.index.find(tokens)
            if found is not None:
                self._suppress(candidate, found[0], found[1], pool, stratum)
                return
        stratum_key = stratum.key if pool != KEYWORD_POOL else self.plan.stratum_of(candidate)
        self._accept(candidate, rank, pool, stratum_key, tokens)
        stratum.selected += 1

    def _accept(
        self,
        candidate: Candidate,
        rank: int,
        pool: str,
        stratum: tuple[str, ...],
        tokens: frozenset[int] | None,
    ) -> None:
        groups = tuple(sorted(self.lexicon.matches(candidate.text))) if self.lexicon else ()
        self.picks[candidate.pk] = Pick(
            candidate.pk, candidate.source, candidate.post_id, rank, pool, stratum, groups
        )
        if self.params.dedupe:
            self.text_owner.setdefault(candidate.text_hash, candidate.pk)
            if tokens is None:
                tokens = self.index.tokens(shingles(candidate.text))
            self.index.add(tokens, candidate.pk)

    def _suppress(
        self, candidate: Candidate, owner: int, score: float, pool: str, stratum: _Stratum
    ) -> None:
        self.suppressed[candidate.pk] = Suppression(
            candidate.pk, candidate.source, candidate.post_id, owner, round(score, 4), pool
        )
        stratum.suppressed += 1

    # -- more passes ------------------------------------------------------------------------

    def _keyword_refill(self, strata: list[_Stratum]) -> None:
        (stratum,) = strata
        bottom = _BottomK(_refill_size(stratum), floor=stratum.held[-1][0])
        self.plan.scan(self.candidates, {}, bottom, first_pass=False)
        self._extend(stratum, bottom)

    def _strata_refill(self, strata: list[_Stratum]) -> None:
        bottoms = {
            stratum.key: _BottomK(_refill_size(stratum), floor=stratum.held[-1][0])
            for stratum in strata
        }
        self.plan.scan(self.candidates, bottoms, None, first_pass=False)
        for stratum in strata:
            self._extend(stratum, bottoms[stratum.key])

    @staticmethod
    def _extend(stratum: _Stratum, bottom: _BottomK) -> None:
        more = bottom.ranked()
        if not more:
            stratum.exhausted = True  # the candidates changed since the first pass
        stratum.held.extend(more)

    # -- bookkeeping ------------------------------------------------------------------------

    def _weights(self, strata: list[_Stratum]) -> dict[tuple[str, ...], int]:
        if self.params.allocation == "equal":
            return {stratum.key: 1 for stratum in strata}
        return {stratum.key: stratum.available for stratum in strata}

    def _tie_order(self, strata: list[_Stratum]) -> list[tuple[str, ...]]:
        """Strata in a seed-keyed order, so rounding favours no stratum batch after batch."""
        return sorted(
            (stratum.key for stratum in strata),
            key=lambda key: rank_key(self.params.seed, "stratum", "\x1f".join(key)),
        )

    def _row(self, pool: str, stratum: _Stratum) -> None:
        by = self.params.by if pool not in (GOLD_POOL, KEYWORD_POOL) else ()
        self.rows.append(
            StratumCount(
                pool,
                dict(zip(by, stratum.key, strict=True)),
                stratum.available,
                stratum.quota,
                stratum.selected,
                stratum.suppressed,
            )
        )


# ----------------------------------------------------------------------------------- gold


@dataclass(frozen=True)
class GoldAnswer:
    """A post with known answers: ``labels`` are normalised like annotations (see
    :mod:`annotate.taxonomy`), ``origin`` is ``FILE:LINE`` for messages."""

    post_id: str
    source: str
    labels: dict[str, Any]
    origin: str = ""


_GOLD_KEYS = frozenset({"post_id", "source"})
_GOLD_IGNORED_KEYS = frozenset({"text", "note"})  # for the people who keep the file


class _GoldError(ValueError):
    """One problem with one line of a gold file."""


def load_gold(path: Path | str, taxonomy: Taxonomy) -> list[GoldAnswer]:
    """Read a JSON Lines gold file: one object per line with ``post_id``, optional
    ``source`` (default ``"default"``) and answers for the taxonomy's fields.

    Labels are checked against the taxonomy (known labels, the field's kind, its rules);
    ``text`` and ``note`` keys are allowed and ignored. Every problem is reported as
    ``FILE:LINE: reason``; the first is the error's message, the count and the next few
    are its hint.
    """
    path = Path(path)
    items: list[GoldAnswer] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line_number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                origin = f"{path}:{line_number}"
                try:
                    item = _gold_item(json.loads(line), taxonomy, origin)
                except json.JSONDecodeError as error:
                    problems.append(f"{origin}: invalid JSON ({error.msg}, column {error.colno})")
                    continue
                except _GoldError as error:
                    problems.append(f"{origin}: {error}")
                    continue
                key = (item.source, item.post_id)
                if key in seen:
                    problems.append(
                        f"{origin}: post {item.post_id!r} is already on line {seen[key]}"
                    )
                    continue
                seen[key] = line_number
                items.append(item)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text.") from None
    if problems:
        more = len(problems) - 1
        hint = f"{more} more: " + "; ".join(problems[1:4]) + ("; ..." if more > 3 else "")
        raise InputError(f"{problems[0]}.", hint=hint + "." if more else None)
    if not items:
        raise InputError(f"{path} has no gold items.")
    return items


def _gold_item(record: Any, taxonomy: Taxonomy, origin: str) -> GoldAnswer:
    if not isinstance(record, dict):
        raise _GoldError("expected a JSON object")
    post_id = record.get("post_id")
    if isinstance(post_id, bool) or not isinstance(post_id, str | int) or not str(post_id).strip():
        raise _GoldError("missing 'post_id' (a string or an integer)")
    source = record.get("source", "default")
    if not isinstance(source, str) or not source.strip():
        raise _GoldError("'source' must be a non-empty string")
    fields = {item.name: item for item in taxonomy.fields}
    unknown = sorted(set(record) - _GOLD_KEYS - _GOLD_IGNORED_KEYS - set(fields))
    if unknown:
        raise _GoldError(
            f"unknown field {unknown[0]!r} (the taxonomy's fields are {', '.join(fields)})"
        )
    labels = {name: _gold_value(item, record.get(name)) for name, item in fields.items()}
    problems = check_rules(taxonomy, labels)
    if problems:
        raise _GoldError(problems[0])
    return GoldAnswer(str(post_id).strip(), source.strip(), labels, origin)


def _gold_value(item: Any, value: Any) -> Any:
    """A gold answer for one field, normalised like :func:`annotate.taxonomy.labels_from_result`."""
    name, ids = item.name, item.label_ids
    if value is None:
        return item.empty
    if item.kind == "flag":
        if not isinstance(value, bool):
            raise _GoldError(f"{name!r} must be true or false")
        return value
    if item.kind == "text":
        if not isinstance(value, str):
            raise _GoldError(f"{name!r} must be a string")
        return value.strip() or None
    if item.kind == "spans":
        if not isinstance(value, list):
            raise _GoldError(f"{name!r} must be a list of spans")
        return sorted((_gold_span(name, ids, span) for span in value), key=_span_order)
    chosen = value if isinstance(value, list) else [value]
    labels = []
    for label in chosen:
        label = str(label) if _is_int(label) else label  # ordinal ids such as "1" may be numbers
        if label not in ids:
            raise _GoldError(f"unknown label {label!r} in field {name!r}")
        labels.append(label)
    if item.multiple:
        return sorted(set(labels), key=ids.index)
    if len(labels) != 1:
        raise _GoldError(f"field {name!r} takes one label, found {len(labels)}")
    return labels[0]


def _gold_span(name: str, ids: tuple[str, ...], span: Any) -> dict[str, Any]:
    if not isinstance(span, dict):
        raise _GoldError(f"a span in {name!r} must be an object with start, end and label")
    start, end, label = span.get("start"), span.get("end"), span.get("label")
    if not (_is_int(start) and _is_int(end) and 0 <= start < end):
        raise _GoldError(f"a span in {name!r} needs whole-number offsets with start < end")
    if label not in ids:
        raise _GoldError(f"unknown label {label!r} in field {name!r}")
    text = span.get("text")
    if text is not None and not isinstance(text, str):
        raise _GoldError(f"a span's text in {name!r} must be a string")
    return {"start": start, "end": end, "label": label, "text": text}


def _span_order(span: dict[str, Any]) -> tuple[int, int]:
    return span["start"], span["end"]


def read_gold_candidates(
    store: Store, items: Sequence[GoldAnswer], *, exclude_project_id: int | None = None
) -> list[Candidate]:
    """The stored posts of ``items``, as candidates; gold posts that already have a task in
    ``exclude_project_id`` are left out (a post is one task per project).

    A gold post that is not in the store is an :class:`InputError` naming its line.
    """
    posts = Post.__table__
    wanted = {(item.source, item.post_id): item for item in items}
    found: dict[tuple[str, str], Candidate] = {}
    in_project: set[int] = set()
    keys = list(wanted)
    in_project_column = (
        _in_project(exclude_project_id) if exclude_project_id is not None else false()
    )
    with store.engine.connect() as connection:
        for start in range(0, len(keys), _GOLD_LOOKUP_CHUNK):
            chunk = keys[start : start + _GOLD_LOOKUP_CHUNK]
            query = select(*_candidate_columns(store.dialect), in_project_column).where(
                tuple_(posts.c.source, posts.c.post_id).in_(chunk)
            )
            for *values, taken in connection.execute(query):
                post = Candidate._make(values)
                found[(post.source, post.post_id)] = post
                if taken:
                    in_project.add(post.pk)
    missing = [item for key, item in wanted.items() if key not in found]
    if missing:
        first = missing[0]
        raise InputError(
            f"{first.origin}: gold post {first.post_id!r} (source {first.source!r}) is not in "
            f"the store{f', nor are {len(missing) - 1} more' if len(missing) > 1 else ''}.",
            hint="Ingest the gold posts first (annotate ingest FILE --source SOURCE).",
        )
    return [found[key] for key in wanted if found[key].pk not in in_project]
