"""`annotate ls serve`: a real Label Studio, started and stopped by the command."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import httpx
from servers import _free_port  # tests/servers.py


def test_ls_serve_starts_label_studio_and_stops_it_on_sigterm(tmp_path):
    port = _free_port()
    command = [sys.executable, "-m", "annotate", "--workspace", str(tmp_path / "ws")]
    command += ["ls", "serve", "--port", str(port), "--data-dir", str(tmp_path / "ls"), "--json"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while not line.endswith("}\n"):  # the JSON is printed once the server answers
            more = server.stdout.readline()
            assert more, server.stderr.read()
            line += more
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
        output = server.stdout.read() + server.stderr.read()
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
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("  Start again"):
            line = server.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
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
