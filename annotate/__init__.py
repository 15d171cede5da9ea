"""annotate: labelled datasets of financial misinformation, built around Label Studio.

The whole loop from Python, through one object (the CLI is a thin shell over it); the skipped
lines need a Label Studio (``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``)::

    >>> import pathlib, tempfile; team = pathlib.Path(tempfile.mkdtemp())  # a team's folder
    >>> from annotate import Workspace, demo
    >>> demo.write_corpus(team / "posts.jsonl", size=300, seed=1)
    300
    >>> ws = Workspace.init(team / ".annotate")            # settings, store, secret, label_config
    >>> ws.ingest(team / "posts.jsonl", source="demo").inserted
    300
    >>> ws.create_project("round-1", overlap=0.4)         # doctest: +SKIP
    >>> ws.sample("round-1", 100, strategy="mixed", by=["platform"])  # doctest: +SKIP
    >>> ws.pull("round-1").new                            # doctest: +SKIP
    >>> ws.agreement("round-1").interpretation.band       # doctest: +SKIP
    >>> ws.aggregate("round-1").labelled                  # doctest: +SKIP
    >>> ws.publish("finmis", "1.0.0", projects=["round-1"]).path  # doctest: +SKIP
    >>> ws.projects()                                     # none yet without Label Studio
    []
    >>> ws.close()

:class:`Workspace` documents every step; ``annotate --help`` lists the same steps as commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Workspace", "__version__"]

if TYPE_CHECKING:
    from annotate.workspace import Workspace


def __getattr__(name: str) -> Any:
    # Imported on first use: `annotate --version` and the light modules need none of it.
    if name == "Workspace":
        from annotate.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'annotate' has no attribute {name!r}")
