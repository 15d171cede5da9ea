"""Adjudication round trip against the real Label Studio test server."""

import uuid

import pytest
from label_studio_sdk import LabelStudio
from sqlmodel import select

from annotate import demo
from annotate.adjudication import adjudicate
from annotate.aggregation import ReasonKind
from annotate.batches import push, record_batch
from annotate.config import WorkspaceFolder, ensure_workspace, load_settings
from annotate.ingest import ingest_files
from annotate.labelstudio import connect_to
from annotate.post_labels import project_labels
from annotate.projects import create_project
from annotate.pull import pull
from annotate.store import Adjudication, Annotation, Annotator, Post, Project, Task, open_store
from annotate.taxonomy import load_taxonomy, result_from_labels

TAXONOMY = load_taxonomy()


def answer(category, severity=None, needs_expert=False):
    return result_from_labels(
        TAXONOMY,
        {
            "category": category,
            "severity": severity,
            "confidence": "2",
            "needs_expert": needs_expert,
        },
    )


@pytest.fixture
def project(label_studio, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "posts.jsonl"
    demo.write_corpus(corpus, size=50, seed=3)
    store = open_store(f"sqlite:///{tmp_path}/annotate.db")
    ingest_files(store, [corpus], source="demo")
    connection = connect_to(label_studio.url, label_studio.token)
    name = f"adj {uuid.uuid4().hex[:8]}"
    create_project(store, connection, name, annotators_per_task=3, overlap=1.0)
    with store.session() as session:
        pks = list(session.exec(select(Post.id).order_by(Post.id).limit(8)))
    record_batch(store, name, strategy="random", params={}, seed=1, post_pks=pks)
    push(store, connection, name)
    workspace = WorkspaceFolder(load_settings(workspace=tmp_path / ".annotate"))
    ensure_workspace(workspace.settings)
    client = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    yield store, connection, client, name, pks, workspace
    store.dispose()


def test_uncertain_items_are_decided_and_override_the_aggregate(project):
    store, connection, client, name, pks, workspace = project
    users = [
        client.users.create(
            username=f"a{uuid.uuid4().hex[:6]}", email=f"{uuid.uuid4().hex[:6]}@example.com"
        )
        for _ in range(3)
    ]
    with store.session() as session:
        ls_task = {pk: ls_id for pk, ls_id in session.exec(select(Task.post_pk, Task.ls_task_id))}
    agreed = pks[:4]
    for pk in agreed:
        for user in users:
            client.annotations.create(
                id=ls_task[pk], result=answer(["legitimate"]), completed_by=user.id
            )
    severity_split, expert_wanted = pks[4], pks[5]
    for user, severity in zip(users, ("low", "high", "low"), strict=True):
        client.annotations.create(
            id=ls_task[severity_split],
            result=answer(["fabricated_rumour"], severity),
            completed_by=user.id,
        )
    for number, user in enumerate(users):
        client.annotations.create(
            id=ls_task[expert_wanted],
            result=answer(["policy_distortion"], "medium", needs_expert=number == 0),
            completed_by=user.id,
        )
    pull(store, connection, name, pseudonymise=workspace.pseudonymise)

    report = adjudicate(store, connection, name, max_posterior=0.8, severity_gap=2)
    sent = {item["post_pk"]: item["reasons"] for item in report.items}
    assert set(sent) == {severity_split, expert_wanted}
    assert {"kind": "severity spread", "detail": "severity from low to high"} in sent[
        severity_split
    ]
    assert any(
        reason["kind"] == "needs expert" and reason["detail"].startswith("needs an expert (")
        for reason in sent[expert_wanted]
    )
    # Counted by kind (each post once per kind), never by the first word of a sentence.
    assert set(report.reasons) <= {kind.value for kind in ReasonKind}
    assert report.reasons["severity spread"] >= 1 and report.reasons["needs expert"] == 1

    exported = connection.export(report.ls_project_id)
    assert len(exported) == 2
    with store.session() as session:
        pseudonyms = set(session.exec(select(Annotator.pseudonym)))
    for task in exported:
        shown = task["data"]["annotator_labels"]
        assert sum(pseudonym in shown for pseudonym in pseudonyms) == 3
        assert "@example.com" not in shown
        predictions = list(client.predictions.list(task=task["id"]))
        assert len(predictions) == 3
        assert {prediction.model_version for prediction in predictions} <= pseudonyms
    decided = next(t for t in exported if t["data"]["post_id"] == post_id(store, severity_split))
    expert = client.users.create(
        username=f"e{uuid.uuid4().hex[:6]}", email=f"{uuid.uuid4().hex[:6]}@example.com"
    )
    decision = client.annotations.create(
        id=decided["id"],
        result=answer(["market_badmouthing"], "medium"),
        completed_by=expert.id,
    )
    pulled = pull(
        store, connection, report.adjudication_project, pseudonymise=workspace.pseudonymise
    )
    assert pulled.adjudications == 1

    with store.session() as session:
        adjudication = session.exec(select(Adjudication)).one()
        parent = session.exec(select(Project).where(Project.name == name)).one()
        overridden = set(
            session.exec(
                select(Annotation.id)
                .join(Task, Task.id == Annotation.task_id)
                .where(Task.project_id == parent.id, Task.post_pk == severity_split)
            )
        )
        decider = session.get(Annotator, adjudication.decided_by)
    assert adjudication.project_id == parent.id and adjudication.post_pk == severity_split
    assert set(adjudication.overrides) == overridden and len(overridden) == 3
    assert decider.email == expert.email
    assert adjudication.labels["category"] == ["market_badmouthing"]

    aggregated = project_labels(store, name)
    item = aggregated.items[severity_split]
    assert item.adjudicated
    assert (item.labels, item.severity) == (["market_badmouthing"], "medium")
    assert aggregated.items[agreed[0]].labels == ["legitimate"]

    again = adjudicate(store, connection, name)
    assert again.sent == 0

    # The expert withdraws the decision (deletes it in Label Studio): after the next pull it
    # no longer overrides the aggregate.
    client.annotations.delete(decision.id)
    withdrawn = pull(
        store, connection, report.adjudication_project, pseudonymise=workspace.pseudonymise
    )
    assert withdrawn.adjudications == 1
    with store.session() as session:
        assert session.exec(select(Adjudication)).all() == []
    assert not project_labels(store, name).items[severity_split].adjudicated


def post_id(store, pk):
    with store.session() as session:
        return session.get(Post, pk).post_id
