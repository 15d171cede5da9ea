"""External corpora: Parquet datasets registered by name and sampled where they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annotate.workspace.base import WorkspaceBase

if TYPE_CHECKING:
    from pathlib import Path

    from annotate.engines import CorpusInfo, CorpusSampler


class CorpusSteps(WorkspaceBase):
    """``corpus add|list|show|refresh``; ``sample(..., from_corpus=...)`` uses :meth:`sampler`."""

    def add_corpus(
        self,
        name: str,
        uri: str | Path,
        *,
        source: str | None = None,
        id_field: str = "post_id",
        text_field: str = "text",
    ) -> CorpusInfo:
        """Register a Parquet dataset (folder, glob or file; hive partitions allowed) without
        copying it; ``source`` (default: the corpus's name) is its posts' source in the store."""
        from annotate.engines.registry import add_corpus

        return add_corpus(
            self.store, name, str(uri), source=source, id_field=id_field, text_field=text_field
        )

    def corpora(self) -> list[CorpusInfo]:
        """Every registered corpus."""
        from annotate.engines.registry import list_corpora

        return list_corpora(self.store)

    def corpus(self, name: str) -> CorpusInfo:
        """A registered corpus, and whether its files changed since (``changed``)."""
        from annotate.engines.registry import show_corpus

        return show_corpus(self.store, name)

    def refresh_corpus(self, name: str) -> CorpusInfo:
        """Scan a corpus's files again and record them as they are now."""
        from annotate.engines.registry import refresh_corpus

        return refresh_corpus(self.store, name)

    def sampler(
        self, name: str, engine: str = "duckdb", spark_master: str | None = None
    ) -> CorpusSampler:
        """What ``sample(..., from_corpus=name)`` samples with."""
        from annotate.engines import CorpusSampler, open_engine
        from annotate.engines.registry import get_corpus

        corpus = get_corpus(self.store, name)
        return CorpusSampler(self.store, corpus, open_engine(engine, spark_master))
