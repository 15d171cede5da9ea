"""The model in the loop: model-chosen batches, pre-annotations, and what suggestions do."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotate.workspace.base import WorkspaceBase

if TYPE_CHECKING:
    from annotate.batches import SampleResult
    from annotate.sampling import SamplingParams
    from annotate.suggestions import Model, PreAnnotationReport, SuggestionEffect


class ModelLoopSteps(WorkspaceBase):
    """Pre-annotate tasks with a model, compare agreement with and without suggestions, and
    the model strategies of :meth:`sample` (``uncertainty``, ``activelab``)."""

    def pre_annotate(
        self,
        project: str,
        model: Model | str | Path,
        *,
        batch: int | None = None,
        overlap_cohort: bool = False,
    ) -> PreAnnotationReport:
        """Show ``model``'s predictions as suggestions on the project's pushed tasks that have
        none (of one batch with ``batch``); the overlap cohort gets none unless
        ``overlap_cohort`` (see :mod:`annotate.suggestions`)."""
        from annotate.suggestions import load_model, pre_annotate

        return pre_annotate(
            self.store,
            self.label_studio,
            project,
            load_model(model),
            batch_id=batch,
            overlap_cohort=overlap_cohort,
        )

    def suggestion_effect(self, project: str, *, field: str = "category") -> SuggestionEffect:
        """Agreement on tasks with and without a model's suggestion, and how often annotators
        took the suggestion as it was."""
        from annotate.suggestions import suggestion_effect

        return suggestion_effect(self.store, project, field)

    def _sample_with_model(
        self,
        project: str,
        params: SamplingParams,
        model: Model | str | Path | None,
        uncertainty: str,
        **options: Any,
    ) -> SampleResult:
        from annotate.errors import InputError
        from annotate.model_sampling import sample_with_model
        from annotate.suggestions import load_model

        if model is None:
            raise InputError(
                f"The {params.strategy} strategy needs a model.",
                hint="Pass --model DIR (a model saved by 'annotate train').",
            )
        dry_run = options.get("dry_run", False)
        return sample_with_model(
            self.store,
            None if dry_run else self.label_studio,
            project,
            params,
            load_model(model),
            method=uncertainty,
            on_wait=self.say,
            **options,
        )

    def _suggest_on_batch(
        self,
        result: SampleResult,
        model: Model | str | Path,
        overlap_cohort: bool,
    ) -> SampleResult:
        if result.batch is not None:
            result.suggestions = self.pre_annotate(
                result.project, model, batch=result.batch.batch_id, overlap_cohort=overlap_cohort
            )
        return result
