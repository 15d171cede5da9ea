"""Pre-annotations: a model's predictions shown on Label Studio tasks as suggestions, and what
they do to the labels.

A suggestion is a Label Studio *prediction* on a task: ``model_version`` (the model's name and
the dataset version it was trained on, e.g. ``baseline@finmis-1.0.0``), ``score`` and a
``result`` for the model's field, checked against the project's labelling config with the
SDK's label interface before anything is sent. The store records on each task which model
suggested what (``tasks.suggested_by``, ``tasks.suggestion``), so that :func:`suggestion_effect`
can compare agreement on tasks with and without suggestions and count how often annotators
simply took the suggestion.

Suggestions anchor annotators, so the overlap cohort (tasks Label Studio asks several
annotators for, ``overlap`` above 1) gets none by default: agreement measured there stays free
of the model. Label Studio chooses that cohort itself when tasks are imported, so
:func:`pre_annotate` runs after the push and reads each task's overlap from the server. Label
Studio re-spreads the cohort over all tasks after every later import, preferring tasks that
already have annotations; a suggested task may therefore join the cohort later, which
:func:`suggestion_effect` shows (suggested tasks with several annotators).

Usage::

    report = pre_annotate(store, connection, "round-2", model)   # after push
    effect = suggestion_effect(store, "round-2")
    effect.acceptance_rate, effect.with_suggestions.alpha_masi
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import bindparam, update

from annotate.errors import AnnotateError, InputError
from annotate.store import Post, Store, Task
from annotate.store.models import utcnow
from annotate.store.queries import project_and_taxonomy, tasks_with_posts
from annotate.taxonomy import Taxonomy, render_label_config, result_from_labels

if TYPE_CHECKING:
    from annotate.labelstudio import LabelStudioConnection

__all__ = [
    "Model",
    "PreAnnotationReport",
    "SuggestionEffect",
    "check_model_fits",
    "load_model",
    "pre_annotate",
    "predictions_for",
    "suggestion_effect",
]

#: Predictions per import request.
CHUNK_SIZE = 2_000


class Model(Protocol):
    """What the loop needs of a trained model (:class:`annotate.baseline.Baseline` is one)."""

    field: str
    labels: list[str]
    thresholds: dict[str, float]
    model_version: str

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def predict(self, texts: Sequence[str]) -> list[list[str]]: ...

    def decide(self, probabilities: np.ndarray) -> list[list[str]]:
        """:meth:`predict` for probabilities already computed."""
        ...


def load_model(model: Model | str | Path) -> Model:
    """A model object as given, or the model saved in a folder (``annotate train --out``)."""
    if not isinstance(model, str | Path):
        return model
    from annotate.baseline import Baseline

    path = Path(model)
    if not path.exists():
        raise InputError(
            f"There is no model at {path}.",
            hint="Train one with 'annotate train DATASET --out DIR'.",
        )
    return Baseline.load(path)


def check_model_fits(model: Model, taxonomy: Taxonomy) -> None:
    """A model trained on labels the project's taxonomy does not define is refused."""
    try:
        spec = taxonomy.field(model.field)
    except KeyError:
        raise InputError(
            f"Model {model.model_version} predicts field {model.field!r}, which taxonomy "
            f"{taxonomy.ref} does not have."
        ) from None
    unknown = sorted(set(model.labels) - set(spec.label_ids))
    if unknown:
        raise InputError(
            f"Model {model.model_version} predicts labels that taxonomy {taxonomy.ref} does not "
            f"define in field {model.field!r}: {', '.join(unknown)}.",
            hint="Train the model on a dataset version made under this taxonomy.",
        )


def predictions_for(
    model: Model, texts: Sequence[str], taxonomy: Taxonomy
) -> list[tuple[list[str], float, list[dict[str, Any]]]]:
    """``(labels, score, result)`` per text: the model's labels for its field, the score Label
    Studio shows (the probability of the least probable suggested label: the whole suggestion
    is at most that likely), and the Label Studio ``result``, valid for the taxonomy's
    labelling config (checked with the SDK's label interface; an invalid one is an error)."""
    from label_studio_sdk.label_interface import LabelInterface

    check_model_fits(model, taxonomy)
    if not texts:
        return []
    interface = LabelInterface(render_label_config(taxonomy))
    probabilities = np.asarray(model.predict_proba(list(texts)), dtype=float)
    column = {label: index for index, label in enumerate(model.labels)}
    made = []
    for row, labels in enumerate(model.decide(probabilities)):
        labels = sorted(labels, key=column.__getitem__)
        score = float(min((probabilities[row, column[label]] for label in labels), default=0.0))
        result = result_from_labels(taxonomy, {model.field: labels}) if labels else []
        errors = interface.validate_prediction({"result": result}, return_errors=True)
        if errors:
            raise AnnotateError(
                f"Model {model.model_version}'s prediction {labels} does not fit the labelling "
                f"config of taxonomy {taxonomy.ref}: {errors[0]}"
            )
        made.append((labels, round(score, 4), result))
    return made


@dataclass
class PreAnnotationReport:
    """``suggested``: tasks that got the model's prediction now; ``overlap_cohort``: tasks left
    without one because they are in the overlap cohort; ``already``: tasks that had one."""

    project: str
    model_version: str
    suggested: int = 0
    overlap_cohort: int = 0
    already: int = 0
    task_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pre_annotate(
    store: Store,
    connection: LabelStudioConnection,
    project_name: str,
    model: Model,
    *,
    batch_id: int | None = None,
    overlap_cohort: bool = False,
) -> PreAnnotationReport:
    """Attach ``model``'s predictions to the project's pushed tasks that have none yet (of one
    batch with ``batch_id``), leaving out the overlap cohort unless ``overlap_cohort``; the
    store records each suggestion."""
    with store.session() as session:
        project, taxonomy = project_and_taxonomy(session, project_name)
        query = tasks_with_posts(project.id, Task.id, Task.ls_task_id, Task.suggested_by, Post.text)
        query = query.where(Task.ls_task_id.is_not(None), Task.deleted_at.is_(None))
        if batch_id is not None:
            query = query.where(Task.batch_id == batch_id)
        rows = session.exec(query.order_by(Task.id)).all()
        ls_project_id = project.ls_project_id
    check_model_fits(model, taxonomy)
    report = PreAnnotationReport(project_name, model.model_version)
    overlaps = connection.task_overlaps(ls_project_id) if not overlap_cohort else {}
    chosen = []
    for task_pk, ls_task_id, suggested_by, text in rows:
        if suggested_by is not None:
            report.already += 1
        elif overlaps.get(ls_task_id, 1) > 1:
            report.overlap_cohort += 1
        else:
            chosen.append((task_pk, ls_task_id, text))
    table = Task.__table__
    for start in range(0, len(chosen), CHUNK_SIZE):
        chunk = chosen[start : start + CHUNK_SIZE]
        made = predictions_for(model, [text for _, _, text in chunk], taxonomy)
        connection.import_predictions(
            ls_project_id,
            [
                {
                    "task": ls_task_id,
                    "result": result,
                    "score": score,
                    "model_version": model.model_version,
                }
                for (_, ls_task_id, _), (_, score, result) in zip(chunk, made, strict=True)
            ],
        )
        with store.transaction() as session:
            now = utcnow()
            session.execute(
                update(table)
                .where(table.c.id == bindparam("task_pk"))
                .values(
                    suggested_by=model.model_version,
                    suggestion=bindparam("suggestion"),
                    suggested_at=now,
                ),
                [
                    {
                        "task_pk": task_pk,
                        "suggestion": {"field": model.field, "labels": labels, "score": score},
                    }
                    for (task_pk, _, _), (labels, score, _) in zip(chunk, made, strict=True)
                ],
                execution_options={"synchronize_session": False},
            )
        report.suggested += len(chunk)
        report.task_ids += [ls_task_id for _, ls_task_id, _ in chunk]
    return report


# ------------------------------------------------------------------------------- effect


@dataclass
class CohortAgreement:
    """Agreement of one group of tasks: α over label sets (MASI) of its items with two or more
    annotators, or why it is not measured."""

    tasks: int
    items_measured: int
    alpha_masi: float | None
    undefined_reason: str | None = None


@dataclass
class SuggestionEffect:
    """Agreement with and without suggestions, and how often annotators took the suggestion
    as it was (``acceptance_rate``: annotations of suggested tasks whose labels for the field
    equal the suggested labels, over all annotations of suggested tasks)."""

    project: str
    field: str
    with_suggestions: CohortAgreement
    without_suggestions: CohortAgreement
    suggested_annotations: int
    accepted: int
    acceptance_rate: float | None
    models: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def suggestion_effect(store: Store, project_name: str, field: str = "category") -> SuggestionEffect:
    """Compare the project's tasks with and without a model's suggestion (see the module
    docstring); reads the store only."""
    from annotate.agreement import multilabel_agreement
    from annotate.agreement_data import project_table, split_by_annotator_count

    table = project_table(store, project_name, field, min_annotators=1)
    with store.session() as session:
        project, _ = project_and_taxonomy(session, project_name)
        tasks = session.exec(
            tasks_with_posts(project.id, Task.post_pk, Task.suggested_by, Task.suggestion).where(
                Task.deleted_at.is_(None)
            )
        ).all()
    suggestion = {
        post_pk: frozenset((given or {}).get("labels") or ())
        for post_pk, by, given in tasks
        if by is not None and (given or {}).get("field") == field
    }
    models = sorted({by for _, by, _ in tasks if by is not None})
    rows = table.rows  # min_annotators=1 drops nothing
    accepted = sum(1 for item, _, value in rows if item in suggestion and value == suggestion[item])
    on_suggested = sum(1 for item, _, _ in rows if item in suggestion)

    def cohort(selected: list, n_tasks: int) -> CohortAgreement:
        measured, _ = split_by_annotator_count(selected, 2)
        n_items = len({row[0] for row in measured})
        if n_items < 2:
            reason = "fewer than two items with two or more annotators"
            return CohortAgreement(n_tasks, n_items, None, reason)
        values = [(item, annotator, sorted(value)) for item, annotator, value in measured]
        alpha = multilabel_agreement(values, labels=table.labels).alpha_masi
        return CohortAgreement(n_tasks, n_items, alpha.value, alpha.undefined_reason)

    n_suggested = sum(1 for _, by, _ in tasks if by is not None)
    return SuggestionEffect(
        project=project_name,
        field=field,
        with_suggestions=cohort([row for row in rows if row[0] in suggestion], n_suggested),
        without_suggestions=cohort(
            [row for row in rows if row[0] not in suggestion], len(tasks) - n_suggested
        ),
        suggested_annotations=on_suggested,
        accepted=accepted,
        acceptance_rate=round(accepted / on_suggested, 4) if on_suggested else None,
        models=models,
    )
