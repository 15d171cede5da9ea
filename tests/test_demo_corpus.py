"""Tests for the demo corpus generator (annotate.demo): determinism, label ground truth, the
quirks of real posts, accounts and time, and the three writers."""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from annotate.demo import (
    DEMO_SEED,
    DEMO_SIZE,
    HIDDEN_FIELDS,
    LABELS,
    PLATFORMS,
    POST_FIELDS,
    VIOLATION_LABELS,
    generate_posts,
    write_corpus,
    writers,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]")
FULL_WIDTH_PUNCTUATION = re.compile(r"[，。！？：；（）【】“”]")


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    """The default demo corpus: DEMO_SIZE posts with the default seed."""
    return list(generate_posts(DEMO_SIZE))


def share(posts: list[dict[str, Any]], predicate: Any) -> float:
    return sum(1 for post in posts if predicate(post)) / len(posts)


def is_violation(post: dict[str, Any]) -> bool:
    return bool(set(post["true_labels"]) & set(VIOLATION_LABELS))


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_the_same_posts() -> None:
    assert list(generate_posts(300, seed=7)) == list(generate_posts(300, seed=7))


def test_different_seeds_give_different_posts() -> None:
    first = [post["text"] for post in generate_posts(300, seed=7)]
    second = [post["text"] for post in generate_posts(300, seed=8)]
    assert sum(a != b for a, b in zip(first, second, strict=True)) > 200


def test_output_is_prefix_stable() -> None:
    """The first k posts do not depend on how many posts are asked for."""
    assert list(generate_posts(120, seed=11)) == list(generate_posts(2000, seed=11))[:120]


def test_generation_is_lazy_and_sizes_are_checked() -> None:
    posts = generate_posts(10**9)  # a generator: nothing is built up front
    assert next(posts)["post_id"]
    assert list(generate_posts(0)) == []
    with pytest.raises(ValueError, match="size"):
        generate_posts(-1)


# --- shape of a post ------------------------------------------------------------------------


def test_every_post_has_the_documented_fields_and_types(corpus: list[dict[str, Any]]) -> None:
    assert set(HIDDEN_FIELDS) == {"true_labels", "true_severity"}
    assert set(HIDDEN_FIELDS) <= set(POST_FIELDS)
    for post in corpus:
        assert tuple(post) == POST_FIELDS
        for field in ("post_id", "text", "platform", "account_id", "account_name", "url"):
            assert isinstance(post[field], str) and post[field], (field, post)
        for field in ("likes", "reposts", "comments"):
            assert isinstance(post[field], int) and post[field] >= 0, (field, post)
        assert post["platform"] in PLATFORMS
        assert post["lang"] in ("zh", "en")
        assert post["url"].startswith("https://")
        assert isinstance(post["true_labels"], list)


def test_post_ids_and_urls_are_unique(corpus: list[dict[str, Any]]) -> None:
    assert len({post["post_id"] for post in corpus}) == len(corpus)
    assert len({post["url"] for post in corpus}) == len(corpus)


def test_post_ids_carry_the_platform(corpus: list[dict[str, Any]]) -> None:
    prefixes = {post["platform"]: post["post_id"].split("-")[0] for post in corpus}
    assert len(set(prefixes.values())) == len(PLATFORMS)
    for post in corpus:
        assert post["post_id"].startswith(prefixes[post["platform"]] + "-")


# --- ground truth ---------------------------------------------------------------------------


def test_every_label_appears_with_a_sensible_share(corpus: list[dict[str, Any]]) -> None:
    counts = Counter(label for post in corpus for label in post["true_labels"])
    assert set(counts) == set(LABELS)
    assert 0.28 <= counts["legitimate"] / len(corpus) <= 0.42
    assert 0.10 <= counts["not_financial"] / len(corpus) <= 0.20
    for label in VIOLATION_LABELS:
        assert counts[label] / len(corpus) >= 0.03, label
    assert 0.40 <= share(corpus, is_violation) <= 0.60


def test_legitimate_and_not_financial_stand_alone(corpus: list[dict[str, Any]]) -> None:
    for post in corpus:
        labels = post["true_labels"]
        assert labels and set(labels) <= set(LABELS)
        assert len(labels) == len(set(labels))
        if "legitimate" in labels or "not_financial" in labels:
            assert len(labels) == 1, post
        else:
            assert 1 <= len(labels) <= 2, post
    multi_label = [post for post in corpus if len(post["true_labels"]) == 2]
    assert len(multi_label) >= 50
    assert len({tuple(post["true_labels"]) for post in multi_label}) >= 4


def test_severity_is_given_exactly_for_violations(corpus: list[dict[str, Any]]) -> None:
    for post in corpus:
        if is_violation(post):
            assert post["true_severity"] in ("low", "medium", "high"), post
        else:
            assert post["true_severity"] is None, post
    severities = Counter(post["true_severity"] for post in corpus if is_violation(post))
    assert all(count >= 100 for count in severities.values()) and len(severities) == 3


def test_identical_texts_carry_identical_labels(corpus: list[dict[str, Any]]) -> None:
    labels_by_text: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for post in corpus:
        labels_by_text[post["text"]].add(tuple(post["true_labels"]))
    assert all(len(labels) == 1 for labels in labels_by_text.values())


def test_hard_cases_are_labelled_legitimate(corpus: list[dict[str, Any]]) -> None:
    legitimate = [post["text"] for post in corpus if post["true_labels"] == ["legitimate"]]
    # Bearish analysis backed by data.
    assert sum(("下降" in text or "下调" in text or "跌停" in text) for text in legitimate) >= 50
    # Anti-scam warnings that quote scam phrases.
    assert any("稳赚不赔" in text or "保本高收益" in text for text in legitimate)
    # Satire about one's own losses.
    assert any("自嘲" in text or "houseplants" in text for text in legitimate)


@pytest.mark.parametrize(
    ("phrase", "violation"),
    [
        ("被有关部门带走调查", "fabricated_rumour"),  # a claim: true for some companies only
        ("签署意向协议", "fabricated_rumour"),
        ("订单饱满，短期看好", "illegal_securities"),  # a tip: an analyst's or a guru's
    ],
)
def test_the_same_kind_of_statement_can_be_legitimate_or_not(
    corpus: list[dict[str, Any]], phrase: str, violation: str
) -> None:
    """Claims and tips are labelled by facts and authors, not by wording alone."""
    labels = Counter(tuple(post["true_labels"]) for post in corpus if phrase in post["text"])
    assert labels[("legitimate",)] >= 3
    assert sum(count for key, count in labels.items() if violation in key) >= 3


# --- language and quirks --------------------------------------------------------------------


def test_mostly_chinese_with_some_english(corpus: list[dict[str, Any]]) -> None:
    english = [post for post in corpus if post["lang"] == "en"]
    chinese = [post for post in corpus if post["lang"] == "zh"]
    assert 0.08 <= len(english) / len(corpus) <= 0.25
    assert share(chinese, lambda post: CJK.search(post["text"]) is not None) > 0.99
    # English posts may @mention or quote a Chinese account name, but are written in English.
    assert share(english, lambda post: CJK.search(post["text"]) is None) > 0.75


@pytest.mark.parametrize(
    ("quirk", "pattern", "minimum"),
    [
        ("weibo hashtag", r"#[^#\s]+#", 200),
        ("#tag", r"(?:^|\s)#[A-Za-z\u4e00-\u9fff][^\s#]*(?=\s|$)", 200),
        ("@mention", r"(?<!/)@\S+", 200),
        ("short link", r"http://t\.cn/[A-Za-z0-9]{7}", 200),
        ("repost chain", r"//@[^:]+:", 100),
        ("xueqiu cashtag", r"\$[^$\s]+\((?:SH|SZ)\d{6}\)\$", 50),
        ("stock code", r"(?<!\d)(?:60|00|30|68)\d{4}(?!\d)", 200),
    ],
)
def test_posts_have_the_quirks_of_real_posts(
    corpus: list[dict[str, Any]], quirk: str, pattern: str, minimum: int
) -> None:
    matching = sum(1 for post in corpus if re.search(pattern, post["text"]))
    assert matching >= minimum, f"only {matching} posts with a {quirk}"


def test_emoji_full_width_punctuation_and_extreme_lengths(corpus: list[dict[str, Any]]) -> None:
    assert share(corpus, lambda post: EMOJI.search(post["text"]) is not None) > 0.2
    chinese = [post for post in corpus if post["lang"] == "zh"]
    assert share(chinese, lambda post: FULL_WIDTH_PUNCTUATION.search(post["text"])) > 0.8
    lengths = [len(post["text"]) for post in corpus]
    assert sum(length < 15 for length in lengths) >= 50
    assert sum(length > 500 for length in lengths) >= 50
    assert statistics.median(lengths) < 120


# --- reposts and duplicates -----------------------------------------------------------------


def test_rumours_are_reposted_with_attribution(corpus: list[dict[str, Any]]) -> None:
    """Reposts quote an earlier post verbatim after //@its author: — passing a rumour on keeps
    its labels, debunking it is legitimate."""
    # The same text may have been posted more than once by one account, so keep every post.
    originals: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for post in corpus:
        originals[post["account_name"], post["text"]].append(post)
    passed_on, debunked = 0, 0
    for post in corpus:
        if "//@" not in post["text"]:
            continue
        author, _, quoted = post["text"].rsplit("//@", 1)[1].partition(":")
        # Ordinary repost chains name a random account; only a viral repost quotes its author.
        candidates = [o for o in originals.get((author, quoted), []) if is_violation(o)]
        if not candidates:
            continue
        if post["true_labels"] == ["legitimate"]:
            debunked += 1
        else:
            assert any(
                post["true_labels"] == original["true_labels"]
                and post["true_severity"] == original["true_severity"]
                for original in candidates
            )
            passed_on += 1
    assert passed_on >= 20
    assert debunked >= 10


def test_near_duplicate_groups_exist(corpus: list[dict[str, Any]]) -> None:
    """Posts that differ only by repost prefixes, emoji and punctuation form groups."""

    def core(text: str) -> str:
        quoted = text.rsplit("//@", 1)[1].partition(":")[2] if "//@" in text else text
        return re.sub(r"[\W_]", "", quoted)

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for post in corpus:
        if is_violation(post):
            groups[core(post["text"])].append(post)
    near_duplicates = [
        group
        for group in groups.values()
        if len({post["text"] for post in group}) >= 2 and len({p["account_id"] for p in group}) >= 2
    ]
    assert len(near_duplicates) >= 10
    assert max(len(group) for group in near_duplicates) >= 4


def test_some_violations_are_exact_duplicates(corpus: list[dict[str, Any]]) -> None:
    accounts_by_text: dict[str, set[str]] = defaultdict(set)
    for post in corpus:
        if is_violation(post):
            accounts_by_text[post["text"]].add(post["account_id"])
    assert sum(len(accounts) >= 2 for accounts in accounts_by_text.values()) >= 10


# --- accounts, time, engagement -------------------------------------------------------------


def test_accounts_post_several_times_with_a_tendency(corpus: list[dict[str, Any]]) -> None:
    posts_by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for post in corpus:
        posts_by_account[post["account_id"]].append(post)
    assert 150 <= len(posts_by_account) <= 1000
    for posts in posts_by_account.values():
        assert len({post["account_name"] for post in posts}) == 1
        assert len({post["platform"] for post in posts}) == 1
    regulars = [posts for posts in posts_by_account.values() if len(posts) >= 5]
    assert sum(len(posts) for posts in regulars) >= 0.7 * len(corpus)
    violation_shares = [share(posts, is_violation) for posts in regulars]
    assert sum(value >= 0.8 for value in violation_shares) >= 20  # rumour mills, gurus, ...
    assert sum(value <= 0.2 for value in violation_shares) >= 20  # news desks, analysts, ...


def test_created_at_spreads_over_months_in_beijing_time(corpus: list[dict[str, Any]]) -> None:
    times = [datetime.fromisoformat(post["created_at"]) for post in corpus]
    assert all(moment.utcoffset() == timedelta(hours=8) for moment in times)
    assert all(post["created_at"].endswith("+08:00") for post in corpus)
    assert max(times) - min(times) >= timedelta(days=150)
    assert len({(moment.year, moment.month) for moment in times}) >= 6
    assert min(times).year == 2024 and max(times).year == 2025


def test_engagement_is_heavy_tailed(corpus: list[dict[str, Any]]) -> None:
    likes = sorted(post["likes"] for post in corpus)
    assert likes[-1] > 100 * max(1, statistics.median(likes))
    assert sum(likes[-len(likes) // 100 :]) > 0.3 * sum(likes)  # top 1% take a big share


# --- writers --------------------------------------------------------------------------------


SIZE = 400


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    assert write_corpus(path, SIZE, seed=3) == SIZE
    raw = path.read_bytes()
    assert b"\r\n" not in raw and raw.endswith(b"\n")
    assert CJK.search(raw.decode("utf-8"))  # ensure_ascii=False: Chinese is not escaped
    with path.open(encoding="utf-8") as lines:
        read_back = [json.loads(line) for line in lines]
    assert read_back == list(generate_posts(SIZE, seed=3))


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    assert write_corpus(path, SIZE, seed=3) == SIZE
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == POST_FIELDS
    expected = list(generate_posts(SIZE, seed=3))
    assert len(rows) == len(expected)
    for row, post in zip(rows, expected, strict=True):
        assert row["true_labels"].split("|") == post["true_labels"]
        assert (row["true_severity"] or None) == post["true_severity"]
        for field in ("likes", "reposts", "comments"):
            assert int(row[field]) == post[field]
        for field in ("post_id", "text", "created_at", "account_name", "url", "lang"):
            assert row[field] == post[field]


def test_parquet_round_trip_in_row_groups(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(writers, "_PARQUET_ROW_GROUP", 150)  # several row groups from a small file
    path = tmp_path / "posts.parquet"
    assert write_corpus(path, SIZE, seed=3) == SIZE
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 3
    assert parquet.schema_arrow.names == list(POST_FIELDS)
    assert parquet.read().to_pylist() == list(generate_posts(SIZE, seed=3))


def test_writer_rejects_unknown_suffix_and_bad_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"suffix '\.txt'"):
        write_corpus(tmp_path / "posts.txt", 10)
    with pytest.raises(ValueError, match="at least 1"):
        write_corpus(tmp_path / "posts.jsonl", 0)
    assert list(tmp_path.iterdir()) == []


def test_writer_creates_parent_folders_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "nested" / "posts.JSONL"
    assert write_corpus(path, 5) == 5
    with path.open(encoding="utf-8") as lines:
        assert [json.loads(line) for line in lines] == list(generate_posts(5, DEMO_SEED))
