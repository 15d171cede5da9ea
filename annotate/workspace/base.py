"""The workspace's handles: settings, folder, store and Label Studio, opened on first use."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from annotate.config import (
    CONFIG_FILE,
    Settings,
    WorkspaceFolder,
    ensure_workspace,
    load_settings,
    mask_url,
    settings_report,
)
from annotate.store import Store, open_store, schema_head

if TYPE_CHECKING:
    from annotate.labelstudio import LabelStudioConnection
    from annotate.taxonomy import Taxonomy


LABEL_CONFIG = "label_config"


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class InitReport:
    """What :meth:`Workspace.init` found or made."""

    workspace: str
    created: bool
    config: str
    database: str
    schema: str | None
    label_config: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class WorkspaceBase:
    """What every step needs: the settings, and the workspace folder, store and Label Studio
    connection, each opened on first use. The steps are in the mixins beside this module;
    :class:`annotate.Workspace` is all of them."""

    def __init__(self, settings: Settings, *, say: Callable[[str], None] | None = None):
        self.settings = settings
        self.say = say or _to_stderr
        #: What :meth:`init` found or made (None unless it ran).
        self.init_report: InitReport | None = None
        self._folder: WorkspaceFolder | None = None
        self._store: Store | None = None
        self._label_studio: LabelStudioConnection | None = None

    # ---------------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        say: Callable[[str], None] | None = None,
        **overrides: Any,
    ) -> Self:
        """The workspace at ``path`` (default ``.annotate``, or ``ANNOTATE_WORKSPACE``).

        ``overrides`` are settings by name (``database_url=``, ``label_studio_url=``,
        ``exports=``...), as the CLI's options give them; ``None`` means not given. Nothing is
        written until a step needs it: the folder, its settings file and its secret are made
        on first use (and ``say`` is told).
        """
        return cls(load_settings(workspace=path, **overrides), say=say)

    @classmethod
    def init(
        cls,
        path: str | Path | None = None,
        *,
        say: Callable[[str], None] | None = None,
        **overrides: Any,
    ) -> Self:
        """Open the workspace and make it: settings file, secret, a migrated database, and
        ``label_config/`` beside it for the team to edit. Nothing that exists is overwritten;
        what was made is in ``init_report``."""
        from annotate.taxonomy import copy_label_config

        workspace = cls(load_settings(workspace=path, **overrides), say=say)
        settings = workspace.settings
        created = ensure_workspace(settings)
        workspace.store  # noqa: B018 - opening it creates and migrates the database
        copied = copy_label_config(workspace.label_config)
        workspace.init_report = InitReport(
            workspace=str(settings.workspace),
            created=created,
            config=str(settings.workspace / CONFIG_FILE),
            database=mask_url(settings.effective_database_url),
            schema=schema_head(),
            label_config=[str(copy) for copy in copied],
        )
        return workspace

    @property
    def path(self) -> Path:
        """The workspace folder (settings file, SQLite database, secret)."""
        return self.settings.workspace

    @property
    def folder(self) -> WorkspaceFolder:
        """The workspace folder and its pseudonymisation secret, made on first use."""
        if self._folder is None:
            if ensure_workspace(self.settings):
                self.say(f"Created workspace {self.path}/ (settings, database, secret).")
            self._folder = WorkspaceFolder(self.settings)
        return self._folder

    @property
    def label_config(self) -> Path:
        """``label_config/`` beside the workspace: the team's taxonomy, guidelines, lexicon."""
        return self.settings.workspace.parent / LABEL_CONFIG

    @property
    def store(self) -> Store:
        """The store, opened (and migrated to the newest schema) on first use."""
        if self._store is None:
            self._store = open_store(self.folder.database_url)
        return self._store

    @property
    def label_studio(self) -> LabelStudioConnection:
        """Label Studio (``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``), connected on first use."""
        if self._label_studio is None:
            from annotate.labelstudio import connect

            self._label_studio = connect(self.settings)
        return self._label_studio

    @label_studio.setter
    def label_studio(self, connection: LabelStudioConnection) -> None:
        self._label_studio = connection

    def pseudonymise(self, value: str, kind: str = "annotator") -> str:
        """The keyed hash that stands for ``value`` in every published dataset and report."""
        return self.folder.pseudonymise(value, kind)

    def close(self) -> None:
        """Let go of the store's connections (``with Workspace.open(...) as ws`` does it)."""
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # ---------------------------------------------------------------------- settings

    def config(self, options: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """The effective settings and where each came from, secrets masked."""
        return settings_report(self.settings, options or {})

    def taxonomy_path(self, path: str | Path | None = None) -> Path:
        """``path``, else the team's ``label_config/taxonomy.yaml``, else the packaged one."""
        from annotate.taxonomy import TAXONOMY_FILE, packaged_label_config

        if path is not None:
            return Path(path)
        local = self.label_config / TAXONOMY_FILE
        return local if local.is_file() else packaged_label_config() / TAXONOMY_FILE

    def taxonomy(self, path: str | Path | None = None) -> Taxonomy:
        """The taxonomy (see :meth:`taxonomy_path`), validated."""
        from annotate.taxonomy import load_taxonomy

        return load_taxonomy(self.taxonomy_path(path))

    def _lexicon_path(self, keywords: str | Path | None) -> Path:
        """``keywords``, else the team's ``label_config/keywords.yaml``, else the packaged."""
        from annotate.sampling import LEXICON_FILE
        from annotate.taxonomy import packaged_label_config

        if keywords is not None:
            return Path(keywords)
        local = self.label_config / LEXICON_FILE
        return local if local.is_file() else packaged_label_config() / LEXICON_FILE
