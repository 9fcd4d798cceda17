"""vote reasons: the "why did you vote so?" questions and their opt-outs

Revision ID: 0011_vote_reasons
Revises: 0010_dedup_queue
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0011_vote_reasons"
down_revision: str | None = "0010_dedup_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vote_reason_ask",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("queued_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "poll_id"),
    )
    with op.batch_alter_table("vote_reason_ask", schema=None) as batch_op:
        batch_op.create_index("ix_vote_reason_ask_queue", ["sent_at", "closed_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vote_reason_ask_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vote_reason_ask_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vote_reason_ask_poll_id"), ["poll_id"], unique=False)

    op.create_table(
        "vote_reason_opt_out",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("opted_out_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("member_id"),
    )
    with op.batch_alter_table("vote_reason_opt_out", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vote_reason_opt_out_community_id"), ["community_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vote_reason_opt_out", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vote_reason_opt_out_community_id"))
    op.drop_table("vote_reason_opt_out")
    with op.batch_alter_table("vote_reason_ask", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vote_reason_ask_poll_id"))
        batch_op.drop_index(batch_op.f("ix_vote_reason_ask_member_id"))
        batch_op.drop_index(batch_op.f("ix_vote_reason_ask_community_id"))
        batch_op.drop_index("ix_vote_reason_ask_queue")
    op.drop_table("vote_reason_ask")
