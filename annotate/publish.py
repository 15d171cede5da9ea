"""Publishing dataset versions: aggregated labels, leakage-free splits, a dataset card, and an
immutable, checksummed folder in the local registry (``exports/registry/NAME/VERSION/``).

A version folder has the Hugging Face Hub layout, so ``datasets.load_dataset(folder)`` loads
it: ``README.md`` (the card, YAML metadata first) and ``data/{split}-00000-of-00001.parquet``,
plus ``manifest.json`` (content checksums and provenance). A version is written to a hidden
temporary folder next to its final place and renamed into place at the end, so a publish that
fails or is interrupted leaves no partial version behind; an existing version is never
rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from annotate import __version__
from annotate.config import Settings, Workspace
from annotate.consensus import project_consensus
from annotate.errors import AnnotateError, InputError
from annotate.store import Batch, DatasetVersion, Post, Project, PullRun, Store, Task
from annotate.taxonomy import SEMVER

NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
SPLITS = ("train", "validation", "test")
MANIFEST = "manifest.json"


@dataclass
class PublishReport:
    name: str
    version: str
    path: str | None
    rows: dict[str, int]
    excluded: dict[str, int]
    suggested_bump: str
    changelog: dict[str, Any]
    dry_run: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def version_folder(settings: Settings, name: str, version: str) -> Path:
    return settings.effective_registry / name / version


def list_versions(settings: Settings, name: str) -> list[str]:
    folder = settings.effective_registry / name
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and SEMVER.fullmatch(p.name)]
    return sorted(found, key=lambda v: tuple(int(part) for part in v.split(".")))


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise AnnotateError(f"{folder} is not a dataset version (no {MANIFEST}).")
    return json.loads(path.read_text(encoding="utf-8"))


def verify(folder: Path) -> dict[str, Any]:
    """Check every file of a version against its manifest; raise on any difference."""
    manifest = read_manifest(folder)
    for relative, expected in manifest["files"].items():
        path = folder / relative
        if not path.is_file():
            raise AnnotateError(f"{path} is missing: the version is incomplete.")
        actual = _sha256(path)
        if actual != expected["sha256"]:
            raise AnnotateError(
                f"{path} does not match the manifest (sha256 {actual[:12]}…, expected "
                f"{expected['sha256'][:12]}…); do not use this copy."
            )
    return manifest


def publish(
    store: Store,
    settings: Settings,
    workspace: Workspace,
    name: str,
    version: str,
    *,
    projects: list[str],
    batches: list[int] | None = None,
    aggregation: str = "dawid-skene",
    min_annotators: int = 1,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    message: str | None = None,
    dry_run: bool = False,
) -> PublishReport:
    """Build and write one dataset version (see the module docstring)."""
    from annotate.splits import assign_splits, group_ids, near_duplicate_groups

    if not NAME.fullmatch(name):
        raise InputError(f"Dataset name {name!r} must be lower-case letters, digits, . _ -.")
    if not SEMVER.fullmatch(version):
        raise InputError(f"Version {version!r} is not a semantic version like 1.0.0.")
    target = version_folder(settings, name, version)
    if target.exists():
        raise AnnotateError(
            f"{name} {version} is already published at {target}; versions are immutable.",
            hint="Publish a new version number.",
        )
    if not projects:
        raise InputError("Name at least one project (--project).")
    earlier = [v for v in list_versions(settings, name) if _key(v) < _key(version)]
    previous = read_manifest(version_folder(settings, name, earlier[-1])) if earlier else None

    rows, excluded, taxonomy, provenance = _rows(
        store, workspace, projects, batches, aggregation, min_annotators
    )
    if not rows:
        raise AnnotateError("Nothing to publish: no post of these projects has an aggregate.")
    groups = group_ids(
        [row["account"] for row in rows], near_duplicate_groups([row["text"] for row in rows])
    )
    previous_splits = previous["splits_by_post"] if previous else None
    assignment = assign_splits(
        [row["post_id"] for row in rows],
        [frozenset(row["labels"]) for row in rows],
        groups,
        fractions=split,
        seed=seed,
        previous=previous_splits,
    )
    for row in rows:
        row["split"] = assignment[row["post_id"]]
    changelog = _changelog(previous, rows, taxonomy)
    report = PublishReport(
        name=name,
        version=version,
        path=None,
        rows={s: sum(1 for row in rows if row["split"] == s) for s in SPLITS},
        excluded=excluded,
        suggested_bump=changelog["suggested_bump"],
        changelog=changelog,
        dry_run=dry_run,
        provenance=provenance,
    )
    if previous and _bump(previous["version"], version) < _BUMPS[changelog["suggested_bump"]]:
        raise AnnotateError(
            f"{name} {version} needs a {changelog['suggested_bump']} bump over "
            f"{previous['version']} ({changelog['reason']}).",
        )
    if dry_run:
        return report
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        _write(staging, rows, taxonomy, name, version, provenance, changelog, message, split, seed)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest = read_manifest(target)
    with store.transaction() as session:
        session.add(
            DatasetVersion(
                name=name,
                version=version,
                target="local",
                location=str(target),
                manifest={k: v for k, v in manifest.items() if k != "splits_by_post"},
            )
        )
    report.path = str(target)
    return report


def _rows(store, workspace, projects, batches, aggregation, min_annotators):
    rows: list[dict[str, Any]] = []
    excluded = {"no_aggregate": 0, "too_few_annotators": 0}
    provenance: dict[str, Any] = {"projects": [], "batches": [], "aggregation": aggregation}
    taxonomy = None
    seen: set[int] = set()
    for project_name in projects:
        consensus = project_consensus(store, project_name, method=aggregation)
        if taxonomy is None:
            taxonomy = consensus.taxonomy
        elif taxonomy.content_hash != consensus.taxonomy.content_hash:
            raise AnnotateError(
                f"Project {project_name!r} uses {consensus.taxonomy.ref}, not {taxonomy.ref}; "
                "one dataset version has one taxonomy."
            )
        with store.session() as session:
            project = session.exec(select(Project).where(Project.name == project_name)).one()
            pull_run = session.exec(
                select(PullRun).where(PullRun.project_id == project.id).order_by(PullRun.id.desc())
            ).first()
            task_rows = session.exec(
                select(Task.post_pk, Task.batch_id, Task.is_gold).where(
                    Task.project_id == project.id
                )
            ).all()
            batch_of = {pk: (batch_id, gold) for pk, batch_id, gold in task_rows}
            wanted = {pk for pk in consensus.items if batches is None or batch_of[pk][0] in batches}
            posts = {
                post.id: post
                for post in session.exec(select(Post).where(Post.id.in_(list(wanted))))
            }
            used_batches = sorted({batch_of[pk][0] for pk in wanted if batch_of[pk][0]})
            for batch in session.exec(select(Batch).where(Batch.id.in_(used_batches))):
                provenance["batches"].append(
                    {
                        "id": batch.id,
                        "project": project_name,
                        "strategy": batch.strategy,
                        "seed": batch.seed,
                        "size": batch.size,
                    }
                )
            provenance["projects"].append(
                {
                    "name": project_name,
                    "label_studio_project_id": project.ls_project_id,
                    "last_pull_at": pull_run.finished_at.isoformat() if pull_run else None,
                }
            )
        for pk in sorted(wanted):
            item = consensus.items[pk]
            if pk in seen:
                continue
            if item.n_annotators < min_annotators:
                excluded["too_few_annotators"] += 1
                continue
            if not item.labels:
                excluded["no_aggregate"] += 1
                continue
            seen.add(pk)
            post = posts[pk]
            agreeing = sum(
                1 for a in item.annotations if sorted(a["labels"]) == sorted(item.labels)
            )
            rows.append(
                {
                    "post_id": f"{post.source}:{post.post_id}",
                    "text": post.text,
                    "platform": post.platform or "",
                    "account": workspace.pseudonymise(post.account_id, "account")
                    if post.account_id
                    else "",
                    "created_at": post.created_at.isoformat() if post.created_at else "",
                    "labels": item.labels,
                    "label_probs": [
                        round(item.label_probs.get(label, 0.0), 6)
                        for label in taxonomy.field("category").label_ids
                    ],
                    "severity": item.severity,
                    "n_annotators": item.n_annotators,
                    "item_agreement": agreeing / item.n_annotators if item.n_annotators else 0.0,
                    "annotations": [
                        {
                            "annotator": a["annotator"],
                            "labels": a["labels"],
                            "severity": a["severity"] or "",
                        }
                        for a in item.annotations
                    ],
                    "evidence": [
                        {
                            "annotator": a["annotator"],
                            "start": span["start"],
                            "end": span["end"],
                            "label": span["label"],
                        }
                        for a in item.annotations
                        for span in a.get("evidence", [])
                    ],
                    "adjudicated": item.adjudicated,
                    "gold": batch_of[pk][1],
                    "batch": batch_of[pk][0] or -1,
                }
            )
    provenance["taxonomy"] = {
        "name": taxonomy.name,
        "version": taxonomy.version,
        "sha256": taxonomy.content_hash,
    }
    provenance["agreement"] = _agreement(store, projects)
    provenance["tool"] = f"annotate {__version__}"
    provenance["published_at"] = datetime.now(UTC).isoformat()
    return rows, excluded, taxonomy, provenance


def _agreement(store: Store, projects: list[str]) -> dict[str, Any]:
    """Krippendorff's alpha on the category field per project, with a bootstrap interval."""
    from annotate.agreement import summarise
    from annotate.agreement_data import project_table

    found = {}
    for project_name in projects:
        try:
            table = project_table(store, project_name, "category")
        except AnnotateError as error:
            found[project_name] = {"undefined": str(error)}
            continue
        summary = summarise(table.rows, ci=True, n_resamples=1000, seed=0)
        alpha = summary.krippendorff_alpha
        found[project_name] = {
            "krippendorff_alpha": alpha.value,
            "ci95": alpha.ci.as_list() if alpha.ci else None,
            "n_items": summary.n_items,
            "n_annotators": summary.n_annotators,
        }
    return found


def features(taxonomy):
    from datasets import ClassLabel, Features, Sequence, Value

    categories = list(taxonomy.field("category").label_ids)
    severities = list(taxonomy.field("severity").label_ids)
    return Features(
        {
            "post_id": Value("string"),
            "text": Value("string"),
            "platform": Value("string"),
            "account": Value("string"),
            "created_at": Value("string"),
            "labels": Sequence(ClassLabel(names=categories)),
            "label_probs": Sequence(Value("float32")),
            "severity": ClassLabel(names=severities),
            "n_annotators": Value("int32"),
            "item_agreement": Value("float32"),
            "annotations": [
                {
                    "annotator": Value("string"),
                    "labels": Sequence(Value("string")),
                    "severity": Value("string"),
                }
            ],
            "evidence": [
                {
                    "annotator": Value("string"),
                    "start": Value("int32"),
                    "end": Value("int32"),
                    "label": Value("string"),
                }
            ],
            "adjudicated": Value("bool"),
            "gold": Value("bool"),
            "batch": Value("int32"),
        }
    )


def _write(folder, rows, taxonomy, name, version, provenance, changelog, message, split, seed):
    from datasets import Dataset

    feature_set = features(taxonomy)
    data = folder / "data"
    data.mkdir()
    counts = {}
    sizes = {}
    for split_name in SPLITS:
        part = [
            {key: value for key, value in row.items() if key != "split"}
            for row in rows
            if row["split"] == split_name
        ]
        counts[split_name] = len(part)
        for row in part:
            row["severity"] = row["severity"] if row["severity"] is not None else -1
        if not part:
            continue
        dataset = Dataset.from_list(part, features=feature_set)
        sizes[split_name] = dataset.data.nbytes
        dataset.to_parquet(str(data / f"{split_name}-00000-of-00001.parquet"))
    card = render_card(
        name, version, taxonomy, feature_set, counts, sizes, rows, provenance, changelog, message
    )
    (folder / "README.md").write_text(card, encoding="utf-8")
    files = {
        str(path.relative_to(folder)): {"sha256": _sha256(path), "bytes": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "name": name,
        "version": version,
        "files": files,
        "rows": counts,
        "provenance": provenance,
        "changelog": changelog,
        "split": {"fractions": list(split), "seed": seed},
        "splits_by_post": {row["post_id"]: row["split"] for row in rows},
        "labels_by_post": {row["post_id"]: [row["labels"], row["severity"]] for row in rows},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))


def render_card(
    name, version, taxonomy, feature_set, counts, sizes, rows, provenance, changelog, message
):
    from datasets import DatasetInfo
    from huggingface_hub import DatasetCardData

    total = sum(counts.values())
    size = (
        "n<1K"
        if total < 1_000
        else "1K<n<10K"
        if total < 10_000
        else "10K<n<100K"
        if total < 100_000
        else "100K<n<1M"
    )
    present = [s for s in SPLITS if counts.get(s)]
    info = DatasetInfo(features=feature_set)._to_yaml_dict()
    info["splits"] = [
        {"name": s, "num_bytes": sizes[s], "num_examples": counts[s]} for s in present
    ]
    card = DatasetCardData(
        language=["zh", "en"],
        license="other",
        task_categories=["text-classification"],
        task_ids=["multi-label-classification"],
        size_categories=[size],
        pretty_name=f"{name} (financial misinformation, {taxonomy.name} {taxonomy.version})",
        annotations_creators=["expert-generated"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in present],
            }
        ],
        dataset_info=info,
    )
    category = taxonomy.field("category")
    lines = [
        "---",
        card.to_yaml(),
        "---",
        "",
        f"# {name} {version}",
        "",
        "Posts of financial self-media accounts labelled for misinformation: fabricated "
        "rumours, distorted policy, baseless doom-mongering, illegal securities activity, "
        "extortion, impersonation and incitement, against legitimate financial content and "
        "off-topic posts. Intended for training and evaluating enforcement classifiers; not for "
        "judging individual accounts without human review.",
        "",
        "## Taxonomy",
        "",
        f"{taxonomy.ref}",
        "",
        "| label | 中文 | definition |",
        "|---|---|---|",
    ]
    for label in category.labels:
        definition = label.definition.en if label.definition else ""
        lines.append(f"| `{label.id}` | {label.zh} | {_md(definition)} |")
    lines += ["", "## Label counts per split", "", "| label | " + " | ".join(present) + " |"]
    lines.append("|---|" + "---:|" * len(present))
    for label in category.label_ids:
        cells = [
            str(sum(1 for row in rows if row["split"] == s and label in row["labels"]))
            for s in present
        ]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    annotators = {a["annotator"] for row in rows for a in row["annotations"]}
    adjudicated = sum(1 for row in rows if row["adjudicated"])
    lines += [
        "",
        "## Annotation",
        "",
        _agreement_lines(provenance.get("agreement", {})),
        "",
        f"{len(annotators)} annotators (identities are never published; annotations carry "
        f"keyed pseudonyms). Aggregation: {provenance['aggregation']}; {adjudicated} items "
        "adjudicated by an expert. Splits are stratified by label and grouped so that one "
        "account's posts and near-duplicates of one post never straddle splits; test items "
        "stay in test in later versions.",
        "",
        "## Provenance",
        "",
        "```json",
        json.dumps(provenance, ensure_ascii=False, indent=2),
        "```",
        "",
        "## Changelog",
        "",
        f"{message or ''}".strip(),
        "",
        "```json",
        json.dumps(changelog, ensure_ascii=False, indent=2),
        "```",
        "",
        "## Limitations",
        "",
        "Labels reflect the annotators' and adjudicators' judgement under the taxonomy and "
        "guidelines cited above. Account ids are keyed hashes; post texts are published as "
        "posted.",
        "",
    ]
    return "\n".join(lines)


def _agreement_lines(agreement: dict[str, Any]) -> str:
    lines = ["Agreement on the category field (Krippendorff's α, 95% bootstrap interval):", ""]
    for project_name, values in agreement.items():
        alpha = values.get("krippendorff_alpha")
        if alpha is None:
            lines.append(f"- {project_name}: undefined ({values.get('undefined', 'no data')})")
            continue
        interval = values.get("ci95")
        shown = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "no interval"
        lines.append(
            f"- {project_name}: α = {alpha:.3f} {shown} over {values['n_items']} posts "
            f"with two or more annotations"
        )
    return "\n".join(lines)


def _changelog(previous, rows, taxonomy) -> dict[str, Any]:
    if previous is None:
        return {
            "previous": None,
            "suggested_bump": "major",
            "reason": "first version",
            "added": len(rows),
            "removed": 0,
            "relabelled": 0,
        }
    old = previous["labels_by_post"]
    new = {row["post_id"]: [row["labels"], row["severity"]] for row in rows}
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    relabelled = sorted(pk for pk in set(new) & set(old) if new[pk] != old[pk])
    old_taxonomy = previous["provenance"]["taxonomy"]
    if (
        old_taxonomy["sha256"] != taxonomy.content_hash
        and _key(taxonomy.version)[0] > _key(old_taxonomy["version"])[0]
    ):
        bump, reason = "major", "the taxonomy changed incompatibly"
    elif added or removed:
        bump, reason = "minor", f"{len(added)} items added, {len(removed)} removed"
    elif relabelled:
        bump, reason = "patch", f"{len(relabelled)} items relabelled"
    else:
        bump, reason = "patch", "no change in items or labels"
    return {
        "previous": previous["version"],
        "suggested_bump": bump,
        "reason": reason,
        "added": len(added),
        "removed": len(removed),
        "relabelled": len(relabelled),
    }


_BUMPS = {"patch": 1, "minor": 2, "major": 3}


def _bump(old: str, new: str) -> int:
    a, b = _key(old), _key(new)
    return 3 if b[0] > a[0] else 2 if b[1] > a[1] else 1 if b[2] > a[2] else 0


def _key(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------- Hub


def push_to_hub(
    folder: Path,
    settings: Settings,
    repo: str,
    *,
    private: bool = True,
    message: str | None = None,
) -> dict[str, Any]:
    """Upload a published version folder to the Hub (or any Hub-compatible endpoint) as one
    commit and tag it ``vX.Y.Z``. The files are the registry's, byte for byte, so the
    manifest's checksums hold on the Hub too."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    manifest = verify(folder)
    version = manifest["version"]
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    if token is None:
        raise AnnotateError("Publishing to the Hub needs a token.", hint="Set HF_TOKEN.")
    api = HfApi(endpoint=settings.hf_endpoint or None, token=token)
    tag = f"v{version}"
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo, repo_type="dataset")
        if any(ref.name == tag for ref in refs.tags):
            raise AnnotateError(f"{repo} already has the tag {tag}; versions are immutable.")
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo,
            repo_type="dataset",
            commit_message=message or f"{manifest['name']} {version}",
            delete_patterns=["data/*"],  # a version replaces the previous one's data files
        )
        api.create_tag(repo, tag=tag, repo_type="dataset", revision=commit.oid)
    except HfHubHTTPError as error:
        raise AnnotateError(f"The Hub at {api.endpoint} refused the upload: {error}.") from None
    return {"repo": repo, "tag": tag, "commit": commit.oid, "endpoint": api.endpoint}


def pull_from_hub(settings: Settings, repo: str, version: str, destination: Path) -> Path:
    """Download tag ``vVERSION`` of a Hub dataset into ``destination`` and verify every file
    against the manifest that came with it (never trusting a cache: offline, the Hub client
    can return the newest cached revision for an older tag)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    destination.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(
            repo,
            repo_type="dataset",
            revision=f"v{version}",
            local_dir=str(destination),
            token=token,
            endpoint=settings.hf_endpoint or None,
        )
    except HfHubHTTPError as error:
        raise AnnotateError(f"Could not download {repo} v{version}: {error}.") from None
    manifest = verify(destination)
    if manifest["version"] != version:
        raise AnnotateError(
            f"{repo} at v{version} holds version {manifest['version']}; do not use this copy."
        )
    return destination
