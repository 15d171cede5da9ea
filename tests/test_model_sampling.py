"""Model-chosen sampling: uncertainty and ActiveLab scores (pure), and the batch they choose
from a store (SQLite and PostgreSQL, no Label Studio): scores decide the order, strata keep
their quotas, near-duplicates stay out, re-labels take places only when they outrank new
posts, and the batch records strategy, model and scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlmodel import select

from annotate import Workspace
from annotate.batches import record_batch
from annotate.errors import InputError
from annotate.model_sampling import choose_with_model
from annotate.neardup import similarity
from annotate.sampling import SamplingParams, read_candidates
from annotate.sampling.model_scores import activelab, uncertainty
from annotate.store import Batch, Task
from tests.cli import invoke
from tests.model_stub import LABELS, HashModel


def test_margin_puts_the_closest_call_between_two_labels_first():
    probabilities = np.array([[0.95, 0.02, 0.01], [0.55, 0.05, 0.3], [0.30, 0.29, 0.02]])
    doubt = uncertainty(probabilities)
    assert doubt.argsort()[::-1].tolist() == [2, 1, 0]
    entropy = uncertainty(probabilities, method="entropy")
    assert entropy.argmin() == 0  # margin and entropy differ on the rest: spread vs top two
    assert uncertainty(np.full((1, 4), 0.3), method="entropy")[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="margin or entropy"):
        uncertainty(probabilities, method="variance")


def test_activelab_wants_another_look_at_disputed_posts_and_doubtful_new_ones():
    labels = ["a", "b"]
    annotations = [
        {"x": {"a"}, "y": {"a"}, "z": {"a"}},  # unanimous, and the model agrees
        {"x": {"a"}, "y": {"b"}, "z": {"b"}},  # split
    ] * 10 + [{"x": {"b"}, "y": {"b"}}] * 10
    probabilities = np.array([[0.95, 0.05], [0.5, 0.5]] * 10 + [[0.1, 0.9]] * 10)
    unlabelled = np.array([[0.99, 0.01], [0.5, 0.5]])
    labelled_scores, unlabelled_scores = activelab(annotations, probabilities, unlabelled, labels)
    assert labelled_scores[1] < labelled_scores[0]
    assert unlabelled_scores[1] < unlabelled_scores[0]
    assert ((labelled_scores >= 0) & (labelled_scores <= 1)).all()
    # Without any labelled post, unlabelled posts are still scored.
    alone, scores = activelab([], None, unlabelled, labels)
    assert alone.size == 0 and scores[1] < scores[0]


@pytest.fixture
def ws(tmp_path, monkeypatch, database_url):
    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_DATABASE_URL", "ANNOTATE_EXPORTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with Workspace.init(tmp_path / "team" / ".annotate", database_url=database_url) as opened:
        opened.demo_corpus(tmp_path / "posts.jsonl", size=400, seed=3)
        opened.ingest(tmp_path / "posts.jsonl", source="demo")
        opened.simulate_labelling("round-1", posts=60)
        yield opened


def test_uncertainty_takes_each_strata_quota_by_score_without_near_duplicates(ws):
    model = HashModel()
    params = SamplingParams(size=30, strategy="uncertainty", by=("platform",), seed=1)
    selection, relabels, scores = choose_with_model(ws.store, "round-1", params, model)
    assert relabels == [] and len(selection.picks) == 30
    candidates = list(read_candidates(ws.store))
    doubt = dict(
        zip(
            [c.pk for c in candidates],
            uncertainty(model.predict_proba([c.text for c in candidates])),
            strict=True,
        )
    )
    picked = {pick.pk for pick in selection.picks}
    with ws.store.session() as session:
        sent = set(session.exec(select(Task.post_pk)))
    assert len(sent) == 60
    assert not picked & sent
    suppressed = {item.pk for item in selection.suppressed}
    rows = [row for row in selection.composition if row.pool != "gold"]
    assert {row.pool for row in rows} == {"uncertainty"}
    assert len(rows) > 1  # several platforms, each its own quota
    for row in rows:
        stratum = tuple(row.stratum.values())
        members = [c for c in candidates if (c.platform,) == stratum and c.pk not in sent]
        chosen = [c.pk for c in members if c.pk in picked]
        assert len(chosen) == row.selected
        # Every post left out of the stratum, unless suppressed, is less doubtful than the
        # least doubtful one taken (scores are ranked to 2**-32; the hash breaks closer ties).
        skipped = [c.pk for c in members if c.pk not in picked and c.pk not in suppressed]
        if chosen and skipped:
            assert max(doubt[pk] for pk in skipped) <= min(doubt[pk] for pk in chosen) + 1e-9
    texts = {c.pk: c.text for c in candidates}
    chosen_texts = [texts[pk] for pk in picked]
    assert all(
        similarity(a, b) < params.near_duplicate_threshold
        for i, a in enumerate(chosen_texts)
        for b in chosen_texts[i + 1 :]
    )
    assert set(scores) == picked


def test_a_model_chosen_batch_records_the_rank_version_it_was_ranked_with(ws):
    """Model sampling breaks ties with rank version 2 and records its batch as the sample path
    does (found in review: it recorded 1, record_batch's default)."""
    params = SamplingParams(size=5, strategy="uncertainty", seed=1)
    selection, _, _ = choose_with_model(ws.store, "round-1", params, HashModel())
    recorded = record_batch(
        ws.store,
        "round-1",
        strategy=params.strategy,
        params={**params.as_dict(), "model": "hash@test-1.0.0"},
        seed=params.seed,
        post_pks=selection.task_pks,
    )
    with ws.store.session() as session:
        assert session.get(Batch, recorded.batch_id).rank_version == params.rank_version == 2


def test_activelab_relabels_only_what_outranks_new_posts(ws):
    model = HashModel()
    params = SamplingParams(size=20, strategy="activelab", seed=1)
    selection, relabels, scores = choose_with_model(ws.store, "round-1", params, model)
    assert len(selection.picks) + len(relabels) == 20
    new_scores = sorted(scores[pick.pk] for pick in selection.picks)
    for relabel in relabels:
        assert relabel.annotators == 3  # simulate_labelling: three annotators per post
        assert relabel.score <= new_scores[-1]


def test_sample_command_records_strategy_model_and_scores(ws, monkeypatch):
    monkeypatch.setattr("annotate.suggestions.load_model", lambda model: HashModel())
    root = ["--workspace", ws.folder.path, "--database-url", ws.settings.database_url]
    shown = invoke(
        *root, "sample", "round-1", "--size", "12", "--strategy", "uncertainty",
        "--model", "any", "--dry-run", "--json",
    )  # fmt: skip
    data = json.loads(shown.stdout)
    assert data["model"]["model_version"] == "hash@test-1.0.0" and len(data["picks"]) == 12
    with ws.store.session() as session:
        assert session.exec(select(Batch).where(Batch.strategy == "uncertainty")).first() is None
    with pytest.raises(InputError, match="needs a model"):
        ws.sample("round-1", 10, strategy="activelab", dry_run=True)


def test_a_model_with_labels_the_taxonomy_lacks_is_refused(ws):
    model = HashModel()
    model.labels = [*LABELS[:-1], "made_up"]
    params = SamplingParams(size=5, strategy="uncertainty")
    with pytest.raises(InputError, match="made_up"):
        choose_with_model(ws.store, "round-1", params, model)


def test_activelab_prints_nothing_that_would_corrupt_json_output(capsys):
    # "b" is given once but never wins the consensus: cleanlab prints a caution about it.
    annotations = [{"x": {"a"}, "y": {"a"}, "z": {"b"}}] + [{"x": {"a"}, "y": {"a"}}] * 9
    probabilities = np.array([[0.9, 0.1]] * 10)
    activelab(annotations, probabilities, np.array([[0.5, 0.5]]), ["a", "b"])
    assert capsys.readouterr().out == ""
