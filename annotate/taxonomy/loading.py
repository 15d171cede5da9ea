"""Reading the taxonomy: the packaged ``label_config``, YAML parsing, errors with a line number.

The default ``label_config/`` ships inside the package; ``annotate init`` copies it into a
workspace, where the team edits it, and the workspace copy wins.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from annotate.taxonomy.model import Taxonomy, TaxonomyError, _Located

TAXONOMY_FILE = "taxonomy.yaml"
GUIDELINES_FILE = "guidelines.md"
RENDERED_FILE = "financial_misinfo.xml"


def packaged_label_config() -> Path:
    """The ``label_config`` folder that ships inside the package."""
    return Path(str(resources.files("annotate") / "label_config"))


def default_taxonomy_path() -> Path:
    """``label_config/taxonomy.yaml`` in the current folder if there is one, else the default."""
    local = Path("label_config") / TAXONOMY_FILE
    return local if local.is_file() else packaged_label_config() / TAXONOMY_FILE


def copy_label_config(destination: Path) -> list[Path]:
    """Copy the packaged taxonomy, guidelines and rendered config into ``destination``.

    Files that already exist there are kept (the team's edits win); returns what was copied.
    """
    import shutil

    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(packaged_label_config().iterdir()):
        target = destination / source.name
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)
            copied.append(target)
    return copied


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load and validate a taxonomy file; errors name the file and line."""
    path = Path(path) if path is not None else default_taxonomy_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaxonomyError(f"{path} does not exist.") from None
    except UnicodeDecodeError:
        raise TaxonomyError(f"{path} is not UTF-8 text.") from None
    return parse_taxonomy(text, str(path))


def parse_taxonomy(text: str, source: str = "<taxonomy>") -> Taxonomy:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise TaxonomyError(f"{source}{line}: not valid YAML ({problem}).") from None
    if not isinstance(document, dict):
        raise TaxonomyError(f"{source}: expected a mapping with name, version and fields.")
    try:
        return Taxonomy.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        location = tuple(first["loc"]) + (cause.where if isinstance(cause, _Located) else ())
        line = _line_of(text, location)
        where = ".".join(str(part) for part in location) or "taxonomy"
        message = first["msg"].removeprefix("Value error, ")
        raise TaxonomyError(f"{source}{line}: {where}: {message}.") from None


def _line_of(text: str, location: tuple[Any, ...]) -> str:
    """``:LINE`` of the YAML node at a pydantic error location (as far as it exists)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return ""
    found = node
    for part in location:
        if isinstance(node, yaml.MappingNode):
            match = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            match = node.value[part] if part < len(node.value) else None
        else:
            match = None
        if match is None:
            break
        node = found = match
    return f":{found.start_mark.line + 1}" if found is not None else ""


def load_guidelines(taxonomy_path: Path | None = None) -> str | None:
    """``guidelines.md`` next to the taxonomy file, if there is one."""
    folder = (taxonomy_path or default_taxonomy_path()).parent
    path = folder / GUIDELINES_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else None
