"""A model on disk: ``model.skops`` (skops, not pickle: loading runs no code a file names)
beside its card, ``card.json`` and ``README.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from annotate.errors import InputError

if TYPE_CHECKING:
    from annotate.baseline.model import Baseline

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
CARD_MARKDOWN = "README.md"
FORMAT = 1
#: What a model file may hold beyond the types skops trusts by default: nothing. A file that
#: names any other type was not written by :func:`save_model` and is refused unread.
EXTRA_TRUSTED: tuple[str, ...] = ()


def save_model(model: Baseline, folder: str | Path) -> Path:
    """Write ``model`` into ``folder`` (made if needed); returns the folder."""
    import zipfile

    import skops.io as sio

    from annotate.baseline.card import render_card_markdown

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "field": model.field,
        "labels": list(model.labels),
        "thresholds": dict(model.thresholds),
        "multiple": bool(model.multiple),
        "vectorizer": model.vectorizer,
        "estimators": list(model.estimators),
        "constants": [float(value) for value in model.constants],
    }
    partial = folder / f".{MODEL_FILE}.partial"
    sio.dump(state, partial, compression=zipfile.ZIP_DEFLATED)
    partial.replace(folder / MODEL_FILE)
    card = {**model.card, "thresholds": dict(model.thresholds)}
    (folder / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n")
    (folder / CARD_MARKDOWN).write_text(render_card_markdown(card, model.labels))
    return folder


def load_model(folder: str | Path) -> Baseline:
    """The model in ``folder`` (or the ``model.skops`` file given). A file that names a type
    skops does not trust is refused before anything in it is built."""
    import skops.io as sio

    from annotate.baseline.model import Baseline

    path = Path(folder)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise InputError(f"No model at {path}.", hint="Train one with 'annotate train'.")
    try:
        untrusted = [
            name for name in sio.get_untrusted_types(file=path) if name not in EXTRA_TRUSTED
        ]
    except Exception as error:  # a zip that is not a skops file, a schema that does not parse
        raise InputError(f"{path} is not a skops model file ({error}).") from None
    if untrusted:
        raise InputError(
            f"{path} holds types that a model file never holds ({', '.join(sorted(untrusted))}),"
            " so it was refused unread."
        )
    state = sio.load(path, trusted=list(EXTRA_TRUSTED) or None)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{path} is not a model file of this version of annotate.")
    card_path = path.parent / CARD_FILE
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return Baseline(
        field=state["field"],
        labels=list(state["labels"]),
        thresholds={label: float(value) for label, value in state["thresholds"].items()},
        vectorizer=state["vectorizer"],
        estimators=list(state["estimators"]),
        constants=list(state["constants"]),
        multiple=bool(state["multiple"]),
        card=card,
    )
