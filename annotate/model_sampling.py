"""Model-chosen batches: ``annotate sample PROJECT --strategy uncertainty|activelab --model M``.

The batch is chosen by the sampling machinery of :mod:`annotate.sampling` (strata and their
quotas, near-duplicates of each other and of posts sent earlier left out, the composition
table), with one change: a post's rank is its model score (:mod:`annotate.sampling.model_scores`)
instead of its keyed hash, which only breaks ties. So each stratum gives its quota of the
posts the model is least sure about (``uncertainty``) or that ActiveLab rates most informative
(``activelab``).

``activelab`` also scores the project's posts that already have annotations (with the
baseline's cross-validated probabilities on their majority-vote labels, as the benchmark
does; :func:`_labelled_probabilities`): posts whose
score ranks among the batch's ``size`` best of all (new and labelled together) are *re-labelled*
rather than replaced by new posts: Label Studio is asked for one more annotator on their task
(its ``overlap`` raised to the number of annotators so far plus one), and the batch takes that
many fewer new posts. The batch records the strategy, the model's version, every chosen post's
score and the re-labelled posts (``batches.params``).

Every candidate is scored: a run holds the candidates (with their texts) and one probability
row each in memory while it scores them in chunks of :data:`SCORE_CHUNK`, then keeps the
best-ranked few per stratum. That suits the store's scale (thousands to a few hundred thousand
candidates); scoring a corpus of millions in flat memory would need ActiveLab's labelled part
computed once and the unlabelled scores streamed, which is not done here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlmodel import select

from annotate.batches import SampleResult, push, record_batch
from annotate.errors import InputError
from annotate.locks import project_lock
from annotate.sampling import SamplingParams, read_candidates, read_sent
from annotate.sampling.model_scores import (
    UNCERTAINTY_METHODS,
    activelab,
    rank_from_score,
    uncertainty,
)
from annotate.sampling.scan import BottomK, ScanPlan
from annotate.sampling.selection import Shortlist
from annotate.store import Annotation, Annotator, Post, Store, Task
from annotate.store.queries import live_annotations, project_and_taxonomy
from annotate.suggestions import Model, check_model_fits

if TYPE_CHECKING:
    from annotate.labelstudio import LabelStudioConnection

__all__ = ["Relabel", "choose_with_model", "sample_with_model"]

#: Texts per ``predict_proba`` call: bounds the memory of a scoring pass.
SCORE_CHUNK = 5_000
#: Candidates kept per stratum: room for the quota and many near-duplicates.
_KEEP_FACTOR = 4
_KEEP_MIN = 64


@dataclasses.dataclass(frozen=True)
class Relabel:
    """A post with annotations that gets one more annotator: its task, how many annotated
    it so far, and its ActiveLab score."""

    post_pk: int
    post_id: str
    ls_task_id: int | None
    annotators: int
    score: float


def _probabilities(model: Model, texts: Sequence[str]) -> np.ndarray:
    parts = [
        np.asarray(model.predict_proba(list(texts[start : start + SCORE_CHUNK])), dtype=float)
        for start in range(0, len(texts), SCORE_CHUNK)
    ]
    return np.vstack(parts) if parts else np.zeros((0, len(model.labels)))


#: Fewer labelled posts than this are scored by the model itself (too few to cross-validate).
MIN_CROSS_VALIDATED = 20


def _labelled_probabilities(
    model: Model, texts: list[str], annotations: list[dict[str, frozenset[str]]]
) -> np.ndarray:
    """Out-of-sample probabilities of the labelled posts, as ActiveLab wants them: the
    baseline cross-validated on their majority-vote labels (5 folds), or the model's own
    probabilities for fewer than :data:`MIN_CROSS_VALIDATED` posts (likely in-sample: the
    model was trained on a version these posts are in, which makes ActiveLab trust it more
    than it should)."""
    from annotate.baseline import cross_val_proba

    if len(texts) < MIN_CROSS_VALIDATED:
        return _probabilities(model, texts)
    votes = []
    for given in annotations:
        counts = {
            label: sum(label in answer for answer in given.values()) for label in model.labels
        }
        kept = [label for label, count in counts.items() if count and count * 2 >= len(given)]
        votes.append(kept or [max(model.labels, key=counts.__getitem__)])
    return cross_val_proba(texts, votes, labels=model.labels, folds=5, seed=0)


def _labelled_posts(
    store: Store, project_id: int, field: str
) -> tuple[list[tuple[int, str, str, int | None]], list[dict[str, frozenset[str]]]]:
    """The project's posts with annotations: ``(pk, post_id, text, ls_task_id)`` and, per post,
    ``{annotator: labels of the field}`` (the latest annotation of each annotator)."""
    with store.session() as session:
        rows = session.exec(
            live_annotations(
                project_id,
                Task.post_pk,
                Task.ls_task_id,
                Annotator.pseudonym,
                Annotation.labels,
            )
        ).all()
        given: dict[int, dict[str, frozenset[str]]] = defaultdict(dict)
        tasks: dict[int, int | None] = {}
        for post_pk, ls_task_id, annotator, labels in rows:
            value = (labels or {}).get(field)
            if value is None:
                continue
            given[post_pk][annotator] = frozenset([value] if isinstance(value, str) else value)
            tasks[post_pk] = ls_task_id
        pks = sorted(given)
        posts = (
            {
                pk: (post_id, text)
                for pk, post_id, text in session.exec(
                    select(Post.id, Post.post_id, Post.text).where(Post.id.in_(pks))
                )
            }
            if pks
            else {}
        )
    return (
        [(pk, posts[pk][0], posts[pk][1], tasks[pk]) for pk in pks],
        [given[pk] for pk in pks],
    )


def choose_with_model(
    store: Store,
    project_name: str,
    params: SamplingParams,
    model: Model,
    *,
    method: str = "margin",
) -> tuple[Any, list[Relabel], dict[int, float]]:
    """``(selection, relabels, scores)``: the new posts (a :class:`Selection`, None when
    every place went to re-labels), the posts to re-label, and each chosen post's score."""
    if method not in UNCERTAINTY_METHODS:
        raise InputError(f"Unknown uncertainty {method!r}; use margin or entropy.")
    with store.session() as session:
        project, taxonomy = project_and_taxonomy(session, project_name)
        project_id = project.id
    check_model_fits(model, taxonomy)
    candidates = list(read_candidates(store, params.where, exclude_project_id=project_id))
    probabilities = _probabilities(model, [candidate.text for candidate in candidates])
    relabels: list[Relabel] = []
    if params.strategy == "uncertainty":
        scores = uncertainty(probabilities, method)
        higher_first = True
    else:
        posts, annotations = _labelled_posts(store, project_id, model.field)
        labelled = _labelled_probabilities(model, [text for _, _, text, _ in posts], annotations)
        labelled_scores, scores = activelab(annotations, labelled, probabilities, model.labels)
        higher_first = False
        # Re-labels take the places where a labelled post outranks the new ones among the
        # batch's ``size`` best; at least one new post while any is left.
        merged = np.concatenate([labelled_scores, scores])
        best = np.argsort(merged, kind="stable")[: params.size]
        wanted = int(np.sum(best < len(labelled_scores)))
        if len(candidates):
            wanted = min(wanted, params.size - 1)
        for index in np.argsort(labelled_scores, kind="stable")[:wanted]:
            pk, post_id, _, ls_task_id = posts[index]
            relabels.append(
                Relabel(
                    pk, post_id, ls_task_id, len(annotations[index]), float(labelled_scores[index])
                )
            )
    chosen_scores = {relabel.post_pk: round(relabel.score, 6) for relabel in relabels}
    new_size = params.size - len(relabels)
    if new_size < 1 or not candidates:
        return None, relabels, chosen_scores
    new_params = dataclasses.replace(params, size=new_size)
    plan = ScanPlan(new_params, None, ())
    cap = max(_KEEP_MIN, _KEEP_FACTOR * new_size)
    strata: dict[tuple[str, ...], BottomK] = {}
    score_of: dict[int, float] = {}
    for candidate, score in zip(candidates, scores, strict=True):
        if plan.where is not None and not plan.where(candidate):
            continue
        key = plan.stratum_of(candidate)
        bottom = strata.get(key)
        if bottom is None:
            bottom = strata[key] = BottomK(cap)
        tie = plan.rank(candidate.source, candidate.post_id)  # the batch's rank version
        bottom.offer(rank_from_score(float(score), tie, higher_first=higher_first), candidate)
        score_of[candidate.pk] = float(score)
    listed = Shortlist(new_params, None, frozenset(), strata, None)
    sent = read_sent(store, project_id) if params.dedupe else ()
    # No candidates for a second pass: a stratum whose kept posts run out gives its shortfall
    # to the others rather than fall back to hash order.
    selection = listed.select([], (), sent)
    chosen_scores |= {pick.pk: round(score_of[pick.pk], 6) for pick in selection.picks}
    return selection, relabels, chosen_scores


def sample_with_model(
    store: Store,
    connection: LabelStudioConnection | None,
    project_name: str,
    params: SamplingParams,
    model: Model,
    *,
    method: str = "margin",
    dry_run: bool = False,
    include_account_id: bool = False,
    progress: Callable[[int, int], None] | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> SampleResult:
    """Choose, record and push a model-chosen batch and ask for the re-labels (see the module
    docstring); a dry run only chooses."""
    lock = (
        contextlib.nullcontext()
        if dry_run
        else project_lock(store, project_name, command="sample", wait=wait, on_wait=on_wait)
    )
    with lock:
        pushing = {"include_account_id": include_account_id, "progress": progress}
        earlier = None if dry_run else push(store, connection, project_name, **pushing)
        selection, relabels, scores = choose_with_model(
            store, project_name, params, model, method=method
        )
        described = selection.as_dict() if selection is not None else _empty(params)
        described["model"] = {
            "model_version": model.model_version,
            "field": model.field,
            **({"uncertainty": method} if params.strategy == "uncertainty" else {}),
        }
        described["relabel"] = [dataclasses.asdict(relabel) for relabel in relabels]
        result = SampleResult(project=project_name, dry_run=dry_run, selection=described)
        result.earlier_push = earlier
        if dry_run:
            return result
        post_ids = {pick["pk"]: pick["post_id"] for pick in described["picks"]}
        post_ids |= {relabel.post_pk: relabel.post_id for relabel in relabels}
        if selection is not None:
            result.batch = record_batch(
                store,
                project_name,
                strategy=params.strategy,
                params={
                    **params.as_dict(),
                    "model": described["model"],
                    "scores": {post_ids[pk]: score for pk, score in scores.items()},
                    "relabel": described["relabel"],
                },
                seed=params.seed,
                post_pks=selection.task_pks,
            )
        result.push = push(store, connection, project_name, **pushing)
        asked = 0
        for relabel in relabels:
            if relabel.ls_task_id is not None:
                connection.set_overlap(relabel.ls_task_id, relabel.annotators + 1)
                asked += 1
        described["relabel_requested"] = asked
        return result


def _empty(params: SamplingParams) -> dict[str, Any]:
    return {
        "params": params.as_dict(),
        "lexicon": None,
        "size": 0,
        "shortfall": 0,
        "passes": 0,
        "post_pks": [],
        "gold_pks": [],
        "keyword_selected": 0,
        "suppressed_near_duplicates": 0,
        "composition": [],
        "picks": [],
        "suppressed": [],
    }
