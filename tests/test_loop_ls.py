"""Push and pull against the real Label Studio test server: idempotent, incremental, resilient."""

import contextlib
import socket
import threading
import uuid

import pytest
from sqlmodel import func, select

from annotate.batches import TASK_FIELDS, push, record_batch
from annotate.labelstudio import LabelStudioError, Retry, connect_to
from annotate.pull import pull
from annotate.status import project_status
from annotate.store import Annotation, Annotator, Post, Task
from tests.loop_fixtures import annotate_as, labels, make_loop


@pytest.fixture
def setup(label_studio, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = make_loop(label_studio, f"sqlite:///{tmp_path}/annotate.db", tmp_path)
    yield made.store, made.connection, made.name, made.ls_project_id, made.client, made.workspace
    made.store.dispose()


def post_pks(store, count):
    with store.session() as session:
        return list(session.exec(select(Post.id).order_by(Post.id).limit(count)))


def test_interrupted_push_completes_without_duplicates(setup, monkeypatch):
    store, connection, name, ls_project_id, client, _ = setup
    record_batch(store, name, strategy="random", params={}, seed=1, post_pks=post_pks(store, 1000))
    real_import = connection.import_tasks
    calls = []

    def crash_after_label_studio_made_them(project_id, tasks):
        ids = real_import(project_id, tasks)
        calls.append(len(ids))
        if len(calls) == 3:
            raise ConnectionResetError("connection lost after the import was accepted")
        return ids

    monkeypatch.setattr(connection, "import_tasks", crash_after_label_studio_made_them)
    with pytest.raises(ConnectionResetError):
        push(store, connection, name, chunk_size=200)
    assert client.projects.get(ls_project_id).task_number == 600
    with store.session() as session:
        mapped = session.exec(
            select(func.count()).select_from(Task).where(Task.ls_task_id.is_not(None))
        ).one()
    assert mapped == 400
    monkeypatch.setattr(connection, "import_tasks", real_import)
    report = push(store, connection, name, chunk_size=200)
    assert (report.reconciled, report.pushed) == (200, 400)
    assert client.projects.get(ls_project_id).task_number == 1000
    with store.session() as session:
        ls_ids = session.exec(select(Task.ls_task_id)).all()
    assert len(ls_ids) == 1000 and None not in ls_ids and len(set(ls_ids)) == 1000
    on_server = connection.task_ids(ls_project_id)
    assert sorted(ls_ids) == sorted(task_id for task_id, _, _ in on_server)
    # Tasks carry display fields only: never the hidden true_labels of the demo corpus.
    assert {tuple(sorted(data)) for _, _, data in on_server} == {tuple(sorted(TASK_FIELDS))}
    assert push(store, connection, name).pushed == 0


def stored_annotations(store):
    with store.session() as session:
        rows = session.exec(
            select(Annotation, Annotator.pseudonym).join(
                Annotator, Annotator.id == Annotation.annotator_id
            )
        ).all()
        return [(annotation, pseudonym) for annotation, pseudonym in rows]


def test_pull_is_incremental_and_mirrors_changes(setup):
    store, connection, name, ls_project_id, client, workspace = setup
    record_batch(store, name, strategy="random", params={}, seed=1, post_pks=post_pks(store, 20))
    push(store, connection, name)
    tasks = sorted(task_id for task_id, _, _ in connection.task_ids(ls_project_id))
    users = [
        client.users.create(
            username=f"u{uuid.uuid4().hex[:6]}",
            email=f"{uuid.uuid4().hex[:6]}@example.com",
            password=uuid.uuid4().hex,
        )
        for _ in range(3)
    ]
    created = {}
    for task_id in tasks[:10]:
        for number, user in enumerate(users):
            category = ["legitimate"] if number < 2 else ["fabricated_rumour"]
            severity = None if number < 2 else "medium"
            annotation = annotate_as(
                client, user, task_id, labels(category, severity), lead_time=3.0 + number
            )
            created[(task_id, number)] = annotation.id
    first = pull(store, connection, name, pseudonymise=workspace.pseudonymise)
    assert (first.new, first.updated, first.deleted, first.skipped) == (30, 0, 0, 0)
    assert sorted(counts["new"] for counts in first.by_annotator.values()) == [10, 10, 10]
    assert not any(pseudonym.endswith("example.com") for pseudonym in first.by_annotator)

    nothing = pull(store, connection, name, pseudonymise=workspace.pseudonymise)
    assert nothing.changed == 0 and nothing.tasks == 0

    changed_id = created[(tasks[0], 0)]
    client.annotations.update(id=changed_id, result=labels(["policy_distortion"], "low"))
    deleted_id = created[(tasks[1], 1)]
    client.annotations.delete(id=deleted_id)
    annotate_as(client, users[0], tasks[10], [], was_cancelled=True)
    added = annotate_as(client, users[1], tasks[11], labels(["not_financial"]))
    second = pull(store, connection, name, pseudonymise=workspace.pseudonymise)
    assert (second.new, second.updated, second.deleted, second.skipped) == (1, 1, 1, 1)
    assert second.tasks == 4

    by_id = {annotation.ls_annotation_id: annotation for annotation, _ in stored_annotations(store)}
    assert len(by_id) == 32
    assert by_id[changed_id].labels["category"] == ["policy_distortion"]
    assert by_id[changed_id].labels["severity"] == "low"
    assert by_id[deleted_id].deleted_at is not None
    skip = next(a for a in by_id.values() if a.was_cancelled)
    assert skip.labels is None
    assert by_id[added.id].labels["category"] == ["not_financial"]
    assert by_id[created[(tasks[2], 2)]].lead_time == 5.0
    with store.session() as session:
        emails = set(session.exec(select(Annotator.email)))
    assert {user.email for user in users} <= emails

    again = pull(store, connection, name, pseudonymise=workspace.pseudonymise)
    assert again.changed == 0
    full = pull(store, connection, name, pseudonymise=workspace.pseudonymise, full=True)
    assert full.changed == 0 and full.unchanged == 31

    status = project_status(store, name)
    batch = status.batches[0]
    assert (batch["tasks"], batch["pushed"], batch["done"], batch["skipped"]) == (20, 20, 11, 1)
    assert batch["overlapping"] == 10 and batch["overlap_coverage"] == 1.0
    assert sorted(a["annotations"] for a in status.annotators) == [10, 10, 10]


class Proxy:
    """A TCP proxy to the test server that can be switched off, as if the server went down."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self):
        """Refuse new connections and cut the open ones (keep-alive ones included)."""
        self.up = False
        for end in self.open:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def test_server_down_mid_pull_leaves_the_store_unchanged(setup, label_studio, monkeypatch):
    store, connection, name, ls_project_id, client, workspace = setup
    record_batch(store, name, strategy="random", params={}, seed=1, post_pks=post_pks(store, 12))
    push(store, connection, name)
    tasks = sorted(task_id for task_id, _, _ in connection.task_ids(ls_project_id))
    user = client.users.create(
        username=f"u{uuid.uuid4().hex[:6]}", email=f"{uuid.uuid4().hex[:6]}@example.com"
    )
    for task_id in tasks:
        annotate_as(client, user, task_id, labels(["legitimate"]))
    port = int(label_studio.url.rsplit(":", 1)[1])
    proxy = Proxy(port)
    sleeps = []
    flaky = connect_to(
        f"http://127.0.0.1:{proxy.port}", label_studio.token, Retry(attempts=3, sleep=sleeps.append)
    )
    real_export = flaky.export

    def export_then_go_down(project_id, task_ids=None):
        result = real_export(project_id, task_ids)
        proxy.down()  # the server "stops" after the first export request
        return result

    monkeypatch.setattr("annotate.pull.EXPORT_CHUNK", 5)
    monkeypatch.setattr(flaky, "export", export_then_go_down)
    # An incremental pull (watermark set, nothing annotated before it) reads 3 export chunks.
    with store.transaction() as session:
        from annotate.store import Project

        project = session.exec(select(Project).where(Project.name == name)).one()
        project.pull_watermark = min(
            updated for _, updated, _ in connection.task_ids(ls_project_id)
        )
        project.pull_watermark = project.pull_watermark.replace(year=2000)
        session.add(project)
    with pytest.raises(
        LabelStudioError, match=rf"127\.0\.0\.1:{proxy.port} could not export .* after 3 attempts"
    ):
        pull(store, flaky, name, pseudonymise=workspace.pseudonymise)
    assert len(sleeps) == 2
    assert stored_annotations(store) == []

    proxy.up = True
    monkeypatch.setattr(flaky, "export", real_export)
    report = pull(store, flaky, name, pseudonymise=workspace.pseudonymise)
    assert report.new == 12
    annotations = stored_annotations(store)
    assert len(annotations) == 12
    assert len({annotation.ls_annotation_id for annotation, _ in annotations}) == 12


def test_sample_command_records_gold_and_excludes_sent_posts(setup, label_studio, monkeypatch):
    import json

    from annotate.store import Batch, GoldItem
    from tests.cli import invoke

    store, connection, name, ls_project_id, client, _ = setup
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.setenv("ANNOTATE_DATABASE_URL", str(store.engine.url))
    with store.session() as session:
        gold_posts = session.exec(select(Post).order_by(Post.id.desc()).limit(5)).all()
    gold_file = "gold.jsonl"
    with open(gold_file, "w", encoding="utf-8") as handle:
        for post in gold_posts:
            answer = {"post_id": post.post_id, "source": post.source}
            answer.update(category=["legitimate"], confidence="3")
            handle.write(json.dumps(answer, ensure_ascii=False) + "\n")
    args = ["sample", name, "--size", "40", "--strategy", "mixed", "--by", "platform"]
    args += ["--gold", gold_file, "--gold-rate", "0.1", "--seed", "5", "--json"]
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert planned["batch"] is None and len(planned["picks"]) == 40
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(Batch)).one() == 0
    again = json.loads(invoke(*args, "--dry-run").stdout)
    assert again["picks"] == planned["picks"]  # same seed, same corpus: same sample

    done = invoke(*args)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["batch"]["tasks"] == 40 and result["batch"]["gold"] == 4
    assert result["push"]["pushed"] == 40
    with store.session() as session:
        gold_tasks = session.exec(select(Task).where(Task.is_gold)).all()
        answers = session.exec(select(GoldItem)).all()
    assert len(gold_tasks) == 4 and len(answers) == 4
    assert {answer.labels["category"][0] for answer in answers} == {"legitimate"}
    on_server = connection.task_ids(ls_project_id)
    assert all(set(data) == set(TASK_FIELDS) for _, _, data in on_server)

    second = json.loads(invoke("sample", name, "--size", "30", "--seed", "5", "--json").stdout)
    first_posts = {pick["pk"] for pick in result["picks"]}
    assert not first_posts & {pick["pk"] for pick in second["picks"]}
    assert client.projects.get(ls_project_id).task_number == 70
