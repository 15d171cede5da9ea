"""The SQL an engine runs over a corpus, written once for DuckDB and Spark.

A candidate row is the corpus row with its rank (:func:`annotate.sampling.ranking.rank_sql`,
version 2), its file and the values sampling stratifies and filters by, computed as ``ingest``
would store them: ``platform`` lower-case, blanks and nulls :data:`UNKNOWN`, ``month`` the UTC
``YYYY-MM`` of ``created_at``. ``lang`` (tag or detected language) and a ``created_at`` stored as
text or epoch need Python (:mod:`annotate.text`, :mod:`annotate.ingest.validation`), so they are
user-defined functions, used only when a batch stratifies or filters by them; so is the exact
lexicon match, which runs only on the rows that two SQL regular expressions cannot decide
(:mod:`annotate.engines.prefilter`: a subset of the matches and a superset).

Filters on hive partition columns only reference those columns, so both engines prune
partitions instead of reading them; a ``month`` partition is taken to hold the UTC month of
``created_at``, and ``--where month=…`` filters on both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from annotate.engines.prefilter import REMOVED_PATTERN, lexicon_prefilter, lexicon_sure
from annotate.engines.registry import CorpusInfo
from annotate.ingest.validation import OPTIONAL_FIELDS
from annotate.sampling import UNKNOWN, Lexicon, SamplingParams
from annotate.sampling.ranking import RANK_BITS, rank_sql

__all__ = ["FILE", "KEYWORD_COLUMN", "RANK", "CorpusQuery"]

RANK = "__annotate_rank"
FILE = "__annotate_file"
#: Whether a candidate matches the lexicon (true, false or NULL), where a shortlist asks.
KEYWORD_COLUMN = "__annotate_keyword"
#: Columns the engine adds to a corpus row; stratum values are ``__annotate_by_<field>``.
ADDED_PREFIX = "__annotate_"
EXCLUDED_VIEW = "annotate_excluded"
WANTED_VIEW = "annotate_wanted"


def _string(value: str, dialect: str) -> str:
    """A string literal: DuckDB follows standard SQL, Spark reads backslash escapes."""
    if dialect == "duckdb":
        return "'" + value.replace("'", "''") + "'"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class CorpusQuery:
    """The SQL for one sample of one corpus in one dialect (``duckdb`` or ``spark``).

    ``relation`` is what the engine reads (a ``read_parquet(...)`` call or a view);
    ``functions`` the Python functions it must register under those names:
    ``name -> (function of one or two strings, return type "string"|"boolean")``.
    """

    corpus: CorpusInfo
    params: SamplingParams
    dialect: str
    relation: str
    lexicon: Lexicon | None = None
    exclude: bool = False
    functions: dict[str, tuple[Callable[..., Any], int, str]] = field(default_factory=dict)

    def quote(self, name: str) -> str:
        return f'"{name}"' if self.dialect == "duckdb" else f"`{name}`"

    def text(self, expression: str) -> str:
        return f"CAST({expression} AS STRING)"

    @property
    def post_id(self) -> str:
        return f"trim({self.text(self.quote(self.corpus.id_field))})"

    @property
    def source(self) -> str:
        return _string(self.corpus.source, self.dialect)

    @property
    def rank(self) -> str:
        return rank_sql(self.params.seed, self.source, self.post_id, self.dialect)

    def _blank_unknown(self, expression: str) -> str:
        return f"coalesce(nullif({expression}, ''), '{UNKNOWN}')"

    def value(self, name: str) -> str:
        """The SQL of sampling field ``name`` (see :data:`annotate.sampling.SAMPLING_FIELDS`)."""
        corpus = self.corpus
        if name == "source":
            return self.source
        if name in ("platform", "account_id"):
            if corpus.column_type(name) is None:
                return f"'{UNKNOWN}'"
            trimmed = f"trim({self.text(self.quote(name))})"
            return self._blank_unknown(f"lower({trimmed})" if name == "platform" else trimmed)
        if name == "month":
            kind = corpus.column_type("created_at")
            if kind is None:
                return f"'{UNKNOWN}'"
            column = self.quote("created_at")
            if kind.startswith(("timestamp", "date")):
                if self.dialect == "duckdb":
                    formatted = f"strftime(CAST({column} AS TIMESTAMPTZ), '%Y-%m')"
                else:
                    formatted = f"date_format({column}, 'yyyy-MM')"
                return f"coalesce({formatted}, '{UNKNOWN}')"
            self.functions["annotate_month"] = (_month_of_value, 1, "string")
            return f"coalesce(annotate_month({self.text(column)}), '{UNKNOWN}')"
        if name == "lang":
            self.functions["annotate_lang"] = (_lang_of, 2, "string")
            lang = self.text(self.quote("lang")) if corpus.column_type("lang") else "NULL"
            return f"annotate_lang({lang}, {self.text(self.quote(corpus.text_field))})"
        raise ValueError(name)

    def conditions(self, regular: bool = True) -> list[str]:
        """What a candidate must satisfy: an id and a text, and for regular candidates the
        ``where`` filters and (with ``exclude``) not in the excluded view."""
        text = self.quote(self.corpus.text_field)
        found = [
            f"{self.quote(self.corpus.id_field)} IS NOT NULL",
            f"{self.post_id} <> ''",
            f"{text} IS NOT NULL",
            f"trim({self.text(text)}) <> ''",
        ]
        if not regular:
            return found
        for name, values in self.params.where.items():
            options = ", ".join(_string(value, self.dialect) for value in values)
            found.append(f"{self.value(name)} IN ({options})")
            if name == "month" and "month" in self.corpus.partition_columns:
                found.append(f"{self.text(self.quote('month'))} IN ({options})")  # prunes
        if self.exclude:
            found.append(f"{self.post_id} NOT IN (SELECT post_id FROM {EXCLUDED_VIEW})")
        return found

    def base(
        self,
        regular: bool = True,
        extra: tuple[str, ...] = (),
        narrow: bool = False,
        keyword: bool = False,
    ) -> str:
        """Every candidate row: corpus columns, rank, file and stratum values. ``narrow``: only
        the columns a post's stored columns come from (what validation and sampling read; the
        others only go to ``meta``), which is all a shortlist needs. ``keyword``: with the
        lexicon match as :data:`KEYWORD_COLUMN` (see :meth:`keyword_condition`)."""
        strata = "".join(
            f", {self.value(name)} AS {ADDED_PREFIX}by_{name}" for name in self.params.by
        )
        if keyword:
            strata += f", {self.keyword_condition()} AS {KEYWORD_COLUMN}"
        columns = (
            ", ".join(self.quote(name) for name in [*self.post_columns, FILE]) if narrow else "*"
        )
        where = " AND ".join([*self.conditions(regular), *extra])
        return f"SELECT {columns}, {self.rank} AS {RANK}{strata} FROM {self.relation} WHERE {where}"

    @property
    def post_columns(self) -> list[str]:
        """The corpus's columns that ``ingest`` reads into a post's own columns."""
        known = [self.corpus.id_field, self.corpus.text_field, *OPTIONAL_FIELDS]
        present = {column["name"] for column in self.corpus.columns}
        return [name for name in dict.fromkeys(known) if name in present]

    @property
    def by_columns(self) -> list[str]:
        return [f"{ADDED_PREFIX}by_{name}" for name in self.params.by]

    def ranked_after(self, strata: dict[tuple[str, ...], tuple[str, Any]]) -> str:
        """Candidates of the strata given (by their ``by`` values) ranked after each one's
        floor (``key -> (floor, ...)``), over :meth:`base`'s columns."""
        found = []
        for key, (floor, *_) in strata.items():
            stratum = [
                f"{column} = {_string(value, self.dialect)}"
                for column, value in zip(self.by_columns, key, strict=True)
            ]
            found.append(f"({' AND '.join([*stratum, self.rank_above(floor)])})")
        return " OR ".join(found)

    def rank_above(self, floor: str) -> str:
        """Candidates ranked after ``floor`` (a rank: 64 hex digits), over :meth:`base`."""
        if len(floor) != RANK_BITS[2] // 4 or any(d not in "0123456789abcdef" for d in floor):
            raise ValueError(f"not a version 2 rank: {floor!r}")
        return f"{RANK} > '{floor}'"

    def keyword_condition(self) -> str:
        """Lexicon matches. DuckDB: NULL for a post the SQL superset expression rejects (and
        that holds no character ``normalise_text`` removes), true for one the SQL subset
        expression matches, the exact Python match for the others (see
        :mod:`annotate.engines.prefilter`). Spark: the exact Python match."""
        assert self.lexicon is not None
        self.functions.setdefault("annotate_lexicon", (_Matcher(self.lexicon), 1, "boolean"))
        text = self.text(self.quote(self.corpus.text_field))
        match = "regexp_matches" if self.dialect == "duckdb" else "regexp_like"

        def matches(pattern: str) -> str:
            return f"{match}({text}, {_string(pattern, self.dialect)})"

        if self.dialect == "spark":
            # Java's regular expressions run these long alternations about six times slower
            # than the exact Python match (37 s against 6 s per million demo posts), and Spark
            # would call the Python function on every row anyway: the exact match alone.
            return f"annotate_lexicon({text})"
        sure = matches(lexicon_sure(self.lexicon))
        prefilter = lexicon_prefilter(self.lexicon)
        if prefilter is None:
            return f"CASE WHEN {sure} THEN true ELSE annotate_lexicon({text}) END"
        # The superset first: it rejects most posts, and one expression costs less than two.
        return (
            f"CASE WHEN NOT {matches(prefilter + '|' + REMOVED_PATTERN)} THEN NULL"
            f" WHEN {sure} THEN true ELSE annotate_lexicon({text}) END"
        )

    def ids_condition(self) -> str:
        """Rows whose id the engine registered as :data:`WANTED_VIEW` (a join, not a list of
        literals: a long ``IN (...)`` is compared row by row)."""
        return f"{self.post_id} IN (SELECT post_id FROM {WANTED_VIEW})"


class _Matcher:
    """The exact lexicon match of a post's text as ``ingest`` stores it."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def __call__(self, text: str) -> bool:
        return self.lexicon.is_match(_normalised(text))


def _normalised(text: str) -> str:
    from annotate.text import normalise_text

    return normalise_text(text)


def _month_of_value(value: str) -> str:
    from annotate.ingest.validation import _RowError, _timestamp
    from annotate.sampling import month_of

    try:
        return month_of(_timestamp(value, "created_at"))
    except _RowError:
        return UNKNOWN


def _lang_of(tag: str | None, text: str) -> str:
    from annotate.text import detect_language, language_of_tag

    language = language_of_tag(tag.strip()) if tag and tag.strip() else None
    return language or detect_language(_normalised(text))
