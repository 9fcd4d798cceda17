"""private polls: a community's poll mode, each poll's mode, and when a private poll's tally was shown

Revision ID: 0012_private_polls
Revises: 0011_vote_reasons
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0012_private_polls"
down_revision: str | None = "0011_vote_reasons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing communities and polls keep voting by reaction.
    with op.batch_alter_table("community_schedule", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "poll_mode", sqlmodel.sql.sqltypes.AutoString(length=16), server_default="reactions", nullable=False
            )
        )
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), server_default="reactions", nullable=False)
        )
        batch_op.add_column(sa.Column("tally_shown_at", storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.drop_column("tally_shown_at")
        batch_op.drop_column("mode")
    with op.batch_alter_table("community_schedule", schema=None) as batch_op:
        batch_op.drop_column("poll_mode")
