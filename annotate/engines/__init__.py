"""Sampling straight from a platform-scale corpus that stays where it is, in Parquet.

Usage::

    ws.add_corpus("weibo-2024", "/lake/posts/", id_field="mid", text_field="content")
    ws.sample("round-2", 1000, strategy="stratified", by=["platform", "month"],
              from_corpus="weibo-2024", engine="duckdb")

Modules
-------
:mod:`~annotate.engines.registry` (registering corpora: files, schema, partitions,
fingerprint), :mod:`~annotate.engines.query` (the SQL both engines run: rank, strata, filters,
lexicon), :mod:`~annotate.engines.duckdb` (embedded, the default), :mod:`~annotate.engines.spark`
(local mode, a cluster, or Spark Connect) and :mod:`~annotate.engines.sampler` (the engine's
shortlist into the same selection as the store path, and the chosen posts into the store).
"""

from __future__ import annotations

from annotate.engines.registry import CorpusInfo
from annotate.engines.sampler import ENGINES, CorpusSampler, open_engine

__all__ = ["ENGINES", "CorpusInfo", "CorpusSampler", "open_engine"]
