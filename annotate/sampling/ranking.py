"""A post's rank: a hash of ``(seed, source, post_id)``, the same in every engine.

Two versions exist. Version 1, keyed BLAKE2b, is what batches recorded before version 2 used;
it exists in no SQL engine. Version 2 is SHA-256 of ``"{seed}\\x1f{source}\\x1f{post_id}"``
(UTF-8), read as a 256-bit integer: DuckDB's ``sha256`` and Spark's ``sha2(…, 256)`` give the
same 64 hex digits, and hex digits of one length sort as the integers do, so ``ORDER BY`` the
SQL expression (:func:`rank_sql`) orders posts exactly as Python does. Every batch records its
version; sampling again with an old batch's version reproduces it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

__all__ = ["RANK_BITS", "RANK_VERSION", "RANK_VERSIONS", "rank_key", "rank_sql", "ranker"]

#: The version new batches use.
RANK_VERSION = 2
RANK_VERSIONS = (1, 2)
#: How many bits a rank of each version has (keyed BLAKE2b-128, SHA-256).
RANK_BITS = {1: 128, 2: 256}


def rank_key(seed: int, source: str, post_id: str, version: int = RANK_VERSION) -> int:
    """A post's rank under ``seed`` as an integer (version 1: 128 bits, version 2: 256 bits).

    The rank depends on nothing but the seed and the post's identity, which is what makes
    samples reproducible and mergeable. Two posts never tie in practice.

    >>> rank_key(7, "default", "wb1") == rank_key(7, "default", "wb1")
    True
    >>> rank_key(7, "default", "wb1") == rank_key(8, "default", "wb1")
    False
    >>> f"{rank_key(7, 'default', 'wb1', version=2):064x}" == hashlib.sha256(
    ...     b"7\\x1fdefault\\x1fwb1").hexdigest()
    True
    """
    return ranker(seed, version)(source, post_id)


def ranker(seed: int, version: int = RANK_VERSION) -> Callable[[str, str], int]:
    """``rank(source, post_id)`` under ``seed``: the hashing state of the seed is made once."""
    if version == 1:
        prefix = keyed_hasher(seed)
    elif version == 2:
        prefix = hashlib.sha256(f"{seed}\x1f".encode())
    else:
        raise ValueError(f"Unknown rank version {version!r}; known: {RANK_VERSIONS}.")
    copy, from_bytes = prefix.copy, int.from_bytes

    def rank(source: str, post_id: str) -> int:
        hasher = copy()
        hasher.update(f"{source}\x1f{post_id}".encode())
        return from_bytes(hasher.digest(), "big")

    return rank


def rank_sql(seed: int, source_sql: str, post_id_sql: str, dialect: str = "duckdb") -> str:
    """The version 2 rank as SQL of ``dialect`` (``duckdb`` or ``spark``): 64 lower-case hex
    digits. ``source_sql`` and ``post_id_sql`` are SQL expressions of string type."""
    identity = f"concat('{int(seed)}', chr(31), {source_sql}, chr(31), {post_id_sql})"
    return f"sha256({identity})" if dialect == "duckdb" else f"sha2({identity}, 256)"


def keyed_hasher(seed: int) -> Any:
    return hashlib.blake2b(key=seed.to_bytes(8, "big"), digest_size=16)
