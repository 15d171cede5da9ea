"""Commands on one project at once, against the real Label Studio, on SQLite and PostgreSQL:
nothing lost, nothing duplicated."""

from sqlmodel import func, select

from annotate.batches import push, record_batch
from annotate.projects import create_project
from annotate.pull import pull
from annotate.store import Annotation, Annotator, Task
from tests.loop_fixtures import Rendezvous, annotate_as, in_threads, labels


def stored_ls_task_ids(store):
    with store.session() as session:
        return list(session.exec(select(Task.ls_task_id)))


def test_two_pushes_at_once_push_each_task_once(loop):
    record_batch(
        loop.store, loop.name, strategy="random", params={}, seed=1, post_pks=loop.post_pks(300)
    )
    first, second = loop.connect(), loop.connect()
    meeting = Rendezvous()
    for connection in (first, second):
        connection.import_tasks = meeting.wrap(connection.import_tasks)
    heard = []
    reports = in_threads(
        (meeting, lambda: push(loop.store, first, loop.name)),
        (None, lambda: push(loop.store, second, loop.name, on_wait=heard.append)),
    )
    assert not [report for report in reports if isinstance(report, BaseException)], reports
    assert [report.pushed for report in reports] == [300, 0]
    assert len(heard) == 1 and "held by pid" in heard[0] and "(push)" in heard[0]
    assert loop.client.projects.get(loop.ls_project_id).task_number == 300
    ls_ids = stored_ls_task_ids(loop.store)
    assert None not in ls_ids and len(set(ls_ids)) == 300
    assert sorted(ls_ids) == [task_id for task_id, _ in loop.ls_tasks()]


def annotated_project(loop, tasks=10, per_task=3):
    record_batch(
        loop.store, loop.name, strategy="random", params={}, seed=1, post_pks=loop.post_pks(tasks)
    )
    push(loop.store, loop.connection, loop.name)
    users = loop.users(per_task)
    made = [
        annotate_as(loop.client, user, task_id, labels(["legitimate"])).id
        for task_id, _ in loop.ls_tasks()
        for user in users
    ]
    return users, made


def test_two_pulls_of_one_project_at_once_store_each_annotation_once(loop):
    _, made = annotated_project(loop)
    first, second = loop.connect(), loop.connect()
    meeting = Rendezvous()
    for connection in (first, second):
        connection.export = meeting.wrap(connection.export)
    pseudonymise = loop.workspace.pseudonymise
    heard = []
    reports = in_threads(
        (meeting, lambda: pull(loop.store, first, loop.name, pseudonymise=pseudonymise)),
        (
            None,
            lambda: pull(
                loop.store, second, loop.name, pseudonymise=pseudonymise, on_wait=heard.append
            ),
        ),
    )
    assert not [report for report in reports if isinstance(report, BaseException)], reports
    assert [report.new for report in reports] == [len(made), 0]
    assert len(heard) == 1 and "(pull)" in heard[0]
    with loop.store.session() as session:
        stored = list(session.exec(select(Annotation.ls_annotation_id)))
    assert sorted(stored) == sorted(made)


def test_pulls_of_two_projects_at_once_add_a_new_annotator_once(loop):
    other = create_project(loop.store, loop.connection, f"{loop.name} b").ls_project_id
    for name in (loop.name, f"{loop.name} b"):
        record_batch(
            loop.store,
            name,
            strategy="random",
            params={},
            seed=1,
            post_pks=loop.post_pks(2, offset=0 if name == loop.name else 2),
        )
        push(loop.store, loop.connection, name)
    (user,) = loop.users(1)
    for ls_project in (loop.ls_project_id, other):
        for task_id, _, _ in loop.connection.task_ids(ls_project):
            annotate_as(loop.client, user, task_id, labels(["legitimate"]))
    pseudonymise = loop.workspace.pseudonymise
    first = loop.connect()
    real_users = first.users

    def users_while_the_other_pull_runs():
        # The other project's pull adds the same new annotator meanwhile, and commits.
        pull(loop.store, loop.connect(), f"{loop.name} b", pseudonymise=pseudonymise)
        return real_users()

    first.users = users_while_the_other_pull_runs
    report = pull(loop.store, first, loop.name, pseudonymise=pseudonymise)
    assert report.new == 2
    with loop.store.session() as session:
        annotators = session.exec(
            select(Annotator.ls_user_id, func.count()).group_by(Annotator.ls_user_id)
        ).all()
        stored = session.exec(select(func.count()).select_from(Annotation)).one()
    assert dict(annotators) == {user.id: 1}
    assert stored == 4
