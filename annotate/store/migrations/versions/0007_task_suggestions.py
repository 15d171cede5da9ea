"""tasks: the model suggestion (Label Studio prediction) a task was shown, if any

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suggested_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("suggestion", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("suggested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("suggested_at")
        batch_op.drop_column("suggestion")
        batch_op.drop_column("suggested_by")
