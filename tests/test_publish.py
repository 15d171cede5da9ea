"""Publishing dataset versions to the local registry and loading them with datasets."""

import gc
import json
from datetime import UTC, datetime

import datasets
import pytest
from huggingface_hub import DatasetCard
from sqlmodel import select

from annotate import demo
from annotate.config import WorkspaceFolder, ensure_workspace, load_settings
from annotate.errors import AnnotateError
from annotate.ingest import ingest_files
from annotate.registry import publish, verify, version_folder
from annotate.simulation import DEFAULT_TEAM, simulate_labels
from annotate.splits import near_duplicate_groups
from annotate.store import Annotation, Batch, Post, Task, open_store, record_annotations
from annotate.taxonomy import load_taxonomy
from tests.cli import invoke

TAXONOMY = load_taxonomy()


def annotate_posts(store, project_name, posts, annotators=3):
    """Simulated annotators (three by default) label ``posts`` of a project made directly in
    the store."""
    record_annotations(
        store,
        project_name,
        [
            (
                post.id,
                f"{simulated.name}@example.com",
                simulate_labels(
                    simulated,
                    post.post_id,
                    post.meta["true_labels"],
                    post.meta.get("true_severity"),
                ),
            )
            for post in posts
            for simulated in DEFAULT_TEAM[:annotators]
        ],
        taxonomy=TAXONOMY,
        batch="random",
        pseudonymise=lambda email: f"ann-{email.split('@')[0]}",
    )


def assert_near_duplicates_share_a_split(loaded) -> None:
    """No two published posts that are near-duplicates (or chained through published ones)
    are in different splits."""
    rows = [(split, text) for split, part in loaded.items() for text in part["text"]]
    split_of_group = {}
    for (split, _), group in zip(rows, near_duplicate_groups([t for _, t in rows]), strict=True):
        assert split_of_group.setdefault(group, split) == split


@pytest.fixture
def workspace(tmp_path, monkeypatch, database_url):
    """A workspace whose store (SQLite, then PostgreSQL) holds 700 demo posts, 500 of them
    labelled by three simulated annotators in project round-1."""
    monkeypatch.chdir(tmp_path)
    for name in ("ANNOTATE_WORKSPACE", "ANNOTATE_EXPORTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANNOTATE_DATABASE_URL", database_url)
    settings = load_settings()
    ensure_workspace(settings)
    corpus = tmp_path / "posts.jsonl"
    demo.write_corpus(corpus, size=700, seed=4)
    store = open_store(settings.effective_database_url)
    ingest_files(store, [corpus], source="demo")
    with store.session() as session:
        posts = session.exec(select(Post).order_by(Post.id)).all()
        for post in posts:
            session.expunge(post)
    annotate_posts(store, "round-1", posts[:500])
    yield settings, WorkspaceFolder(settings), store, posts
    store.dispose()


def test_publish_loads_with_datasets_and_matches_the_store(workspace):
    settings, space, store, posts = workspace
    report = publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"], seed=3)
    folder = version_folder(settings, "finmis", "1.0.0")
    assert report.path == str(folder)
    loaded = datasets.load_dataset(str(folder))
    assert set(loaded) == {"train", "validation", "test"}
    published = sum(len(part) for part in loaded.values())
    assert published == sum(report.rows.values()) == 500 - sum(report.excluded.values())
    assert published > 400
    # Reposts chain most of the 500 posts into one group: it is cut along accounts, which
    # keeps the fractions, and the posts that would link two splits are withheld.
    splits = report.provenance["splits"]
    assert (
        splits["cut_groups"] >= 1
        and splits["withheld"] == report.excluded["withheld_between_splits"]
    )
    for name, fraction in zip(("train", "validation", "test"), (0.8, 0.1, 0.1), strict=True):
        assert abs(report.rows[name] / published - fraction) < 0.03, report.rows
    names = loaded["train"].features["labels"].feature.names
    assert names == list(TAXONOMY.field("category").label_ids)
    assert loaded["train"].features["severity"].names == ["low", "medium", "high"]
    from annotate.post_labels import project_labels

    aggregated = project_labels(store, "round-1")
    by_id = {f"demo:{post.post_id}": post for post in posts}
    with store.session() as session:
        batch_of = dict(session.exec(select(Task.post_pk, Task.batch_id)).all())
    severities = loaded["train"].features["severity"].names
    seen = set()
    for part in loaded.values():
        for row in part:
            post = by_id[row["post_id"]]
            item = aggregated.items[post.id]
            seen.add(post.id)
            assert row["text"] == post.text
            assert row["platform"] == post.platform
            assert row["account"] == space.pseudonymise(post.account_id, "account")
            assert row["created_at"] == post.created_at.isoformat()
            assert [names[index] for index in row["labels"]] == item.labels
            expected = item.severity
            assert (severities[row["severity"]] if row["severity"] >= 0 else None) == expected
            assert row["label_probs"] == pytest.approx(
                [item.label_probs[name] for name in names], abs=1e-6
            )
            assert row["n_annotators"] == item.n_annotators == 3
            assert row["annotations"] == [
                {
                    "annotator": answer["annotator"],
                    "labels": answer["labels"],
                    "severity": answer["severity"] or "",
                }
                for answer in item.annotations
            ]
            assert row["evidence"] == [
                {"annotator": answer["annotator"], **span}
                for answer in item.annotations
                for span in answer["evidence"]
            ]
            agreeing = sum(set(answer["labels"]) == set(item.labels) for answer in item.annotations)
            assert row["item_agreement"] == pytest.approx(agreeing / 3, abs=1e-6)
            assert row["adjudicated"] is False and row["gold"] is False
            assert row["batch"] == batch_of[post.id]
    labelled = {pk for pk, item in aggregated.items.items() if item.labels}
    assert seen <= labelled and len(labelled - seen) == splits["withheld"]
    verify(folder)
    card = DatasetCard.load(folder / "README.md")
    assert "Agreement on the category field" in card.text and "α = " in card.text
    assert report.provenance["agreement"]["round-1"]["ci95"]
    with store.session() as session:
        batch_ids = sorted(set(session.exec(select(Task.batch_id)).all()))
    assert [batch["id"] for batch in report.provenance["batches"]] == batch_ids
    data = card.data.to_dict()
    # The metadata round-trips through huggingface_hub's DatasetCardData and datasets reads
    # its dataset_info (features and split sizes) the way load_dataset does.
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    assert DatasetCardData(**data).to_dict() == data
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    info = next(iter(infos.values()))
    assert info.features == loaded["train"].features
    assert {name: split.num_examples for name, split in info.splits.items()} == report.rows
    assert data["language"] == ["zh", "en"] and data["task_ids"] == ["multi-label-classification"]
    assert data["dataset_info"]["splits"]


def test_no_identifier_leaks_and_splits_do_not_share_accounts(workspace):
    settings, space, store, posts = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    folder = version_folder(settings, "finmis", "1.0.0")
    emails = [f"{member.name}@example.com" for member in DEFAULT_TEAM]
    accounts = {post.account_id for post in posts if post.account_id}
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes().decode("utf-8", "replace")
            assert not any(email in content for email in emails), path
            assert not any(f'"{account}"' in content for account in accounts), path
    loaded = datasets.load_dataset(str(folder))
    split_of_account = {}
    for split, part in loaded.items():
        for account in part["account"]:
            assert split_of_account.setdefault(account, split) == split
    assert_near_duplicates_share_a_split(loaded)
    assert all(len(part) for part in loaded.values()) and len(loaded) == 3


def test_versions_are_immutable_and_test_stays_test(workspace):
    settings, space, store, posts = workspace
    first = publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    with pytest.raises(AnnotateError, match="already published"):
        publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    annotate_posts(store, "round-1", posts[500:700])
    with pytest.raises(AnnotateError, match="needs a minor bump"):
        publish(store, settings, space, "finmis", "1.0.1", projects=["round-1"])
    second = publish(store, settings, space, "finmis", "1.1.0", projects=["round-1"])
    assert first.changelog["added"] == sum(first.rows.values())
    before = json.loads((version_folder(settings, "finmis", "1.0.0") / "manifest.json").read_text())
    after = json.loads((version_folder(settings, "finmis", "1.1.0") / "manifest.json").read_text())
    added = set(after["splits_by_post"]) - set(before["splits_by_post"])
    removed = set(before["splits_by_post"]) - set(after["splits_by_post"])
    assert second.changelog["added"] == len(added) and 140 <= len(added) <= 200
    # A post leaves only when the new posts made it link two splits: it is withheld.
    assert second.changelog["removed"] == len(removed) and removed <= set(after["withheld"])
    earlier_test = [
        post_id for post_id, split in before["splits_by_post"].items() if split == "test"
    ]
    assert len(earlier_test) >= 30
    for post_id in earlier_test:
        assert after["splits_by_post"][post_id] == "test"  # present, and still in test
    diff = json.loads(invoke("datasets", "diff", "finmis@1.0.0", "finmis@1.1.0", "--json").stdout)
    assert diff["added"] == sorted(added) and diff["removed"] == sorted(removed)
    # Re-estimating the annotators on more data may correct a few earlier aggregates.
    assert len(diff["relabelled"]) == second.changelog["relabelled"] <= 10


@pytest.mark.parametrize(
    "where",
    [
        "annotate.registry.read.plan_rows",
        "annotate.splits.leak_free_splits",
        "annotate.registry.card.render_card",
    ],
)
def test_interrupted_publish_leaves_nothing(workspace, monkeypatch, where):
    settings, space, store, _ = workspace

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(where, crash)
    with pytest.raises(KeyboardInterrupt):
        publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    parent = settings.effective_registry / "finmis"
    assert list(parent.iterdir()) == []  # not even the hidden staging folder


@pytest.mark.parametrize("enabled", [True, False])
def test_publish_leaves_the_garbage_collector_as_it_found_it(workspace, monkeypatch, enabled):
    """The collector is paused only while the rows are read (none of their objects makes a
    cycle), then set back as it was, also when publishing fails on the way."""
    settings, space, store, _ = workspace
    import annotate.registry.read
    import annotate.splits

    seen = {}

    def spy(module, name, moment):
        original = getattr(module, name)

        def spied(*args, **kwargs):
            seen[moment] = gc.isenabled()
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, spied)

    spy(annotate.registry.read, "plan_rows", "reading rows")
    spy(annotate.splits, "leak_free_splits", "choosing splits")
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"], dry_run=True)
        assert gc.isenabled() is enabled
        assert seen == {"reading rows": False, "choosing splits": enabled}

        def crash(*args, **kwargs):
            raise RuntimeError("the store went away")

        monkeypatch.setattr(annotate.registry.read, "plan_rows", crash)
        with pytest.raises(RuntimeError, match="went away"):
            publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_texts_are_published_as_stored(workspace):
    """Texts travel as UTF-8 bytes from the database to Parquet: backslashes (which a cast to
    bytea would read as escapes on PostgreSQL), quotes, new lines and non-BMP characters."""
    settings, space, store, posts = workspace
    suffix = ' \\x41 \\\\ "quoted",\nnew line, 中文, 📈 and \\u00e9'
    with store.transaction() as session:
        for post in posts[:40]:
            row = session.get(Post, post.id)
            row.text += suffix
            session.add(row)
    report = publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    expected = {f"demo:{post.post_id}": post.text + suffix for post in posts[:40]}
    loaded = datasets.load_dataset(report.path)
    published = {
        row["post_id"]: row["text"]
        for part in loaded.values()
        for row in part
        if row["post_id"] in expected
    }
    assert len(published) >= 20
    assert all(text == expected[post_id] for post_id, text in published.items())


def test_a_dry_run_writes_nothing(workspace):
    settings, space, store, _ = workspace
    report = publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"], dry_run=True)
    assert report.dry_run and report.path is None and sum(report.rows.values()) > 400
    assert list((settings.effective_registry / "finmis").iterdir()) == []


def test_pull_verifies_checksums(workspace, tmp_path):
    settings, space, store, _ = workspace
    publish(store, settings, space, "finmis", "1.0.0", projects=["round-1"])
    pulled = invoke("datasets", "pull", "finmis@1.0.0", "--to", tmp_path / "copy", "--json")
    assert pulled.exit_code == 0, pulled.output
    path = json.loads(pulled.stdout)["path"]
    assert sum(len(p) for p in datasets.load_dataset(path).values()) > 400
    card = version_folder(settings, "finmis", "1.0.0") / "README.md"
    card.write_text(card.read_text() + "tampered\n")
    shown = invoke("datasets", "show", "finmis@1.0.0")
    assert shown.exit_code != 0 and "does not match the manifest" in shown.stderr
    listed = json.loads(invoke("datasets", "list", "--json").stdout)
    assert [(row["name"], row["version"]) for row in listed] == [("finmis", "1.0.0")]


def test_publish_to_the_hub_and_pull_a_tag(workspace, tmp_path, monkeypatch):
    from tests.hub_server import hub_environment, start_hub_server

    settings, _, store, posts = workspace
    with start_hub_server() as hub, hub_environment(hub, cache_dir=tmp_path / "hf-cache"):
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", hub.token)
        args = ["publish", "finmis", "--project", "round-1", "--to", "both"]
        args += ["--hub-repo", "team/finmis", "--json"]
        first = invoke(*args, "--version", "1.0.0")
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["hub"]["tag"] == "v1.0.0"
        annotate_posts(store, "round-1", posts[500:700])
        second = invoke(*args, "--version", "1.1.0")
        assert second.exit_code == 0, second.output
        assert "hunter" not in first.output and hub.token not in first.output + second.output

        v1 = datasets.load_dataset("team/finmis", revision="v1.0.0", token=hub.token)
        v2 = datasets.load_dataset("team/finmis", revision="v1.1.0", token=hub.token)
        local_v1 = datasets.load_dataset(str(version_folder(settings, "finmis", "1.0.0")))
        assert sum(map(len, v1.values())) == sum(map(len, local_v1.values()))
        assert sum(map(len, v2.values())) > sum(map(len, v1.values()))
        # Row for row what the local registry holds (which test_publish_loads_... compares
        # with the store field by field).
        assert set(v1) == set(local_v1)
        for split in local_v1:
            assert v1[split].features == local_v1[split].features
            assert v1[split].to_list() == local_v1[split].to_list()
        # The card's YAML passes huggingface_hub's metadata validation (against the server).
        DatasetCard.load(version_folder(settings, "finmis", "1.0.0") / "README.md").validate(
            repo_type="dataset"
        )

        pulled = invoke(
            "datasets",
            "pull",
            "finmis@1.0.0",
            "--from-hub",
            "team/finmis",
            "--to",
            tmp_path / "from-hub",
            "--json",
        )
        assert pulled.exit_code == 0, pulled.output
        manifest = json.loads((tmp_path / "from-hub" / "manifest.json").read_text())
        assert manifest["version"] == "1.0.0"
        # Only what the manifest lists: not the repo's .gitattributes, not the client's cache.
        copy = tmp_path / "from-hub"
        pulled_files = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
        assert pulled_files == {*manifest["files"], "manifest.json"}
        again = invoke(*args, "--version", "1.0.0")
        assert again.exit_code != 0 and "already published" in again.stderr
        assert not hub.unhandled


def test_diff_is_exact_on_a_constructed_change(workspace):
    settings, space, store, posts = workspace
    publish(store, settings, space, "exact", "1.0.0", projects=["round-1"], aggregation="majority")
    v1 = json.loads((version_folder(settings, "exact", "1.0.0") / "manifest.json").read_text())
    relabel, drop = posts[3], posts[4]
    assert f"demo:{relabel.post_id}" in v1["labels_by_post"]
    assert f"demo:{drop.post_id}" in v1["labels_by_post"]
    with store.transaction() as session:
        for annotation, task in session.exec(
            select(Annotation, Task).join(Task, Task.id == Annotation.task_id)
        ):
            if task.post_pk == relabel.id:
                annotation.labels = {"category": ["extortion"], "severity": "high"}
                session.add(annotation)
            elif task.post_pk == drop.id:
                annotation.deleted_at = datetime.now(UTC)
                session.add(annotation)
    annotate_posts(store, "round-1", posts[500:520])
    publish(store, settings, space, "exact", "1.1.0", projects=["round-1"], aggregation="majority")
    v2 = json.loads((version_folder(settings, "exact", "1.1.0") / "manifest.json").read_text())
    expected_added = sorted(set(v2["labels_by_post"]) - set(v1["labels_by_post"]))
    assert expected_added and all(
        post_id in {f"demo:{post.post_id}" for post in posts[500:520]} for post_id in expected_added
    )
    result = invoke("datasets", "diff", "exact@1.0.0", "exact@1.1.0", "--json")
    diff = json.loads(result.stdout)
    assert diff["added"] == expected_added
    assert diff["removed"] == [f"demo:{drop.post_id}"]
    assert [item["post_id"] for item in diff["relabelled"]] == [f"demo:{relabel.post_id}"]
    assert diff["relabelled"][0]["new"] == [["extortion"], "high"]
    counts = {}
    for labels_by_post, sign in ((v1["labels_by_post"], -1), (v2["labels_by_post"], 1)):
        for labels, _ in labels_by_post.values():
            for label in labels:
                counts[label] = counts.get(label, 0) + sign
    assert diff["label_count_changes"] == {k: v for k, v in sorted(counts.items()) if v}
    assert diff["label_count_changes"]["extortion"] >= 1


def test_publish_reports_progress(workspace):
    settings, space, store, _ = workspace
    heard = []
    report = publish(
        store,
        settings,
        space,
        "finmis",
        "1.0.0",
        projects=["round-1"],
        progress=lambda stage, done, total: heard.append((stage, done, total)),
    )
    assert heard[0] == ("reading the store", 0, None)
    assert ("choosing splits", 0, None) in heard
    written = [(done, total) for stage, done, total in heard if stage == "writing posts"]
    assert written[-1] == (sum(report.rows.values()),) * 2
    assert [done for done, _ in written] == sorted(done for done, _ in written)


def test_batches_min_annotators_and_several_projects(workspace):
    settings, space, store, posts = workspace
    annotate_posts(store, "round-1", posts[500:560])  # a second batch of round-1
    annotate_posts(store, "round-2", posts[540:620])  # overlaps round-1 by 20 posts
    with store.session() as session:
        batches = sorted(session.exec(select(Batch.id)).all())
    second = publish(
        store,
        settings,
        space,
        "one-batch",
        "1.0.0",
        projects=["round-1"],
        batches=[batches[1]],
        dry_run=True,
    )
    assert sum(second.rows.values()) + sum(second.excluded.values()) == 60
    with pytest.raises(AnnotateError, match="Nothing to publish"):
        publish(store, settings, space, "too-few", "1.0.0", projects=["round-1"], min_annotators=4)
    both = publish(store, settings, space, "both", "1.0.0", projects=["round-1", "round-2"])
    loaded = datasets.load_dataset(both.path)
    ids = [post_id for part in loaded.values() for post_id in part["post_id"]]
    assert len(ids) == len(set(ids))  # a post in both projects is published once
    expected = {f"demo:{post.post_id}" for post in posts[:620]}
    assert set(ids) <= expected
    # Every post is published once or left out; one without an aggregate in round-1 gets a
    # second chance in round-2 (and may be counted as left out twice).
    assert len(ids) + both.excluded["withheld_between_splits"] <= 620
    assert len(ids) + sum(both.excluded.values()) >= 620
    assert [p["name"] for p in both.provenance["projects"]] == ["round-1", "round-2"]
    assert_near_duplicates_share_a_split(loaded)
