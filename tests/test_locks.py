"""Project locks on SQLite and PostgreSQL: one holder at a time, across threads and processes;
a waiter is told whom it waits for; a killed holder lets go."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from annotate.locks import ProjectBusyError, current_holder, project_lock
from annotate.store import Project, open_store


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    with store.transaction() as session:
        session.add_all([Project(name="round-1"), Project(name="round-2")])
    yield store
    store.dispose()


def on_a_thread(function):
    """Start ``function`` on a thread; the returned callable joins it and returns its result
    (or raises its exception)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as error:  # raised again in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()

    def join(timeout=60):
        thread.join(timeout)
        assert not thread.is_alive(), "the thread is still waiting"
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    join.thread = thread
    return join


def try_now(store, name="round-1"):
    with project_lock(store, name, command="second", wait=False):
        return "got it"


def test_a_caller_that_will_not_wait_is_told_who_holds_the_lock(store):
    with project_lock(store, "round-1", command="push"), pytest.raises(ProjectBusyError) as caught:
        on_a_thread(lambda: try_now(store))()
    message = str(caught.value)
    assert message.startswith(
        f"Project 'round-1' is locked by pid {os.getpid()} on host {socket.gethostname()} since "
    )
    assert "(push)" in message
    assert on_a_thread(lambda: try_now(store))() == "got it"  # released on leaving


def test_a_waiting_caller_is_told_once_and_goes_on_when_the_holder_is_done(store):
    heard = []
    order = []

    def wait_for_it():
        with project_lock(store, "round-1", command="pull", on_wait=heard.append):
            order.append("waiter")

    with project_lock(store, "round-1", command="push"):
        join = on_a_thread(wait_for_it)
        deadline = time.monotonic() + 30
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        order.append("holder done")
    join()
    assert order == ["holder done", "waiter"]
    assert len(heard) == 1
    assert heard[0].startswith(f"Waiting for project 'round-1', held by pid {os.getpid()} on host ")
    assert current_holder(store, store_project_id(store, "round-1")) is None


def store_project_id(store, name):
    from annotate.store.queries import get_project

    with store.session() as session:
        return get_project(session, name).id


def test_other_projects_and_nested_calls_do_not_wait(store):
    with project_lock(store, "round-1", command="publish"):
        assert on_a_thread(lambda: try_now(store, "round-2"))() == "got it"
        with (
            project_lock(store, "round-1", command="aggregate", wait=False),
            project_lock(store, ["round-2", "round-1"], command="publish", wait=False),
        ):
            pass
        with pytest.raises(ProjectBusyError):  # still held by the outer call
            on_a_thread(lambda: try_now(store))()


def test_a_holder_killed_with_sigkill_lets_go(store, database_url):
    script = textwrap.dedent(
        f"""
        import time
        from annotate.locks import project_lock
        from annotate.store import open_store
        with project_lock(open_store({database_url!r}), "round-1", command="push"):
            print("holding", flush=True)
            time.sleep(600)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(ProjectBusyError, match=f"pid {holder.pid} on host"):
            try_now(store)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
        deadline = time.monotonic() + 10  # PostgreSQL ends the backend when it sees the EOF
        while True:
            try:
                assert try_now(store) == "got it"
                break
            except ProjectBusyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
