"""Who is who, for leads: pseudonyms mapped to Label Studio accounts, from the local store only.

Published datasets and reports name annotators by pseudonym (a keyed hash). Leads still need to
know who ``ann-2f7876667703`` is to talk to them; :func:`annotator_roster` gives that mapping
with each annotator's work and leave-one-out agreement. It reads only the store: nothing here
goes to a dataset version or a report file unless a lead asks with ``reveal``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from annotate.agreement import annotator_agreement
from annotate.agreement_data import FieldTable, project_table
from annotate.store import Annotation, Annotator, Store
from annotate.store.queries import get_project, live_annotations


@dataclass
class AnnotatorSummary:
    """One annotator of a project: identity (store only), work done, agreement with others."""

    pseudonym: str
    email: str | None
    ls_user_id: int
    annotations: int
    skipped: int
    items: int
    loo_agreement: float | None
    pairable_items: int
    outlier: bool
    outlier_reason: str | None
    gold_accuracy: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def annotator_roster(
    store: Store, project_name: str, field: str = "category"
) -> list[AnnotatorSummary]:
    """Every annotator of a project with email, counts and leave-one-out agreement on
    ``field`` (None when no item of theirs was also labelled by someone else), measured as
    the agreement report measures it, outlier rule included."""
    table = project_table(store, project_name, field)
    measured_rows = annotator_agreement(
        table.rows + table.gold_rows(), gold=table.gold or None, order=table.order
    )
    agreement = {row.annotator: row for row in measured_rows}
    with store.session() as session:
        project = get_project(session, project_name)
        counts = session.exec(
            live_annotations(
                project.id,
                Annotator.pseudonym,
                Annotator.email,
                Annotator.ls_user_id,
                func.count(Annotation.id).filter(col(Annotation.was_cancelled).is_(False)),
                func.count(Annotation.id).filter(col(Annotation.was_cancelled).is_(True)),
                func.count(func.distinct(Annotation.task_id)),
                skipped=True,
                oldest_first=False,
            )
            .group_by(Annotator.id, Annotator.pseudonym, Annotator.email, Annotator.ls_user_id)
            .order_by(Annotator.pseudonym)
        ).all()
    roster = []
    for pseudonym, email, ls_user_id, done, skipped, items in counts:
        measured = agreement.get(pseudonym)
        roster.append(
            AnnotatorSummary(
                pseudonym=pseudonym,
                email=email,
                ls_user_id=ls_user_id,
                annotations=done,
                skipped=skipped,
                items=items,
                loo_agreement=measured.loo_agreement if measured else None,
                pairable_items=measured.n_pairable if measured else 0,
                outlier=measured.outlier if measured else False,
                outlier_reason=measured.outlier_reason if measured else None,
                gold_accuracy=measured.gold_accuracy if measured else None,
            )
        )
    return roster


def reveal_annotators(store: Store, table: FieldTable) -> FieldTable:
    """The table with each pseudonym shown as ``pseudonym (email)``, for a lead's own report."""
    with store.session() as session:
        email_of = dict(session.exec(select(Annotator.pseudonym, Annotator.email)).all())

    def shown(pseudonym: str) -> str:
        email = email_of.get(pseudonym)
        return f"{pseudonym} ({email})" if email else pseudonym

    def relabel(rows: list) -> list:
        return [(item, shown(annotator), value) for item, annotator, value in rows]

    return replace(table, rows=relabel(table.rows), dropped_rows=relabel(table.dropped_rows))
