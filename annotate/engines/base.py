"""What every engine gives sampling: :class:`EngineShortlist` and rows of the corpus."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from annotate.engines.query import CorpusQuery


@dataclass
class EngineShortlist:
    """Per stratum (a tuple of the ``by`` values), how many candidates it has and the
    best-ranked ``cap`` of them as corpus rows (dicts, with the engine's added columns); the
    same for the keyword pool when the strategy uses the lexicon."""

    strata: dict[tuple[str, ...], tuple[int, list[dict[str, Any]]]]
    keyword: tuple[int, list[dict[str, Any]]] | None = None
    files_read: int | None = None


class Engine(Protocol):
    """A scan engine over a registered corpus (DuckDB or Spark)."""

    name: str

    def query(self, files: Any, **kwargs: Any) -> CorpusQuery: ...

    def shortlist(
        self, query: CorpusQuery, cap: int, keyword_cap: int | None, excluded: list[str]
    ) -> EngineShortlist: ...

    def more(
        self,
        query: CorpusQuery,
        excluded: list[str],
        strata: dict[tuple[str, ...], tuple[str, int]],
        keyword: tuple[str, int] | None,
    ) -> tuple[dict[tuple[str, ...], list[dict[str, Any]]], list[dict[str, Any]]]:
        """The next rows of some strata (and of the keyword pool), each given as ``(floor,
        limit)``: per stratum key, and for the pool, its best-ranked candidates whose rank
        (64 hex digits) is above ``floor``, at least ``limit`` of them where it has that many
        (more may come; the caller orders and cuts)."""
        ...

    def rows(
        self, query: CorpusQuery, excluded: list[str], ids: list[str] | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...
