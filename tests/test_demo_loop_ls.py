"""`annotate demo-loop` (what `make demo` runs), end to end against the real Label Studio: it
ends with the next-steps block, and the dataset it names loads."""

from __future__ import annotations

import datasets
import pytest

from tests.cli import run

pytestmark = pytest.mark.labelstudio


def test_demo_loop_ends_with_next_steps_and_publishes_a_loadable_version(label_studio, tmp_path):
    env = {
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.token,
        "ANNOTATE_WORKSPACE": "",
        "ANNOTATE_EXPORTS": "",
        "ANNOTATE_DATABASE_URL": "",
    }
    workspace = tmp_path / "demo" / ".annotate"
    result = run("--workspace", workspace, "demo-loop", "--batch-size", "40", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.rstrip("\n").splitlines()
    start = lines.index("Next steps")
    block = lines[start:]
    assert block[-1].startswith("  Next batch")
    labelled = {line.split("  ")[1].strip() for line in block[1:] if line.strip()}
    assert {"Label Studio", "Agreement report", "Dataset", "Load it"} <= labelled
    # Nothing after the block but the block: posts stats and tables come before it.
    assert any("posts stats" in line for line in lines[:start])
    assert label_studio.token not in result.stdout + result.stderr

    load_line = next(line for line in block if "Load it" in line)
    path = load_line.split('load_dataset("')[1].rstrip('")')
    assert path.startswith(str(tmp_path / "demo" / "exports" / "registry"))
    loaded = datasets.load_dataset(path)
    assert set(loaded) == {"train", "validation", "test"}
    assert sum(len(split) for split in loaded.values()) > 0


def test_demo_loop_model_round_publishes_the_next_version_with_both_evaluations(
    label_studio, tmp_path, monkeypatch
):
    """After 1.0.0: the baseline is trained and evaluated, activelab samples the next batch
    with the model's suggestions (none on the overlap cohort), the simulated team labels it,
    and 1.1.0 is published and evaluated beside 1.0.0."""
    from label_studio_sdk import LabelStudio
    from sqlmodel import select

    from annotate import Workspace
    from annotate.store import Batch, Project, Task

    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_EXPORTS", "ANNOTATE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.chdir(tmp_path)
    with Workspace.init(tmp_path / "demo" / ".annotate", say=lambda _: None) as ws:
        summary = ws.demo_loop(batch_size=40)
        model = summary.model
        assert model["first"]["dataset"] == "financial-misinfo-demo@1.0.0"
        assert model["next"]["dataset"] == "financial-misinfo-demo@1.1.0"
        assert summary.published["version"] == "1.1.0"
        evaluations = tmp_path / "demo" / "exports" / "evaluations"
        reports = sorted(path.name for path in evaluations.glob("*.html"))
        assert reports == [
            "financial-misinfo-demo-1.0.0-test.html",
            "financial-misinfo-demo-1.1.0-test.html",
        ]
        for version in ("1.0.0", "1.1.0"):
            path = tmp_path / "demo" / "exports" / "registry" / "financial-misinfo-demo" / version
            assert sum(len(split) for split in datasets.load_dataset(str(path)).values()) > 0

        with ws.store.session() as session:
            batch = session.exec(select(Batch).where(Batch.strategy == "activelab")).one()
            project = session.exec(select(Project).where(Project.name == "demo round")).one()
            tasks = session.exec(select(Task).where(Task.batch_id == batch.id)).all()
        version = "baseline@financial-misinfo-demo-1.0.0"
        assert batch.params["model"]["model_version"] == version
        assert set(batch.params["scores"]) >= set(batch.params["post_ids"])
        client = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
        overlaps = ws.label_studio.task_overlaps(project.ls_project_id)
        suggested = 0
        for task in tasks:
            found = list(client.predictions.list(task=task.ls_task_id))
            if overlaps[task.ls_task_id] > 1:
                assert found == [] and task.suggested_by is None
            else:
                assert [item.model_version for item in found] == [version]
                suggested += 1
        assert suggested > 0
        assert model["annotations"] > 0
        assert model["suggestion_effect"]["suggested_annotations"] > 0
