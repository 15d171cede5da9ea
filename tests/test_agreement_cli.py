"""``annotate agreement``: long-table files checked against the agreement core, and projects
read from the store (rows written directly, no Label Studio; SQLite and PostgreSQL)."""

import csv
import json
import math

import pytest

from annotate.agreement import multilabel_agreement, summarise
from annotate.agreement_data import project_table, read_table_file
from annotate.errors import InputError
from annotate.store import Post, open_store, record_annotations
from annotate.taxonomy import load_taxonomy
from tests.agreement_store import ANNOTATORS, fill_project
from tests.cli import invoke

HEADLINE = (
    "percent_agreement",
    "krippendorff_alpha",
    "fleiss_kappa",
    "gwet_ac1",
    "n_items",
    "n_annotators",
    "n_annotations",
    "cohen_kappa_pairs",
    "ci",
)
CATEGORY_LABELS = load_taxonomy().field("category").label_ids
# Three annotators, eleven items, some rated by two only; item 12 by one annotator.
SINGLE = [
    (item, annotator, label)
    for item, labels in enumerate(
        [
            "rumour rumour rumour",
            "scam scam legit",
            "legit legit legit",
            "rumour scam .",
            "scam scam scam",
            "legit rumour legit",
            ". legit legit",
            "rumour rumour scam",
            "scam . scam",
            "legit legit rumour",
            "rumour rumour rumour",
            "scam . .",
        ],
        start=1,
    )
    for annotator, label in zip("ABC", labels.split(), strict=True)
    if label != "."
]
MULTI = [
    (1, "A", ["rumour", "incitement"]),
    (1, "B", ["rumour"]),
    (2, "A", ["scam"]),
    (2, "B", ["scam"]),
    (2, "C", ["scam", "incitement"]),
    (3, "A", []),
    (3, "B", []),
    (4, "A", ["rumour"]),
    (4, "C", ["incitement"]),
    (5, "B", ["scam", "rumour"]),
    (5, "C", ["rumour", "scam"]),
]


def same(actual, expected):
    """Equal, numbers up to float rounding (the CLI and the test may sum in another order)."""
    if isinstance(expected, float) and isinstance(actual, int | float):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list | tuple):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    return actual == expected


def agreement_json(*args):
    result = invoke("agreement", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write_csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_input_gives_the_summary_of_the_agreement_core(tmp_path):
    path = write_csv(tmp_path / "labels.csv", ["item_id", "annotator", "label"], SINGLE)
    as_read = [(str(item), annotator, label) for item, annotator, label in SINGLE]

    document = agreement_json("--input", path)
    # By default an item needs two annotations; item 12 has one and is left out.
    expected = summarise([row for row in as_read if row[0] != "12"], ci=True).as_dict()
    for key in HEADLINE:
        assert same(document[key], expected[key]), key
    assert sorted(document["ci"]) == sorted(HEADLINE[:4])
    assert document["n_dropped_items"] == 1
    assert document["interpretation"]["band"] in {"reliable", "tentative", "not reliable"}

    # Single annotations still inform Fleiss' κ and Gwet's AC1 (category shares) when kept.
    document = agreement_json("--input", path, "--min-annotators", "1", "--no-ci")
    expected = summarise(as_read, ci=False).as_dict()
    for key in HEADLINE:
        assert same(document[key], expected[key]), key
    assert document["n_dropped_items"] == 0


def test_jsonl_multilabel_input_adds_per_label_rows(tmp_path):
    path = tmp_path / "labels.jsonl"
    lines = []
    for index, (item, annotator, labels) in enumerate(MULTI):
        # Lists and '|'-separated text are both accepted.
        value = "|".join(labels) if index % 2 else labels
        lines.append(json.dumps({"item_id": item, "annotator": annotator, "labels": value}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    document = agreement_json("--input", path, "--no-ci")
    as_sets = [(item, annotator, frozenset(labels)) for item, annotator, labels in MULTI]
    expected = summarise(as_sets, ci=False).as_dict()
    for key in HEADLINE:
        assert same(document[key], expected[key]), key
    assert document["ci"] == {}
    per_label = multilabel_agreement(as_sets).per_label
    assert same(document["per_label"], [row.as_dict() for row in per_label])
    assert [row["label"] for row in document["per_label"]] == ["incitement", "rumour", "scam"]
    assert "alpha_masi" in document["multilabel"]


def test_ordinal_input_uses_numbers_or_the_given_order(tmp_path):
    numbers = [(item, annotator, 1 + (item + ord(annotator)) % 3) for item, annotator, _ in SINGLE]
    path = write_csv(tmp_path / "scores.csv", ["item_id", "annotator", "label"], numbers)
    document = agreement_json("--input", path, "--level", "ordinal", "--no-ci")
    as_read = [(str(item), annotator, value) for item, annotator, value in numbers]
    expected = summarise(as_read, "ordinal", ci=False).as_dict()
    assert same(document["krippendorff_alpha"], expected["krippendorff_alpha"])
    assert document["details"]["level"] == "ordinal"

    words = {1: "low", 2: "medium", 3: "high"}
    named = [(item, annotator, words[value]) for item, annotator, value in numbers]
    path = write_csv(tmp_path / "named.csv", ["item_id", "annotator", "label"], named)
    document = agreement_json(
        "--input", path, "--level", "ordinal", "--order", "low,medium,high", "--no-ci"
    )
    assert same(document["krippendorff_alpha"], expected["krippendorff_alpha"])


@pytest.mark.parametrize(
    ("name", "content", "where", "reason"),
    [
        ("a.csv", "item_id,annotator\n1,A\n", 1, "no 'label' column"),
        ("b.csv", "item_id,annotator,label\n1,A,x\n2,,y\n", 3, "no annotator"),
        ("c.csv", "item_id,annotator,label\n1,A,x\n1,B,y\n1,A,z\n", 4, "already labelled"),
        ("d.jsonl", '{"item_id": 1, "annotator": "A", "label": "x"}\n{"item_id": 2,\n', 2, "JSON"),
        ("e.jsonl", '{"item_id": 1, "annotator": "A", "label": "x"}\n[1, "A", "x"]\n', 2, "object"),
        ("f.csv", "item_id,annotator,label\n1,A,1.5\n1,B,high\n", 3, "not a number"),
    ],
)
def test_bad_input_files_name_the_file_and_line(tmp_path, name, content, where, reason):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    args = ["--level", "interval"] if name.startswith("f") else []
    result = invoke("agreement", "--input", path, *args, "--json")
    assert result.exit_code == 2
    assert f"{path}:{where}: " in result.output and reason in result.output
    assert "Traceback" not in result.output


def test_text_ordinal_labels_without_an_order_are_refused(tmp_path):
    path = write_csv(tmp_path / "named.csv", ["item_id", "annotator", "label"], SINGLE)
    with pytest.raises(InputError, match="--order"):
        read_table_file(path, level="ordinal")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Give a project name or --input FILE"),
        (("round-1", "--input", "x.csv"), "not both"),
        (("--input", "x.csv", "--field", "severity"), "--field and --batch apply to projects"),
        (("round-1", "--level", "ordinal"), "--level and --order apply to --input files"),
        (("round-1", "--screenshot"), "--screenshot needs --format html"),
        (("round-1", "--json", "--format", "html"), "do not go together"),
    ],
)
def test_options_that_do_not_go_together_are_refused(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke("agreement", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


# -- projects in the store -------------------------------------------------------------------------


def test_project_table_uses_the_latest_valid_annotation_of_each_annotator(database_url):
    store = open_store(database_url)
    try:
        filled = fill_project(store)
        table = project_table(store, "round-1", "category")
        assert sorted(table.rows, key=repr) == sorted(filled.field_rows("category"), key=repr)
        assert table.n_dropped_items == filled.n_single_items == 3
        assert table.gold == filled.gold
        assert table.multiple and table.labels == CATEGORY_LABELS
        assert any("replaced" in note for note in table.notes)

        batch = filled.batches[1]
        in_batch = project_table(store, "round-1", "severity", batch=batch)
        assert in_batch.level == "ordinal" and in_batch.labels == ("low", "medium", "high")
        assert {item for item, _, _ in in_batch.rows} == {
            item for item, _, _ in filled.field_rows("severity") if filled.batch_of[item] == batch
        }
        flags = project_table(store, "round-1", "needs_expert")
        assert {value for _, _, value in flags.rows} <= {False, True}
    finally:
        store.dispose()


@pytest.fixture
def project_args(tmp_path, monkeypatch):
    """CLI arguments for a workspace whose store holds the filled project ``round-1``."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/annotate.db"
    store = open_store(url)
    filled = fill_project(store)
    store.dispose()
    return filled, ["--database-url", url, "--workspace", str(tmp_path / ".annotate")]


def test_project_json_matches_the_core_on_the_stored_rows(project_args):
    filled, root = project_args
    result = invoke(*root, "agreement", "round-1", "--json", "--no-ci")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    rows = filled.field_rows("category")
    expected = summarise(rows, labels=CATEGORY_LABELS, ci=False).as_dict()
    for key in HEADLINE:
        assert same(document[key], expected[key]), key
    per_label = multilabel_agreement(rows, labels=CATEGORY_LABELS).per_label
    assert same(document["per_label"], [row.as_dict() for row in per_label])
    assert document["n_dropped_items"] == filled.n_single_items
    annotators = {row["annotator"]: row for row in document["annotators"]}
    assert annotators["ann-4"]["outlier"] and not annotators["ann-1"]["outlier"]
    assert sum(row["n_gold"] for row in annotators.values()) == 3  # the gold post's annotators
    assert len(document["trend"]) == 2


def test_project_table_format_shows_headline_label_and_annotator_tables(project_args):
    _, root = project_args
    result = invoke(*root, "agreement", "round-1", "--field", "severity", "--no-ci")
    assert result.exit_code == 0, result.output
    for text in ("Krippendorff's alpha (ordinal)", "per label", "per annotator", "ann-4"):
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuch",), "There is no project 'nosuch'"),
        (("round-1", "--field", "nope"), "has no field 'nope'"),
        (("round-1", "--field", "rationale"), "free text"),
        (("round-1", "--batch", "999"), "has no batch 999"),
        (("round-1", "--min-annotators", "9"), "No item of project round-1 has 9 or more"),
    ],
)
def test_project_mistakes_get_one_clear_sentence(project_args, args, message):
    _, root = project_args
    result = invoke(*root, "agreement", *args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_labels_the_taxonomy_no_longer_has_are_kept_at_the_end(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/annotate.db")
    try:
        fill_project(store)
        with store.transaction() as session:
            session.add(Post(source="demo", post_id="old", text="旧", text_hash="old", lang="zh"))
        rows = [(("demo", "old"), who, {"category": ["rumour_v0"]}) for who in ANNOTATORS[:2]]
        record_annotations(store, "round-1", rows)
        table = project_table(store, "round-1", "category")
        assert table.labels == (*CATEGORY_LABELS, "rumour_v0")
        assert sum(value == {"rumour_v0"} for _, _, value in table.rows) == 2
    finally:
        store.dispose()


def test_json_can_go_to_a_file(tmp_path):
    path = write_csv(tmp_path / "labels.csv", ["item_id", "annotator", "label"], SINGLE)
    out = tmp_path / "out" / "agreement.json"
    result = invoke("agreement", "--input", path, "--format", "json", "--out", out, "--no-ci")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["n_items"] == 11
