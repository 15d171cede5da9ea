"""A project in the real Label Studio over a store on SQLite or PostgreSQL, and helpers to
annotate it, for the loop's tests (sample, push, pull)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from label_studio_sdk import LabelStudio
from sqlmodel import select

from annotate import demo
from annotate.config import WorkspaceFolder, ensure_workspace, load_settings
from annotate.ingest import ingest_files
from annotate.labelstudio import LabelStudioConnection, connect_to
from annotate.projects import create_project
from annotate.store import Post, Store, open_store
from annotate.taxonomy import load_taxonomy, result_from_labels

TAXONOMY = load_taxonomy()


@dataclass
class Loop:
    store: Store
    connection: LabelStudioConnection
    name: str
    ls_project_id: int
    client: LabelStudio
    workspace: WorkspaceFolder
    database_url: str
    folder: Path
    ls_url: str
    ls_token: str

    @property
    def env(self) -> dict[str, str]:
        """What a command needs to work on this loop (in this process or a subprocess)."""
        return {
            "LABEL_STUDIO_URL": self.ls_url,
            "LABEL_STUDIO_API_KEY": self.ls_token,
            "ANNOTATE_DATABASE_URL": self.database_url,
            "ANNOTATE_WORKSPACE": str(self.folder / ".annotate"),
        }

    def connect(self) -> LabelStudioConnection:
        """Another connection to the same server (one per thread)."""
        return connect_to(self.ls_url, self.ls_token)

    def post_pks(self, count: int, offset: int = 0) -> list[int]:
        with self.store.session() as session:
            return list(session.exec(select(Post.id).order_by(Post.id).offset(offset).limit(count)))

    def ls_tasks(self) -> list[tuple[int, dict]]:
        """``(id, data)`` of every task of the project in Label Studio."""
        tasks = self.connection.task_ids(self.ls_project_id)
        return sorted((task_id, data) for task_id, _, data in tasks)

    def users(self, count: int) -> list:
        return [
            self.client.users.create(
                username=f"u{uuid.uuid4().hex[:6]}",
                email=f"{uuid.uuid4().hex[:6]}@example.com",
                password=uuid.uuid4().hex,
            )
            for _ in range(count)
        ]


def make_loop(label_studio, database_url: str, folder: Path, size: int = 1_100) -> Loop:
    corpus = folder / "posts.jsonl"
    demo.write_corpus(corpus, size=size, seed=11)
    store = open_store(database_url)
    ingest_files(store, [corpus], source="demo")
    connection = connect_to(label_studio.url, label_studio.token)
    name = f"loop {uuid.uuid4().hex[:8]}"
    info = create_project(store, connection, name, annotators_per_task=3, overlap=0.5)
    client = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    settings = load_settings(workspace=folder / ".annotate", database_url=database_url)
    ensure_workspace(settings)
    return Loop(
        store=store,
        connection=connection,
        name=name,
        ls_project_id=info.ls_project_id,
        client=client,
        workspace=WorkspaceFolder(settings),
        database_url=database_url,
        folder=folder,
        ls_url=label_studio.url,
        ls_token=label_studio.token,
    )


def labels(category, severity=None):
    value = {"category": category, "confidence": "2"}
    if severity:
        value["severity"] = severity
    return result_from_labels(TAXONOMY, value)


def annotate_as(client, user, task_id, result, **extra):
    return client.annotations.create(id=task_id, result=result, completed_by=user.id, **extra)


class Rendezvous:
    """Lets two callers meet inside a function: the first to arrive waits (at most
    ``timeout`` seconds) for the second. Two unserialised calls meet, so both are inside at
    once; a serialised second call never arrives while the first waits, and the first goes
    on alone after the timeout."""

    def __init__(self, timeout: float = 4.0):
        self.barrier = threading.Barrier(2, timeout=timeout)
        self.first_inside = threading.Event()

    def wrap(self, function):
        def met(*args, **kwargs):
            self.first_inside.set()
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait()
            return function(*args, **kwargs)

        return met


def in_threads(*calls):
    """Run ``calls`` on threads, the second once the first is inside its rendezvous (when
    ``calls`` come as ``(rendezvous, call)`` pairs); their results or exceptions, in order."""
    results: list = [None] * len(calls)

    def runner(index, call):
        try:
            results[index] = call()
        except BaseException as error:  # handed back to the test
            results[index] = error

    threads = []
    for index, (rendezvous, call) in enumerate(calls):
        thread = threading.Thread(target=runner, args=(index, call))
        thread.start()
        threads.append(thread)
        if rendezvous is not None:
            assert rendezvous.first_inside.wait(120), "the first call never got inside"
    for thread in threads:
        thread.join(300)
    return results
