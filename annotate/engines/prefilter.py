"""The SQL prefilter of a keyword sample: one regular expression over a post's raw text that
matches every post whose normalised text the lexicon matches (a superset), so that the exact
match (Python) runs only on the few posts it lets through.

The exact match (:meth:`annotate.sampling.Lexicon.is_match`) runs on
``normalise_text(text).lower()``: NFC, zero-width and NUL characters removed, then lower case;
full-width letters and digits match ASCII, a space in a term any run of whitespace and hyphens,
an apostrophe ``'`` or ``’``. The prefilter mirrors this on the raw text, character by
character: each character of a term becomes the class of every raw character that becomes it
(``[kKｋＫK]``: both cases, full-width, the Kelvin sign, CJK compatibility ideographs for their
unified form), zero-width and NUL characters may come between any two, a space becomes a run of
whitespace, hyphens and those. It needs no ``lower()`` in SQL, and the same text is an RE2
(DuckDB) and a Java expression: character classes, ``*``, ``+``, ``|`` and ``(?:)``,
non-ASCII characters written as themselves. The Spark engine does not use it: Java's engine
runs these long alternations about six times slower than the exact Python match.

What it does not mirror: a Latin term starts a word (the prefilter also matches inside a word;
a superset), and characters that NFC builds from several (``é`` from ``e`` and a combining
accent, Hangul syllables from their letters) or that are combining marks: a term with such a
character contributes only its longest run of other characters, and a term that has none
makes the prefilter match everything (:func:`lexicon_prefilter` returns None).
"""

from __future__ import annotations

import functools
import string
import unicodedata
from collections import defaultdict

from annotate.sampling import Lexicon
from annotate.sampling.lexicon import _lexicon_form

__all__ = ["NOTHING", "REMOVED", "REMOVED_PATTERN", "lexicon_prefilter", "lexicon_sure"]

#: What :func:`annotate.text.normalise_text` deletes anywhere in a text (the zero-width joiner
#: only outside emoji, which is a superset); ``tests/test_prefilter.py`` checks it.
REMOVED = "\x00\u180e\u200b\u200c\u200d\u2060\ufeff"

_SEPARATOR = object()  # a space in a term
_UNSAFE = object()  # a character the prefilter cannot mirror


@functools.cache
def _sources() -> tuple[dict[str, frozenset[str]], frozenset[str], frozenset[str], frozenset[str]]:
    """From one pass over Unicode (about two seconds, once a process): for a character x, the
    raw characters whose lower-cased NFC starts with x or whose NFC has x's upper case;
    the characters that occur after the first in such a lower case (``İ`` → ``i̇``); the
    raw characters that become whitespace or hyphens; and the characters NFC may join to the
    one before them (combining marks, the second of a canonical decomposition)."""
    sources: dict[str, set[str]] = defaultdict(set)
    tails: set[str] = set()
    separators: set[str] = set(REMOVED)
    marks: set[str] = set()
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if unicodedata.combining(char):
            marks.add(char)
        decomposed = unicodedata.normalize("NFD", char)
        marks.update(decomposed[1:])
        composed = unicodedata.normalize("NFC", char)
        lower = composed.lower()
        if all(part.isspace() or part == "-" for part in lower):
            separators.add(char)
        if composed == char and lower == char and char.upper() == char:
            continue  # uncased and stable: only ever itself
        sources[lower[0]].add(char)
        tails.update(lower[1:])
        if len(composed) == 1 and len(composed.upper()) == 1:
            sources[composed.upper()].add(char)  # looked up by upper case in _class
    return (
        {char: frozenset(found) for char, found in sources.items()},
        frozenset(tails),
        frozenset(separators),
        frozenset(marks),
    )


def _class(char: str) -> frozenset[str] | object:
    """The raw characters that can stand for ``char`` (in a term's lexicon form) in a match, or
    :data:`_UNSAFE`."""
    sources, tails, _, _ = _sources()
    if char in REMOVED or char.isspace() or unicodedata.combining(char) or char in tails:
        return _UNSAFE
    variants = {char}
    if char.isascii() and char.isalnum():
        variants.add(chr(ord(char) + 0xFEE0))  # Lexicon also matches the full-width form
    found: set[str] = set()
    for variant in variants:
        found |= {variant, *sources.get(variant, ())}
        if len(variant.upper()) == 1:
            found |= sources.get(variant.upper(), frozenset())  # final sigma and the like
    for member in found:
        decomposed = unicodedata.normalize("NFD", member)
        if len(decomposed) == 1:
            continue  # stable or a singleton (a compatibility ideograph): one raw character
        # Built by NFC from several raw characters: mirrored only when the first of them stands
        # for ``char`` too and lower case adds a mark after it (``İ`` = ``I`` + dot above →
        # ``i̇``), so that a match can only end there.
        lower = unicodedata.normalize("NFC", member).lower()
        if len(decomposed) > 2 or decomposed[0] not in found or len(lower) < 2:
            return _UNSAFE
    return frozenset(found)


def _render(members: frozenset[str] | set[str], negated: bool = False) -> str:
    """A character class (or one character) in the syntax RE2, Java and Python share."""

    def one(char: str) -> str:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0xFF:
            return f"\\x{code:02x}"
        if char in string.punctuation:
            return "\\" + char
        return char

    ordered = sorted(members)
    if len(ordered) == 1 and not negated:
        return one(ordered[0])
    return ("[^" if negated else "[") + "".join(one(char) for char in ordered) + "]"


#: Matches a character :data:`REMOVED`.
REMOVED_PATTERN = _render(frozenset(REMOVED))


def _tokens(form: str) -> list[object]:
    """A term's lexicon form as classes, separators and unsafe characters."""
    tokens: list[object] = []
    for char in form:
        tokens.append(_SEPARATOR if char == " " else _class(char))
    return tokens


def _safe_run(tokens: list[object]) -> list[object]:
    """The longest run of mirrored tokens (by characters), without separators at its ends."""
    runs: list[list[object]] = [[]]
    for token in tokens:
        if token is _UNSAFE:
            runs.append([])
        else:
            runs[-1].append(token)
    best: list[object] = []
    for run in runs:
        while run and run[0] is _SEPARATOR:
            run.pop(0)
        while run and run[-1] is _SEPARATOR:
            run.pop()
        if sum(token is not _SEPARATOR for token in run) > sum(
            token is not _SEPARATOR for token in best
        ):
            best = run
    return best


def lexicon_prefilter(lexicon: Lexicon) -> str | None:
    """A regular expression (RE2, Java and Python alike) that matches the raw text of every
    post whose normalised text ``lexicon`` matches and that has none of :data:`REMOVED` (test
    those apart: allowing them between any two characters makes RE2 many times slower); None
    where no expression short of one that matches everything can be sure of that (a term made
    only of characters it cannot mirror).

    >>> import re
    >>> prefilter = lexicon_prefilter(Lexicon({"a": ["VIP群", "inside info"]}))
    >>> [bool(re.search(prefilter, text)) for text in ("快加ＶＩＰ群", "Inside-Info", "vip")]
    [True, True, False]
    """
    separator = _render(_sources()[2]) + "+"
    trie: dict[str, dict] = {}
    for terms in lexicon.groups.values():
        for term in terms:
            form = _lexicon_form(term)
            if not form:
                continue
            run = _safe_run(_tokens(form))
            if not run:
                return None
            pieces = [separator if token is _SEPARATOR else _render(token) for token in run]
            _add(trie, pieces)
    return _alternation(trie) if trie else NOTHING


def lexicon_sure(lexicon: Lexicon) -> str:
    """A regular expression (RE2, Java and Python alike) that matches the raw text of a post
    only if ``lexicon`` matches its normalised text (a subset), so that the exact match need not
    run on it: the terms made of ASCII, CJK ideographs, spaces and apostrophes, each in ASCII
    (either case) and in full-width form as :class:`Lexicon` has them; a Latin term after the
    start or a character that is no letter or digit either way; no character after a match that
    NFC could join to its last; no character :func:`annotate.text.normalise_text` removes.

    >>> import re
    >>> sure = lexicon_sure(Lexicon({"a": ["VIP群", "inside info"]}))
    >>> [bool(re.search(sure, text)) for text in ("快加ＶＩＰ群", "Inside-Info", "xinside info")]
    [True, True, False]
    """
    sources, _, separators, marks = _sources()
    spaces = frozenset(char for char in separators if char not in REMOVED)
    # Characters that are, or become, an ASCII letter or digit (capitals, the Kelvin sign, İ).
    latin = set(string.ascii_lowercase + string.digits)
    latin |= {source for char in list(latin) for source in sources.get(char, ())}
    tries: dict[bool, dict[str, dict]] = {True: {}, False: {}}  # by: starts a word
    for terms in lexicon.groups.values():
        for term in terms:
            form = _lexicon_form(term)
            if not form or not all(_plain(char) for char in form):
                continue
            for full_width in (False, True):
                pieces = []
                for char in form:
                    if char == " ":
                        pieces.append(_render(spaces) + "+")
                    elif char == "'":
                        pieces.append(_render(frozenset("'’")))
                    elif char.isascii() and char.isalnum():
                        cased = chr(ord(char) + 0xFEE0) if full_width else char
                        pieces.append(_render(frozenset({cased, cased.upper()})))
                    else:
                        pieces.append(_render(frozenset({char})))
                _add(tries[not full_width and _plain_latin(form[0])], pieces)
    after = "(?:$|" + _render(marks | set(REMOVED), negated=True) + ")"
    branches = []
    if tries[True]:
        before = "(?:^|" + _render(latin | set(REMOVED), negated=True) + ")"
        branches.append(before + "(?:" + _alternation(tries[True]) + ")" + after)
    if tries[False]:
        branches.append("(?:" + _alternation(tries[False]) + ")" + after)
    return "|".join(branches) or NOTHING


#: An expression that matches nothing, in RE2, Java and Python.
NOTHING = r"\b\B"


def _plain(char: str) -> bool:
    """Whether ``char`` of a term's lexicon form is mirrored exactly by :func:`lexicon_sure`."""
    return char in " '" or (char.isascii() and char.isprintable()) or "\u4e00" <= char <= "\u9fff"


def _plain_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _add(trie: dict[str, dict], pieces: list[str]) -> None:
    node = trie
    for piece in pieces:
        if "" in node:
            return  # a shorter term already matches here
        node = node.setdefault(piece, {})
    node.clear()
    node[""] = {}  # a match can end here: nothing longer needs checking


def _alternation(node: dict[str, dict]) -> str:
    if "" in node:
        return ""
    branches = [piece + _alternation(child) for piece, child in sorted(node.items())]
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"
