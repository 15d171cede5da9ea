"""`annotate ls serve`: a real Label Studio, started and stopped by the command.

The command runs as on a fresh machine: without PYTHONUNBUFFERED (set on this project's
machines), so what it prints must be flushed by the command itself, not left in a pipe's buffer
while it serves."""

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time

import httpx
from servers import _free_port  # tests/servers.py

#: How long a first start of Label Studio may take before the command must have printed.
START_TIMEOUT = 240


def serve(command: list[str]) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


class Lines:
    """The lines of a pipe, read by a thread: waiting for one fails after START_TIMEOUT
    seconds instead of hanging."""

    def __init__(self, stream):
        self.queue: queue.Queue = queue.Queue()
        self.got: list[str] = []

        def pump() -> None:
            for line in iter(stream.readline, ""):
                self.queue.put(line)
            self.queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, done, what: str) -> list[str]:
        """The lines up to the first for which ``done(line)`` holds."""
        start = len(self.got)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = self.queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {what} in {START_TIMEOUT} s; got {self.got!r}") from None
            assert line is not None, f"the command ended before printing {what}: {self.got!r}"
            self.got.append(line)
            if done(line):
                return self.got[start:]

    def rest(self) -> str:
        """Everything after, once the command has ended."""
        start = len(self.got)
        while (line := self.queue.get(timeout=60)) is not None:
            self.got.append(line)
        return "".join(self.got[start:])


def test_ls_serve_starts_label_studio_and_stops_it_on_sigterm(tmp_path):
    port = _free_port()
    command = [sys.executable, "-m", "annotate", "--workspace", str(tmp_path / "ws")]
    command += ["ls", "serve", "--port", str(port), "--data-dir", str(tmp_path / "ls"), "--json"]
    server = serve(command)
    out, err = Lines(server.stdout), Lines(server.stderr)
    try:
        # The JSON is printed once the server answers.
        line = "".join(out.until(lambda line: line == "}\n", "JSON"))
        data = json.loads(line)
        assert data["url"] == f"http://127.0.0.1:{port}"
        token_file = tmp_path / "ls" / "token"
        assert data["token_file"] == str(token_file)
        assert data["username"] == "admin@example.com"
        password_file = tmp_path / "ls" / "password"
        assert data["password_file"] == str(password_file)
        password = password_file.read_text().strip()
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        token = token_file.read_text().strip()
        projects = httpx.get(
            f"{data['url']}/api/projects", headers={"Authorization": f"Token {token}"}
        )
        assert projects.status_code == 200, projects.text
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        output = out.rest() + "".join(err.got) + err.rest()
        assert token not in line + output  # the token itself is never printed
        assert password not in line + output  # nor the password
        assert "Stopping Label Studio" in output
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the server went away with the command
            try:
                httpx.get(f"{data['url']}/health", timeout=1)
            except httpx.TransportError:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("Label Studio still answers after annotate ls serve stopped")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_ls_serve_says_how_to_log_in_without_printing_secrets(tmp_path):
    port = _free_port()
    command = [sys.executable, "-m", "annotate", "--workspace", str(tmp_path / "ws")]
    command += ["ls", "serve", "--port", str(port)]
    server = serve(command)
    try:
        lines = Lines(server.stderr).until(lambda line: line.startswith("  Start again"), "steps")
        data_dir = tmp_path / "ws" / "label-studio"  # the workspace's own Label Studio folder
        block = "".join(lines[lines.index("Next steps\n") :])
        assert f"open http://127.0.0.1:{port} as admin@example.com" in block
        assert f"the password is in {data_dir / 'password'}" in block
        assert f'LABEL_STUDIO_API_KEY="$(cat {data_dir / "token"})"' in block
        assert f"annotate ls serve --port {port} --data-dir {data_dir}" in block
        for secret in ("password", "token"):
            assert (data_dir / secret).read_text().strip() not in block
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
