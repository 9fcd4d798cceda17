"""dedup queue and value checks

Revision ID: 0010_dedup_queue
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0010_dedup_queue"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dedup_queue",
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("queued_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["values_card.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.PrimaryKeyConstraint("card_id"),
    )
    with op.batch_alter_table("dedup_queue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dedup_queue_community_id"), ["community_id"], unique=False)

    op.create_table(
        "value_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("value_id", sa.Integer(), nullable=False),
        sa.Column("change", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("answered_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["values_card.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["value_id"], ["canonical_value.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("card_id", "change"),
    )
    with op.batch_alter_table("value_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_value_check_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_value_check_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("value_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_value_check_member_id"))
        batch_op.drop_index(batch_op.f("ix_value_check_community_id"))
    op.drop_table("value_check")
    with op.batch_alter_table("dedup_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dedup_queue_community_id"))
    op.drop_table("dedup_queue")
