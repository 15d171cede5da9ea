"""aggregates: item_agreement is null when a post has a single annotator (not measurable)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("aggregates", schema=None) as batch_op:
        batch_op.alter_column("item_agreement", existing_type=sa.Float(), nullable=True)
    # Stored runs said 1.0 for a post with one annotator; that was never measured.
    op.execute("UPDATE aggregates SET item_agreement = NULL WHERE n_annotators < 2")


def downgrade() -> None:
    op.execute("UPDATE aggregates SET item_agreement = 1.0 WHERE item_agreement IS NULL")
    with op.batch_alter_table("aggregates", schema=None) as batch_op:
        batch_op.alter_column("item_agreement", existing_type=sa.Float(), nullable=False)
