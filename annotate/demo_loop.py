"""The whole loop on the demo corpus, for `make demo`: what a lead's first day looks like.

1. write the demo corpus (5,000 posts) and ingest it;
2. use the configured Label Studio, or start a local one in the workspace;
3. create the demo project from the taxonomy (or reuse it);
4. sample a batch into it and push the tasks;
5. let simulated annotators (real Label Studio users) label the batch with overlap;
6. pull the annotations, and report status and agreement (HTML report);
7. send uncertain aggregates to adjudication, where a simulated expert decides them;
8. publish the next dataset version to the local registry;
9. the model round (:mod:`annotate.demo_model`): train and evaluate the baseline on that
   version, sample the next batch with ``activelab`` and the model's suggestions, let the
   simulated annotators label it, publish the version after it and evaluate again, both
   evaluations side by side in ``exports/evaluations/``.

Running it again continues the loop: nothing is ingested twice, the project is reused, and the
next batch leaves out posts already sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from annotate import demo
from annotate.batches import push, sample_batch
from annotate.config import Settings
from annotate.ingest import ingest_files, post_stats
from annotate.labelstudio import LabelStudioConnection, connect, connect_to
from annotate.projects import create_project, list_projects, sync_project
from annotate.pull import pull
from annotate.sampling import SamplingParams
from annotate.simulation import DEFAULT_TEAM, lead_time, simulate_labels
from annotate.status import project_status
from annotate.store import Post, Store, Task
from annotate.store.queries import get_project, tasks_with_posts
from annotate.taxonomy import load_taxonomy, result_from_labels

if TYPE_CHECKING:
    from annotate.workspace import Workspace

DEMO_PROJECT = "demo round"


@dataclass
class DemoSummary:
    corpus: str
    ingested: dict[str, int]
    label_studio: str
    project: str
    batch: dict[str, Any]
    annotations: int
    pull: dict[str, Any]
    status: dict[str, Any]
    agreement: dict[str, Any] = field(default_factory=dict)
    adjudication: dict[str, Any] = field(default_factory=dict)
    published: dict[str, Any] = field(default_factory=dict)
    #: The local Label Studio's data folder when the demo started one (None: a configured one).
    label_studio_data_dir: str | None = None
    posts: dict[str, Any] = field(default_factory=dict)
    #: The model round: both evaluations, the activelab batch, the version after it.
    model: dict[str, Any] = field(default_factory=dict)


def run_demo(
    ws: Workspace, *, batch_size: int = 150, seed: int = 7, model_round: bool = True
) -> DemoSummary:
    """The loop on the demo corpus in ``ws`` (see the module docstring); ``ws.say`` hears
    how it goes. ``model_round=False`` stops after the first publish."""
    settings, workspace, store, say = ws.settings, ws.folder, ws.store, ws.say
    corpus = settings.exports / "demo" / "posts.jsonl"
    if not corpus.exists():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        demo.write_corpus(corpus, size=demo.DEMO_SIZE, seed=demo.DEMO_SEED)
        say(f"Wrote the demo corpus: {corpus}")
    ingested = ingest_files(store, [corpus], source=demo.DEMO_SOURCE).counts()
    say(f"Ingest: {ingested['inserted']} new posts, {ingested['duplicates']} already stored.")

    server = None
    if settings.label_studio_url and settings.label_studio_api_key:
        connection = connect(settings)
    else:
        from annotate.ls_server import start_label_studio

        say("Starting a local Label Studio (a first start takes about 40 s) ...")
        server = start_label_studio(port=None, data_dir=workspace.path / "label-studio")
        connection = connect_to(server.url, server.token)
    try:
        say(f"Label Studio: {connection.url}")
        summary = _loop(
            settings, workspace, store, connection, corpus, ingested, batch_size, seed, say
        )
        if model_round:
            from annotate.demo_model import model_round as run_model_round

            summary.model = run_model_round(
                ws,
                connection,
                DEMO_PROJECT,
                summary.published,
                lambda: _publish(store, settings, workspace, say),
                batch_size=batch_size,
                seed=seed,
                say=say,
            )
            summary.published = summary.model.pop("published")
    finally:
        if server is not None:
            server.stop()
            say("Stopped the local Label Studio.")
    if server is not None:
        summary.label_studio_data_dir = str(server.data_dir)
    summary.posts = post_stats(store)
    return summary


def _loop(settings, workspace, store, connection, corpus, ingested, batch_size, seed, say):
    taxonomy = load_taxonomy()
    names = {info.name for info in list_projects(store)}
    if DEMO_PROJECT in names:
        sync_project(store, connection, DEMO_PROJECT)
    else:
        create_project(store, connection, DEMO_PROJECT, annotators_per_task=3, overlap=0.4)
    say(f"Project {DEMO_PROJECT!r} ({taxonomy.ref}).")

    params = SamplingParams(
        size=batch_size, strategy="mixed", by=("platform",), keyword_share=0.3, seed=seed
    )
    recorded = sample_batch(store, DEMO_PROJECT, params).batch
    report = push(store, connection, DEMO_PROJECT)
    say(f"Batch {recorded.batch_id}: {recorded.tasks} posts sampled, {report.pushed} tasks pushed.")

    annotations = _simulate(store, connection, recorded.batch_id, seed, say)
    pulled = pull(store, connection, DEMO_PROJECT, pseudonymise=workspace.pseudonymise)
    say(
        f"Pull: {pulled.new} new annotations, {pulled.skipped} skipped, "
        f"{pulled.with_problems} with problems."
    )
    status = project_status(store, DEMO_PROJECT)
    agreement = _agreement(settings, store)
    adjudication = _adjudicate(store, connection, workspace, seed, say)
    published = _publish(store, settings, workspace, say)
    return DemoSummary(
        corpus=str(corpus),
        ingested=ingested,
        label_studio=connection.url,
        project=DEMO_PROJECT,
        batch=recorded.as_dict(),
        annotations=annotations,
        pull=pulled.as_dict(),
        status=status.as_dict(),
        agreement=agreement,
        adjudication=adjudication,
        published=published,
    )


def _adjudicate(store, connection, workspace, seed, say) -> dict[str, Any]:
    """Uncertain posts go to the adjudication project; a simulated expert (who knows the
    demo's hidden truth) decides them; the decisions are pulled and override the aggregate."""
    from annotate.adjudication import adjudicate

    report = adjudicate(store, connection, DEMO_PROJECT)
    expert = connection.ensure_user("demo-expert-adjudicator@example.com")
    taxonomy = load_taxonomy()
    no_truth = demo.load_demo_data(taxonomy).no_truth
    sure = taxonomy.field("confidence").label_ids[-1]  # the expert is as sure as can be
    with store.session() as session:
        adjudication_project = get_project(session, report.adjudication_project)
        rows = session.exec(
            tasks_with_posts(adjudication_project.id, Task.ls_task_id, Post.meta)
        ).all()
    decided = 0
    exported = connection.export(report.ls_project_id)
    done = {task["id"] for task in exported if task.get("annotations")}
    for ls_task_id, meta in rows:
        if ls_task_id in done:
            continue
        truth = meta or {}
        labels = {
            "category": truth.get("true_labels") or list(no_truth),
            "severity": truth.get("true_severity"),
            "confidence": sure,
        }
        connection.create_annotation(
            ls_task_id, result_from_labels(taxonomy, labels), completed_by=expert
        )
        decided += 1
    pulled = pull(
        store, connection, report.adjudication_project, pseudonymise=workspace.pseudonymise
    )
    say(
        f"Adjudication: {report.selected} uncertain posts, {report.sent} sent to "
        f"{report.adjudication_project!r}; the expert decided {decided}; "
        f"{pulled.adjudications} decisions now override the aggregate."
    )
    return {**report.as_dict(), "decided": decided, "recorded": pulled.adjudications}


def _publish(store, settings, workspace, say) -> dict[str, Any]:
    """The next dataset version of the demo (1.0.0, then a minor bump per run)."""
    from annotate.registry import list_versions, publish
    from annotate.semver import Bump, SemVer

    name = "financial-misinfo-demo"
    versions = list_versions(settings, name)
    version = str(SemVer.parse(versions[-1]).bump(Bump.MINOR)) if versions else "1.0.0"
    report = publish(
        store, settings, workspace, name, version, projects=[DEMO_PROJECT], on_stale=say
    )
    withheld = report.excluded.get("withheld_between_splits", 0)
    say(
        f"Published {name} {version} at {report.path} ({report.rows}"
        + (f"; {withheld} posts withheld to keep splits apart" if withheld else "")
        + f'); load it with datasets.load_dataset("{report.path}").'
    )
    return report.as_dict()


def _agreement(settings: Settings, store: Store) -> dict[str, Any]:
    """Agreement on the category field over every batch so far, and the HTML report."""
    from annotate.agreement_data import post_texts, project_table
    from annotate.report import build_report, default_report_path, write_report

    table = project_table(store, DEMO_PROJECT, "category")
    report = build_report(table, texts=lambda items: post_texts(store, items))
    path = write_report(report, default_report_path(settings.exports, report, "html"))
    masi = report.multilabel.alpha_masi.value if report.multilabel else None
    return {
        "alpha": report.summary.krippendorff_alpha.value,
        "alpha_masi": masi,
        "band": report.interpretation.band,
        "report": str(path),
    }


def _simulate(
    store: Store,
    connection: LabelStudioConnection,
    batch_id: int,
    seed: int,
    say: Callable[[str], None],
) -> int:
    """Simulated annotators label the batch: the first share of tasks by all of them (for
    agreement), the rest by one each, round robin."""
    taxonomy = load_taxonomy()
    users = {
        annotator.name: connection.ensure_user(f"demo-{annotator.name}@example.com")
        for annotator in DEFAULT_TEAM
    }
    with store.session() as session:
        rows = session.exec(
            select(Task.ls_task_id, Post.post_id, Post.text, Post.meta)
            .join(Post, Post.id == Task.post_pk)
            .where(Task.batch_id == batch_id)
            .order_by(Task.id)
        ).all()
    overlapping = round(len(rows) * 0.4)
    count = 0
    for index, (ls_task_id, post_id, text, meta) in enumerate(rows):
        team = DEFAULT_TEAM if index < overlapping else (DEFAULT_TEAM[index % len(DEFAULT_TEAM)],)
        count += label_as_team(
            connection, taxonomy, users, team, ls_task_id, post_id, text, meta, seed
        )
    say(f"Simulated annotators ({', '.join(users)}) made {count} annotations.")
    return count


def label_as_team(
    connection: LabelStudioConnection,
    taxonomy: Any,
    users: dict[str, int],
    team: tuple[Any, ...],
    ls_task_id: int,
    post_id: str,
    text: str,
    meta: dict[str, Any] | None,
    seed: int,
) -> int:
    """Each member of ``team`` annotates the task as the simulation says (the post's hidden
    true labels in ``meta``), as their Label Studio user; returns how many annotations."""
    truth = meta or {}
    for member in team:
        labels = simulate_labels(
            member,
            post_id,
            truth.get("true_labels") or [],
            truth.get("true_severity"),
            seed,
            taxonomy=taxonomy,
        )
        connection.create_annotation(
            ls_task_id,
            result_from_labels(taxonomy, labels),
            completed_by=users[member.name],
            lead_time=lead_time(member, text, post_id, seed),
        )
    return len(team)
