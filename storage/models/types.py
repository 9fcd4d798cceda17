"""Column types and helpers every table module shares."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The model's Core table, for INSERT … ON CONFLICT and set-at-a-time statements."""
    # SQLAlchemy's declarative base sets __table__ on every table model; sqlmodel's type hints omit it.
    return model.__table__  # type: ignore[attr-defined]


def utc_column(*, nullable: bool = False, index: bool = False):
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))
