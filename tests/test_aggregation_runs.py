"""Stored aggregation runs: written once per project and method, stale after any new input.

Runs on SQLite and on PostgreSQL (the ``workspace`` fixture of test_publish).
"""

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import select
from test_publish import TAXONOMY, annotate_posts, workspace  # noqa: F401 (a fixture)

from annotate.aggregation import Aggregation, Reason
from annotate.aggregation_runs import aggregate_project, ensure_aggregated, fresh_run
from annotate.errors import InputError
from annotate.post_labels import project_labels
from annotate.splits import near_duplicate_groups
from annotate.store import (
    Adjudication,
    Aggregate,
    AggregationRun,
    Annotation,
    GoldItem,
    Project,
    Task,
)
from tests.cli import invoke


def stored(store, aggregation=Aggregation.DAWID_SKENE):
    with store.session() as session:
        return {
            row.post_pk: row
            for row in session.exec(select(Aggregate).where(Aggregate.method == aggregation.value))
        }


def test_aggregates_hold_the_labels_of_every_post(workspace):  # noqa: F811
    store, posts = workspace[2], workspace[3]
    report = aggregate_project(store, "round-1")
    rows = stored(store)
    aggregated = project_labels(store, "round-1")
    assert report.items == len(rows) == len(aggregated.items) == 500
    assert report.labelled == sum(1 for item in aggregated.items.values() if item.labels)
    for pk, item in aggregated.items.items():
        row = rows[pk]
        assert row.labels == item.labels and row.severity == item.severity
        assert row.n_annotators == item.n_annotators == 3
        assert [answer["annotator"] for answer in row.annotations] == [
            answer["annotator"] for answer in item.annotations
        ]
        assert [Reason.from_stored(reason) for reason in row.reasons] == item.reasons
    # Near-duplicate groups: the smallest post id of each group, as near_duplicate_groups says.
    by_pk = {post.id: post for post in posts}
    pks = sorted(rows)
    groups = near_duplicate_groups([by_pk[pk].text for pk in pks])
    smallest = {}
    for group, pk in zip(groups, pks, strict=True):
        smallest.setdefault(group, pk)
    assert [rows[pk].near_group for pk in pks] == [smallest[g] for g in groups]
    assert report.near_duplicate_groups == len(smallest) < 500
    assert report.agreement["krippendorff_alpha"] > 0 and report.agreement["ci95"]


def test_a_second_run_replaces_the_first_and_methods_are_kept_apart(workspace):  # noqa: F811
    store = workspace[2]
    first = aggregate_project(store, "round-1")
    aggregate_project(store, "round-1", aggregation="majority")
    second = aggregate_project(store, "round-1")
    assert second.run_id != first.run_id
    assert len(stored(store)) == len(stored(store, Aggregation.MAJORITY)) == 500
    assert {row.run_id for row in stored(store).values()} == {second.run_id}
    with pytest.raises(InputError, match="Unknown aggregation"):
        aggregate_project(store, "round-1", aggregation="mean")


def test_new_inputs_make_the_run_stale(workspace):  # noqa: F811
    store, posts = workspace[2], workspace[3]
    aggregate_project(store, "round-1")
    assert fresh_run(store, "round-1", "dawid-skene") is not None
    assert fresh_run(store, "round-1", "majority") is None  # never aggregated that way

    # A deleted annotation (what a pull records) makes the stored aggregate stale.
    with store.transaction() as session:
        annotation = session.exec(select(Annotation).order_by(Annotation.id)).first()
        annotation.deleted_at = datetime.now(UTC)
        session.add(annotation)
    assert fresh_run(store, "round-1", "dawid-skene") is None
    told = []
    run = ensure_aggregated(store, "round-1", "dawid-skene", on_stale=told.append)
    assert told == [
        "Project 'round-1' changed since it was last aggregated; aggregating (dawid-skene)."
    ]
    assert fresh_run(store, "round-1", "dawid-skene").id == run.id
    assert ensure_aggregated(store, "round-1", "dawid-skene", on_stale=told.append).id == run.id
    assert len(told) == 1  # fresh: not aggregated again

    # An expert's decision overrides the aggregate, after aggregating again.
    post = posts[7]
    with store.transaction() as session:
        project = session.exec(select(Project).where(Project.name == "round-1")).one()
        session.add(
            Adjudication(
                post_pk=post.id,
                project_id=project.id,
                labels={"category": ["extortion"], "severity": "high"},
            )
        )
    assert fresh_run(store, "round-1", "dawid-skene") is None
    ensure_aggregated(store, "round-1", "dawid-skene")
    row = stored(store)[post.id]
    assert (row.labels, row.severity, row.adjudicated) == (["extortion"], "high", True)
    # The soft labels follow the decision: the most likely label is a final one.
    category = list(TAXONOMY.field("category").label_ids)
    assert row.label_probs == [float(label == "extortion") for label in category]

    # New annotated posts too.
    annotate_posts(store, "round-1", posts[500:510])
    assert fresh_run(store, "round-1", "dawid-skene") is None
    assert len(stored(store)) == 500  # until aggregated again
    ensure_aggregated(store, "round-1", "dawid-skene")
    assert len(stored(store)) == 510

    # A post with a single annotator: agreement is not measurable (None), not 1.0.
    single = posts[600]
    annotate_posts(store, "round-1", [single], annotators=1)
    ensure_aggregated(store, "round-1", "dawid-skene")
    assert stored(store)[single.id].item_agreement is None
    assert stored(store)[post.id].item_agreement is not None


def test_a_failed_run_keeps_the_previous_aggregates(workspace, monkeypatch):  # noqa: F811
    store, posts = workspace[2], workspace[3]
    before = aggregate_project(store, "round-1")
    annotate_posts(store, "round-1", posts[500:510])

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("annotate.aggregation_runs.agreement_summary", broken)
    with pytest.raises(RuntimeError):
        aggregate_project(store, "round-1")
    assert {row.run_id for row in stored(store).values()} == {before.run_id}
    with store.session() as session:
        assert len(session.exec(select(AggregationRun)).all()) == 1


def test_aggregate_command(workspace):  # noqa: F811
    result = invoke("aggregate", "round-1", "--aggregation", "majority", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["items"] == 500 and report["method"] == "majority"
    with workspace[2].session() as session:
        tasks = session.exec(select(Task)).all()
    assert len(tasks) == 500
    result = invoke("aggregate", "round-1")
    assert result.exit_code == 0 and "Aggregated 500 posts of 'round-1'" in result.stderr
    assert "Krippendorff's α" in result.stderr
    result = invoke("aggregate", "no-such-project")
    assert result.exit_code != 0 and "no-such-project" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_gold_severity_anchors_the_aggregate(workspace):  # noqa: F811
    store = workspace[2]
    aggregated = project_labels(store, "round-1")
    # A violation whose annotators agree on a severity; the gold answer says otherwise.
    pk, item = next(
        (pk, item)
        for pk, item in aggregated.items.items()
        if item.severity and len({a["severity"] for a in item.annotations}) == 1
    )
    other = next(level for level in ("low", "medium", "high") if level != item.severity)
    with store.transaction() as session:
        session.add(GoldItem(post_pk=pk, labels={"category": item.labels, "severity": other}))
    anchored = project_labels(store, "round-1").items[pk]
    assert anchored.gold and anchored.severity == other
    assert anchored.labels == item.labels


def test_a_severity_outside_the_taxonomy_is_left_out_not_fatal(workspace):  # noqa: F811
    store = workspace[2]
    with store.transaction() as session:
        annotation = session.exec(select(Annotation).order_by(Annotation.id)).first()
        annotation.labels = {**annotation.labels, "severity": "catastrophic"}
        session.add(annotation)
        post_pk = session.get(Task, annotation.task_id).post_pk
    item = project_labels(store, "round-1").items[post_pk]
    assert item.severity in (None, "low", "medium", "high")
