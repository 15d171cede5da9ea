"""Normalisation, language detection and content hashing of post text."""

import unicodedata

import pytest

from annotate.text import detect_language, language_of_tag, normalise_text, text_hash


def test_normalise_composes_to_nfc():
    decomposed = unicodedata.normalize("NFD", "café Ｃａｆé")
    assert normalise_text(decomposed) == "café Ｃａｆé"


def test_normalise_keeps_full_width_punctuation_and_quirks():
    post = "#央行降准# 传言：@财经老王 说要降息！！😱 http://t.cn/A6xYz12 //@韭菜:真的吗？"
    assert normalise_text(post) == post


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u2060", "\ufeff", "\u200d", "\x00"])
def test_normalise_removes_zero_width_and_nul_characters(char):
    assert normalise_text(f"华兴{char}银行{char}挤兑") == "华兴银行挤兑"


def test_normalise_keeps_joiner_inside_emoji_sequences():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert normalise_text(f"全家{family}都亏了") == f"全家{family}都亏了"


def test_normalise_unifies_line_endings_and_strips():
    assert normalise_text("  第一行\r\n第二行\r第三行 \n") == "第一行\n第二行\n第三行"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("央行今日宣布下调存款准备金率0.25个百分点", "zh"),
        ("特斯拉 Tesla 股价暴跌 http://t.cn/A6x @TeslaChina", "zh"),
        ("Breaking: 华兴银行 is about to collapse, withdraw your savings now!", "en"),
        ("The central bank cut the reserve requirement ratio by 25 basis points.", "en"),
        ("日本銀行が金利を引き上げ", "other"),
        ("Центральный банк снизил ставку", "other"),
        ("😱😱😱 !!! 123", "other"),
        ("http://t.cn/A6xYz12 @someone", "other"),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_text_hash_ignores_case_and_whitespace_only():
    assert text_hash("Sunrise Bank  will\nfail") == text_hash("sunrise bank will fail")
    assert text_hash("华兴银行要倒闭了") != text_hash("华兴银行要倒闭了！")


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("zh_CN", "zh"),
        ("zh-TW", "zh"),
        ("zh-Hans", "zh"),
        ("zh-Hant-HK", "zh"),
        ("ZH-cn", "zh"),
        ("cmn", "zh"),
        ("cmn-Hans", "zh"),
        ("yue", "zh"),
        ("zho", "zh"),
        ("chi", "zh"),
        ("en", "en"),
        ("en_US", "en"),
        ("EN-gb", "en"),
        ("en_GB.UTF-8", "en"),
        ("eng", "en"),
        ("ja", "other"),
        ("ko-KR", "other"),
        ("de_DE", "other"),
        ("other", "other"),
        ("und", None),
        ("", None),
    ],
)
def test_language_of_tag(tag, lang):
    assert language_of_tag(tag) == lang
