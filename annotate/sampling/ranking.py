"""A post's rank: a keyed hash of ``(seed, source, post_id)``, the same in every engine."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["rank_key"]


def rank_key(seed: int, source: str, post_id: str) -> int:
    """A post's rank under ``seed``: blake2b keyed with the seed, 128 bits, as an integer.

    The rank depends on nothing but the seed and the post's identity, which is what makes
    samples reproducible and mergeable. With 128 bits two posts never tie in practice.

    >>> rank_key(7, "default", "wb1") == rank_key(7, "default", "wb1")
    True
    >>> rank_key(7, "default", "wb1") == rank_key(8, "default", "wb1")
    False
    """
    hasher = keyed_hasher(seed).copy()
    hasher.update(post_identity(source, post_id))
    return int.from_bytes(hasher.digest(), "big")


def keyed_hasher(seed: int) -> Any:
    return hashlib.blake2b(key=seed.to_bytes(8, "big"), digest_size=16)


def post_identity(source: str, post_id: str) -> bytes:
    return f"{source}\x1f{post_id}".encode()
