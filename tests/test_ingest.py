"""Ingesting post files: formats, validation, bad rows, idempotence, --strict, --json."""

import csv
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlmodel import func, select

from annotate.errors import InputError
from annotate.ingest import ingest_files, post_stats
from annotate.store import IngestRun, Post, open_store
from annotate.text import text_hash
from tests.cli import invoke

POSTS = [
    {
        "post_id": "wb-1",
        "text": "#华兴银行# 内部人士透露：华兴银行明天暂停取款，赶紧去取钱！！😱 http://t.cn/A6xYz12",
        "platform": "Weibo",
        "account_id": "acc-1",
        "created_at": "2024-05-01T10:00:00+08:00",
        "likes": 120,
        "reposts": 45,
        "true_labels": ["fabricated_rumour", "incitement"],
    },
    {
        "post_id": "wb-2",
        "text": "央行今日宣布下调存款准备金率0.25个百分点，释放长期资金约5000亿元。",
        "platform": "weibo",
        "created_at": "2024-05-02 09:30:00",
        "comments": "7",
    },
    {
        "post_id": 3,
        "text": "Guaranteed 30% monthly returns! Join our VIP insider group @StockGuru",
        "platform": "wechat",
        "created_at": 1714600000,
        "lang": "en",
    },
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_DATABASE_URL", "ANNOTATE_EXPORTS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.dispose()


def write_jsonl(path, rows, *, newline="\n", bom=False):
    data = newline.join(
        row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows
    )
    raw = data.encode() + newline.encode()
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    return path


def write_csv(path, rows, *, encoding="utf-8", newline="\n"):
    fields = sorted({key for row in rows for key in row})
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator=newline)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "|".join(v) if isinstance(v, list) else v for k, v in row.items()})
    return path


def counts(read, inserted, duplicates=0, conflicts=0, rejected=0):
    """The counts an ingest reports (``IngestReport.counts()`` and ``--json``)."""
    return {
        "read": read,
        "inserted": inserted,
        "duplicates": duplicates,
        "conflicts": conflicts,
        "rejected": rejected,
    }


def count_posts(store):
    with store.session() as session:
        return session.exec(select(func.count()).select_from(Post)).one()


# ------------------------------------------------------------------ on both databases


def test_ingest_stores_validated_posts(store, tmp_path):
    report = ingest_files(store, [write_jsonl(tmp_path / "p.jsonl", POSTS)])
    assert report.counts() == counts(read=3, inserted=3)
    with store.session() as session:
        posts = {post.post_id: post for post in session.exec(select(Post))}
    first = posts["wb-1"]
    assert first.text == POSTS[0]["text"]
    assert first.platform == "weibo"
    assert first.lang == "zh"
    assert first.created_at.replace(tzinfo=None).isoformat() == "2024-05-01T02:00:00"
    assert (first.likes, first.reposts, first.comments) == (120, 45, None)
    assert first.meta == {"true_labels": ["fabricated_rumour", "incitement"]}
    assert posts["wb-2"].comments == 7
    assert posts["3"].lang == "en"
    assert posts["3"].created_at.replace(tzinfo=None).isoformat() == "2024-05-01T21:46:40"


def test_reingesting_inserts_nothing_and_counts_duplicates(store, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", POSTS)
    ingest_files(store, [path])
    again = ingest_files(store, [path])
    assert again.counts() == counts(read=3, inserted=0, duplicates=3)
    assert count_posts(store) == 3
    # Another source is another id space.
    assert ingest_files(store, [path], source="mirror").inserted == 3


def test_repeated_id_with_the_same_text_within_a_file_is_a_duplicate(store, tmp_path):
    rows = [POSTS[0], {**POSTS[0], "likes": 999}, POSTS[1]]
    report = ingest_files(store, [write_jsonl(tmp_path / "p.jsonl", rows)])
    assert (report.inserted, report.duplicates, report.conflicts) == (2, 1, 0)


def test_identical_text_under_other_ids_forms_a_duplicate_group(store, tmp_path):
    rows = [
        {"post_id": "a", "text": "华兴银行要倒闭了，快取钱！"},
        {"post_id": "b", "text": "华兴银行要倒闭了，快取钱！ "},
        {"post_id": "c", "text": "华兴银行要倒闭了，快取钱！"},
        {"post_id": "d", "text": "完全不同的内容"},
    ]
    report = ingest_files(store, [write_jsonl(tmp_path / "p.jsonl", rows)])
    assert report.inserted == 4
    assert report.same_text == 2
    stats = post_stats(store)
    assert stats["duplicate_text_groups"] == 1
    assert stats["posts_in_duplicate_text_groups"] == 3
    with store.session() as session:
        hashes = {p.post_id: p.text_hash for p in session.exec(select(Post))}
    assert hashes["a"] == hashes["b"] == hashes["c"] != hashes["d"]


def test_strict_stops_at_first_bad_row_and_stores_nothing(store, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", POSTS)
    rows = [{"post_id": f"x{i}", "text": f"帖子 {i}"} for i in range(12_000)]
    rows.insert(11_000, {"post_id": "bad"})
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError, match=r"bad\.jsonl:11001: missing 'text'"):
        ingest_files(store, [good, bad], strict=True)
    assert count_posts(store) == 0
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(IngestRun)).one() == 0


def test_non_strict_run_records_itself(store, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [*POSTS, "{broken"])
    report = ingest_files(store, [path], source="weibo")
    with store.session() as session:
        run = session.get(IngestRun, report.run_id)
    assert (run.status, run.source, run.read, run.inserted, run.rejected) == (
        "done",
        "weibo",
        4,
        3,
        1,
    )


# -------------------------------------------------------------------------- formats


def test_csv_with_bom_and_crlf(store, tmp_path):
    path = write_csv(tmp_path / "p.csv", POSTS, encoding="utf-8-sig", newline="\r\n")
    report = ingest_files(store, [path])
    assert report.counts()["inserted"] == 3
    with store.session() as session:
        post = session.exec(select(Post).where(Post.post_id == "wb-1")).one()
    assert post.text == POSTS[0]["text"]
    assert post.likes == 120
    assert post.meta == {"true_labels": "fabricated_rumour|incitement"}


def test_csv_multiline_text_keeps_line_numbers(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('post_id,text\n1,"第一行\n第二行"\n2,\n3,ok\n', encoding="utf-8")
    rejects = []
    report = ingest_files(store, [path], on_reject=rejects.append)
    assert report.inserted == 2
    assert [str(r) for r in rejects] == [f"{path}:4: missing 'text' (the post text)"]


def test_jsonl_with_bom_crlf_and_gzip(store, tmp_path):
    plain = write_jsonl(tmp_path / "p.jsonl", POSTS, newline="\r\n", bom=True)
    assert ingest_files(store, [plain]).inserted == 3
    packed = tmp_path / "q.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert ingest_files(store, [packed], source="gz").inserted == 3


def test_parquet(store, tmp_path):
    path = tmp_path / "p.parquet"
    table = pa.Table.from_pylist(
        [{"post_id": str(row["post_id"]), "text": row["text"], "likes": 5} for row in POSTS]
    )
    pq.write_table(table, path, row_group_size=2)
    report = ingest_files(store, [path])
    assert report.counts() == counts(read=3, inserted=3)


def test_saved_hugging_face_dataset_folder(store, tmp_path):
    import datasets

    rows = [
        {"id": f"h{i}", "content": f"第{i}条财经快讯：股市收涨", "platform": "douyin"}
        for i in range(5)
    ]
    dataset = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:3]),
            "test": datasets.Dataset.from_list(rows[3:]),
        }
    )
    dataset.save_to_disk(str(tmp_path / "saved"))
    report = ingest_files(store, [tmp_path / "saved"], id_field="id", text_field="content")
    assert report.inserted == 5
    with store.session() as session:
        assert {p.platform for p in session.exec(select(Post))} == {"douyin"}


# ------------------------------------------------------------------------ bad input


BAD_ROWS = [
    ("{not json", "invalid JSON"),
    ('["a", "list"]', "expected a JSON object, found an array"),
    ({"text": "没有编号"}, "missing 'post_id' (the post id)"),
    ({"post_id": "n1"}, "missing 'text' (the post text)"),
    ({"post_id": "n2", "text": "   \u200b "}, "'text' (the post text) is empty"),
    ({"post_id": "n3", "text": 42}, "'text' must be a string, found int"),
    ({"post_id": ["x"], "text": "ok"}, "'post_id' must be a string or an integer, found an array"),
    ({"post_id": "n4", "text": "ok", "likes": -3}, "'likes' must be a non-negative integer"),
    (
        {"post_id": "n5", "text": "ok", "reposts": "many"},
        "'reposts' must be a non-negative integer",
    ),
    ({"post_id": "n6", "text": "ok", "created_at": "yesterday"}, "'created_at' is not an ISO 8601"),
    ({"post_id": "n7", "text": "ok", "platform": {"a": 1}}, "'platform' must be a string"),
]


def test_each_bad_row_is_rejected_with_file_and_line(store, tmp_path):
    lines = [json.dumps(POSTS[0], ensure_ascii=False)]
    for row, _ in BAD_ROWS:
        lines.append(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
    path = tmp_path / "bad.jsonl"
    raw = ("\n".join(lines) + "\n").encode()
    raw += b'{"post_id": "n8", "text": "\xff\xfe broken bytes"}\n'
    path.write_bytes(raw)
    rejects = []
    report = ingest_files(store, [path], on_reject=rejects.append, rejects_dir=tmp_path / "rej")
    assert report.counts() == counts(read=len(BAD_ROWS) + 2, inserted=1, rejected=len(BAD_ROWS) + 1)
    for index, (_, reason) in enumerate(BAD_ROWS):
        assert str(rejects[index]).startswith(f"{path}:{index + 2}: {reason}")
    assert str(rejects[-1]).startswith(f"{path}:{len(BAD_ROWS) + 2}: undecodable bytes")
    written = [
        json.loads(line) for line in Path(report.rejects_file).read_text("utf-8").splitlines()
    ]
    assert [(item["line"], item["reason"]) for item in written] == [
        (item.line, item.reason) for item in rejects
    ]
    assert count_posts(store) == 1


def test_empty_file_is_an_error(store, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        ingest_files(store, [empty])
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n  \n")
    with pytest.raises(InputError, match="has no rows"):
        ingest_files(store, [blank])
    header_only = tmp_path / "header.csv"
    header_only.write_text("post_id,text\n")
    with pytest.raises(InputError, match="has no rows"):
        ingest_files(store, [header_only])


def test_gbk_csv_suggests_the_encoding(store, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", POSTS[1:], encoding="gbk")
    with pytest.raises(InputError, match="--encoding gbk"):
        ingest_files(store, [path])
    assert count_posts(store) == 0
    assert ingest_files(store, [path], encoding="gbk").inserted == 2
    with store.session() as session:
        assert (
            session.exec(select(Post.text).where(Post.post_id == "wb-2")).one() == POSTS[1]["text"]
        )


def test_unknown_format_and_json_array_are_refused(store, tmp_path):
    (tmp_path / "p.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match=r"unknown file type '\.xlsx'"):
        ingest_files(store, [tmp_path / "p.xlsx"])
    (tmp_path / "p.json").write_text(json.dumps(POSTS))
    with pytest.raises(InputError, match="JSON array"):
        ingest_files(store, [tmp_path / "p.json"])
    with pytest.raises(InputError, match="does not exist"):
        ingest_files(store, [tmp_path / "missing.jsonl"])


def test_files_are_checked_before_anything_is_stored(store, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", POSTS)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError):
        ingest_files(store, [good, tmp_path / "empty.csv"])
    assert count_posts(store) == 0


def test_csv_row_with_wrong_field_count_is_rejected(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("post_id,text\n1,ok\n2,too,many\n", encoding="utf-8")
    rejects = []
    ingest_files(store, [path], on_reject=rejects.append)
    assert [str(r) for r in rejects] == [f"{path}:3: expected 2 fields, found 3"]


def test_every_row_rejected_is_an_error(store, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", ["{x", "{y"])
    with pytest.raises(InputError, match="Every row was rejected"):
        ingest_files(store, [path])


# ------------------------------------------------------------------------------ CLI


def test_cli_json_output_and_idempotence(workdir):
    write_jsonl(workdir / "p.jsonl", POSTS)
    first = invoke("ingest", "p.jsonl", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == counts(read=3, inserted=3)
    assert "Created workspace .annotate/" in first.stderr
    second = invoke("ingest", "p.jsonl", "--json")
    assert json.loads(second.stdout) == counts(read=3, inserted=0, duplicates=3)
    assert "Created workspace" not in second.stderr


def test_cli_reports_bad_rows_on_stderr_and_in_exports_rejects(workdir):
    write_jsonl(workdir / "p.jsonl", [*POSTS, "{oops", {"post_id": "z"}])
    result = invoke("ingest", "p.jsonl", "--json")
    assert result.exit_code == 0
    assert "p.jsonl:4: invalid JSON" in result.stderr
    assert "p.jsonl:5: missing 'text'" in result.stderr
    assert json.loads(result.stdout)["rejected"] == 2
    files = list((workdir / "exports" / "rejects").glob("*.jsonl"))
    assert len(files) == 1
    assert len(files[0].read_text().splitlines()) == 2


def test_cli_strict_exits_non_zero_with_one_sentence(workdir):
    write_jsonl(workdir / "p.jsonl", [*POSTS, "{oops"])
    result = invoke("ingest", "p.jsonl", "--strict")
    assert result.exit_code != 0
    assert result.stderr.splitlines()[-1].startswith("Error: p.jsonl:4: invalid JSON")
    assert "Traceback" not in result.output
    stats = invoke("posts", "stats", "--json")
    assert json.loads(stats.stdout)["posts"] == 0


def test_cli_gbk_error_names_the_fix(workdir):
    write_csv(workdir / "gbk.csv", POSTS[1:], encoding="gbk")
    result = invoke("ingest", "gbk.csv")
    assert result.exit_code != 0
    assert "gbk.csv:2: the file is not UTF-8" in result.stderr
    assert "--encoding gbk" in result.stderr
    assert invoke("ingest", "gbk.csv", "--encoding", "gbk").exit_code == 0


def test_cli_empty_file_fails(workdir):
    (workdir / "e.jsonl").write_bytes(b"")
    result = invoke("ingest", "e.jsonl")
    assert result.exit_code != 0
    assert "e.jsonl is empty" in result.stderr


def test_cli_field_mapping(workdir):
    write_jsonl(workdir / "p.jsonl", [{"mid": "m1", "content": "股市大涨"}])
    result = invoke("ingest", "p.jsonl", "--id-field", "mid", "--text-field", "content", "--json")
    assert json.loads(result.stdout)["inserted"] == 1
    missing = invoke("ingest", "p.jsonl", "--json", "--source", "other")
    assert missing.exit_code != 0
    assert "missing 'text'" in missing.stderr


def test_csv_row_with_undecodable_bytes_is_rejected_alone(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(
        "post_id,text\n1,央行降准\n".encode() + b"2,broken \xff\xfe bytes\n" + b"3,fine\n"
    )
    rejects = []
    report = ingest_files(store, [path], on_reject=rejects.append)
    assert report.inserted == 2
    assert [str(r) for r in rejects] == [f"{path}:3: undecodable bytes (not utf-8)"]


# --------------------------------------------------- nothing lost, nothing duplicated


def test_successful_strict_run_commits_everything_and_records_itself(store, tmp_path):
    rows = [{"post_id": f"x{i}", "text": f"帖子 {i}"} for i in range(12_000)]
    report = ingest_files(store, [write_jsonl(tmp_path / "p.jsonl", rows)], strict=True)
    assert report.counts()["inserted"] == 12_000
    assert count_posts(store) == 12_000
    with store.session() as session:
        run = session.get(IngestRun, report.run_id)
    assert (run.status, run.strict, run.read, run.inserted) == ("done", True, 12_000, 12_000)


def test_cli_successful_strict_run_stores_its_posts(workdir):
    write_jsonl(workdir / "p.jsonl", POSTS)
    result = invoke("ingest", "p.jsonl", "--strict", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == 3
    assert json.loads(invoke("posts", "stats", "--json").stdout)["posts"] == 3


def long_article(size):
    """A quoted CSV cell's worth of text with the commas, quotes and line breaks that would
    turn into rows of their own if the parser lost its place inside it."""
    line = 'line 4559, "quoted" 股市 暴跌\n'
    return (line * (size // len(line) + 1))[:size]


def test_csv_field_over_the_csv_module_default_limit_is_one_post(store, tmp_path):
    article = long_article(200_000)
    path = write_csv(
        tmp_path / "p.csv",
        [
            {"post_id": "1", "text": "第一条"},
            {"post_id": "2", "text": article},
            {"post_id": "3", "text": "第三条"},
        ],
    )
    rejects = []
    report = ingest_files(store, [path], on_reject=rejects.append)
    assert rejects == []
    assert report.counts()["inserted"] == 3
    with store.session() as session:
        texts = dict(session.exec(select(Post.post_id, Post.text)).all())
    assert texts == {"1": "第一条", "2": article.strip(), "3": "第三条"}


def test_csv_field_over_the_limit_rejects_its_row_and_the_next_rows_are_read(store, tmp_path):
    from annotate.ingest import MAX_FIELD_CHARS

    path = write_csv(
        tmp_path / "p.csv",
        [
            {"post_id": "1", "text": "第一条"},
            {"post_id": "2", "text": long_article(MAX_FIELD_CHARS + 10)},
            {"post_id": "3", "text": "第三条\n第二行"},
            {"post_id": "4", "text": ""},
        ],
    )
    rejects = []
    report = ingest_files(store, [path], on_reject=rejects.append)
    assert [str(item) for item in rejects] == [
        f"{path}:3: a field is longer than {MAX_FIELD_CHARS:,} characters",
        f"{path}:{3 + long_article(MAX_FIELD_CHARS + 10).count(chr(10)) + 3}: "
        "missing 'text' (the post text)",
    ]
    assert report.counts() == counts(read=4, inserted=2, rejected=2)
    with store.session() as session:
        texts = dict(session.exec(select(Post.post_id, Post.text)).all())
    assert texts == {"1": "第一条", "3": "第三条\n第二行"}


def test_text_over_the_limit_is_rejected_in_json_lines_too(store, tmp_path):
    from annotate.ingest import MAX_FIELD_CHARS

    path = write_jsonl(
        tmp_path / "p.jsonl",
        [{"post_id": "1", "text": "x" * (MAX_FIELD_CHARS + 1)}, {"post_id": "2", "text": "ok"}],
    )
    rejects = []
    assert ingest_files(store, [path], on_reject=rejects.append).inserted == 1
    assert [str(item) for item in rejects] == [
        f"{path}:1: 'text' is longer than {MAX_FIELD_CHARS:,} characters"
    ]


def test_csv_quote_left_open_to_the_end_of_the_file_rejects_its_row(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('post_id,text\n1,ok\n2,"never closed\n3,read into row 2\n', encoding="utf-8")
    rejects = []
    assert ingest_files(store, [path], on_reject=rejects.append).inserted == 1
    assert [str(item) for item in rejects] == [
        f"{path}:3: a quoted field opened in this row is not closed before the end of the file"
    ]


NUL_ROWS = [{"post_id": f"n{i}", "text": f"第{i}条：央行降准", "tag": f"t{i}"} for i in range(50)]
NUL_ROWS[7] = {"post_id": "n7", "text": "华兴\x00银行挤兑\x00", "tag": "t7"}
NUL_ROWS[23] = {"post_id": "n\x0023", "text": "第23条", "tag": "scraped\x00tag", "plat\x00": "x"}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_nul_characters_are_removed_from_every_field_on_both_stores(store, tmp_path, suffix):
    path = tmp_path / f"p{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, NUL_ROWS)
    elif suffix == ".csv":
        write_csv(path, NUL_ROWS)
    else:
        names = sorted({name for row in NUL_ROWS for name in row})
        pq.write_table(
            pa.table({name: [row.get(name) for row in NUL_ROWS] for name in names}), path
        )
    report = ingest_files(store, [path])
    assert (report.inserted, report.rejected) == (50, 0)
    with store.session() as session:
        posts = {post.post_id: post for post in session.exec(select(Post))}
    assert len(posts) == 50
    assert posts["n7"].text == "华兴银行挤兑"
    assert posts["n23"].meta["tag"] == "scraped" + "tag"
    assert posts["n23"].meta["plat"] == "x"
    for post in posts.values():
        stored = [post.post_id, post.text, *post.meta, *post.meta.values()]
        assert not any("\x00" in value for value in stored if value), stored
    assert posts["n7"].text_hash == text_hash("华兴银行挤兑")


def stored_texts(store):
    with store.session() as session:
        return dict(session.exec(select(Post.post_id, Post.text)).all())


def test_same_id_with_another_text_in_one_file_is_a_conflict_naming_both_lines(store, tmp_path):
    rows = [POSTS[0], POSTS[1], {**POSTS[0], "text": "改过的文字"}, POSTS[1]]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    rejects = []
    report = ingest_files(store, [path], on_reject=rejects.append, rejects_dir=tmp_path / "rej")
    assert report.counts() == counts(read=4, inserted=2, duplicates=1, conflicts=1)
    assert [str(item) for item in rejects] == [
        f"{path}:3: conflict: post_id 'wb-1' was read at {path}:1 with a different text"
    ]
    assert stored_texts(store)["wb-1"] == POSTS[0]["text"]
    assert "改过的文字" in Path(report.rejects_file).read_text("utf-8")
    with store.session() as session:
        assert session.get(IngestRun, report.run_id).conflicts == 1


def test_conflict_across_files_and_batches_names_both_files(store, tmp_path):
    first = write_jsonl(
        tmp_path / "a.jsonl", [{"post_id": f"x{i}", "text": f"帖子 {i}"} for i in range(12_000)]
    )
    second = write_jsonl(
        tmp_path / "b.jsonl",
        [{"post_id": "x11999", "text": "帖子 11999"}, {"post_id": "x5", "text": "改过的帖子"}],
    )
    rejects = []
    report = ingest_files(store, [first, second], on_reject=rejects.append)
    assert (report.inserted, report.duplicates, report.conflicts) == (12_000, 1, 1)
    assert [str(item) for item in rejects] == [
        f"{second}:2: conflict: post_id 'x5' was read at {first}:6 with a different text"
    ]
    assert stored_texts(store)["x5"] == "帖子 5"


def test_strict_refuses_a_conflict_and_stores_nothing(store, tmp_path):
    rows = [POSTS[0], POSTS[1], {**POSTS[0], "text": "改过的文字"}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(
        InputError, match=r"p\.jsonl:3: conflict: post_id 'wb-1' was read at .*p\.jsonl:1"
    ):
        ingest_files(store, [path], strict=True)
    assert count_posts(store) == 0


def test_id_stored_by_an_earlier_run_with_another_text_is_a_conflict(store, tmp_path):
    first = ingest_files(store, [write_jsonl(tmp_path / "a.jsonl", POSTS)])
    changed = [{**POSTS[0], "text": "改过的文字"}, POSTS[1]]
    path = write_jsonl(tmp_path / "b.jsonl", changed)
    rejects = []
    report = ingest_files(store, [path], on_reject=rejects.append)
    assert (report.inserted, report.duplicates, report.conflicts) == (0, 1, 1)
    assert [str(item) for item in rejects] == [
        f"{path}:1: conflict: post_id 'wb-1' is already stored with a different text "
        f"(ingest run {first.run_id})"
    ]
    assert stored_texts(store)["wb-1"] == POSTS[0]["text"]
    with pytest.raises(InputError, match=r"b\.jsonl:1: conflict: post_id 'wb-1' is already"):
        ingest_files(store, [path], strict=True)


def test_cli_counts_conflicts(workdir):
    write_jsonl(workdir / "p.jsonl", [*POSTS, {**POSTS[0], "text": "改过的文字"}])
    result = invoke("ingest", "p.jsonl", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["conflicts"] == 1
    assert "p.jsonl:4: conflict: post_id 'wb-1' was read at p.jsonl:1" in result.stderr
    table = invoke("ingest", "p.jsonl", "--source", "again")
    assert re.search(r"conflicts .* 1", table.stdout), table.stdout


def test_json_integer_ids_of_any_size_are_kept_digit_for_digit(store, tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            '{"post_id": 123456789012345678901234567890, "text": "一",'
            ' "account_id": 98765432109876543210}',
            '{"post_id": 1234567890123456789, "text": "二"}',
            '{"post_id": -9223372036854775809, "text": "三"}',
            '{"post_id": 12345.0, "text": "四"}',
        ],
    )
    assert ingest_files(store, [path]).inserted == 4
    with store.session() as session:
        posts = {post.text: post for post in session.exec(select(Post))}
    assert posts["一"].post_id == "123456789012345678901234567890"
    assert posts["一"].account_id == "98765432109876543210"
    assert posts["二"].post_id == "1234567890123456789"
    assert posts["三"].post_id == "-9223372036854775809"
    assert posts["四"].post_id == "12345"


def test_json_float_ids_that_are_not_exact_are_rejected(store, tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            '{"post_id": 1.5, "text": "一"}',
            '{"post_id": 1e20, "text": "二"}',
            '{"post_id": 9007199254740993.0, "text": "三"}',
            '{"post_id": "ok", "text": "四"}',
        ],
    )
    rejects = []
    assert ingest_files(store, [path], on_reject=rejects.append).inserted == 1
    assert [str(item) for item in rejects] == [
        f"{path}:1: 'post_id' must be a string or an integer, found 1.5",
        f"{path}:2: 'post_id' is a floating-point number beyond 2**53 (1e+20), whose digits "
        "are not exact; write ids as strings or integers",
        f"{path}:3: 'post_id' is a floating-point number beyond 2**53 (9007199254740992.0), "
        "whose digits are not exact; write ids as strings or integers",
    ]


def test_parquet_float_id_column_is_refused_before_anything_is_stored(store, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", POSTS)
    path = tmp_path / "p.parquet"
    ids = [1234567890123456789, 1234567890123456790, 1234567890123456791]
    pq.write_table(
        pa.table({"mid": [float(value) for value in ids], "text": ["一", "二", "三"]}), path
    )
    with pytest.raises(InputError, match=r"p\.parquet: the id column 'mid' holds floating-point"):
        ingest_files(store, [good, path], id_field="mid")
    assert count_posts(store) == 0
    pq.write_table(pa.table({"mid": pa.array(ids, pa.int64()), "text": ["一", "二", "三"]}), path)
    assert ingest_files(store, [path], id_field="mid").inserted == 3
    assert set(stored_texts(store)) == {str(value) for value in ids}


def test_hugging_face_float_id_column_is_refused(store, tmp_path):
    import datasets

    rows = [{"id": 1234567890123456789.0, "content": "一"}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(InputError, match=r"saved: the id column 'id' holds floating-point"):
        ingest_files(store, [tmp_path / "saved"], id_field="id", text_field="content")


UTF8_READ_AS_GBK = [{"post_id": "a", "text": "股市"}, {"post_id": "b", "text": "股市大涨"}]


def test_utf8_file_read_as_another_encoding_is_refused_unless_forced(store, tmp_path):
    path = write_csv(tmp_path / "p.csv", UTF8_READ_AS_GBK)
    with pytest.raises(InputError, match=r"p\.csv:2: the file is UTF-8, not gbk") as error:
        ingest_files(store, [path], encoding="gbk")
    assert "--force-encoding" in error.value.hint
    assert count_posts(store) == 0
    assert ingest_files(store, [path], encoding="gbk", force_encoding=True).inserted == 2
    assert stored_texts(store) == {"a": "鑲″競", "b": "鑲″競澶ф定"}  # garbled, as asked


def test_ascii_file_may_be_read_as_any_encoding(store, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"post_id": "a", "text": "plain ASCII"}])
    assert ingest_files(store, [path], encoding="gbk").inserted == 1


def test_cli_utf8_file_with_another_encoding_names_the_fix(workdir):
    write_csv(workdir / "p.csv", UTF8_READ_AS_GBK)
    result = invoke("ingest", "p.csv", "--encoding", "gbk")
    assert result.exit_code != 0
    assert "p.csv:2: the file is UTF-8, not gbk" in result.stderr
    assert "--force-encoding" in result.stderr
    forced = invoke("ingest", "p.csv", "--encoding", "gbk", "--force-encoding", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["inserted"] == 2
    assert "--force-encoding" in invoke("ingest", "--help").stdout


def truncated_gzip_jsonl(path, rows):
    """``rows`` as gzipped JSON Lines, cut off halfway; returns the lines that survive whole."""
    whole = gzip.compress(write_jsonl(path.with_suffix(".plain"), rows).read_bytes())
    cut = whole[: len(whole) // 2]
    path.write_bytes(cut)
    return zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")


def damaged_parquet(path, rows):
    """``rows`` in three row groups, the text of the second one overwritten with garbage."""
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=len(rows) // 3)
    chunk = pq.ParquetFile(path).metadata.row_group(1).column(1)
    data = bytearray(path.read_bytes())
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    data[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(data)


MANY = [
    {"post_id": f"x{i}", "text": f"帖子 {i}：" + "央行降准" * (i % 7 + 1)} for i in range(30_000)
]


def test_truncated_gzip_names_the_file_and_keeps_the_rows_before_it(store, tmp_path):
    path = tmp_path / "p.jsonl.gz"
    whole_lines = truncated_gzip_jsonl(path, MANY)
    assert 10_000 < whole_lines < 30_000
    with pytest.raises(InputError) as error:
        ingest_files(store, [path])
    assert str(error.value).startswith(
        f"{path}: the file is cut off or damaged after line {whole_lines} "
        "(Compressed file ended before the end-of-stream marker was reached); "
        f"this run stored {whole_lines} posts before it and is recorded as failed."
    )
    assert count_posts(store) == whole_lines
    with store.session() as session:
        run = session.exec(select(IngestRun)).one()
    assert (run.status, run.inserted) == ("failed", whole_lines)


def test_truncated_gzip_with_strict_stores_nothing(store, tmp_path):
    path = tmp_path / "p.jsonl.gz"
    whole_lines = truncated_gzip_jsonl(path, MANY)
    with pytest.raises(
        InputError, match=rf"after line {whole_lines} .*nothing from this run was stored"
    ):
        ingest_files(store, [path], strict=True)
    assert count_posts(store) == 0


def test_truncated_gzip_csv_names_the_file(store, tmp_path):
    path = tmp_path / "p.csv.gz"
    whole = gzip.compress(write_csv(tmp_path / "p.csv", MANY).read_bytes())
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        InputError, match=rf"{re.escape(str(path))}: the file is cut off or damaged"
    ):
        ingest_files(store, [path])
    assert 0 < count_posts(store) < 30_000


def test_damaged_parquet_names_the_file_and_row_group(store, tmp_path):
    path = tmp_path / "p.parquet"
    damaged_parquet(path, MANY)
    with pytest.raises(InputError) as error:
        ingest_files(store, [path])
    message = str(error.value)
    assert message.startswith(f"{path}: the file is cut off or damaged in row group ")
    stored = count_posts(store)
    assert f"this run stored {stored} posts before it and is recorded as failed" in message
    assert stored in {0, 10_000, 20_000}
    with pytest.raises(InputError, match="nothing from this run was stored"):
        ingest_files(store, [path], strict=True, source="strict")


def test_cli_truncated_file_is_one_sentence_naming_the_file(workdir):
    truncated_gzip_jsonl(workdir / "p.jsonl.gz", MANY)
    result = invoke("ingest", "p.jsonl.gz")
    assert result.exit_code != 0
    assert "Error: p.jsonl.gz: the file is cut off or damaged after line" in result.stderr
    assert "unexpected" not in result.stderr


def test_gzip_damaged_near_its_start_is_refused_before_anything_is_stored(store, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", POSTS)
    short = tmp_path / "short.jsonl.gz"
    short.write_bytes(gzip.compress(good.read_bytes())[:40])
    with pytest.raises(InputError, match=r"short\.jsonl\.gz: the file is cut off or damaged near"):
        ingest_files(store, [good, short])
    fake = tmp_path / "fake.csv.gz"
    fake.write_bytes(b"post_id,text\n1,ok\n")
    with pytest.raises(InputError, match=r"fake\.csv\.gz: the file is cut off or damaged near"):
        ingest_files(store, [good, fake])
    assert count_posts(store) == 0


def wait_for(condition, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_killed_ingest_is_marked_interrupted_and_a_rerun_completes_it(
    store, database_url, tmp_path
):
    rows = [{"post_id": f"k{i}", "text": f"第{i}条：华兴银行暂停取款"} for i in range(100_000)]
    big = write_jsonl(tmp_path / "big.jsonl", rows)
    command = ["--workspace", tmp_path / "ws", "--database-url", database_url, "ingest", big]
    child = subprocess.Popen(
        [sys.executable, "-m", "annotate", *command],
        env={**os.environ, "PGAPPNAME": "killed-ingest"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: count_posts(store) >= 10_000, "the first batch of the ingest")
        # An ingest that runs meanwhile leaves the live run alone.
        small = write_jsonl(tmp_path / "small.jsonl", POSTS)
        assert ingest_files(store, [small], source="other").interrupted_runs == []
        assert child.poll() is None, "the child finished too early to test a live run"
        with store.session() as session:
            live = session.exec(select(IngestRun).where(IngestRun.source == "default")).one()
        assert (live.status, live.pid) == ("running", child.pid)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    if store.dialect == "postgresql":
        # The server ends the killed client's session (and its locks) once it notices.
        def session_ended():
            with store.engine.connect() as connection:  # a new snapshot of pg_stat_activity
                return not connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'killed-ingest'"
                ).scalar()

        wait_for(session_ended, "PostgreSQL to end the killed ingest's session")
    kept = count_posts(store) - len(POSTS)
    assert 10_000 <= kept < 100_000

    report = ingest_files(store, [big])
    assert report.interrupted_runs == [live.id]
    with store.session() as session:
        assert session.get(IngestRun, live.id).status == "interrupted"
    assert report.counts() == counts(read=100_000, inserted=100_000 - kept, duplicates=kept)
    assert count_posts(store) == 100_000 + len(POSTS)


def test_sqlite_tells_killed_runs_from_live_ones_by_pid_host_and_start(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/annotate.db")
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    )
    here, now = socket.gethostname(), datetime.now(UTC)
    runs = {
        "live": IngestRun(source="s", pid=os.getpid(), host=here, started_at=now),
        "dead": IngestRun(source="s", pid=int(finished.stdout), host=here, started_at=now),
        "pid reused": IngestRun(
            source="s", pid=os.getpid(), host=here, started_at=now - timedelta(days=1)
        ),
        "on another machine": IngestRun(
            source="s", pid=int(finished.stdout), host="elsewhere", started_at=now
        ),
        "recorded without a pid": IngestRun(source="s", started_at=now),
    }
    with store.session() as session:
        session.add_all(runs.values())
        session.commit()
        ids = {name: run.id for name, run in runs.items()}
    report = ingest_files(store, [write_jsonl(tmp_path / "p.jsonl", POSTS)])
    assert report.interrupted_runs == [ids["dead"], ids["pid reused"]]
    with store.session() as session:
        status = {name: session.get(IngestRun, ids[name]).status for name in runs}
    assert status == {
        "live": "running",
        "dead": "interrupted",
        "pid reused": "interrupted",
        "on another machine": "running",
        "recorded without a pid": "running",
    }
    store.dispose()


LANG_TAGS = {
    "zh": "zh",
    "zh_CN": "zh",
    "zh-TW": "zh",
    "zh-Hans": "zh",
    "zh-Hant-HK": "zh",
    "zh_HK.UTF-8": "zh",
    "cmn": "zh",
    "cmn-Hans-CN": "zh",
    "yue-HK": "zh",
    "zho": "zh",
    "en": "en",
    "en_US": "en",
    "EN-gb": "en",
    "en-Latn-US": "en",
    "eng": "en",
    "ja-JP": "other",
    "fr_CA": "other",
    "other": "other",
    "und": "zh",  # undetermined: detected from the (Chinese) text
}


def test_lang_accepts_locale_bcp47_and_iso639_forms(store, tmp_path):
    rows = [
        {"post_id": f"l{index}", "text": "央行今日宣布降准", "lang": tag}
        for index, tag in enumerate(LANG_TAGS)
    ]
    rejects = []
    ingest_files(store, [write_jsonl(tmp_path / "p.jsonl", rows)], on_reject=rejects.append)
    assert rejects == []
    with store.session() as session:
        stored = dict(session.exec(select(Post.post_id, Post.lang)).all())
    assert {tag: stored[f"l{index}"] for index, tag in enumerate(LANG_TAGS)} == LANG_TAGS
