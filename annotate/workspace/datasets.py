"""Publishing dataset versions and the registry that keeps them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from annotate.aggregation import Aggregation
from annotate.errors import InputError
from annotate.workspace.base import WorkspaceBase

if TYPE_CHECKING:
    from annotate.registry import PublishReport, Registry


class DatasetSteps(WorkspaceBase):
    """Publish, and the registry of published versions."""

    def publish(
        self,
        name: str,
        version: str,
        *,
        projects: Sequence[str],
        batches: Sequence[int] | None = None,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        min_annotators: int = 1,
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        message: str | None = None,
        license: str = "other",
        to: str = "local",
        hub_repo: str | None = None,
        private: bool = True,
        dry_run: bool = False,
        wait: bool = True,
        progress: Callable[[str, int, int | None], None] | None = None,
    ) -> PublishReport:
        """Publish an immutable dataset version to the local registry; with ``to="hub"`` or
        ``"both"`` and ``hub_repo`` also to the Hub (``HF_ENDPOINT``, ``HF_TOKEN``) as tag
        ``vVERSION`` (the version is built locally first either way)."""
        from annotate.registry import publish, push_to_hub

        if to not in ("local", "hub", "both"):
            raise InputError(f"--to {to!r}: use local, hub or both.")
        if to != "local" and not hub_repo:
            raise InputError("--to hub needs --hub-repo ORG/NAME.")
        report = publish(
            self.store,
            self.settings,
            self.folder,
            name,
            version,
            projects=list(projects),
            batches=list(batches) if batches else None,
            aggregation=aggregation,
            min_annotators=min_annotators,
            split=tuple(split),
            seed=seed,
            message=message,
            license=license,
            dry_run=dry_run,
            on_stale=self.say,
            progress=progress,
            wait=wait,
            on_wait=self.say,
        )
        if to != "local" and not dry_run:
            report.hub = push_to_hub(
                Path(report.path), self.settings, hub_repo, private=private, message=message
            )
        return report

    @cached_property
    def datasets(self) -> Registry:
        """The dataset registry: ``list()``, ``show(ref)``, ``diff(old, new)``, ``pull(ref)``."""
        from annotate.registry import Registry

        # Without a workspace there is no store to reconcile with (and none is created).
        settings = self.settings
        has_store = settings.database_url or settings.workspace.is_dir()
        return Registry(settings, store=self.store if has_store else None)
