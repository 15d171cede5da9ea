"""The demo corpus, its simulated team, and the whole loop on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from annotate.errors import InputError
from annotate.workspace.base import WorkspaceBase

if TYPE_CHECKING:
    from annotate.demo_loop import DemoSummary
    from annotate.store import RecordedAnnotations


class DemoSteps(WorkspaceBase):
    """Demo corpus, simulated labelling, the demo loop."""

    def demo_corpus(
        self,
        out: str | Path,
        *,
        size: int | None = None,
        seed: int | None = None,
        templates: str | Path | None = None,
    ) -> int:
        """Write the demo corpus (``.jsonl``, ``.csv`` or ``.parquet``) for this workspace's
        taxonomy; returns how many posts were written."""
        from annotate import demo

        return demo.write_corpus(
            out,
            size=demo.DEMO_SIZE if size is None else size,
            seed=demo.DEMO_SEED if seed is None else seed,
            taxonomy=self.taxonomy(),
            templates=templates,
        )

    def simulate_labelling(
        self, project: str, *, posts: int = 300, source: str = "demo", seed: int = 0
    ) -> RecordedAnnotations:
        """The demo's simulated team (an expert, a careful and a hasty annotator) labels
        ``posts`` demo posts of the store into ``project``, recorded without Label Studio:
        for tutorials, notebooks and tests. The posts' hidden true labels come from the demo
        corpus."""
        from annotate.simulation import DEFAULT_TEAM, simulate_labels
        from annotate.store import Post

        taxonomy = self.taxonomy()
        with self.store.session() as session:
            stored = session.exec(
                Post.__table__.select().where(Post.source == source).order_by(Post.id).limit(posts)
            ).all()
        if not stored:
            raise InputError(
                f"No posts of source {source!r} in the store to label.",
                hint="Ingest the demo corpus first (Workspace.demo_corpus, then ingest).",
            )
        rows = [
            (
                post.id,
                f"ann-{member.name}",
                simulate_labels(
                    member,
                    post.post_id,
                    (post.meta or {}).get("true_labels") or [],
                    (post.meta or {}).get("true_severity"),
                    seed,
                    taxonomy=taxonomy,
                ),
            )
            for post in stored
            for member in DEFAULT_TEAM
        ]
        return self.record_annotations(project, rows, batch="simulated")

    def demo_loop(
        self, *, batch_size: int = 150, seed: int = 7, model_round: bool = True
    ) -> DemoSummary:
        """The whole loop on the demo corpus (what ``make demo`` runs): a Label Studio of its
        own in the workspace unless one is configured. ``model_round``: then train and
        evaluate the baseline, sample the next batch with activelab and the model's
        suggestions, label it, publish and evaluate again (see :mod:`annotate.demo_model`)."""
        from annotate.demo_loop import run_demo

        return run_demo(self, batch_size=batch_size, seed=seed, model_round=model_round)
