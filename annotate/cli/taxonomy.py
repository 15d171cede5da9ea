"""Taxonomy commands.

Usage:
    annotate taxonomy validate
    annotate taxonomy show --json
    annotate taxonomy render --out label_config/financial_misinfo.xml
    annotate taxonomy render --check
    annotate taxonomy render --json
    annotate taxonomy diff old/taxonomy.yaml label_config/taxonomy.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from annotate.cli._shared import JsonOpt, emit, new_app, say, stdout, table
from annotate.errors import AnnotateError
from annotate.taxonomy import (
    RENDERED_FILE,
    default_taxonomy_path,
    diff_taxonomies,
    load_guidelines,
    load_taxonomy,
    render_label_config,
)

app = new_app("taxonomy", help="Check, show, render and compare the taxonomy of labels.")

PathArg = Annotated[
    Path | None,
    typer.Argument(
        help="Taxonomy file.", show_default="label_config/taxonomy.yaml or the packaged default"
    ),
]


@app.command("validate")
def validate(path: PathArg = None, as_json: JsonOpt = False) -> None:
    """Check the taxonomy file and the Label Studio config rendered from it."""
    from label_studio_sdk.label_interface import LabelInterface

    path = path or default_taxonomy_path()
    taxonomy = load_taxonomy(path)
    try:
        LabelInterface(render_label_config(taxonomy)).validate()
    except Exception as error:  # the SDK raises several types; any is a bug in rendering
        raise AnnotateError(f"The config rendered from {path} is not valid: {error}.") from None
    data = {
        "path": str(path),
        "taxonomy": taxonomy.ref,
        "fields": len(taxonomy.fields),
        "labels": sum(len(item.labels) for item in taxonomy.fields),
        "guidelines": load_guidelines(path) is not None,
        "content_hash": taxonomy.content_hash,
    }
    emit(
        data,
        as_json,
        lambda d: say(
            f"{d['path']} is valid: {d['taxonomy']}, {d['fields']} fields, {d['labels']} labels"
            + ("" if d["guidelines"] else " (no guidelines.md next to it)")
            + "."
        ),
    )


@app.command("show")
def show(path: PathArg = None, as_json: JsonOpt = False) -> None:
    """Print the fields and labels, with names, hotkeys and rules."""
    taxonomy = load_taxonomy(path)
    if as_json:
        emit(
            {**taxonomy.model_dump(mode="json"), "content_hash": taxonomy.content_hash}, True, print
        )
        return
    say(f"{taxonomy.title.display()}: {taxonomy.ref}")
    for item in taxonomy.fields:
        rules = []
        if item.multiple:
            rules.append("several labels")
        if item.required:
            rules.append("required")
        if item.required_when:
            rules.append(f"required when {item.required_when.field} is a violation")
        heading = f"{item.name} ({item.kind}{', ' + ', '.join(rules) if rules else ''})"
        if not item.labels:
            table(
                heading,
                ["field", "zh", "en", "hotkey"],
                [[item.name, item.title.zh, item.title.en, item.hotkey]],
            )
            continue
        rows = [
            [label.id, label.zh, label.en, label.hotkey, "exclusive" if label.exclusive else None]
            for label in item.labels
        ]
        table(heading, ["label", "zh", "en", "hotkey", "rule"], rows)


@app.command("render")
def render(
    path: PathArg = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the XML here instead of printing it.", show_default=False),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help=f"Fail if the rendered file ({RENDERED_FILE} next to the taxonomy) is stale.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Render the Label Studio labelling config (XML) from the taxonomy."""
    path = path or default_taxonomy_path()
    xml = render_label_config(load_taxonomy(path)) + "\n"
    data: dict[str, str | bool | None] = {"taxonomy": str(path)}
    if check:
        target = out or path.parent / RENDERED_FILE
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != xml:
            raise AnnotateError(
                f"{target} is stale: it is not what {path} renders to.",
                hint=f"Run: annotate taxonomy render {path} --out {target}",
            )
        data.update(rendered=str(target), up_to_date=True)
        emit(data, as_json, lambda d: say(f"{d['rendered']} is up to date."))
    elif out is not None:
        out.write_text(xml, encoding="utf-8")
        data.update(rendered=str(out))
        emit(data, as_json, lambda d: say(f"Wrote {d['rendered']}"))
    else:
        data.update(label_config=xml)
        emit(
            data,
            as_json,
            lambda d: stdout.print(
                d["label_config"], end="", markup=False, highlight=False, soft_wrap=True
            ),
        )


@app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier taxonomy file.")],
    new: Annotated[Path, typer.Argument(help="The later taxonomy file.")],
    as_json: JsonOpt = False,
) -> None:
    """List added, removed and renamed labels and say whether the change is breaking.

    Exits with code 1 when NEW's version number is not bumped as much as the change needs
    (a breaking change needs a major bump, added labels a minor one, wording a patch).
    """
    difference = diff_taxonomies(load_taxonomy(old), load_taxonomy(new))
    data = difference.as_dict()

    def render_diff(d: dict) -> None:
        say(f"{d['old']}  →  {d['new']}")
        rows = []
        for name in d["added_fields"]:
            rows.append(["field added", name])
        for name in d["removed_fields"]:
            rows.append(["field removed", name])
        for name, labels in d["added_labels"].items():
            rows.extend(["label added", f"{name}.{label}"] for label in labels)
        for name, labels in d["removed_labels"].items():
            rows.extend(["label removed", f"{name}.{label}"] for label in labels)
        for name, pairs in d["renamed_labels"].items():
            rows.extend(["label renamed", f"{name}.{a} → {name}.{b}"] for a, b in pairs)
        rows.extend(["wording", what] for what in d["wording"])
        if rows:
            table(None, ["change", "what"], rows)
        if d["required_bump"] == "none":
            say("No change: the two taxonomies are the same.")
            return
        verdict = "BREAKING" if d["breaking"] else "compatible"
        say(
            f"{verdict}: needs a {d['required_bump']} version bump; the version numbers show "
            + ("a downgrade" if d["version_bump"] == "downgrade" else f"a {d['version_bump']} bump")
            + f" ({'enough' if d['version_ok'] else 'NOT enough'})."
        )
        for reason in d["breaking_changes"]:
            say(f"  breaks: {reason}")

    emit(data, as_json, render_diff)
    if not difference.version_ok:
        raise typer.Exit(1)
