"""Recording annotations that did not come from Label Studio (annotate.store.record_annotations),
on SQLite and on PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from annotate.agreement_data import project_table
from annotate.errors import InputError
from annotate.post_labels import project_labels
from annotate.store import (
    Annotation,
    Annotator,
    Batch,
    GoldItem,
    Post,
    Project,
    Task,
    open_store,
    record_annotations,
)
from annotate.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
START = datetime(2024, 10, 8, tzinfo=UTC)
RUMOUR = {"category": ["fabricated_rumour"], "severity": "high"}
LEGITIMATE = {"category": ["legitimate"]}


@pytest.fixture
def store(database_url):
    """A store holding posts demo:p0 … demo:p5 and nothing else."""
    store = open_store(database_url)
    with store.transaction() as session:
        for number in range(6):
            session.add(
                Post(
                    source="demo",
                    post_id=f"p{number}",
                    text=f"第{number}条",
                    text_hash=f"h{number}",
                    lang="zh",
                )
            )
    yield store
    store.dispose()


def post_pks(store) -> dict[str, int]:
    with store.session() as session:
        return dict(session.exec(select(Post.post_id, Post.id)).all())


def test_a_long_table_becomes_a_project_with_a_batch_tasks_and_annotators(store):
    pks = post_pks(store)
    rows = [
        (("demo", "p0"), "ann-1", RUMOUR),
        (("demo", "p0"), "ann-2", RUMOUR),
        (pks["p1"], "ann-1", LEGITIMATE),
        {"post": ["demo", "p1"], "annotator": "ann-2", "labels": LEGITIMATE},
    ]

    recorded = record_annotations(store, "outside", rows, taxonomy=TAXONOMY, batch="vendor")

    assert recorded.new_project and recorded.new_tasks == 2 and recorded.new_annotators == 2
    assert set(recorded.task_ids) == {pks["p0"], pks["p1"]}
    assert len(recorded.annotation_ids) == 4
    with store.session() as session:
        project = session.exec(select(Project)).one()
        assert (project.name, project.ls_project_id, project.ls_url) == ("outside", None, None)
        assert project.id == recorded.project_id and project.taxonomy_id is not None
        [batch] = session.exec(select(Batch)).all()
        assert (batch.id, batch.strategy, batch.size) == (recorded.batch_id, "vendor", 2)
        tasks = session.exec(select(Task)).all()
        assert {task.batch_id for task in tasks} == {batch.id}
        assert all(task.ls_task_id is None for task in tasks)
        stored = [session.get(Annotation, pk) for pk in recorded.annotation_ids]
        assert [row.labels for row in stored] == [RUMOUR, RUMOUR, LEGITIMATE, LEGITIMATE]
        assert [session.get(Annotator, row.annotator_id).pseudonym for row in stored] == [
            "ann-1",
            "ann-2",
            "ann-1",
            "ann-2",
        ]
        assert all(row.ls_annotation_id < 0 and row.result is None for row in stored)
        assert all(a.ls_user_id < 0 for a in session.exec(select(Annotator)))

    # The rest of the tool reads them like pulled annotations.
    table = project_table(store, "outside", "category")
    assert sorted(table.rows) == sorted(
        (pks[post], who, frozenset(labels["category"]))
        for post, labels in (("p0", RUMOUR), ("p1", LEGITIMATE))
        for who in ("ann-1", "ann-2")
    )
    aggregated = project_labels(store, "outside")
    assert aggregated.items[pks["p0"]].labels == ["fabricated_rumour"]
    assert aggregated.items[pks["p1"]].labels == ["legitimate"]


def test_a_second_call_reuses_the_project_tasks_and_annotators_and_later_rows_win(store):
    pks = post_pks(store)
    first = record_annotations(store, "outside", [(pks["p0"], "ann-1", RUMOUR)])
    again = record_annotations(
        store,
        "outside",
        [(pks["p0"], "ann-1", LEGITIMATE), (pks["p2"], "ann-1", LEGITIMATE)],
    )

    assert not again.new_project and again.project_id == first.project_id
    assert again.new_tasks == 1 and again.new_annotators == 0
    assert again.task_ids[pks["p0"]] == first.task_ids[pks["p0"]]
    assert again.annotator_ids == first.annotator_ids
    with store.session() as session:
        assert len(session.exec(select(Batch)).all()) == 2
        ids = session.exec(select(Annotation.ls_annotation_id)).all()
    assert len(set(ids)) == 3
    # The later annotation of one annotator on one task replaces the earlier one.
    table = project_table(store, "outside", "category", min_annotators=1)
    assert dict(((item, who), value) for item, who, value in table.rows)[
        (pks["p0"], "ann-1")
    ] == frozenset(["legitimate"])


def test_optional_columns_give_exact_control(store):
    pks = post_pks(store)
    rows = [
        {"post": pks["p0"], "annotator": "ann-1", "labels": RUMOUR, "updated_at": START},
        {
            "post": pks["p0"],
            "annotator": "ann-1",
            "labels": LEGITIMATE,
            "updated_at": START - timedelta(days=1),  # earlier, although written later
        },
        {"post": pks["p0"], "annotator": "ann-2", "labels": RUMOUR, "deleted_at": START},
        {"post": pks["p0"], "annotator": "ann-3", "labels": RUMOUR, "skipped": True},
        {"post": pks["p0"], "annotator": "ann-4", "labels": RUMOUR, "lead_time": 12.5},
    ]

    recorded = record_annotations(store, "outside", rows)

    with store.session() as session:
        stored = [session.get(Annotation, pk) for pk in recorded.annotation_ids]
    assert stored[0].ls_updated_at.replace(tzinfo=None) == START.replace(tzinfo=None)
    assert stored[0].ls_created_at == stored[0].ls_updated_at
    assert stored[2].deleted_at is not None
    assert stored[3].was_cancelled and stored[3].labels is None
    assert stored[4].lead_time == 12.5
    table = project_table(store, "outside", "category", min_annotators=1)
    assert sorted((who, value) for _, who, value in table.rows) == [
        ("ann-1", frozenset(["fabricated_rumour"])),  # the latest by time, not by row
        ("ann-4", frozenset(["fabricated_rumour"])),
    ]


def test_annotators_by_e_mail_get_a_pseudonym_and_are_found_again(store):
    pks = post_pks(store)
    with pytest.raises(InputError, match="pass pseudonymise="):
        record_annotations(store, "outside", [(pks["p0"], "lead@example.com", RUMOUR)])

    first = record_annotations(
        store,
        "outside",
        [(pks["p0"], "lead@example.com", RUMOUR)],
        pseudonymise=lambda email: "ann-" + email.split("@")[0],
    )
    # Known now, by e-mail or by pseudonym: no pseudonymise needed.
    again = record_annotations(
        store,
        "outside",
        [(pks["p1"], "lead@example.com", RUMOUR), (pks["p1"], "ann-lead", LEGITIMATE)],
    )

    with store.session() as session:
        [annotator] = session.exec(select(Annotator)).all()
    assert (annotator.email, annotator.pseudonym) == ("lead@example.com", "ann-lead")
    assert first.annotator_ids == {"lead@example.com": annotator.id}
    assert again.annotator_ids == {"lead@example.com": annotator.id, "ann-lead": annotator.id}


def test_gold_answers_mark_their_tasks_and_anchor_the_aggregate(store):
    pks = post_pks(store)
    recorded = record_annotations(
        store,
        "outside",
        [(("demo", "p0"), "ann-1", RUMOUR)],
        gold={("demo", "p0"): LEGITIMATE, pks["p3"]: RUMOUR},
    )

    with store.session() as session:
        gold = {row.post_pk: row.labels for row in session.exec(select(GoldItem))}
        is_gold = dict(session.exec(select(Task.post_pk, Task.is_gold)).all())
    assert gold == {pks["p0"]: LEGITIMATE, pks["p3"]: RUMOUR}
    assert is_gold == {pks["p0"]: True, pks["p3"]: True}
    assert recorded.new_tasks == 2
    assert project_labels(store, "outside").items[pks["p0"]].gold


def test_labels_that_break_the_taxonomy_rules_are_kept_with_their_problems(store):
    pks = post_pks(store)
    recorded = record_annotations(
        store,
        "outside",
        [(pks["p0"], "ann-1", {"category": ["fabricated_rumour"]})],  # a violation, no severity
    )
    with store.session() as session:
        annotation = session.get(Annotation, recorded.annotation_ids[0])
    assert "severity is required when category is fabricated_rumour" in annotation.problems


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(("demo", "p9"), "ann-1", RUMOUR), (999_999, "ann-1", RUMOUR)], "2 posts of the"),
        ([{"post": 1, "annotator": "a", "labels": {}, "deleted": True}], "unknown columns"),
        ([{"post": 1, "labels": {}}], "has no annotator"),
        ([("demo", "p0")], "neither (post, annotator, labels)"),
        ([("p0", "ann-1", RUMOUR)], "neither (source, post_id) nor a store id"),
        ([(1, "ann-1", ["fabricated_rumour"])], "labels must be a dict"),
    ],
)
def test_unusable_rows_are_refused_and_nothing_is_written(store, rows, message):
    with pytest.raises(InputError) as error:
        record_annotations(store, "outside", rows)
    assert message in str(error.value)
    with store.session() as session:
        assert session.exec(select(Project)).all() == []
        assert session.exec(select(Annotation)).all() == []


def test_label_studio_projects_and_other_taxonomies_are_refused(store):
    with store.transaction() as session:
        session.add(Project(name="in-ls", ls_project_id=7, ls_url="http://127.0.0.1:9"))
    with pytest.raises(InputError, match="annotate pull in-ls"):
        record_annotations(store, "in-ls", [(1, "ann-1", RUMOUR)])

    record_annotations(store, "outside", [(1, "ann-1", RUMOUR)], taxonomy=TAXONOMY)
    other = type(TAXONOMY).model_validate({**TAXONOMY.model_dump(mode="json"), "version": "2.0.0"})
    assert other.content_hash != TAXONOMY.content_hash
    with pytest.raises(InputError, match="was made under taxonomy"):
        record_annotations(store, "outside", [(1, "ann-1", RUMOUR)], taxonomy=other)
