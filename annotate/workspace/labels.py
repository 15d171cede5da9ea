"""From annotations to labels: agreement, labels per post, aggregation, adjudication, review."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annotate.aggregation import Aggregation
from annotate.workspace.base import WorkspaceBase

if TYPE_CHECKING:
    from annotate.adjudication import AdjudicationReport
    from annotate.aggregation_runs import AggregationReport
    from annotate.annotators import AnnotatorSummary
    from annotate.post_labels import ProjectLabels
    from annotate.report import AgreementReport
    from annotate.review import ReviewQueue


class LabelSteps(WorkspaceBase):
    """Agreement, annotators, labels, aggregate, adjudicate, review queue."""

    def agreement(
        self,
        project: str,
        *,
        field: str = "category",
        batch: int | None = None,
        min_annotators: int = 2,
        ci: bool = True,
        reveal: bool = False,
    ) -> AgreementReport:
        """Agreement of one field of a project: coefficients with bootstrap intervals, per
        label, per annotator, per batch. ``reveal`` names annotators by e-mail (for a lead's
        own eyes; reports otherwise name pseudonyms only)."""
        from annotate.agreement_data import post_texts, project_table
        from annotate.annotators import reveal_annotators
        from annotate.report import build_report

        table = project_table(
            self.store, project, field, batch=batch, min_annotators=min_annotators
        )
        if reveal:
            table = reveal_annotators(self.store, table)
        return build_report(table, ci=ci, texts=lambda items: post_texts(self.store, items))

    def annotators(self, project: str, *, field: str = "category") -> list[AnnotatorSummary]:
        """Who is who: pseudonym, Label Studio e-mail, work and agreement per annotator."""
        from annotate.annotators import annotator_roster

        return annotator_roster(self.store, project, field)

    # --------------------------------------------------------------- labels per post

    def labels(
        self,
        project: str,
        *,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        min_annotators: int = 1,
    ) -> ProjectLabels:
        """Labels per post, computed now from the annotations (rules applied, adjudicated
        decisions on top): ``items`` by post, each with labels, severity, posteriors, the
        annotators' answers and the reasons a person should look at it."""
        from annotate.post_labels import project_labels

        return project_labels(
            self.store, project, aggregation=aggregation, min_annotators=min_annotators
        )

    def aggregate(
        self,
        project: str,
        *,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        wait: bool = True,
    ) -> AggregationReport:
        """Aggregate the project's annotations into labels per post and store them."""
        from annotate.aggregation_runs import aggregate_project

        return aggregate_project(
            self.store, project, aggregation=aggregation, wait=wait, on_wait=self.say
        )

    def adjudicate(
        self,
        project: str,
        *,
        max_posterior: float = 0.8,
        severity_gap: int = 2,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        dry_run: bool = False,
        wait: bool = True,
    ) -> AdjudicationReport:
        """Send posts whose aggregate is uncertain to the project's adjudication project;
        ``dry_run`` says which and why and sends nothing (no Label Studio needed)."""
        from annotate.adjudication import adjudicate

        return adjudicate(
            self.store,
            None if dry_run else self.label_studio,
            project,
            max_posterior=max_posterior,
            severity_gap=severity_gap,
            aggregation=aggregation,
            dry_run=dry_run,
            wait=wait,
            on_wait=self.say,
        )

    def review_queue(
        self,
        project: str,
        *,
        top: int = 50,
        aggregation: Aggregation = Aggregation.DAWID_SKENE,
        seed: int = 0,
        to_adjudication: bool = False,
    ) -> ReviewQueue:
        """Suspected label errors, most suspect first; ``to_adjudication`` sends them to the
        adjudication project (the report is in the queue's ``adjudication``)."""
        from annotate.review import project_review_queue, send_queue_to_adjudication

        queue = project_review_queue(
            self.store, project, top=top, aggregation=aggregation, seed=seed
        )
        if to_adjudication and queue.items:
            queue.adjudication = send_queue_to_adjudication(self.store, self.label_studio, queue)
        return queue
