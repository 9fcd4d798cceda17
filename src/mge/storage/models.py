"""SQLModel tables. Every row belongs to one community (a Discord guild, a Slack workspace, the console).

Alembic migrations in ``mge/storage/migrations`` create these tables; change both together
(``alembic revision --autogenerate`` then review).
"""

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


def _when(*, nullable: bool = False, index: bool = False):
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


class Community(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("platform", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime = _when()


class Member(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("community_id", "platform_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    platform_user_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    consented_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()


class Scenario(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    text: str = Field(max_length=1000)
    is_open: bool = True
    created_at: datetime = _when()


class Interview(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_interview_member_state", "community_id", "member_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    member_id: int = Field(foreign_key="member.id", index=True)
    scenario_id: int | None = Field(default=None, foreign_key="scenario.id")
    state: str = Field(max_length=32)
    #: The state to go back to when a timed-out interview resumes.
    previous_state: str | None = Field(default=None, max_length=32)
    input_tokens: int = 0
    output_tokens: int = 0
    llm_calls: int = 0
    created_at: datetime = _when()
    last_activity_at: datetime = _when()
    ended_at: datetime | None = _when(nullable=True)


class InterviewTurn(SQLModel, table=True):
    """One message of the transcript, member's or bot's, in order (``seq``)."""

    __tablename__ = "interview_turn"
    __table_args__ = (sa.UniqueConstraint("interview_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    seq: int
    role: str = Field(max_length=8)  # member | bot
    #: conversation (sent to the interviewer), revision (feedback on a card), notice (not sent to the LLM)
    kind: str = Field(max_length=16)
    content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    prompt_sha: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    input_tokens: int = 0
    output_tokens: int = 0
    created_at: datetime = _when()


class ValuesCardRecord(SQLModel, table=True):
    """A card as written for one interview. Revisions supersede; the member confirms one."""

    __tablename__ = "values_card"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    author_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    scenario_id: int | None = Field(default=None, foreign_key="scenario.id")
    title: str = Field(max_length=200)
    description: str = Field(max_length=1000)
    policies: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(max_length=16, index=True)  # proposed | superseded | confirmed
    prompt_sha: str = Field(max_length=64)
    model: str = Field(max_length=200)
    created_at: datetime = _when()
    confirmed_at: datetime | None = _when(nullable=True)


class LLMCall(SQLModel, table=True):
    """Every LLM request the bot made: what for, which prompt and model, tokens, outcome."""

    __tablename__ = "llm_call"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    interview_id: int | None = Field(default=None, foreign_key="interview.id", index=True)
    purpose: str = Field(max_length=32)
    model: str = Field(max_length=200)
    prompt_sha: str = Field(max_length=64)
    input_tokens: int = 0
    output_tokens: int = 0
    ok: bool = True
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int = 0
    created_at: datetime = _when()


class InboundEvent(SQLModel, table=True):
    """Platform deliveries already handled: a redelivered event id is ignored."""

    __tablename__ = "inbound_event"
    __table_args__ = (sa.UniqueConstraint("community_id", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    event_id: str = Field(max_length=128)
    received_at: datetime = _when()


class DmRoute(SQLModel, table=True):
    """Which community a member's direct messages belong to (Discord DMs carry no guild)."""

    __tablename__ = "dm_route"

    platform: str = Field(primary_key=True, max_length=16)
    platform_user_id: str = Field(primary_key=True, max_length=64)
    community_id: int = Field(foreign_key="community.id")
    updated_at: datetime = _when()
