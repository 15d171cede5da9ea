"""A local Label Studio server for development and the demo (needs the ``server`` extra).

Usage:
    annotate ls serve
    annotate ls serve --port 8081 --data-dir /tmp/ls
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from annotate.cli._shared import JsonOpt, emit, new_app, next_steps, say, workspace
from annotate.errors import AnnotateError
from annotate.ls_server import PASSWORD_FILE_NAME, TOKEN_FILE_NAME, start_label_studio

app = new_app("ls", help="Run a local Label Studio server.")


@app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8080,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Label Studio's data folder (its database and uploads).",
            show_default="WORKSPACE/label-studio",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start Label Studio on 127.0.0.1 and keep it running until Ctrl-C.

    The first start creates an admin user and an API token, stored in DATA_DIR/token (mode
    0600); later starts on the same folder reuse them. The token itself is never printed.
    """
    folder = data_dir or workspace(ctx).folder.path / "label-studio"
    say(f"Starting Label Studio on 127.0.0.1:{port} (a first start takes about 40 s) ...")
    server = start_label_studio(port=port, data_dir=folder)
    token_file = server.data_dir / TOKEN_FILE_NAME
    password_file = server.data_dir / PASSWORD_FILE_NAME
    data = {
        "url": server.url,
        "username": server.username,
        "password_file": str(password_file) if password_file.exists() else None,
        "token_file": str(token_file),
        "data_dir": str(server.data_dir),
    }

    def render(data: dict) -> None:
        say(f"Label Studio is running at {data['url']}")
        password = (
            f"the password is in {data['password_file']}"
            if data["password_file"]
            else "the password was set when this data folder was first used"
        )
        next_steps(
            [
                ("Log in", f"open {data['url']} as {data['username']}; {password}"),
                ("Use it", f"export LABEL_STUDIO_URL={data['url']}"),
                ("", f'export LABEL_STUDIO_API_KEY="$(cat {data["token_file"]})"'),
                ("Stop", "press Ctrl-C"),
                ("Start again", f"annotate ls serve --port {port} --data-dir {data['data_dir']}"),
            ]
        )

    emit(data, as_json, render)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            if not server.is_running():
                raise AnnotateError(
                    f"Label Studio stopped unexpectedly; see {server.data_dir}/label-studio.log."
                )
    except KeyboardInterrupt:
        pass
    finally:
        say("Stopping Label Studio ...")
        server.stop()
