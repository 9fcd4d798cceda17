"""member privacy: member.forgotten_at

A member who runs `/mge forget` keeps an anonymous tombstone row (random platform user id, no name)
marked by ``forgotten_at``. An added nullable column is a plain ALTER TABLE … ADD COLUMN on SQLite
too: no table rebuild, which SQLite could not do for a table other rows point at while foreign keys
are enforced.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

import storage.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forgotten_at", storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35+) drops a column in place; a batch would rebuild the table, which
    # fails while interviews, cards and votes point at its rows.
    op.drop_column("member", "forgotten_at")
