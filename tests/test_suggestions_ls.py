"""Pre-annotations and re-labels in the real Label Studio (store on SQLite and PostgreSQL):
predictions appear on the tasks with the model's version, none on the overlap cohort, the
store records them, annotators' acceptance is counted, and ActiveLab's re-labels raise a
task's overlap on the server."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from annotate import Workspace
from annotate.store import Task
from tests.cli import invoke
from tests.loop_fixtures import annotate_as, labels
from tests.model_stub import HashModel

pytestmark = pytest.mark.labelstudio


def _predictions(loop) -> dict[int, list[dict]]:
    """Each task's predictions as Label Studio holds them."""
    tasks = loop.connection.task_overlaps(loop.ls_project_id)
    return {
        task: [item.model_dump() for item in loop.client.predictions.list(task=task)]
        for task in tasks
    }


def _suggested(loop) -> dict[int, dict]:
    with loop.store.session() as session:
        rows = session.exec(select(Task.ls_task_id, Task.suggested_by, Task.suggestion)).all()
    return {ls_id: {"by": by, "suggestion": given} for ls_id, by, given in rows}


def test_predictions_reach_the_tasks_outside_the_overlap_cohort(loop, monkeypatch):
    model = HashModel()
    monkeypatch.setattr("annotate.suggestions.load_model", lambda given: model)
    done = invoke(
        "sample", loop.name, "--size", "40", "--seed", "3", "--pre-annotate", "m", "--json"
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)["suggestions"]
    overlaps = loop.connection.task_overlaps(loop.ls_project_id)
    cohort = {task for task, overlap in overlaps.items() if overlap > 1}
    assert len(overlaps) == 40 and cohort, overlaps  # the project asks 3 annotators of 50%
    assert report["suggested"] == 40 - len(cohort) and report["overlap_cohort"] == len(cohort)

    predictions = _predictions(loop)
    stored = _suggested(loop)
    for task in overlaps:
        if task in cohort:
            assert predictions[task] == [] and stored[task]["by"] is None
            continue
        (prediction,) = predictions[task]
        assert prediction["model_version"] == "hash@test-1.0.0"
        assert stored[task]["by"] == "hash@test-1.0.0"
        chosen = [
            choice
            for region in prediction["result"]
            if region["from_name"] == "category"
            for choice in region["value"]["choices"]
        ]
        assert sorted(chosen) == sorted(stored[task]["suggestion"]["labels"])
        assert prediction["score"] == pytest.approx(stored[task]["suggestion"]["score"])

    # Again: nothing doubled; with --suggest-overlap the cohort gets them too.
    pushed = invoke("push", loop.name, "--pre-annotate", "m", "--json")
    assert pushed.exit_code == 0, pushed.output
    again = json.loads(pushed.stdout)["suggestions"]
    assert again["suggested"] == 0 and again["already"] == report["suggested"]
    ws = Workspace.open(loop.folder / ".annotate")
    everything = ws.pre_annotate(loop.name, model, overlap_cohort=True)
    assert everything.suggested == len(cohort)
    assert all(len(found) == 1 for found in _predictions(loop).values())


def test_acceptance_and_relabels_are_counted_on_the_server(loop, monkeypatch):
    model = HashModel()
    ws = Workspace.open(loop.folder / ".annotate")
    ws.sample(loop.name, 30, seed=4, pre_annotate=model)
    stored = _suggested(loop)
    suggested = sorted(task for task, row in stored.items() if row["by"])
    plain = sorted(task for task, row in stored.items() if not row["by"])
    first, second = loop.users(2)
    accepted = suggested[:6]
    for task in accepted:  # both take the suggestion as it is
        for user in (first, second):
            annotate_as(loop.client, user, task, labels(stored[task]["suggestion"]["labels"]))
    for task in suggested[6:10]:  # both choose something the model did not suggest
        other = (
            "not_financial"
            if stored[task]["suggestion"]["labels"] != ["not_financial"]
            else "legitimate"
        )
        for user in (first, second):
            annotate_as(loop.client, user, task, labels([other]))
    for task in plain[:6]:
        annotate_as(loop.client, first, task, labels(["legitimate"]))
        annotate_as(loop.client, second, task, labels(["not_financial"]))
    ws.pull(loop.name)
    effect = ws.suggestion_effect(loop.name)
    assert effect.suggested_annotations == 20 and effect.accepted == 12
    assert effect.acceptance_rate == pytest.approx(0.6)
    assert effect.models == ["hash@test-1.0.0"]
    assert effect.with_suggestions.items_measured == 10
    assert effect.without_suggestions.items_measured == 6
    assert effect.without_suggestions.alpha_masi < effect.with_suggestions.alpha_masi
    shown = invoke("agreement", loop.name, "--suggestions", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == json.loads(json.dumps(effect.as_dict()))
    table = invoke("agreement", loop.name, "--suggestions")
    assert "12 of 20 annotations (60%)" in table.stderr + table.stdout

    # ActiveLab: posts labelled so far may get one more annotator; their task asks for it.
    result = ws.sample(loop.name, 25, strategy="activelab", model=model, seed=4)
    relabels = result.selection["relabel"]
    assert len(result.selection["picks"]) + len(relabels) == 25
    assert result.selection["relabel_requested"] == len(relabels)
    overlaps = loop.connection.task_overlaps(loop.ls_project_id)
    for relabel in relabels:
        assert overlaps[relabel["ls_task_id"]] == relabel["annotators"] + 1
    with loop.store.session() as session:
        batch_params = session.exec(select(Task.batch_id).where(Task.batch_id.is_not(None)))
        assert batch_params.all()
    recorded = result.batch.params
    assert recorded["model"]["model_version"] == "hash@test-1.0.0"
    assert set(recorded["scores"]) >= set(recorded["post_ids"])
