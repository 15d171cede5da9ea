"""The loop from Python: one object per workspace, one method per step.

A :class:`Workspace` holds the settings, the store and the Label Studio connection, each opened
on first use (so that steps without Label Studio never need one, and opening a workspace
writes nothing). Every ``annotate`` command is one of its methods, with the same options; the
CLI only parses and renders.

Usage::

    from annotate import Workspace

    ws = Workspace.open("team/.annotate")          # or Workspace.init(...) the first time
    ws.ingest("posts.jsonl", source="weibo-2024-10")
    ws.create_project("round-1", annotators_per_task=3, overlap=0.2)
    ws.sample("round-1", 500, strategy="mixed", by=["platform"])
    ws.pull("round-1")
    ws.agreement("round-1").summary.krippendorff_alpha
    ws.publish("finmis", "1.0.0", projects=["round-1"])
    ws.datasets.list()
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotate.aggregation import Aggregation
from annotate.config import (
    CONFIG_FILE,
    Settings,
    WorkspaceFolder,
    ensure_workspace,
    load_settings,
    mask_url,
    settings_report,
)
from annotate.errors import InputError
from annotate.store import Store, open_store, schema_head

if TYPE_CHECKING:
    from annotate.adjudication import AdjudicationReport
    from annotate.aggregation_runs import AggregationReport
    from annotate.annotators import AnnotatorSummary
    from annotate.batches import PushReport, SampleResult
    from annotate.demo_loop import DemoSummary
    from annotate.ingest import IngestReport, ProgressCallback, Reject
    from annotate.labelstudio import LabelStudioConnection
    from annotate.post_labels import ProjectLabels
    from annotate.projects import ProjectInfo, SyncReport
    from annotate.pull import PullReport
    from annotate.registry import PublishReport, Registry
    from annotate.report import AgreementReport
    from annotate.review import ReviewQueue
    from annotate.status import ProjectStatus
    from annotate.store import RecordedAnnotations
    from annotate.taxonomy import Taxonomy

__all__ = ["InitReport", "Workspace"]

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


class Workspace:
    """A workspace: settings, the store and Label Studio, with one method per step of the loop.

    ``say`` hears what a person should know while a step runs (waiting for another command's
    project lock, an aggregate recomputed before publishing); it prints to stderr by default.
    """

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
    ) -> Workspace:
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
    ) -> Workspace:
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

    def __enter__(self) -> Workspace:
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

    # ------------------------------------------------------------------------- posts

    def ingest(
        self,
        *paths: str | Path,
        source: str = "default",
        strict: bool = False,
        encoding: str = "utf-8",
        force_encoding: bool = False,
        id_field: str = "post_id",
        text_field: str = "text",
        on_reject: Callable[[Reject], None] | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Read post files into the store (see :func:`annotate.ingest.ingest_files`); rejected
        rows are listed in ``exports/rejects/``."""
        from annotate.ingest import ingest_files

        return ingest_files(
            self.store,
            [Path(path) for path in _flatten(paths)],
            source=source,
            strict=strict,
            encoding=encoding,
            force_encoding=force_encoding,
            id_field=id_field,
            text_field=text_field,
            rejects_dir=self.settings.exports / "rejects",
            on_reject=on_reject,
            progress=progress,
        )

    def post_stats(self) -> dict[str, Any]:
        """Stored posts by source, platform, language and month, and identical-text groups."""
        from annotate.ingest import post_stats

        return post_stats(self.store)

    # ---------------------------------------------------------------------- projects

    def create_project(
        self,
        name: str,
        *,
        taxonomy: str | Path | None = None,
        annotators_per_task: int = 3,
        overlap: float = 0.2,
    ) -> ProjectInfo:
        """A Label Studio project made from the taxonomy, recorded in the store."""
        from annotate.projects import create_project

        return create_project(
            self.store,
            self.label_studio,
            name,
            taxonomy_path=self.taxonomy_path(taxonomy),
            annotators_per_task=annotators_per_task,
            overlap=overlap,
        )

    def projects(self) -> list[ProjectInfo]:
        """The projects recorded in the store."""
        from annotate.projects import list_projects

        return list_projects(self.store)

    def project(self, name: str, *, live: bool = False) -> ProjectInfo:
        """A project as the store knows it; ``live`` adds Label Studio's counts and settings."""
        from annotate.projects import show_project

        return show_project(self.store, self.label_studio if live else None, name)

    def sync_project(
        self,
        name: str,
        *,
        taxonomy: str | Path | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> SyncReport:
        """Bring a project's labelling config up to the taxonomy (a breaking change on an
        annotated project only with ``force``)."""
        from annotate.projects import sync_project

        return sync_project(
            self.store,
            self.label_studio,
            name,
            taxonomy_path=self.taxonomy_path(taxonomy),
            force=force,
            dry_run=dry_run,
        )

    # -------------------------------------------------------------------------- loop

    def sample(
        self,
        project: str,
        size: int,
        *,
        strategy: str = "random",
        by: Sequence[str] = (),
        allocation: str = "proportional",
        keyword_share: float | None = None,
        where: Mapping[str, Any] | Iterable[str] | None = None,
        dedupe: bool = True,
        seed: int = 0,
        keywords: str | Path | None = None,
        gold: str | Path | None = None,
        gold_rate: float = 0.0,
        dry_run: bool = False,
        send_account_ids: bool = False,
        wait: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> SampleResult:
        """Sample the next batch into a project and push it (tasks an interrupted run left
        unpushed go first); a dry run only says what it would take."""
        from annotate.batches import sample
        from annotate.sampling import SamplingParams, load_lexicon, parse_where

        if where is None:
            conditions: dict[str, Any] = {}
        elif isinstance(where, Mapping):
            conditions = dict(where)
        else:
            conditions = parse_where(where)
        params = SamplingParams(
            size=size,
            strategy=strategy,
            by=tuple(by),
            allocation=allocation,
            keyword_share=keyword_share,
            where=conditions,
            dedupe=dedupe,
            seed=seed,
            gold_rate=gold_rate,
        )
        wanted = params.uses_lexicon or keywords is not None  # a file given is always checked
        lexicon = load_lexicon(self._lexicon_path(keywords)) if wanted else None
        return sample(
            self.store,
            None if dry_run else self.label_studio,
            project,
            params,
            lexicon=lexicon,
            gold_file=Path(gold) if gold is not None else None,
            dry_run=dry_run,
            include_account_id=send_account_ids,
            progress=progress,
            wait=wait,
            on_wait=self.say,
        )

    def push(
        self,
        project: str,
        *,
        reconcile: bool = False,
        dry_run: bool = False,
        send_account_ids: bool = False,
        wait: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> PushReport:
        """Push the project's recorded tasks Label Studio does not have yet; ``reconcile``
        first adopts or removes tasks Label Studio has and the store does not."""
        from annotate.batches import push

        return push(
            self.store,
            self.label_studio,
            project,
            include_account_id=send_account_ids,
            progress=progress,
            reconcile=reconcile,
            dry_run=dry_run,
            wait=wait,
            on_wait=self.say,
        )

    def pull(self, project: str, *, full: bool = False, wait: bool = True) -> PullReport:
        """Bring the store's annotations of a project up to date (incremental unless
        ``full``); one transaction."""
        from annotate.pull import pull

        return pull(
            self.store,
            self.label_studio,
            project,
            pseudonymise=self.folder.pseudonymise,
            full=full,
            wait=wait,
            on_wait=self.say,
        )

    def record_annotations(
        self,
        project: str,
        rows: Iterable[Any],
        *,
        taxonomy: str | Path | None = None,
        batch: str | None = None,
        gold: Mapping[Any, Mapping[str, Any]] | None = None,
    ) -> RecordedAnnotations:
        """Record annotations that did not come from Label Studio (another tool, an old
        spreadsheet, a simulation) as a long table ``(post, annotator, labels)``; see
        :func:`annotate.store.record_annotations`. Annotators named by e-mail are stored
        under their pseudonym."""
        from annotate.store import record_annotations

        return record_annotations(
            self.store,
            project,
            rows,
            taxonomy=self.taxonomy(taxonomy),
            batch=batch,
            gold=gold,
            pseudonymise=self.pseudonymise,
        )

    def status(self, project: str) -> ProjectStatus:
        """Per batch and per annotator: tasks, done, skipped, overlap coverage, lead time."""
        from annotate.status import project_status

        return project_status(self.store, project)

    # ------------------------------------------------------------------ agreement

    def agreement(
        self,
        project: str,
        *,
        field: str = "category",
        batch: int | None = None,
        min_annotators: int = 2,
        ci: bool = True,
        reveal: bool = False,
    ) -> AgreementReport:
        """Agreement of one field of a project: coefficients with bootstrap intervals, per
        label, per annotator, per batch. ``reveal`` names annotators by e-mail (for a lead's
        own eyes; reports otherwise name pseudonyms only)."""
        from annotate.agreement_data import post_texts, project_table
        from annotate.annotators import reveal_annotators
        from annotate.report import build_report

        table = project_table(
            self.store, project, field, batch=batch, min_annotators=min_annotators
        )
        if reveal:
            table = reveal_annotators(self.store, table)
        return build_report(table, ci=ci, texts=lambda items: post_texts(self.store, items))

    def annotators(self, project: str, *, field: str = "category") -> list[AnnotatorSummary]:
        """Who is who: pseudonym, Label Studio e-mail, work and agreement per annotator."""
        from annotate.annotators import annotator_roster

        return annotator_roster(self.store, project, field)

    # --------------------------------------------------------------- labels per post

    def labels(
        self,
        project: str,
        *,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        min_annotators: int = 1,
    ) -> ProjectLabels:
        """Labels per post, computed now from the annotations (rules applied, adjudicated
        decisions on top): ``items`` by post, each with labels, severity, posteriors, the
        annotators' answers and the reasons a person should look at it."""
        from annotate.post_labels import project_labels

        return project_labels(
            self.store, project, aggregation=aggregation, min_annotators=min_annotators
        )

    def aggregate(
        self,
        project: str,
        *,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        wait: bool = True,
    ) -> AggregationReport:
        """Aggregate the project's annotations into labels per post and store them."""
        from annotate.aggregation_runs import aggregate_project

        return aggregate_project(
            self.store, project, aggregation=aggregation, wait=wait, on_wait=self.say
        )

    def adjudicate(
        self,
        project: str,
        *,
        max_posterior: float = 0.8,
        severity_gap: int = 2,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        dry_run: bool = False,
        wait: bool = True,
    ) -> AdjudicationReport:
        """Send posts whose aggregate is uncertain to the project's adjudication project;
        ``dry_run`` says which and why and sends nothing (no Label Studio needed)."""
        from annotate.adjudication import adjudicate

        return adjudicate(
            self.store,
            None if dry_run else self.label_studio,
            project,
            max_posterior=max_posterior,
            severity_gap=severity_gap,
            aggregation=aggregation,
            dry_run=dry_run,
            wait=wait,
            on_wait=self.say,
        )

    def review_queue(
        self,
        project: str,
        *,
        top: int = 50,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        seed: int = 0,
        to_adjudication: bool = False,
    ) -> ReviewQueue:
        """Suspected label errors, most suspect first; ``to_adjudication`` sends them to the
        adjudication project (the report is in the queue's ``adjudication``)."""
        from annotate.review import project_review_queue, send_queue_to_adjudication

        queue = project_review_queue(
            self.store, project, top=top, aggregation=aggregation, seed=seed
        )
        if to_adjudication and queue.items:
            queue.adjudication = send_queue_to_adjudication(self.store, self.label_studio, queue)
        return queue

    # ----------------------------------------------------------------- datasets

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

    def demo_corpus(
        self,
        out: str | Path,
        *,
        size: int | None = None,
        seed: int | None = None,
        templates: str | Path | None = None,
    ) -> int:
        """Write the demo corpus (``.jsonl``, ``.csv`` or ``.parquet``) for this workspace's
        taxonomy; returns how many posts were written."""
        from annotate import demo

        return demo.write_corpus(
            out,
            size=demo.DEMO_SIZE if size is None else size,
            seed=demo.DEMO_SEED if seed is None else seed,
            taxonomy=self.taxonomy(),
            templates=templates,
        )

    def simulate_labelling(
        self, project: str, *, posts: int = 300, source: str = "demo", seed: int = 0
    ) -> RecordedAnnotations:
        """The demo's simulated team (an expert, a careful and a hasty annotator) labels
        ``posts`` demo posts of the store into ``project``, recorded without Label Studio:
        for tutorials, notebooks and tests. The posts' hidden true labels come from the demo
        corpus."""
        from annotate.simulation import DEFAULT_TEAM, simulate_labels
        from annotate.store import Post

        taxonomy = self.taxonomy()
        with self.store.session() as session:
            stored = session.exec(
                Post.__table__.select().where(Post.source == source).order_by(Post.id).limit(posts)
            ).all()
        if not stored:
            raise InputError(
                f"No posts of source {source!r} in the store to label.",
                hint="Ingest the demo corpus first (Workspace.demo_corpus, then ingest).",
            )
        rows = [
            (
                post.id,
                f"ann-{member.name}",
                simulate_labels(
                    member,
                    post.post_id,
                    (post.meta or {}).get("true_labels") or [],
                    (post.meta or {}).get("true_severity"),
                    seed,
                    taxonomy=taxonomy,
                ),
            )
            for post in stored
            for member in DEFAULT_TEAM
        ]
        return self.record_annotations(project, rows, batch="simulated")

    def demo_loop(self, *, batch_size: int = 150, seed: int = 7) -> DemoSummary:
        """The whole loop on the demo corpus (what ``make demo`` runs): a Label Studio of its
        own in the workspace unless one is configured."""
        from annotate.demo_loop import run_demo

        return run_demo(self, batch_size=batch_size, seed=seed)

    # --------------------------------------------------------------------- helpers

    def _lexicon_path(self, keywords: str | Path | None) -> Path:
        """``keywords``, else the team's ``label_config/keywords.yaml``, else the packaged."""
        from annotate.sampling import LEXICON_FILE
        from annotate.taxonomy import packaged_label_config

        if keywords is not None:
            return Path(keywords)
        local = self.label_config / LEXICON_FILE
        return local if local.is_file() else packaged_label_config() / LEXICON_FILE


def _flatten(paths: Iterable[Any]) -> list[Any]:
    """``ingest("a.jsonl", "b.csv")`` and ``ingest(["a.jsonl", "b.csv"])`` alike."""
    flat: list[Any] = []
    for path in paths:
        if isinstance(path, list | tuple):
            flat.extend(path)
        else:
            flat.append(path)
    return flat
