"""The labelling loop: sample posts into a project, push tasks, pull annotations, status.

Usage:
    annotate sample round-1 --size 500 --strategy mixed --by platform,month --seed 7
    annotate sample round-1 --size 500 --dry-run
    annotate sample round-2 --size 200 --strategy activelab --model models/m --pre-annotate models/m
    annotate sample round-2 --size 200 --strategy uncertainty --model models/baseline --by platform
    annotate push round-2 --pre-annotate models/baseline
    annotate sample round-1 --size 1000 --from lake --engine duckdb --where platform=weibo
    annotate sample round-1 --size 1000 --from lake --engine spark --spark-master spark://host:7077
    annotate push round-1
    annotate push round-1 --no-wait
    annotate pull round-1
    annotate pull round-1 --full --json
    annotate status round-1
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from annotate.cli._shared import (
    JsonOpt,
    NoWaitOpt,
    ProjectArg,
    busy,
    emit,
    listed,
    progress_bar,
    say,
    table,
    workspace,
)

AccountIdsOpt = Annotated[
    bool,
    typer.Option(
        "--send-account-ids",
        help="Show posters' raw account ids to annotators (off: only display names).",
    ),
]


PreAnnotateOpt = Annotated[
    Path | None,
    typer.Option(
        "--pre-annotate",
        metavar="MODEL",
        help="Show this model's predictions (a folder saved by 'annotate train') on the new "
        "tasks as Label Studio predictions; the overlap cohort gets none.",
    ),
]
SuggestOverlapOpt = Annotated[
    bool,
    typer.Option(
        "--suggest-overlap",
        help="With --pre-annotate: suggest on the overlap cohort too (suggestions anchor "
        "annotators, so agreement measured there is no longer independent of the model).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
    app.command("push")(push)
    app.command("pull")(pull)
    app.command("status")(status)


def pushing(run):
    """Run ``run(progress)`` under a progress bar of the tasks pushed."""
    with progress_bar() as bar:
        task = bar.add_task("pushing tasks", total=None)
        return run(lambda done, total: bar.update(task, completed=done, total=total))


def sample(
    ctx: typer.Context,
    project: ProjectArg,
    size: Annotated[int, typer.Option("--size", min=1, help="Posts in the batch.")],
    strategy: Annotated[
        str,
        typer.Option(
            help="random, stratified (needs --by), keyword (risk lexicon), mixed "
            "(keyword share + stratified rest), uncertainty (posts the --model is least sure "
            "of) or activelab (ActiveLab: new posts or one more annotator on labelled ones, "
            "whichever the --model's scores say teaches more)."
        ),
    ] = "random",
    by: Annotated[
        str | None,
        typer.Option(
            help="Strata: comma-separated fields among platform, lang, source, month, account_id."
        ),
    ] = None,
    allocation: Annotated[
        str, typer.Option(help="proportional (to stratum size) or equal (per stratum).")
    ] = "proportional",
    keywords: Annotated[
        Path | None,
        typer.Option(help="Risk lexicon.", show_default="label_config/keywords.yaml"),
    ] = None,
    keyword_share: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Share of the batch from lexicon matches."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="Only posts with FIELD=VALUE (repeatable; VALUE may be a|b)."),
    ] = None,
    dedupe: Annotated[
        bool, typer.Option("--dedupe/--no-dedupe", help="Leave out near-duplicate posts.")
    ] = True,
    gold: Annotated[
        Path | None,
        typer.Option(help="JSONL of gold posts with known answers (post_id, source, labels)."),
    ] = None,
    gold_rate: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of the batch that is gold.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Same seed, same corpus: same sample.")] = 0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the composition per stratum; write nothing.")
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            metavar="MODEL",
            help="The model (a folder saved by 'annotate train') that scores posts for the "
            "uncertainty and activelab strategies.",
        ),
    ] = None,
    uncertainty: Annotated[
        str,
        typer.Option(
            help="For --strategy uncertainty: margin (smallest gap between the two most "
            "probable labels first) or entropy (most spread over all labels first)."
        ),
    ] = "margin",
    pre_annotate: PreAnnotateOpt = None,
    suggest_overlap: SuggestOverlapOpt = False,
    send_account_ids: AccountIdsOpt = False,
    no_wait: NoWaitOpt = False,
    from_corpus: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Sample a registered corpus (annotate corpus add) instead of the stored posts; "
            "only the chosen posts are stored.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(help="With --from: duckdb (embedded) or spark (pip install annotate[spark])."),
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            help="With --engine spark: a cluster (spark://host:7077, yarn, k8s://…); "
            "SPARK_REMOTE=sc://host:15002 uses Spark Connect.",
            show_default="local[2]",
        ),
    ] = None,
    rank_version: Annotated[
        int | None,
        typer.Option(
            help="1 reruns a batch recorded before rank version 2 (its batch record says which).",
            show_default="2",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample the next batch into a project and push its tasks to Label Studio.

    Posts rank by a hash of (seed, source, post id) and the lowest ranks of each stratum are
    taken, so a sample is reproducible and stable as the corpus grows. Near-duplicates and
    posts already sent to the project are left out. Tasks left unpushed by an interrupted
    run are pushed first. Waits while another command works on the project (--no-wait:
    fail instead).
    """
    ws = workspace(ctx)

    def run(progress):
        return ws.sample(
            project,
            size,
            strategy=strategy,
            by=[part.strip() for part in by.split(",") if part.strip()] if by else (),
            allocation=allocation,
            keyword_share=keyword_share,
            where=where or [],
            dedupe=dedupe,
            seed=seed,
            keywords=keywords,
            gold=gold,
            gold_rate=gold_rate,
            dry_run=dry_run,
            send_account_ids=send_account_ids,
            wait=not no_wait,
            progress=progress,
            model=model,
            uncertainty=uncertainty,
            pre_annotate=pre_annotate,
            suggest_overlap=suggest_overlap,
            from_corpus=from_corpus,
            engine=engine,
            spark_master=spark_master,
            rank_version=rank_version,
        )

    if dry_run and from_corpus:
        with busy(f"scanning corpus {from_corpus} with {engine}"):
            result = run(None)
    else:
        result = run(None) if dry_run else pushing(run)
    earlier = result.earlier_push
    if earlier is not None and (earlier.pushed or earlier.reconciled):
        say(f"Pushed {earlier.pushed} tasks left over from an earlier run first.")
    data = result.as_dict()

    def render(d: dict) -> None:
        rows = [
            [
                row["pool"],
                ", ".join(f"{k}={v}" for k, v in row["stratum"].items()) or "all",
                row["available"],
                row["quota"],
                row["selected"],
                row["suppressed"],
            ]
            for row in d["composition"]
        ]
        table(None, ["pool", "stratum", "available", "quota", "selected", "near-dups"], rows)
        if corpus := d.get("corpus"):
            say(
                f"Corpus {corpus['corpus']!r} ({corpus['engine']}): read {corpus['files_read']} "
                f"of its {corpus['files']} files; {len(corpus['rejected'])} rows rejected."
            )
        if dry_run:
            say(f"Dry run: nothing was written. {len(d['picks'])} posts would be sampled.")
            return
        batch = d["batch"]
        if batch is not None:
            say(
                f"Batch {batch['batch_id']} of {d['project']!r}: {batch['tasks']} posts "
                f"({batch['gold']} gold); pushed {d['push']['pushed']} tasks."
            )
        _render_model_choice(d)

    emit(data, as_json, render)


def push(
    ctx: typer.Context,
    project: ProjectArg,
    send_account_ids: AccountIdsOpt = False,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="First repair what Label Studio and the store disagree on (see 'pull'): adopt "
            "Label Studio tasks of recorded posts, delete duplicate tasks of a post that hold "
            "nothing; duplicates that both hold annotations are listed and left for a person.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="List what would be adopted, deleted and pushed; change nothing."
        ),
    ] = False,
    pre_annotate: PreAnnotateOpt = None,
    suggest_overlap: SuggestOverlapOpt = False,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import the project's recorded tasks that are not in Label Studio yet.

    Safe to rerun after an interruption: tasks Label Studio already has are matched by post
    id first, so no post becomes two tasks. When 'pull' reports tasks in Label Studio the
    store does not know (duplicates from an old double push, tasks made by hand), run it with
    --reconcile --dry-run to see the repair, then with --reconcile. Waits while another
    command works on the project (--no-wait: fail instead).
    """
    ws = workspace(ctx)

    def run(progress):
        return ws.push(
            project,
            reconcile=reconcile,
            dry_run=dry_run,
            send_account_ids=send_account_ids,
            wait=not no_wait,
            progress=progress,
            pre_annotate=pre_annotate,
            suggest_overlap=suggest_overlap,
        )

    report = run(None) if dry_run else pushing(run)

    def render(d: dict) -> None:
        if d["reconcile"]:
            _render_reconcile(d["reconcile"])
        if d["dry_run"]:
            say(
                f"Would push at most {d['pending']} tasks to {d['project']!r}; nothing was changed."
            )
            return
        say(
            f"Pushed {d['pushed']} tasks to {d['project']!r} in {d['chunks']} requests"
            + (f"; matched {d['reconciled']} already there" if d["reconciled"] else "")
            + "."
        )
        _render_model_choice(d)

    emit(report.as_dict(), as_json, render)


def _render_model_choice(d: dict) -> None:
    """What a model strategy and --pre-annotate added to a sample or push."""
    if d.get("model"):
        relabel = d.get("relabel") or []
        say(
            f"Chosen by {d['model']['model_version']}: {len(d.get('picks') or [])} new posts, "
            f"{len(relabel)} labelled posts get one more annotator"
            + (
                f" ({d['relabel_requested']} asked of Label Studio)."
                if "relabel_requested" in d
                else "."
            )
        )
    suggestions = d.get("suggestions")
    if suggestions:
        say(
            f"Suggestions by {suggestions['model_version']} on {suggestions['suggested']} tasks; "
            f"{suggestions['overlap_cohort']} tasks of the overlap cohort left without."
        )


def _render_reconcile(r: dict) -> None:
    would = r["dry_run"]
    adopted = "Would adopt" if would else "Adopted"
    deleted = "Would delete" if would else "Deleted"
    say(f"{adopted} {_tasks(len(r['adopt']))} of Label Studio into the store.")
    if r["delete"]:
        count = len(r["delete"])
        say(f"{deleted} {count} empty duplicate tasks in Label Studio: {listed(r['delete'])}.")
    if r["adopt"]:
        table(
            None,
            ["source", "post id", "Label Studio task", "instead of"],
            [
                [a["source"], a["post_id"], _id(a["ls_task_id"]), _id(a["replaces"])]
                for a in r["adopt"]
            ],
        )
    if r["conflicts"]:
        table(
            "posts with several annotated tasks (left as they are)",
            ["source", "post id", "kept", "Label Studio tasks (annotations and drafts)"],
            [
                [
                    c["source"],
                    c["post_id"],
                    _id(c["kept"]),
                    ", ".join(f"{ls_id} ({n})" for ls_id, n in c["annotations"].items()),
                ]
                for c in r["conflicts"]
            ],
        )
        say(
            "Keep one task of each such post in Label Studio (move or copy the answers you "
            "want, delete the other), then run this again."
        )
    if r["unrelated"]:
        say(
            f"{_tasks(len(r['unrelated']))} in Label Studio show no post of this project and "
            f"are left alone: {listed(r['unrelated'])}."
        )


def _id(ls_id: int | None) -> str | None:
    return None if ls_id is None else str(ls_id)  # no thousands separators in ids


def pull(
    ctx: typer.Context,
    project: ProjectArg,
    full: Annotated[
        bool, typer.Option("--full", help="Reread every task, not only those changed.")
    ] = False,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Pull annotations into the store: new, updated, deleted and skipped, per annotator.

    Incremental by default (only tasks changed since the last successful pull). One
    transaction: a failed pull leaves the store as it was. Waits while another command
    works on the project (--no-wait: fail instead).
    """
    with busy("pulling annotations"):
        report = workspace(ctx).pull(project, full=full, wait=not no_wait)
    data = report.as_dict()

    def render(d: dict) -> None:
        kind = "Full pull" if d["full"] else "Pull"
        say(
            f"{kind} of {d['project']!r}: {d['tasks']} tasks read; {d['new']} new, "
            f"{d['updated']} updated, {d['deleted']} deleted, {d['skipped']} skipped"
            + (f"; {d['with_problems']} with problems" if d["with_problems"] else "")
            + ("" if d["changed"] else " (nothing new)")
            + "."
        )
        rows = [
            [name, c["new"], c["updated"], c["deleted"], c["skipped"], c["unchanged"]]
            for name, c in sorted(d["by_annotator"].items())
        ]
        if rows:
            table(None, ["annotator", "new", "updated", "deleted", "skipped", "unchanged"], rows)
        if d["deleted_tasks"]:
            count = d["deleted_tasks"]
            its = "its" if count == 1 else "their"
            say(
                f"{_tasks(count)} deleted in Label Studio: marked deleted in the store, with "
                f"{its} annotations."
            )
        if d["unknown_tasks"]:
            ids = d["unknown_task_ids"]
            verb, its = ("is", "its") if len(ids) == 1 else ("are", "their")
            say(
                f"{_tasks(len(ids))} in Label Studio {verb} not in the store, so {its} "
                f"annotations are not pulled (Label Studio ids {listed(ids)})."
            )
            repair = f"annotate push {shlex.quote(d['project'])} --reconcile --dry-run"
            say(f"To see the repair: {repair}")

    emit(data, as_json, render)


def _tasks(count: int) -> str:
    return f"{count} task" + ("" if count == 1 else "s")


def status(ctx: typer.Context, project: ProjectArg, as_json: JsonOpt = False) -> None:
    """Per batch and per annotator: tasks, done, skipped, overlap coverage, lead time."""
    report = workspace(ctx).status(project)

    def render(d: dict) -> None:
        say(f"Project {d['project']!r}; last pull {d['last_pull_at'] or 'never'}.")
        table(
            "batches",
            [
                "batch",
                "strategy",
                "tasks",
                "pushed",
                "done",
                "skipped",
                "overlapping",
                "coverage",
                "deleted in LS",
            ],
            [
                [
                    b["batch"],
                    b["strategy"],
                    b["tasks"],
                    b["pushed"],
                    b["done"],
                    b["skipped"],
                    b["overlapping"],
                    b["overlap_coverage"],
                    b["deleted"],
                ]
                for b in d["batches"]
            ],
        )
        if d["annotators"]:
            table(
                "annotators",
                ["annotator", "annotations", "skipped", "median lead time (s)"],
                [
                    [a["annotator"], a["annotations"], a["skipped"], a["median_lead_time"]]
                    for a in d["annotators"]
                ],
            )

    emit(report.as_dict(), as_json, render)
