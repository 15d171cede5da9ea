"""Staging folders: where a version is written before it is renamed into place.

A version is written in a hidden staging folder next to its place (``NAME/.VERSION-XXXX/``,
:class:`Staging`) and renamed into place when complete, so a version folder is whole or
absent. The publish holds a lock (``flock``) on the owner file ``.publishing`` in its staging
folder, which names the host and the process, for as long as it runs; the kernel drops the
lock when the process ends, however it ends (SIGKILL too).

:func:`sweep_staging` removes the staging folders of publishes that no longer run: those whose
lock it can take. One made on another host (the owner file says which) is left alone and
reported, as a lock is not to be trusted across hosts; one without an owner file (an older
annotate) is removed once nothing in it changed for an hour.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from annotate.config import Settings
from annotate.registry.manifest import OWNER
from annotate.semver import PATTERN

STAGING = re.compile(rf"\.{PATTERN.pattern}-\w+")
# A staging folder without an owner file is abandoned once nothing in it changed for this long.
ABANDONED_AFTER = 3600.0


class StagingState(StrEnum):
    """Whether a staging folder belongs to a publish that may still be writing it."""

    IN_USE = "in use"
    ABANDONED = "abandoned"
    ELSEWHERE = "made on another host"


@dataclass
class Staging:
    """The hidden folder a version is written in, next to its place, and the locked owner
    file that tells :func:`sweep_staging` it is in use (see the module docstring)."""

    target: Path
    folder: Path
    owner: IO[str] = field(repr=False)

    @classmethod
    def open(cls, target: Path) -> Staging:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        # mkdtemp makes it 0700; the version it becomes is for colleagues to read too.
        folder.chmod(0o777 & ~current_umask())
        claim = folder / f"{OWNER}.new"
        owner = claim.open("w")
        fcntl.flock(owner, fcntl.LOCK_EX)
        started = datetime.now(UTC).isoformat()
        owner.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": started}))
        owner.flush()
        claim.rename(folder / OWNER)  # visible only once locked
        return cls(target, folder, owner)

    def promote(self) -> None:
        """Rename the complete version into place."""
        (self.folder / OWNER).unlink()
        self.folder.rename(self.target)
        self.owner.close()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.owner.close()


def current_umask() -> int:
    """The process's umask (read from the kernel where it can be, else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sweep_staging(settings: Settings, name: str) -> list[str]:
    """Remove the staging folders of dataset ``name`` that no publish uses any more; what was
    removed, or left because it was made on another host, as sentences."""
    parent = settings.effective_registry / name
    notices = []
    for folder in sorted(parent.iterdir()) if parent.is_dir() else []:
        if not (folder.is_dir() and STAGING.fullmatch(folder.name)):
            continue
        state, owner = _staging_state(folder)
        by = (
            f"pid {owner.get('pid')} on {owner.get('host')}"
            if owner
            else "no owner file, nothing changed for an hour"
        )
        if state is StagingState.ABANDONED:
            shutil.rmtree(folder, ignore_errors=True)
            notices.append(f"Removed {folder}, left by a publish that was interrupted ({by}).")
        elif state is StagingState.ELSEWHERE:
            notices.append(
                f"Kept {folder}: a publish on {owner['host']} (pid {owner.get('pid', '?')}) may "
                "still be writing it; delete it once none runs there."
            )
    return notices


def _staging_state(folder: Path) -> tuple[StagingState, dict[str, Any]]:
    try:
        handle = (folder / OWNER).open()
    except FileNotFoundError:  # an older annotate, or a publish renaming its version now
        try:
            changed = max(path.stat().st_mtime for path in [folder, *folder.rglob("*")])
        except FileNotFoundError:
            return StagingState.IN_USE, {}
        idle = time.time() - changed
        return (StagingState.ABANDONED if idle > ABANDONED_AFTER else StagingState.IN_USE), {}
    with handle:
        try:
            owner = json.loads(handle.read())
        except ValueError:
            owner = {}
        if not isinstance(owner, dict):
            owner = {}
        if owner.get("host", socket.gethostname()) != socket.gethostname():
            return StagingState.ELSEWHERE, owner
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return StagingState.IN_USE, owner
        return StagingState.ABANDONED, owner
