"""What the people who read a version see: folder modes, `datasets show|diff|pull` output, the
card, posts left out, and the bump a taxonomy change needs (issue 12, points 6–8 and 16–19)."""

import json
import os
import stat

import pytest
import yaml
from huggingface_hub import DatasetCard

from annotate import Workspace
from annotate.errors import AnnotateError
from annotate.registry import features, publish, version_folder
from annotate.registry.card import FIELDS
from annotate.store import record_annotations
from annotate.taxonomy import TAXONOMY_FILE, packaged_label_config, parse_taxonomy
from tests.cli import invoke
from tests.test_publish import TAXONOMY, annotate_posts, workspace  # noqa: F401


def card_text(settings, name, version):
    return (version_folder(settings, name, version) / "README.md").read_text(encoding="utf-8")


def manifest_of(settings, name, version):
    return json.loads((version_folder(settings, name, version) / "manifest.json").read_text())


def no_aggregate_rows(posts):
    """Three annotators who each pick a different category: no label reaches a majority."""
    picks = ["fabricated_rumour", "extortion", "impersonation"]
    return [
        (post.id, f"ann-{n}", {"category": [label], "severity": "high"})
        for post in posts
        for n, label in enumerate(picks)
    ]


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask-022", "umask-002"])
def test_version_and_pulled_folders_follow_the_umask(workspace, tmp_path, umask, mask):  # noqa: F811
    settings, space, store, _ = workspace
    umask(mask)
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    folder = version_folder(settings, "finmis", "1.0.0")
    pulled = tmp_path / "pulled"
    assert invoke("datasets", "pull", "finmis@1.0.0", "--to", str(pulled)).exit_code == 0
    for root in (folder, pulled):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            expected = (0o777 if path.is_dir() else 0o666) & ~mask
            assert mode == expected, f"{path} is {mode:o}, not {expected:o}"
    secret = settings.workspace / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_pull_without_a_version_takes_the_newest_and_says_which(workspace, tmp_path):  # noqa: F811
    settings, space, store, posts = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    annotate_posts(store, "round-1", posts[500:520])
    publish(store, settings, space, "finmis", "1.1.0", projects=["round-1"])
    result = invoke("datasets", "pull", "finmis", "--to", str(tmp_path / "copy"))
    assert result.exit_code == 0, result.output
    assert "finmis 1.1.0 (the newest version)" in result.output
    assert manifest_of(settings, "finmis", "1.1.0")["version"] == "1.1.0"
    assert json.loads((tmp_path / "copy" / "manifest.json").read_text())["version"] == "1.1.0"
    as_json = json.loads(
        invoke("datasets", "pull", "finmis", "--to", str(tmp_path / "b"), "--json").stdout
    )
    assert as_json["version"] == "1.1.0" and as_json["newest"] is True
    named = json.loads(
        invoke("datasets", "pull", "finmis@1.0.0", "--to", str(tmp_path / "c"), "--json").stdout
    )
    assert named["version"] == "1.0.0" and named["newest"] is False
    shown = invoke("datasets", "show", "finmis")
    assert "finmis 1.1.0 (the newest version)" in shown.output


def test_show_renders_rows_and_diff_lists_relabelled_posts(workspace):  # noqa: F811
    settings, space, store, posts = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"], aggregation="majority")
    relabel = posts[3]
    record_annotations(
        store,
        "round-1",
        [
            (relabel.id, f"ann-extra{n}", {"category": ["extortion"], "severity": "high"})
            for n in range(5)
        ],
    )
    publish(store, settings, space, "finmis", "1.0.1", projects=["round-1"], aggregation="majority")
    shown = invoke("datasets", "show", "finmis@1.0.1")
    assert shown.exit_code == 0, shown.output
    assert "{'" not in shown.output and "': " not in shown.output  # no Python dicts
    assert "financial_misinfo 1.0.0" in shown.output and "dawid-skene" not in shown.output
    assert "majority" in shown.output and "1 items relabelled" in shown.output
    diff = invoke("datasets", "diff", "finmis@1.0.0", "finmis@1.0.1")
    assert diff.exit_code == 0, diff.output
    for column in ("post", "change", "before", "after"):
        assert column in diff.output
    row = next(line for line in diff.output.splitlines() if f"demo:{relabel.post_id}" in line)
    assert "relabelled" in row and "extortion (high)" in row
    assert "new minus old" in diff.output  # the label-count table says what its numbers are
    helped = invoke("datasets", "diff", "--help")
    assert "'before' and 'after'" in " ".join(helped.output.split())


def test_the_card_a_reader_needs(workspace):  # noqa: F811
    settings, space, store, posts = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"], aggregation="majority")
    text = card_text(settings, "finmis", "1.0.0")
    # License: explicit, and who decides; --license sets it.
    assert DatasetCard(text).data.license == "other"
    assert "decides the license" in text
    # Made from the demo corpus (the fixture's posts are demo posts with hidden true labels).
    assert "Made from the demo corpus" in text
    # The agreement as the report gives it: same interval, and its band.
    with Workspace.open(settings.workspace, say=lambda _: None) as ws:
        report = ws.agreement("round-1")
    alpha = report.summary.krippendorff_alpha
    low, high = alpha.ci.as_list()
    assert f"α = {alpha.value:.3f} (95% interval {low:.3f} – {high:.3f})" in text
    band = report.interpretation.band
    assert {
        "reliable": "reliable (α ≥ 0.800)",
        "tentative": "tentative conclusions only",
        "not reliable": "not reliable (α < 0.667)",
    }[band] in text
    # Every column explained, item_agreement's null among them.
    columns = list(features(TAXONOMY))
    assert [name for name, _, _ in FIELDS] == columns
    for column in columns:
        assert f"| `{column}` |" in text
    assert "null when fewer than two annotators" in text
    # Prose and tables, no raw JSON, no post ids.
    assert "```json" not in text and "demo:" not in text
    annotate_posts(store, "round-1", posts[500:520])
    publish(
        store,
        settings,
        space,
        "finmis",
        "1.1.0",
        projects=["round-1"],
        aggregation="majority",
        license="cc-by-4.0",
    )
    newer = card_text(settings, "finmis", "1.1.0")
    assert DatasetCard(newer).data.license == "cc-by-4.0" and "decides the license" not in newer
    added = manifest_of(settings, "finmis", "1.1.0")["changelog"]["added"]
    assert "Since 1.0.0: a minor version" in newer
    assert f"| added |  | {added} |" in newer
    assert "annotate datasets diff finmis@1.0.0 finmis@1.1.0" in newer
    assert "```json" not in newer and "demo:" not in newer


def test_a_card_of_real_posts_has_no_demo_note(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    posts = tmp_path / "posts.jsonl"
    posts.write_text(
        "\n".join(
            json.dumps({"post_id": str(n), "text": f"银行 {n} 存款利率 消息 {n * 7}"})
            for n in range(12)
        ),
        encoding="utf-8",
    )
    with Workspace.init(tmp_path / ".annotate", say=lambda _: None) as ws:
        ws.ingest(posts, source="demo")  # the demo's source name, without its true labels
        rows = [
            (("demo", str(n)), f"ann-{a}", {"category": ["legitimate"], "severity": None})
            for n in range(12)
            for a in range(2)
        ]
        ws.record_annotations("round-1", rows)
        ws.publish("real", "1.0.0", projects=["round-1"], aggregation="majority")
        text = card_text(ws.settings, "real", "1.0.0")
    assert "Made from the demo corpus" not in text


def test_posts_without_an_aggregate_are_counted_listed_and_bump_the_version(workspace):  # noqa: F811
    settings, space, store, posts = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"], aggregation="majority")
    orphans = posts[600:603]
    record_annotations(store, "round-1", no_aggregate_rows(orphans))
    result = invoke(
        "publish",
        "finmis",
        "--version",
        "1.1.0",
        "--project",
        "round-1",
        "--aggregation",
        "majority",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "left out: no aggregate" in result.output
    for post in orphans:
        assert f"demo:{post.post_id}" in result.output
    assert "no change in items or labels" not in result.output
    assert "Suggested bump: minor" in result.output
    assert "3 annotated posts left out with no aggregate" in result.output
    # Publishing a patch when posts were left out is refused; a minor goes through and records
    # them in the manifest, so the next version does not count them again.
    with pytest.raises(AnnotateError, match="needs a minor bump"):
        publish(
            store, settings, space, "finmis", "1.0.1", projects=["round-1"], aggregation="majority"
        )
    report = publish(
        store, settings, space, "finmis", "1.1.0", projects=["round-1"], aggregation="majority"
    )
    before = set(manifest_of(settings, "finmis", "1.0.0")["left_out"]["no_aggregate"])
    newly = set(report.left_out["no_aggregate"]) - before
    assert newly == {f"demo:{p.post_id}" for p in orphans}
    left_out = manifest_of(settings, "finmis", "1.1.0")["left_out"]["no_aggregate"]
    assert sorted(left_out) == sorted(report.left_out["no_aggregate"])
    again = publish(
        store,
        settings,
        space,
        "finmis",
        "1.1.1",
        projects=["round-1"],
        aggregation="majority",
        dry_run=True,
    )
    assert again.suggested_bump == "patch"


def changed_taxonomy(version: str, drop_label: str):
    """The packaged taxonomy declaring ``version``, without one category label (and without
    the rules that name it)."""
    data = yaml.safe_load((packaged_label_config() / TAXONOMY_FILE).read_text(encoding="utf-8"))
    data["version"] = version

    def without(node):
        if isinstance(node, dict):
            return {key: without(value) for key, value in node.items()}
        if isinstance(node, list):
            return [
                without(item)
                for item in node
                if item != drop_label
                and not (isinstance(item, dict) and item.get("id") == drop_label)
            ]
        return node

    return parse_taxonomy(yaml.safe_dump(without(data), allow_unicode=True))


@pytest.mark.parametrize("old_taxonomy_from", ["manifest", "store"])
def test_a_breaking_taxonomy_change_needs_a_major_version_whatever_it_declares(
    workspace,  # noqa: F811
    old_taxonomy_from,
):
    settings, space, store, posts = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"], aggregation="majority")
    if old_taxonomy_from == "store":  # a version published before manifests kept the taxonomy
        path = version_folder(settings, "finmis", "1.0.0") / "manifest.json"
        manifest = json.loads(path.read_text())
        del manifest["taxonomy_definition"]
        path.write_text(json.dumps(manifest))
    # Declared a minor version, but a label is gone: annotations made under 1.0.0 may not fit.
    taxonomy = changed_taxonomy("1.1.0", drop_label="impersonation")
    rows = [
        (post.id, f"ann-{a}", {"category": ["legitimate"], "severity": None})
        for post in posts[600:640]
        for a in range(3)
    ]
    record_annotations(store, "round-2", rows, taxonomy=taxonomy)
    with pytest.raises(AnnotateError, match="needs a major bump") as raised:
        publish(
            store, settings, space, "finmis", "1.1.0", projects=["round-2"], aggregation="majority"
        )
    assert "impersonation" in str(raised.value)
    report = publish(
        store, settings, space, "finmis", "2.0.0", projects=["round-2"], aggregation="majority"
    )
    change = report.changelog["taxonomy_change"]
    assert change["compared"] is True and change["required_bump"] == "major"
    assert any("impersonation" in reason for reason in change["breaking_changes"])
