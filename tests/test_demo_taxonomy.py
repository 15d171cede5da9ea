"""The demo follows the taxonomy: a label added to taxonomy.yaml reaches the demo corpus and
the simulated annotators (with templates for it in the demo data file) or stops them with an
error that names the label."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from annotate.demo import TEMPLATES_FILE, DemoDataError, generate_posts, write_corpus
from annotate.simulation import DEFAULT_TEAM, simulate_labels
from annotate.taxonomy import Taxonomy, check_rules, load_taxonomy, result_from_labels
from tests.cli import invoke

ROOT = Path(__file__).resolve().parent.parent
NEW = "pump_and_dump"


def _dump(document: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return path


@pytest.fixture
def taxonomy_path(tmp_path: Path) -> Path:
    """A copy of the taxonomy with one more violation label, pump_and_dump."""
    document = yaml.safe_load((ROOT / "label_config" / "taxonomy.yaml").read_text("utf-8"))
    document["version"] = "1.1.0"
    fields = {item["name"]: item for item in document["fields"]}
    fields["category"]["labels"].insert(
        7,
        {
            "id": NEW,
            "zh": "拉高出货",
            "en": "Pump and dump",
            "definition": {"zh": "先推高股价再卖出。", "en": "Talking a stock up to sell it."},
            "hotkey": "0",
        },
    )
    fields["severity"]["required_when"]["any_of"].append(NEW)
    return _dump(document, tmp_path / "taxonomy.yaml")


@pytest.fixture
def taxonomy(taxonomy_path: Path) -> Taxonomy:
    return load_taxonomy(taxonomy_path)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of the demo data file with templates (and everything else) for pump_and_dump."""
    document = yaml.safe_load(TEMPLATES_FILE.read_text("utf-8"))
    document["shares"][NEW] = 8
    document["categories"]["illegal_securities"]["confused_with"].append(NEW)
    document["categories"][NEW] = {
        "pull": 2.2,
        "authors": {"stock_guru": 12, "rumour_mill": 3},
        "severity": {"low": 2, "medium": 8, "high": 10},
        "spreadable": True,
        "debunkable": False,
        "cashtag": True,
        "emoji_tone": "hype",
        "repost_tone": "violation",
        "confused_with": ["illegal_securities", "market_badmouthing"],
        "hashtags": {"zh": ["牛股", "{company}", "翻倍"], "en": ["ToTheMoon", "StockPicks"]},
        "templates": {
            "zh": (
                "{company}（{code}）主力已锁仓，明天开盘拉升{pct_big}%，拉完就跑，跟不跟随你！\n"
                "<+incitement> 全体上车{code}！一起把它拉到涨停，再一起出货，{contact}\n"
                "<!high> 庄家今晚对倒拉抬{company}，散户接盘前我们先出，名额{num}个。\n"
            ),
            "en": (
                "{company} ({code}): we pump it {pct_big}% at the open, then sell into the\n"
                "  buyers. Get in early. {contact}\n"
            ),
        },
    }
    return _dump(document, tmp_path / "templates.yaml")


def test_a_new_label_with_templates_reaches_the_corpus(taxonomy: Taxonomy, templates: Path) -> None:
    posts = list(generate_posts(3000, seed=1, taxonomy=taxonomy, templates=templates))
    labels = set(taxonomy.field("category").label_ids)
    counts = Counter(label for post in posts for label in post["true_labels"])
    assert set(counts) == labels  # every label of the new taxonomy, the new one included
    assert counts[NEW] >= 100
    new = [post for post in posts if NEW in post["true_labels"]]
    assert any(post["true_labels"] == [NEW, "incitement"] for post in new)
    assert {post["true_severity"] for post in new} == {"low", "medium", "high"}
    assert any(post["lang"] == "en" for post in new)


def test_simulated_annotators_answer_a_new_label(taxonomy: Taxonomy, templates: Path) -> None:
    posts = list(generate_posts(3000, seed=1, taxonomy=taxonomy, templates=templates))
    answers: dict[str, list[dict[str, Any]]] = {"new": [], "confused": []}
    for post in posts:
        truth = post["true_labels"]
        kind = "new" if NEW in truth else "confused" if "illegal_securities" in truth else None
        for annotator in DEFAULT_TEAM:
            answer = simulate_labels(
                annotator,
                post["post_id"],
                truth,
                post["true_severity"],
                taxonomy=taxonomy,
                templates=templates,
            )
            assert check_rules(taxonomy, answer) == [], answer
            assert result_from_labels(taxonomy, answer)  # every label is one the taxonomy has
            if kind is not None:
                answers[kind].append(answer)
    new = answers["new"]
    assert sum(NEW in answer["category"] for answer in new) >= 0.7 * len(new)
    assert {answer["severity"] for answer in new if NEW in answer["category"]} == {
        "low",
        "medium",
        "high",
    }
    # and annotators mistake a neighbouring label for it, as the copied data file says they do
    assert any(NEW in answer["category"] for answer in answers["confused"])


def test_simulated_annotators_name_a_label_they_cannot_answer(taxonomy: Taxonomy) -> None:
    with pytest.raises(DemoDataError, match=NEW):
        simulate_labels(DEFAULT_TEAM[0], "wb-0000001", [NEW], "high", taxonomy=taxonomy)
    with pytest.raises(DemoDataError, match="true label 'no_such_label'"):
        simulate_labels(DEFAULT_TEAM[0], "wb-0000001", ["no_such_label"], None)


def test_the_default_taxonomy_and_data_file_give_the_usual_corpus(tmp_path: Path) -> None:
    """Passing the packaged taxonomy and data file explicitly changes nothing."""
    packaged = load_taxonomy(ROOT / "annotate" / "label_config" / "taxonomy.yaml")
    explicit = generate_posts(500, seed=4, taxonomy=packaged, templates=TEMPLATES_FILE)
    assert list(explicit) == list(generate_posts(500, seed=4))


def test_a_new_label_without_templates_is_an_error_naming_it(
    taxonomy: Taxonomy, tmp_path: Path
) -> None:
    with pytest.raises(DemoDataError, match=f"no templates for category label '{NEW}'"):
        generate_posts(10, taxonomy=taxonomy)
    with pytest.raises(DemoDataError, match=NEW):
        write_corpus(tmp_path / "out" / "posts.jsonl", 10, taxonomy=taxonomy)
    assert not (tmp_path / "out" / "posts.jsonl").exists()


def test_a_label_the_taxonomy_dropped_is_an_error_naming_it(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "label_config" / "taxonomy.yaml").read_text("utf-8"))
    fields = {item["name"]: item for item in document["fields"]}
    category = fields["category"]
    category["labels"] = [label for label in category["labels"] if label["id"] != "incitement"]
    fields["severity"]["required_when"]["any_of"].remove("incitement")
    taxonomy = load_taxonomy(_dump(document, tmp_path / "taxonomy.yaml"))
    with pytest.raises(DemoDataError, match=r"'incitement', which taxonomy .* does not define"):
        generate_posts(10, taxonomy=taxonomy)


def test_demo_corpus_command_takes_a_taxonomy_and_templates(
    taxonomy_path: Path, templates: Path, tmp_path: Path
) -> None:
    out = tmp_path / "posts.jsonl"
    missing = invoke("demo-corpus", "--size", "20", "--out", out, "--taxonomy", taxonomy_path)
    assert missing.exit_code != 0
    assert missing.stderr.startswith("Error: ") and NEW in missing.stderr
    assert "Traceback" not in missing.output
    result = invoke(
        "demo-corpus", "--size", "20", "--out", out, "--taxonomy", taxonomy_path,
        "--templates", templates, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(out.read_text("utf-8").splitlines()) == 20
