"""Posts into the store, projects in Label Studio, and the sample → push → pull loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotate.workspace.base import WorkspaceBase

if TYPE_CHECKING:
    from annotate.batches import PushReport, SampleResult
    from annotate.ingest import IngestReport, ProgressCallback, Reject
    from annotate.projects import ProjectInfo, SyncReport
    from annotate.pull import PullReport
    from annotate.status import ProjectStatus
    from annotate.store import RecordedAnnotations


class LabellingSteps(WorkspaceBase):
    """Ingest, projects, sample, push, pull, record annotations, status."""

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
        model: Any = None,
        uncertainty: str = "margin",
        pre_annotate: Any = None,
        suggest_overlap: bool = False,
        from_corpus: str | None = None,
        engine: str = "duckdb",
        spark_master: str | None = None,
        rank_version: int | None = None,
    ) -> SampleResult:
        """Sample the next batch into a project and push it (tasks an interrupted run left
        unpushed go first); a dry run only says what it would take.

        ``strategy="uncertainty"`` or ``"activelab"`` ranks posts by ``model`` (a model
        object or a folder saved by ``train``; see :mod:`annotate.model_sampling`);
        ``pre_annotate`` (a model) shows its predictions on the new tasks, the overlap cohort
        left out unless ``suggest_overlap`` (see :mod:`annotate.suggestions`).

        ``from_corpus``: sample a registered corpus (:meth:`add_corpus`) with ``engine``
        (``duckdb`` or ``spark``, on ``spark_master`` or ``SPARK_REMOTE``) instead of the
        stored posts. ``rank_version``: 1 reruns a batch made before rank version 2."""
        from annotate.batches import sample
        from annotate.errors import InputError
        from annotate.sampling import MODEL_STRATEGIES, SamplingParams, load_lexicon, parse_where

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
            **({"rank_version": rank_version} if rank_version is not None else {}),
        )
        if from_corpus is None and (engine != "duckdb" or spark_master):
            raise InputError("--engine and --spark-master apply to sampling --from a corpus.")
        if strategy in MODEL_STRATEGIES:
            if from_corpus is not None:
                raise InputError(
                    f"--strategy {strategy} scores stored posts with a model; it does not "
                    "sample --from a corpus yet: sample the corpus with another strategy first."
                )
            result = self._sample_with_model(
                project,
                params,
                model,
                uncertainty,
                dry_run=dry_run,
                include_account_id=send_account_ids,
                progress=progress,
                wait=wait,
            )
        else:
            corpus = self.sampler(from_corpus, engine, spark_master) if from_corpus else None
            wanted = params.uses_lexicon or keywords is not None  # a file given is always checked
            lexicon = load_lexicon(self._lexicon_path(keywords)) if wanted else None
            result = sample(
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
                corpus=corpus,
            )
        if pre_annotate is None or dry_run:
            return result
        return self._suggest_on_batch(result, pre_annotate, suggest_overlap)

    def push(
        self,
        project: str,
        *,
        reconcile: bool = False,
        dry_run: bool = False,
        send_account_ids: bool = False,
        wait: bool = True,
        progress: Callable[[int, int], None] | None = None,
        pre_annotate: Any = None,
        suggest_overlap: bool = False,
    ) -> PushReport:
        """Push the project's recorded tasks Label Studio does not have yet; ``reconcile``
        first adopts or removes tasks Label Studio has and the store does not.
        ``pre_annotate`` (a model) then shows its predictions on every pushed task that has
        none, the overlap cohort left out unless ``suggest_overlap``."""
        from annotate.batches import push

        report = push(
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
        if pre_annotate is not None and not dry_run:
            report.suggestions = self.pre_annotate(
                project, pre_annotate, overlap_cohort=suggest_overlap
            )
        return report

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


def _flatten(paths: Iterable[Any]) -> list[Any]:
    """``ingest("a.jsonl", "b.csv")`` and ``ingest(["a.jsonl", "b.csv"])`` alike."""
    flat: list[Any] = []
    for path in paths:
        if isinstance(path, list | tuple):
            flat.extend(path)
        else:
            flat.append(path)
    return flat
