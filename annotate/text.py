"""Post text: normalisation, language detection and content hashing (pure functions).

Normalisation is deliberately light: NFC (not NFKC, which would turn full-width punctuation
into ASCII and change what annotators see), zero-width and NUL characters removed, line endings
unified, outer whitespace stripped. Emoji, hashtags (``#话题#``), @mentions and links are kept.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Zero-width space, non-joiner, word joiner and BOM go everywhere. The zero-width joiner goes
# too, except between two emoji, where it builds one glyph (👨‍👩‍👧) and removing it would
# change the emoji.
_EMOJI = r"\u2600-\u27bf\ufe0f\U0001f000-\U0001faff"
_ZERO_WIDTH = re.compile(
    rf"[\u200b\u200c\u2060\ufeff\u180e]|(?<![{_EMOJI}])\u200d|\u200d(?![{_EMOJI}])"
)
# Most posts have no zero-width character: finding none this way costs a sixth of a pass of
# the pattern above, whose look-arounds are tried at every character.
_ANY_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u180e]")
_LINE_ENDINGS = re.compile(r"\r\n?")

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@[\w\-·]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff]")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")

LANGUAGES = ("zh", "en", "other")

# Primary language subtags and what they are stored as. Chinese: the ISO 639-1 and 639-2 codes,
# and the ISO 639-3 languages of the ``zh`` macrolanguage (Mandarin, Cantonese, Wu, Min Nan,
# Hakka, Gan, ...). Tags that name no language leave it to detection.
_LANGUAGE_OF_TAG: dict[str, str | None] = {
    **dict.fromkeys(["zh", "zho", "chi", "cmn", "yue", "wuu", "nan", "hak", "gan", "hsn"], "zh"),
    **dict.fromkeys(["cdo", "cjy", "cpx", "czh", "czo", "mnp", "lzh", "cnp", "csp"], "zh"),
    **dict.fromkeys(["en", "eng"], "en"),
    **dict.fromkeys(["", "und", "mul", "zxx"], None),
}
_TAG_SEPARATOR = re.compile(r"[-_.@]")


def normalise_text(text: str) -> str:
    """NFC, zero-width and NUL characters removed, ``\\r\\n`` → ``\\n``, outer whitespace
    stripped."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _ANY_ZERO_WIDTH.search(text):
        text = _ZERO_WIDTH.sub("", text)
    if "\x00" in text:  # PostgreSQL cannot store NUL; a search is much cheaper than the regex
        text = text.replace("\x00", "")
    if "\r" in text:
        text = _LINE_ENDINGS.sub("\n", text)
    return text.strip()


def detect_language(text: str) -> str:
    """``zh``, ``en`` or ``other``, from the scripts of the letters outside links and mentions.

    One Chinese character carries about as much as one English word, so Han characters count
    three times as much as Latin letters. Kana or Hangul make a text ``other`` (Japanese and
    Korean also use Han characters).

    >>> detect_language("特斯拉 Tesla 股价暴跌 http://t.cn/A6x")
    'zh'
    >>> detect_language("Rumour: 华兴银行 will collapse tomorrow, withdraw now!")
    'en'
    >>> detect_language("日本銀行が金利を引き上げ")
    'other'
    """
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    han = len(_HAN.findall(text))
    if han and not _KANA_HANGUL.search(text):
        latin = len(_LATIN.findall(text))
        if han * 3 >= latin:
            return "zh"
    latin = len(_LATIN.findall(text))
    if latin >= 2 and latin >= 0.6 * len(_LETTER.findall(text)):
        return "en"
    return "other"


def language_of_tag(tag: str) -> str | None:
    """``zh``, ``en`` or ``other`` for a language tag in BCP 47 (``zh-Hant-HK``), locale
    (``zh_CN``, ``en_US.UTF-8``) or ISO 639 (``cmn``, ``eng``) form, by its primary language,
    case-insensitively; None for a tag that names no language (``und``), so that the text
    decides.

    >>> [language_of_tag(tag) for tag in ("zh_CN", "zh-Hant-HK", "cmn", "EN-gb", "ja", "und")]
    ['zh', 'zh', 'zh', 'en', 'other', None]
    """
    tag = tag.strip().lower()
    if tag in _LANGUAGE_OF_TAG:  # a bare primary language, the common case
        return _LANGUAGE_OF_TAG[tag]
    return _LANGUAGE_OF_TAG.get(_TAG_SEPARATOR.split(tag, maxsplit=1)[0], "other")


def text_hash(text: str) -> str:
    """A content hash that is equal for texts differing only in case and whitespace."""
    key = " ".join(text.split()).casefold()
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
