"""Projects made from the taxonomy, against the real Label Studio test server."""

import json
import uuid
from pathlib import Path

import pytest
import yaml
from label_studio_sdk import LabelStudio
from label_studio_sdk.label_interface import LabelInterface
from sqlmodel import select

from annotate.labelstudio import LabelStudioError, Retry, connect_to
from annotate.store import Project, Taxonomy, open_store
from annotate.taxonomy import (
    labels_from_result,
    load_taxonomy,
    render_label_config,
    result_from_labels,
)
from tests.cli import invoke

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY = ROOT / "label_config" / "taxonomy.yaml"
# Chinese with emoji (😱, 🚨 are astral: two UTF-16 units each), an astral ideograph and markup.
POST = "🚨紧急通知😱：某城商行明天暂停取款！<script>alert(1)</script> 𠀀赶紧去取钱💰 #某银行#"


@pytest.fixture
def workspace(label_studio, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def client(label_studio):
    return LabelStudio(base_url=label_studio.url, api_key=label_studio.token)


def unique_name(prefix):
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def create(name, *args):
    result = invoke("project", "create", name, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_project_is_created_from_the_taxonomy(workspace, client):
    name = unique_name("round")
    info = create(name, "--annotators-per-task", "3", "--overlap", "0.4")
    server = client.projects.get(info["ls_project_id"])
    taxonomy = load_taxonomy(TAXONOMY)
    assert server.label_config == render_label_config(taxonomy)
    assert server.maximum_annotations == 3
    assert server.overlap_cohort_percentage == 40
    assert server.show_overlap_first is True
    assert taxonomy.ref in server.description
    assert "<h1>" in server.expert_instruction and "fabricated_rumour" in server.expert_instruction
    store = open_store("sqlite:///.annotate/annotate.db")
    with store.session() as session:
        project = session.exec(select(Project).where(Project.name == name)).one()
        row = session.get(Taxonomy, project.taxonomy_id)
    store.dispose()
    assert project.ls_project_id == info["ls_project_id"]
    assert (row.name, row.version, row.content_hash) == (
        taxonomy.name,
        taxonomy.version,
        taxonomy.content_hash,
    )
    listed = json.loads(invoke("project", "list", "--json").stdout)
    assert [p["name"] for p in listed] == [name]
    shown = json.loads(invoke("project", "show", name, "--live", "--json").stdout)
    assert shown["server"]["overlap_cohort_percentage"] == 40


def test_annotation_from_normalised_labels_round_trips_as_another_user(workspace, client):
    info = create(unique_name("roundtrip"))
    taxonomy = load_taxonomy(TAXONOMY)
    annotator = client.users.create(
        username=f"annotator-{uuid.uuid4().hex[:6]}",
        email=f"{uuid.uuid4().hex[:6]}@example.com",
        password=uuid.uuid4().hex,
    )
    task = client.tasks.create(
        project=info["ls_project_id"],
        data={"text": POST, "platform": "weibo", "created_at": "2024-10-01 08:00", "account": "x"},
    )
    start = POST.index("某城商行")
    action = POST.index("赶紧去取钱")
    labels = {
        "category": ["fabricated_rumour", "impersonation", "incitement"],
        "severity": "high",
        "evidence": [
            {"start": 1, "end": 5, "label": "fake_source", "text": POST[1:5]},
            {"start": start, "end": start + 10, "label": "misleading_claim"},
            {"start": action, "end": action + 5, "label": "call_to_action"},
        ],
        "confidence": "2",
        "needs_expert": False,
        "rationale": "冒充官方通知 <b>并</b> 号召挤兑",
    }
    result = result_from_labels(taxonomy, labels, POST)
    assert LabelInterface(render_label_config(taxonomy)).validate_annotation({"result": result})
    client.annotations.create(id=task.id, result=result, completed_by=annotator.id, lead_time=9.5)
    stored = list(client.annotations.list(id=task.id))
    assert [annotation.completed_by for annotation in stored] == [annotator.id]
    mapped = labels_from_result(taxonomy, stored[0].result, POST)
    assert mapped.problems == []
    for span in labels["evidence"]:
        span["text"] = POST[span["start"] : span["end"]]
    assert mapped.labels == labels
    assert mapped.labels["evidence"][0]["text"] == "紧急通知"


def write_taxonomy(folder, edit):
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    edit(data)
    folder.mkdir(exist_ok=True)
    path = folder / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def add_label(data):
    data["version"] = "1.1.0"
    data["fields"][0]["labels"].insert(
        7, {"id": "ponzi_scheme", "zh": "庞氏骗局", "en": "Ponzi scheme", "hotkey": "0"}
    )


def remove_label(data):
    data["version"] = "2.0.0"
    del data["fields"][0]["labels"][4]
    data["fields"][1]["required_when"]["any_of"].remove("extortion")


def test_sync_applies_compatible_changes(workspace, client):
    name = unique_name("sync")
    info = create(name)
    new = write_taxonomy(workspace / "v1_1", add_label)
    dry = invoke("project", "sync", name, "--taxonomy", new, "--dry-run", "--json")
    assert json.loads(dry.stdout)["diff"]["added_labels"] == {"category": ["ponzi_scheme"]}
    assert client.projects.get(info["ls_project_id"]).label_config == render_label_config(
        load_taxonomy(TAXONOMY)
    )
    applied = invoke("project", "sync", name, "--taxonomy", new, "--json")
    assert applied.exit_code == 0, applied.output
    server = client.projects.get(info["ls_project_id"])
    assert server.label_config == render_label_config(load_taxonomy(new))
    shown = json.loads(invoke("project", "show", name, "--offline", "--json").stdout)
    assert shown["taxonomy"].startswith("financial_misinfo 1.1.0")
    again = invoke("project", "sync", name, "--taxonomy", new, "--json")
    assert json.loads(again.stdout)["changed"] is False


def test_sync_refuses_breaking_change_on_annotated_project(workspace, client):
    name = unique_name("breaking")
    info = create(name)
    task = client.tasks.create(project=info["ls_project_id"], data={"text": "央行降准"})
    client.annotations.create(
        id=task.id,
        result=result_from_labels(
            load_taxonomy(TAXONOMY), {"category": ["legitimate"], "confidence": "3"}
        ),
    )
    new = write_taxonomy(workspace / "v2", remove_label)
    refused = invoke("project", "sync", name, "--taxonomy", new)
    assert refused.exit_code != 0
    assert "1 annotations and the taxonomy change is breaking" in refused.stderr
    assert "label category.extortion was removed" in refused.stderr
    assert "--force" in refused.stderr
    config = client.projects.get(info["ls_project_id"]).label_config
    assert config == render_label_config(load_taxonomy(TAXONOMY))
    # extortion was never used, so Label Studio itself accepts the change when forced.
    forced = invoke("project", "sync", name, "--taxonomy", new, "--force")
    assert forced.exit_code == 0, forced.output
    assert 'value="extortion"' not in client.projects.get(info["ls_project_id"]).label_config


def test_sync_refuses_a_change_without_a_version_bump(workspace):
    name = unique_name("bump")
    create(name)

    def unbumped(data):
        add_label(data)
        data["version"] = "1.0.0"

    new = write_taxonomy(workspace / "same", unbumped)
    refused = invoke("project", "sync", name, "--taxonomy", new)
    assert refused.exit_code != 0
    assert "Bump the version" in refused.stderr


def test_project_errors_are_one_sentence(workspace, label_studio):
    name = unique_name("dup")
    create(name)
    again = invoke("project", "create", name)
    assert again.exit_code != 0 and "already exists" in again.stderr
    bad_key = connect_to(label_studio.url, "not-a-token", Retry(attempts=1))
    with pytest.raises(LabelStudioError, match="refused the API key"):
        bad_key.get_project(1)
    sleeps = []
    unreachable = connect_to("http://127.0.0.1:9", "x", Retry(attempts=3, sleep=sleeps.append))
    with pytest.raises(LabelStudioError, match=r"127\.0\.0\.1:9 could not .* after 3 attempts"):
        unreachable.get_project(1)
    assert len(sleeps) == 2
