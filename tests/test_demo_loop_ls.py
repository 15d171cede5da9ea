"""`annotate demo-loop` (what `make demo` runs), end to end against the real Label Studio: it
ends with the next-steps block, and the dataset it names loads."""

from __future__ import annotations

import datasets
import pytest

from tests.cli import run

pytestmark = pytest.mark.labelstudio


def test_demo_loop_ends_with_next_steps_and_publishes_a_loadable_version(label_studio, tmp_path):
    env = {
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.token,
        "ANNOTATE_WORKSPACE": "",
        "ANNOTATE_EXPORTS": "",
        "ANNOTATE_DATABASE_URL": "",
    }
    workspace = tmp_path / "demo" / ".annotate"
    result = run("--workspace", workspace, "demo-loop", "--batch-size", "40", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.rstrip("\n").splitlines()
    start = lines.index("Next steps")
    block = lines[start:]
    assert block[-1].startswith("  Next batch")
    labelled = {line.split("  ")[1].strip() for line in block[1:] if line.strip()}
    assert {"Label Studio", "Agreement report", "Dataset", "Load it"} <= labelled
    # Nothing after the block but the block: posts stats and tables come before it.
    assert any("posts stats" in line for line in lines[:start])
    assert label_studio.token not in result.stdout + result.stderr

    load_line = next(line for line in block if "Load it" in line)
    path = load_line.split('load_dataset("')[1].rstrip('")')
    assert path.startswith(str(tmp_path / "demo" / "exports" / "registry"))
    loaded = datasets.load_dataset(path)
    assert set(loaded) == {"train", "validation", "test"}
    assert sum(len(split) for split in loaded.values()) > 0
