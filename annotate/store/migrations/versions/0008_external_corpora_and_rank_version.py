"""external corpora (corpora, corpus_posts) and the rank version of each batch

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batches made before rank version 2 were ranked by keyed BLAKE2b: version 1.
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rank_version", sa.Integer(), server_default="1", nullable=False)
        )
    op.create_table(
        "corpora",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("id_field", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("text_field", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=True),
        sa.Column("partition_columns", sa.JSON(), nullable=True),
        sa.Column("partitions", sa.JSON(), nullable=True),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corpora")),
        sa.UniqueConstraint("name", name=op.f("uq_corpora_name")),
    )
    op.create_table(
        "corpus_posts",
        sa.Column("post_pk", sa.Integer(), nullable=False),
        sa.Column("corpus_id", sa.Integer(), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("partition", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["corpus_id"], ["corpora.id"], name=op.f("fk_corpus_posts_corpus_id_corpora")
        ),
        sa.ForeignKeyConstraint(
            ["post_pk"], ["posts.id"], name=op.f("fk_corpus_posts_post_pk_posts")
        ),
        sa.PrimaryKeyConstraint("post_pk", name=op.f("pk_corpus_posts")),
    )
    with op.batch_alter_table("corpus_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_corpus_posts_corpus_id"), ["corpus_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("corpus_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_corpus_posts_corpus_id"))
    op.drop_table("corpus_posts")
    op.drop_table("corpora")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("rank_version")
