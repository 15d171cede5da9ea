"""When Label Studio and the store disagree about a project's tasks (deleted in Label Studio,
made there twice, made without the store knowing): pull notices, push --reconcile repairs.
Against the real Label Studio, on SQLite and PostgreSQL."""

import json

from sqlmodel import select

from annotate.batches import push, record_batch, task_data
from annotate.post_labels import project_labels
from annotate.pull import pull
from annotate.status import project_status
from annotate.store import Annotation, Post, Task
from tests.cli import invoke
from tests.loop_fixtures import annotate_as, labels


def active_annotations(store) -> set[int]:
    with store.session() as session:
        return set(
            session.exec(select(Annotation.ls_annotation_id).where(Annotation.deleted_at.is_(None)))
        )


def pushed(loop, count):
    record_batch(
        loop.store, loop.name, strategy="random", params={}, seed=1, post_pks=loop.post_pks(count)
    )
    push(loop.store, loop.connection, loop.name)
    return [task_id for task_id, _ in loop.ls_tasks()]


def test_incremental_pull_notices_tasks_deleted_in_label_studio(loop):
    tasks = pushed(loop, 10)
    users = loop.users(2)
    made = {
        task_id: [
            annotate_as(loop.client, user, task_id, labels(["legitimate"])).id for user in users
        ]
        for task_id in tasks[:4]
    }
    pseudonymise = loop.workspace.pseudonymise
    assert pull(loop.store, loop.connection, loop.name, pseudonymise=pseudonymise).new == 8
    gone = tasks[:2]
    for task_id in gone:
        loop.client.tasks.delete(id=str(task_id))
    # Two tasks made by hand in Label Studio meanwhile: the task count alone tells nothing.
    by_hand = loop.connection.import_tasks(
        loop.ls_project_id, [{"text": "by hand", "post_id": f"x{n}"} for n in range(2)]
    )
    assert loop.client.projects.get(loop.ls_project_id).task_number == 10

    report = pull(loop.store, loop.connection, loop.name, pseudonymise=pseudonymise)

    assert not report.full
    assert report.deleted == 4
    assert report.as_dict()["deleted_tasks"] == 2
    assert report.unknown_task_ids == sorted(by_hand)
    assert active_annotations(loop.store) == {i for task_id in tasks[2:4] for i in made[task_id]}
    with loop.store.session() as session:
        deleted = session.exec(select(Task.ls_task_id).where(Task.deleted_at.is_not(None))).all()
    assert sorted(deleted) == gone
    # Gone for good: never pushed again, not counted, not aggregated.
    assert push(loop.store, loop.connection, loop.name).pushed == 0
    assert loop.client.projects.get(loop.ls_project_id).task_number == 10
    assert project_status(loop.store, loop.name).batches[0]["tasks"] == 8
    with loop.store.session() as session:
        gone_posts = set(session.exec(select(Task.post_pk).where(Task.ls_task_id.in_(gone))))
    assert not gone_posts & set(project_labels(loop.store, loop.name).items)
    # The store now knows every task, or knows it does not: a pull lists every task id only
    # when the counts say one went missing.
    listed_everything = []
    real_list = loop.connection.list_tasks

    def spy(project_id, include=("id", "updated_at"), **filters):
        if not filters.get("updated_after"):
            listed_everything.append(include)
        return real_list(project_id, include, **filters)

    loop.connection.list_tasks = spy

    def quiet_pull():
        return pull(loop.store, loop.connection, loop.name, pseudonymise=pseudonymise)

    quiet = quiet_pull()
    assert (quiet.changed, quiet.unknown_task_ids, listed_everything) == (0, sorted(by_hand), [])
    loop.connection.delete_tasks(loop.ls_project_id, by_hand)
    gone_by_hand = quiet_pull()
    assert (gone_by_hand.changed, gone_by_hand.unknown_tasks, len(listed_everything)) == (0, 0, 1)
    assert quiet_pull().changed == 0 and len(listed_everything) == 1
    loop.client.tasks.delete(id=str(tasks[9]))
    last = quiet_pull()
    assert (last.deleted_tasks, last.deleted, len(listed_everything)) == (1, 0, 2)


def test_pull_shows_tasks_the_store_does_not_know_and_how_to_repair(loop):
    tasks = pushed(loop, 5)
    with loop.store.session() as session:
        post = session.exec(
            select(Post).join(Task, Task.post_pk == Post.id).where(Task.ls_task_id == tasks[0])
        ).one()
        session.expunge(post)
    (twin,) = loop.connection.import_tasks(loop.ls_project_id, [task_data(post, None)])
    (user,) = loop.users(1)
    annotate_as(loop.client, user, twin, labels(["legitimate"]))

    shown = invoke("pull", loop.name)

    assert shown.exit_code == 0, shown.output
    assert "1 task in Label Studio is not in the store" in shown.output
    assert f"annotate push '{loop.name}' --reconcile --dry-run" in shown.output
    data = json.loads(invoke("pull", loop.name, "--json").stdout)
    assert data["unknown_tasks"] == 1 and data["unknown_task_ids"] == [twin]


def test_push_reconcile_adopts_and_removes_duplicates_without_losing_annotations(loop):
    """Five kinds of trouble, as two pushes at once or an interrupted push leave them."""
    tasks = pushed(loop, 8)
    with loop.store.session() as session:
        rows = session.exec(
            select(Task.ls_task_id, Post).join(Post, Post.id == Task.post_pk).order_by(Task.id)
        ).all()
        for _, post in rows:
            session.expunge(post)
    post_of = dict(rows)
    (user, other) = loop.users(2)

    def twin_of(task_id):
        (twin,) = loop.connection.import_tasks(
            loop.ls_project_id, [task_data(post_of[task_id], None)]
        )
        return twin

    # 1. an annotated twin of an empty mapped task: adopt the twin, delete the mapped one
    adopt_twin = twin_of(tasks[0])
    moved = annotate_as(loop.client, user, adopt_twin, labels(["legitimate"])).id
    # 2. an empty twin of an annotated mapped task: delete the twin
    empty_twin = twin_of(tasks[1])
    kept = annotate_as(loop.client, user, tasks[1], labels(["legitimate"])).id
    # 3. both annotated: left for a person, reported
    both_twin = twin_of(tasks[2])
    annotate_as(loop.client, user, tasks[2], labels(["legitimate"]))
    annotate_as(loop.client, other, both_twin, labels(["fabricated_rumour"], "low"))
    # 4. both empty: keep the mapped one, delete the twin
    spare_twin = twin_of(tasks[3])
    # 5. a recorded task Label Studio made but the store never heard of (interrupted push)
    record_batch(
        loop.store,
        loop.name,
        strategy="random",
        params={},
        seed=2,
        post_pks=loop.post_pks(1, offset=8),
    )
    with loop.store.session() as session:
        late = session.exec(
            select(Post).join(Task, Task.post_pk == Post.id).where(Task.ls_task_id.is_(None))
        ).one()
        session.expunge(late)
    (orphan,) = loop.connection.import_tasks(loop.ls_project_id, [task_data(late, None)])
    # and a task someone made by hand, which is none of the store's business
    (foreign,) = loop.connection.import_tasks(
        loop.ls_project_id, [{"text": "by hand", "post_id": "nope", "source": "elsewhere"}]
    )
    before = loop.ls_tasks()

    dry = invoke("push", loop.name, "--reconcile", "--dry-run", "--json")

    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)["reconcile"]
    assert plan["dry_run"] is True
    assert sorted(plan["delete"]) == sorted([tasks[0], empty_twin, spare_twin])
    assert {item["ls_task_id"] for item in plan["adopt"]} == {adopt_twin, orphan}
    assert [sorted(item["ls_task_ids"]) for item in plan["conflicts"]] == [
        sorted([tasks[2], both_twin])
    ]
    assert plan["unrelated"] == [foreign]
    assert loop.ls_tasks() == before
    human = invoke("push", loop.name, "--reconcile", "--dry-run")
    assert "Would delete 3 empty duplicate tasks" in human.output

    done = invoke("push", loop.name, "--reconcile", "--json")

    assert done.exit_code == 0, done.output
    on_server = {task_id for task_id, _ in loop.ls_tasks()}
    assert on_server == {task_id for task_id, _ in before} - {tasks[0], empty_twin, spare_twin}
    with loop.store.session() as session:
        mapped = session.exec(
            select(Task.ls_task_id).where(Task.deleted_at.is_(None), Task.ls_task_id.is_not(None))
        ).all()
    assert len(mapped) == len(set(mapped)) == 9
    assert set(mapped) == on_server - {both_twin, foreign}
    assert adopt_twin in mapped and orphan in mapped
    report = pull(loop.store, loop.connection, loop.name, pseudonymise=loop.workspace.pseudonymise)
    assert {moved, kept} <= active_annotations(loop.store)
    assert report.unknown_tasks == 2  # the conflicting twin and the hand-made task
    again = json.loads(invoke("push", loop.name, "--reconcile", "--json").stdout)["reconcile"]
    assert again["delete"] == [] and again["adopt"] == [] and len(again["conflicts"]) == 1
