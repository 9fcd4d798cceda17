"""scenario framing, the member's language on interviews and cards

Revision ID: 0014_framing_language
Revises: 0013_story_control_imports
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0014_framing_language"
down_revision: str | None = "0013_story_control_imports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing scenarios were all asked the paper's way: how an assistant should respond.
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.add_column(sa.Column("framing", sa.String(length=16), server_default="assistant", nullable=False))
    with op.batch_alter_table("interview", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True))
    with op.batch_alter_table("values_card", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True))
        batch_op.add_column(sa.Column("member_title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("member_description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
        batch_op.add_column(sa.Column("member_policies", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("translation_prompt_sha", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("translation_model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("values_card", schema=None) as batch_op:
        for column in (
            "translation_model",
            "translation_prompt_sha",
            "member_policies",
            "member_description",
            "member_title",
            "language",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("interview", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.drop_column("framing")
