"""The SQL expressions of a keyword sample from a corpus: the prefilter lets every exact lexicon
match through, the sure expression matches only exact matches, DuckDB (RE2) reads both as
Python does, and on demo posts they leave (almost) nothing to the exact Python match."""

from __future__ import annotations

import random
import re
import unicodedata

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.demo import generate_posts
from annotate.engines.prefilter import (
    REMOVED,
    REMOVED_PATTERN,
    lexicon_prefilter,
    lexicon_sure,
)
from annotate.sampling import Lexicon, load_lexicon
from annotate.text import normalise_text

DEFAULT = load_lexicon()
# Terms with what the prefilter must handle apart: a final sigma, the Kelvin sign's letter, a
# dotted capital I, an accented letter (NFC builds it from two), Hangul (likewise), a
# combining mark, apostrophes, punctuation, and a CJK ideograph with compatibility forms.
TRICKY = Lexicon(
    {
        "a": ["κόσμος", "kick off", "can't stop", "breaking (official)", "金融", "ok"],
        "b": ["café noir", "은행 run", "i\u0307x", "İstanbul", "x-ray", "樂觀", "ǆungla"],
    }
)
LEXICONS = {"default": DEFAULT, "tricky": TRICKY}

TERMS = sorted(
    {term for lexicon in LEXICONS.values() for terms in lexicon.groups.values() for term in terms}
)
SEPARATORS = [" ", "-", "  ", " - ", "\t", "\u3000", "\xa0", "\n", "\r\n", "\u2000", " \u200b "]
ODD = [
    *REMOVED,
    "\u0301",
    "\u0307",
    "\u212a",
    "\u0130",
    "\u0131",
    "\u017f",
    "\uf914",
    "\uf9f5",
    "e\u0301",
    "\u1100\u1161",
    "Σ",
    "ς",
    "’",
    "'",
    "ｷ",
    "Ａ",
    "ｚ",
    "\r",
]


def _full_width(char: str) -> str:
    return chr(ord(char) + 0xFEE0) if char.isascii() and char.isalnum() else char


def vary(term: str, rng: random.Random) -> str:
    """A lexicon term as a post might write it: mixed case, full-width, other separators,
    removed and odd characters inside, compatibility and decomposed forms."""
    out = []
    for char in term:
        if char == " ":
            out.append(rng.choice(SEPARATORS))
            continue
        choice = rng.randrange(10)
        if choice == 0:
            char = char.upper()
        elif choice == 1:
            char = _full_width(char)
        elif choice == 2:
            char = unicodedata.normalize("NFD", char)
        elif choice == 3:
            char += rng.choice(ODD)
        out.append(char)
    if rng.random() < 0.3:  # all full-width, as Lexicon matches them
        out = ["".join(_full_width(c) for c in part) for part in out]
    return "".join(out)


def surround(rng: random.Random) -> str:
    alphabet = [*"abcxyz 019-'.,，。！投资银行股票ＡＢ", *ODD]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(9)))


def post(rng: random.Random) -> str:
    parts = [surround(rng)]
    for _ in range(rng.randrange(4)):
        parts += [vary(rng.choice(TERMS), rng), surround(rng)]
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(LEXICONS))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_prefilter_is_a_superset_and_sure_a_subset_of_the_exact_match(name, rng):
    text = post(rng)
    lexicon = LEXICONS[name]
    exact = lexicon.is_match(normalise_text(text))
    prefilter = lexicon_prefilter(lexicon)
    if exact and prefilter is not None and not re.search(REMOVED_PATTERN, text):
        assert re.search(prefilter, text), text
        assert re.search(prefilter, text.lower()), text
    if re.search(lexicon_sure(lexicon), text):
        assert exact, text


def test_the_variants_match_often_enough_to_test_something():
    rng = random.Random(1)
    texts = [post(rng) for _ in range(300)]
    assert sum(DEFAULT.is_match(normalise_text(text)) for text in texts) > 50


def test_removed_is_what_normalise_text_removes():
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF or chr(code) in "\r":
            continue
        text = "a" + chr(code) + "b"
        removed = normalise_text(text) != unicodedata.normalize("NFC", text)
        assert removed == (chr(code) in REMOVED), hex(code)


def test_duckdb_reads_the_expressions_as_python_does():
    connection = duckdb.connect()
    rng = random.Random(2)
    texts = [post(rng) for _ in range(300)] + [post["text"] for post in demo_posts()[:300]]
    for lexicon in LEXICONS.values():
        for pattern in (lexicon_prefilter(lexicon), lexicon_sure(lexicon), REMOVED_PATTERN):
            assert pattern is not None
            rows = connection.execute(
                "SELECT regexp_matches(t, ?) FROM unnest(?::VARCHAR[]) AS u(t)", [pattern, texts]
            ).fetchall()
            assert [row[0] for row in rows] == [bool(re.search(pattern, t)) for t in texts]


def demo_posts() -> list[dict]:
    return list(generate_posts(3000, seed=20240901))


def test_on_demo_posts_the_exact_match_is_left_almost_nothing():
    texts = [post["text"] for post in demo_posts()]
    exact = [DEFAULT.is_match(normalise_text(text)) for text in texts]
    prefilter = re.compile(lexicon_prefilter(DEFAULT))
    sure = re.compile(lexicon_sure(DEFAULT))
    passed = [bool(prefilter.search(text)) for text in texts]
    decided = [bool(sure.search(text)) for text in texts]
    misses = sum(not hit for hit, match in zip(passed, exact, strict=True) if not match)
    assert sum(exact) > 300
    # Every post with no match is rejected, every match is decided without Python.
    assert misses == len(texts) - sum(exact)
    assert sum(passed) == sum(exact) and decided == exact


def test_a_term_with_nothing_to_mirror_leaves_every_post_to_the_exact_match():
    lexicon = Lexicon({"a": ["은행", "bank run"]})
    assert lexicon_prefilter(lexicon) is None
    assert lexicon_prefilter(Lexicon({"a": ["은행 x", "bank run"]})) is not None
    assert re.search(lexicon_sure(lexicon), "Bank-run")
    assert not re.search(lexicon_sure(lexicon), "은행")
