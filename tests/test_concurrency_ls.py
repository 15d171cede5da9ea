"""Commands on one project at once, against the real Label Studio, on SQLite and PostgreSQL:
nothing lost, nothing duplicated."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

from sqlmodel import func, select

from annotate.batches import push, record_batch
from annotate.locks import project_lock
from annotate.projects import create_project
from annotate.pull import pull
from annotate.store import Annotation, Annotator, Post, Task
from tests.cli import run
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


class Command:
    """``python -m annotate ARGS`` started now, its stderr read as it comes."""

    def __init__(self, loop, *args):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "annotate", *args],
            cwd=loop.folder,
            env={**os.environ, **loop.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.errors: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.errors.append(line)

    def waiting(self) -> bool:
        return any(line.startswith("Waiting for project") for line in self.errors)

    def finish(self) -> tuple[int, dict, list[str]]:
        stdout, _ = self.process.communicate(timeout=300)
        self.reader.join(30)
        assert self.process.returncode == 0, "".join(self.errors)
        return json.loads(stdout), [line for line in self.errors if "Waiting" in line]


def at_once(loop, *args):
    """Two ``annotate ARGS --json`` at once, both started while this test holds the project's
    lock, so that both queue on it; their JSON outputs once both have finished."""
    with project_lock(loop.store, loop.name, command="test"):
        commands = [Command(loop, *args, "--json") for _ in range(2)]
        deadline = time.monotonic() + 120
        while not all(command.waiting() for command in commands):
            assert time.monotonic() < deadline, [command.errors for command in commands]
            assert all(command.process.poll() is None for command in commands), [
                command.errors for command in commands
            ]
            time.sleep(0.1)
    outputs = []
    for command in commands:
        output, waited = command.finish()
        # Told once whom it waits for: this test (it then waits for the other, silently).
        assert len(waited) == 1 and f"held by pid {os.getpid()} on host" in waited[0], waited
        outputs.append(output)
    return outputs


def test_commands_at_once_in_real_processes_take_turns_and_no_wait_fails_clearly(loop):
    samples = at_once(loop, "sample", loop.name, "--size", "40", "--seed", "3")
    assert sorted(output["push"]["pushed"] for output in samples) == [40, 40]
    picked = [{pick["pk"] for pick in output["picks"]} for output in samples]
    assert len(picked[0] | picked[1]) == 80

    with loop.store.session() as session:
        unsent = session.exec(
            select(Post.id).where(Post.id.not_in(select(Task.post_pk))).order_by(Post.id).limit(60)
        ).all()
    record_batch(loop.store, loop.name, strategy="random", params={}, seed=1, post_pks=unsent)
    pushes = at_once(loop, "push", loop.name)
    assert sorted(output["pushed"] for output in pushes) == [0, 60]

    on_server = loop.ls_tasks()
    assert len(on_server) == 140
    assert len({(data["source"], data["post_id"]) for _, data in on_server}) == 140
    with loop.store.session() as session:
        stored = session.exec(select(Task.ls_task_id, Task.post_pk)).all()
    assert len(stored) == 140 and len({post for _, post in stored}) == 140
    assert sorted(ls_id for ls_id, _ in stored) == [task_id for task_id, _ in on_server]

    users = loop.users(2)
    made = [
        annotate_as(loop.client, user, task_id, labels(["legitimate"])).id
        for task_id, _ in on_server[:10]
        for user in users
    ]
    pulls = at_once(loop, "pull", loop.name)
    assert sorted(output["new"] for output in pulls) == [0, 20]
    with loop.store.session() as session:
        pulled = session.exec(select(Annotation.ls_annotation_id)).all()
    assert sorted(pulled) == sorted(made)

    with project_lock(loop.store, loop.name, command="test"):
        refused = run("push", loop.name, "--no-wait", cwd=loop.folder, env=loop.env)
    assert refused.returncode == 1
    (sentence,) = refused.stderr.splitlines()
    assert sentence.startswith(
        f"Error: Project {loop.name!r} is locked by pid {os.getpid()} on host "
        f"{socket.gethostname()} since "
    )
    assert "(test)" in sentence
