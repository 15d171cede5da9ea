"""The taxonomy: loading and its errors, rendering, mapping Label Studio results, rules, diff."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from label_studio_sdk.label_interface import LabelInterface

from annotate.taxonomy import (
    RENDERED_FILE,
    TaxonomyError,
    check_rules,
    diff_taxonomies,
    guidelines_html,
    labels_from_result,
    load_taxonomy,
    packaged_label_config,
    parse_taxonomy,
    render_label_config,
    repair_span,
    result_from_labels,
)
from tests.cli import invoke

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY = ROOT / "label_config" / "taxonomy.yaml"
VIOLATIONS = [
    "fabricated_rumour",
    "policy_distortion",
    "market_badmouthing",
    "illegal_securities",
    "extortion",
    "impersonation",
    "incitement",
]
POST = "#某银行# 内部人士😱透露：某城商行明天暂停取款！赶紧去取钱 http://t.cn/A6xYz12 𠀀"


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy(TAXONOMY)


def document():
    return yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))


def parse(data):
    return parse_taxonomy(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "t.yaml")


# --------------------------------------------------------------------------- loading


def test_default_taxonomy_has_the_fields_and_labels_the_issue_names(taxonomy):
    assert [item.name for item in taxonomy.fields] == [
        "category",
        "severity",
        "evidence",
        "confidence",
        "needs_expert",
        "rationale",
    ]
    category = taxonomy.field("category")
    assert category.multiple and category.required
    assert list(category.label_ids) == [*VIOLATIONS, "legitimate", "not_financial"]
    assert {label.id for label in category.labels if label.exclusive} == {
        "legitimate",
        "not_financial",
    }
    assert taxonomy.field("severity").label_ids == ("low", "medium", "high")
    assert list(taxonomy.field("severity").required_when.any_of) == VIOLATIONS
    assert taxonomy.field("evidence").label_ids == (
        "misleading_claim",
        "fake_source",
        "call_to_action",
    )
    assert taxonomy.field("confidence").label_ids == ("1", "2", "3")
    for label in category.labels:
        assert label.zh and label.en and label.definition and label.hotkey
        assert label.include and label.exclude and 1 <= len(label.examples) <= 2


def test_packaged_copy_is_the_repository_copy():
    packaged = packaged_label_config()
    for name in ("taxonomy.yaml", "guidelines.md", RENDERED_FILE):
        assert (packaged / name).read_bytes() == (TAXONOMY.parent / name).read_bytes()


def test_content_hash_is_stable_and_changes_with_any_edit(taxonomy):
    assert load_taxonomy(TAXONOMY).content_hash == taxonomy.content_hash
    data = document()
    data["fields"][0]["labels"][0]["examples"] = ["另一个例子"]
    assert parse(data).content_hash != taxonomy.content_hash


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(version="1.0"), "not a semantic version"),
        (lambda d: d["fields"][0]["labels"][1].update(id="fabricated_rumour"), "repeats label id"),
        (lambda d: d["fields"][1]["labels"][0].update(hotkey="1"), "hotkey '1' is used by"),
        (lambda d: d["fields"][1]["labels"][0].update(hotkey="u"), "used by Label Studio"),
        (lambda d: d["fields"][1]["required_when"].update(any_of=["nope"]), "unknown label 'nope'"),
        (lambda d: d["fields"][1]["labels"][0].update(exclusive=True), "exclusive labels need"),
        (lambda d: d["fields"][0]["labels"][0].update(colour="red"), "Extra inputs"),
        (lambda d: d["fields"][5].update(kind="choices"), "needs labels"),
        (lambda d: d["fields"].append(dict(d["fields"][5])), "defined twice"),
    ],
)
def test_invalid_taxonomies_are_refused_with_a_line(edit, message):
    data = document()
    edit(data)
    with pytest.raises(TaxonomyError, match=message) as caught:
        parse(data)
    assert str(caught.value).startswith("t.yaml:")
    assert str(caught.value).split(":")[1].isdigit(), str(caught.value)


def test_error_points_at_the_offending_line(tmp_path):
    text = TAXONOMY.read_text(encoding="utf-8").replace('hotkey: "2"', 'hotkey: "1"', 1)
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TaxonomyError, match="hotkey '1' is used by") as caught:
        load_taxonomy(path)
    line = int(str(caught.value).split(":")[1])
    assert text.splitlines()[line - 1].strip() == 'hotkey: "1"'
    assert line == text.splitlines().index('        hotkey: "1"', 60) + 1


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nversion: [1.0.0\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_taxonomy(path)


# ------------------------------------------------------------------------- rendering


def test_rendered_file_is_not_stale(taxonomy):
    rendered = (TAXONOMY.parent / RENDERED_FILE).read_text(encoding="utf-8")
    assert rendered == render_label_config(taxonomy) + "\n", (
        "label_config/financial_misinfo.xml is stale: run "
        "annotate taxonomy render --out label_config/financial_misinfo.xml"
    )


def test_rendered_config_is_valid_for_label_studio(taxonomy):
    config = render_label_config(taxonomy)
    interface = LabelInterface(config)
    interface.validate()
    root = ET.fromstring(config)
    category = root.find(".//Choices[@name='category']")
    assert category.get("choice") == "multiple" and category.get("required") == "true"
    first = category.find("Choice")
    assert first.get("value") == "fabricated_rumour"
    assert first.get("hotkey") == "1"
    assert "编造、传播金融谣言" in first.get("html") and "Fabricated" in first.get("html")
    assert "bank runs" in first.get("hint")
    severity = root.find(".//View[@className='annotate-field annotate-severity']")
    assert severity.get("visibleWhen") == "choice-selected"
    assert severity.get("whenChoiceValue").split(",") == VIOLATIONS
    assert root.find(".//Labels[@name='evidence']") is not None
    assert root.find(".//Text[@name='text']").get("value") == "$text"
    shown = {header.get("value") for header in root.iter("Header")}
    assert {"$platform", "$created_at", "$account"} <= shown


def test_markup_in_the_taxonomy_is_escaped():
    data = document()
    nasty = "A <b>&amp; \"quoted\" 'label'</b> <script>alert(1)</script>"
    data["fields"][0]["labels"][0].update(en=nasty, zh="<谣言>&")
    data["fields"][0]["labels"][0]["definition"]["en"] = nasty
    data["title"]["en"] = nasty
    config = render_label_config(parse(data))
    root = ET.fromstring(config)  # well-formed XML
    LabelInterface(config).validate()
    choice = root.find(".//Choice[@value='fabricated_rumour']")
    # The html attribute is HTML: the label's own markup must arrive as text, not tags.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in choice.get("html")
    assert "<script>" not in choice.get("html")
    assert "&lt;谣言&gt;&amp;" in choice.get("html")
    assert choice.get("hint").endswith(nasty)


def test_guidelines_become_html_without_raw_html():
    rendered = guidelines_html(
        "# 标题 / Title\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n"
    )
    assert "<h1>标题 / Title</h1>" in rendered
    assert "<script>" not in rendered
    assert "<table>" in rendered
    real = guidelines_html((TAXONOMY.parent / "guidelines.md").read_text(encoding="utf-8"))
    assert "fabricated_rumour" in real and "<script" not in real


# --------------------------------------------------------------------------- mapping


FULL = {
    "category": ["fabricated_rumour", "incitement"],
    "severity": "high",
    "evidence": [
        {"start": 6, "end": 12, "label": "fake_source", "text": POST[6:12]},
        {"start": 25, "end": 30, "label": "call_to_action", "text": POST[25:30]},
    ],
    "confidence": "3",
    "needs_expert": True,
    "rationale": "假冒内部消息并号召挤兑",
}


def test_labels_round_trip_through_label_studio_results(taxonomy):
    result = result_from_labels(taxonomy, FULL, POST)
    interface = LabelInterface(render_label_config(taxonomy))
    assert interface.validate_annotation({"result": result})
    assert interface.validate_prediction({"result": result, "score": 0.9})
    mapped = labels_from_result(taxonomy, result, POST)
    assert mapped.problems == []
    assert mapped.labels == FULL


def test_empty_answers_map_to_empty_values(taxonomy):
    mapped = labels_from_result(taxonomy, [], POST)
    assert mapped.labels == {
        "category": [],
        "severity": None,
        "evidence": [],
        "confidence": None,
        "needs_expert": False,
        "rationale": None,
    }


def test_unknown_labels_and_fields_are_reported_not_dropped(taxonomy):
    result = [
        {"from_name": "category", "type": "choices", "value": {"choices": ["rumour_v0"]}},
        {"from_name": "mood", "type": "choices", "value": {"choices": ["angry"]}},
        {
            "from_name": "evidence",
            "type": "labels",
            "value": {"start": 0, "end": 3, "text": POST[:3], "labels": ["hype"]},
        },
    ]
    mapped = labels_from_result(taxonomy, result, POST)
    assert mapped.unknown["category"] == ["rumour_v0"]
    assert mapped.unknown["mood"] == [{"choices": ["angry"]}]
    assert mapped.unknown["evidence"][0]["labels"] == ["hype"]
    assert len(mapped.problems) == 3
    assert mapped.labels["category"] == []


def test_spans_in_utf16_units_are_repaired(taxonomy):
    start = POST.index("明天")
    end = start + 4
    # Label Studio's old front end counted UTF-16 units: 😱 (astral) counts twice.
    utf16_start = len(POST[:start].encode("utf-16-le")) // 2
    utf16_end = len(POST[:end].encode("utf-16-le")) // 2
    assert utf16_start == start + 1
    value = {"start": utf16_start, "end": utf16_end, "text": "明天暂停", "labels": ["fake_source"]}
    mapped = labels_from_result(taxonomy, [{"from_name": "evidence", "value": value}], POST)
    assert mapped.labels["evidence"] == [
        {"start": start, "end": end, "label": "fake_source", "text": "明天暂停"}
    ]
    assert "repaired" in mapped.problems[0]


def test_span_after_an_astral_ideograph_is_repaired():
    text = "𠀀𠀀谣言"
    assert repair_span(text, 4, 6, "谣言") == (2, 4)
    assert repair_span(text, 2, 4, "谣言") == (2, 4)


def test_mismatching_span_is_reported(taxonomy):
    value = {"start": 0, "end": 2, "text": "不存在的文字", "labels": ["misleading_claim"]}
    mapped = labels_from_result(taxonomy, [{"from_name": "evidence", "value": value}], POST)
    assert "does not match" in mapped.problems[0]
    assert mapped.labels["evidence"][0]["text"] == "不存在的文字"


def test_result_from_unknown_label_is_refused(taxonomy):
    with pytest.raises(ValueError, match="unknown label"):
        result_from_labels(taxonomy, {"category": ["nope"]})
    with pytest.raises(ValueError, match="unknown field"):
        result_from_labels(taxonomy, {"mood": "x"})


# ----------------------------------------------------------------------------- rules


def test_rules(taxonomy):
    assert check_rules(taxonomy, FULL) == []
    assert check_rules(taxonomy, {"category": ["legitimate"], "confidence": "2"}) == []
    labels = {"category": ["legitimate", "incitement"], "severity": "low", "confidence": "1"}
    assert check_rules(taxonomy, labels) == ["category legitimate cannot be chosen with incitement"]
    problems = check_rules(taxonomy, {"category": ["extortion"], "confidence": "1"})
    assert problems == ["severity is required when category is extortion"]
    assert check_rules(taxonomy, {}) == ["category is required", "confidence is required"]


# ------------------------------------------------------------------------------ diff


def bumped(data, version):
    data["version"] = version
    return parse(data)


def test_identical_taxonomies_need_no_bump(taxonomy):
    difference = diff_taxonomies(taxonomy, load_taxonomy(TAXONOMY))
    assert difference.required_bump == "none" and not difference.breaking


def test_cli_diff_of_a_file_with_itself_says_no_change():
    result = invoke("taxonomy", "diff", TAXONOMY, TAXONOMY)
    assert result.exit_code == 0, result.output
    assert "No change: the two taxonomies are the same." in result.stderr
    assert "none" not in result.stderr


def test_a_pure_rename_does_not_report_the_rule_that_names_the_label(taxonomy):
    data = document()
    data["fields"][0]["labels"][4].update(id="extortion_by_media", previous_ids=["extortion"])
    rule = data["fields"][1]["required_when"]["any_of"]
    rule[rule.index("extortion")] = "extortion_by_media"
    difference = diff_taxonomies(taxonomy, bumped(data, "2.0.0"))
    assert difference.renamed_labels == {"category": [("extortion", "extortion_by_media")]}
    assert difference.breaking_changes == [
        "label category.extortion was renamed to extortion_by_media"
    ]
    assert not any("required_when" in change for change in difference.wording)


def test_a_rule_asking_for_more_is_breaking_and_for_less_is_not(taxonomy):
    data = document()
    rule = data["fields"][1]["required_when"]["any_of"]
    rule.remove("incitement")
    looser = diff_taxonomies(taxonomy, bumped(data, "1.1.0"))
    assert not looser.breaking and looser.required_bump == "minor"
    rule.append("legitimate")
    stricter = diff_taxonomies(taxonomy, bumped(data, "2.0.0"))
    assert stricter.breaking_changes == ["field 'severity' has a new required_when rule"]


def test_added_label_is_minor(taxonomy):
    data = document()
    data["fields"][0]["labels"].insert(
        7, {"id": "ponzi_scheme", "zh": "庞氏骗局", "en": "Ponzi scheme", "hotkey": "0"}
    )
    difference = diff_taxonomies(taxonomy, bumped(data, "1.1.0"))
    assert difference.added_labels == {"category": ["ponzi_scheme"]}
    assert not difference.breaking
    assert difference.required_bump == "minor" and difference.version_ok


def test_removed_label_is_breaking(taxonomy):
    data = document()
    del data["fields"][0]["labels"][4]  # extortion
    data["fields"][1]["required_when"]["any_of"].remove("extortion")
    difference = diff_taxonomies(taxonomy, bumped(data, "1.1.0"))
    assert difference.removed_labels == {"category": ["extortion"]}
    assert difference.breaking and difference.required_bump == "major"
    assert not difference.version_ok
    assert diff_taxonomies(taxonomy, bumped(data, "2.0.0")).version_ok


def test_rename_by_previous_ids_and_by_name(taxonomy):
    data = document()
    data["fields"][0]["labels"][0].update(id="financial_rumour", previous_ids=["fabricated_rumour"])
    data["fields"][1]["required_when"]["any_of"][0] = "financial_rumour"
    data["fields"][2]["labels"][1]["id"] = "invented_source"  # same zh/en names
    difference = diff_taxonomies(taxonomy, bumped(data, "2.0.0"))
    assert difference.renamed_labels == {
        "category": [("fabricated_rumour", "financial_rumour")],
        "evidence": [("fake_source", "invented_source")],
    }
    assert difference.added_labels == {} and difference.removed_labels == {}
    assert difference.breaking


def test_wording_change_is_a_patch(taxonomy):
    data = document()
    data["fields"][0]["labels"][2]["definition"]["en"] = "Reworded definition."
    difference = diff_taxonomies(taxonomy, bumped(data, "1.0.1"))
    assert difference.required_bump == "patch" and not difference.breaking
    assert difference.wording == ["label category.market_badmouthing"]
    assert not diff_taxonomies(taxonomy, bumped(data, "1.0.0")).version_ok


def test_stricter_rules_and_kind_changes_are_breaking(taxonomy):
    data = document()
    data["fields"][0]["labels"][6]["exclusive"] = True
    data["fields"][5]["required"] = True
    data["fields"][0]["multiple"] = False
    for label in data["fields"][0]["labels"]:
        label.pop("exclusive", None)
    difference = diff_taxonomies(taxonomy, bumped(data, "2.0.0"))
    joined = "; ".join(difference.breaking_changes)
    assert "changed from choices multiple to choices" in joined
    assert "'rationale' became required" in joined


def test_cli_diff_and_validate(tmp_path):
    data = document()
    del data["fields"][0]["labels"][4]
    data["fields"][1]["required_when"]["any_of"].remove("extortion")
    data["version"] = "1.1.0"
    new = tmp_path / "taxonomy.yaml"
    new.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = invoke("taxonomy", "diff", TAXONOMY, new, "--json")
    assert result.exit_code == 1, result.output  # the declared bump (minor) is not enough
    data = json.loads(result.stdout)
    assert data["breaking"] is True and data["version_ok"] is False
    human = invoke("taxonomy", "diff", TAXONOMY, new)
    assert human.exit_code == 1
    assert "BREAKING" in human.stderr and "category.extortion" in human.stdout
    assert "(NOT enough)" in human.stderr
    document_data = yaml.safe_load(new.read_text(encoding="utf-8"))
    document_data["version"] = "2.0.0"
    new.write_text(yaml.safe_dump(document_data, allow_unicode=True, sort_keys=False), "utf-8")
    enough = invoke("taxonomy", "diff", TAXONOMY, new)
    assert enough.exit_code == 0, enough.output
    assert "(enough)" in enough.stderr
    valid = invoke("taxonomy", "validate", TAXONOMY, "--json")
    assert json.loads(valid.stdout)["labels"] == 18
    assert invoke("taxonomy", "render", TAXONOMY, "--check").exit_code == 0
    rendered = invoke("taxonomy", "render", TAXONOMY, "--json")
    assert rendered.exit_code == 0, rendered.output
    printed = invoke("taxonomy", "render", TAXONOMY).stdout
    assert json.loads(rendered.stdout)["label_config"] == printed
    checked = json.loads(invoke("taxonomy", "render", TAXONOMY, "--check", "--json").stdout)
    assert checked["up_to_date"] is True and checked["rendered"].endswith(".xml")
    stale = tmp_path / "stale.xml"
    stale.write_text("<View/>\n")
    check = invoke("taxonomy", "render", TAXONOMY, "--check", "--out", stale)
    assert check.exit_code != 0 and "is stale" in check.stderr
