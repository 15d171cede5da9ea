"""The demo's model round (the second half of `make demo`): after a version is published,

1. train the baseline on it and evaluate it on its test split;
2. sample the next batch with ``activelab`` (new posts, or one more annotator for labelled
   posts whose labels are least settled) and show the model's predictions on the new tasks
   outside the overlap cohort;
3. let the simulated annotators label the new tasks and give each re-labelled post its extra
   annotation, then pull;
4. publish the next version, train and evaluate on it, with both evaluations side by side in
   ``exports/evaluations/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from annotate.batches import SampleResult
from annotate.demo_loop import label_as_team
from annotate.model_sampling import sample_with_model
from annotate.pull import pull
from annotate.sampling import SamplingParams
from annotate.simulation import DEFAULT_TEAM
from annotate.store import Post, Task
from annotate.store.queries import get_project, tasks_with_posts
from annotate.suggestions import pre_annotate
from annotate.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from annotate.labelstudio import LabelStudioConnection
    from annotate.workspace import Workspace


def train_and_evaluate(ws: Workspace, name: str, version: str, say: Callable[[str], None]):
    """Train the baseline on ``name@version``; its test evaluation goes to
    ``exports/evaluations/``. Returns ``(model folder, summary)``."""
    ref = f"{name}@{version}"
    trained = ws.train(ref)
    evaluation = ws.evaluate(trained.path, ref, report=ws.settings.exports / "evaluations")
    summary = {
        "dataset": ref,
        "model": trained.path,
        "model_version": trained.model_version,
        "macro_f1": evaluation.macro.f1,
        "majority_macro_f1": evaluation.majority.get("macro_f1"),
        "report": evaluation.report.get("html"),
    }
    say(
        f"Baseline {trained.model_version}: test macro-F1 {_number(evaluation.macro.f1)} "
        f"(majority class {_number(summary['majority_macro_f1'])}); report {summary['report']}"
    )
    return trained.path, summary


def model_round(
    ws: Workspace,
    connection: LabelStudioConnection,
    project: str,
    published: dict[str, Any],
    publish: Callable[[], dict[str, Any]],
    *,
    batch_size: int,
    seed: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Steps 1–4 of the module docstring; ``publish()`` publishes the next version."""
    from annotate.baseline import Baseline

    model_path, first = train_and_evaluate(ws, published["name"], published["version"], say)
    model = Baseline.load(model_path)
    params = SamplingParams(size=batch_size, strategy="activelab", seed=seed)
    chosen = sample_with_model(ws.store, connection, project, params, model)
    batch_id = chosen.batch.batch_id if chosen.batch else None
    suggested = pre_annotate(ws.store, connection, project, model, batch_id=batch_id)
    say(
        f"Batch {batch_id} by activelab ({model.model_version}): "
        f"{len(chosen.selection['picks'])} new posts, {len(chosen.selection['relabel'])} "
        f"labelled posts get one more annotator; suggestions on {suggested.suggested} tasks, "
        f"none on the {suggested.overlap_cohort} of the overlap cohort."
    )
    annotations = simulate_round(ws, connection, project, chosen, seed)
    pulled = pull(ws.store, connection, project, pseudonymise=ws.folder.pseudonymise)
    say(f"Simulated annotators made {annotations} annotations; pulled {pulled.new}.")
    effect = ws.suggestion_effect(project)
    if effect.acceptance_rate is not None:
        say(f"Annotators took the model's suggestion as it was {effect.acceptance_rate:.0%}.")
    following = publish()
    _, second = train_and_evaluate(ws, following["name"], following["version"], say)
    return {
        "first": first,
        "next": second,
        "batch": chosen.as_dict() | {"suggestions": suggested.as_dict()},
        "annotations": annotations,
        "suggestion_effect": effect.as_dict(),
        "published": following,
    }


def simulate_round(
    ws: Workspace,
    connection: LabelStudioConnection,
    project: str,
    chosen: SampleResult,
    seed: int,
) -> int:
    """The simulated team labels the new tasks (the overlap cohort by all of them, the rest by
    one each) and gives every re-labelled post one annotation by a member who has not
    labelled it yet."""
    taxonomy = load_taxonomy()
    users = {
        member.name: connection.ensure_user(f"demo-{member.name}@example.com")
        for member in DEFAULT_TEAM
    }
    with ws.store.session() as session:
        ls_project_id = get_project(session, project).ls_project_id
        rows = session.exec(
            tasks_with_posts(
                get_project(session, project).id,
                Task.ls_task_id,
                Task.batch_id,
                Post.id,
                Post.post_id,
                Post.text,
                Post.meta,
            )
        ).all()
    batch_id = chosen.batch.batch_id if chosen.batch else None
    relabel = {item["post_pk"]: item for item in chosen.selection["relabel"]}
    overlaps = connection.task_overlaps(ls_project_id)
    done_by: dict[int, set[int]] = {}
    if relabel:
        exported = connection.export_by_id(
            ls_project_id, [item["ls_task_id"] for item in relabel.values() if item["ls_task_id"]]
        )
        done_by = {
            task["id"]: {_user_id(a.get("completed_by")) for a in task.get("annotations") or []}
            for task in exported
        }
    count = 0
    for index, (ls_task_id, task_batch, post_pk, post_id, text, meta) in enumerate(rows):
        if task_batch == batch_id and batch_id is not None:
            many = overlaps.get(ls_task_id, 1) > 1
            team = DEFAULT_TEAM if many else (DEFAULT_TEAM[index % len(DEFAULT_TEAM)],)
        elif post_pk in relabel:
            free = [m for m in DEFAULT_TEAM if users[m.name] not in done_by.get(ls_task_id, ())]
            team = tuple(free[:1])
        else:
            continue
        count += label_as_team(
            connection, taxonomy, users, team, ls_task_id, post_id, text, meta, seed
        )
    return count


def _user_id(value: Any) -> int | None:
    return value.get("id") if isinstance(value, dict) else value


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
