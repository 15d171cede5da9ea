"""What an ingest run reports: the rows it did not store (:class:`Reject`) and its counts
(:class:`IngestReport`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Reject:
    """A row that was not stored, and why."""

    file: str
    line: int
    reason: str
    raw: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class IngestReport:
    """What one ingest run did. ``duplicates`` counts rows whose ``(source, post_id)`` was
    already stored (or read earlier in the run) with the same text; ``conflicts`` counts rows
    whose id was, but with another text (not stored: the earlier text stays); ``same_text``
    counts new posts whose text was already stored under another id (they are stored and
    grouped by ``text_hash``)."""

    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    same_text: int = 0
    run_id: int | None = None
    #: Earlier runs found dead (killed, or their machine went down) and marked interrupted.
    interrupted_runs: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
