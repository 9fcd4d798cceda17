"""story control and imports: a moderator's edit kept beside the model's story; where an imported value
came from

Revision ID: 0013_story_control_imports
Revises: 0012_private_polls
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0013_story_control_imports"
down_revision: str | None = "0012_private_polls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transition_story") as batch:
        batch.add_column(sa.Column("edited_story", sa.Text(), nullable=True))
        batch.add_column(sa.Column("edited_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch.add_column(sa.Column("edited_at", storage.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("canonical_value") as batch:
        batch.add_column(sa.Column("imported_from", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch.create_index("uq_canonical_value_imported_from", ["community_id", "imported_from"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("canonical_value") as batch:
        batch.drop_index("uq_canonical_value_imported_from")
        batch.drop_column("imported_from")
    with op.batch_alter_table("transition_story") as batch:
        batch.drop_column("edited_at")
        batch.drop_column("edited_by")
        batch.drop_column("edited_story")
