"""Jobs, schedules and the moderators' audit log."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.polls import PollMode
from storage.models.types import utc_column


class JobStatus(enum.StrEnum):
    """``job_run.status``. A failed run may be claimed again; a running one only once it is stale."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobRun(SQLModel, table=True):
    """One run of a batch job (dedup, story generation, a poll round, a digest), claimed per period so a
    restart or a second process never does the same period twice."""

    __tablename__ = "job_run"
    __table_args__ = (sa.UniqueConstraint("job", "scope", "period"),)

    id: int = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    community_id: int | None = Field(default=None, foreign_key="community.id")
    #: "community:<id>" or "all": the unique key needs a non-null value (NULLs never collide in SQL).
    scope: str = Field(max_length=40)
    period: str = Field(max_length=40)
    status: str = Field(default=JobStatus.RUNNING, max_length=16)
    input_tokens: int = 0
    output_tokens: int = 0
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    started_at: datetime = utc_column()
    finished_at: datetime | None = utc_column(nullable=True)


# --- polls and votes (docs/method.md §7) ---------------------------------------------------------------------


class CommunitySchedule(SQLModel, table=True):
    """Where and how often a community's story polls and weekly digest are posted. Set by moderators
    (slash commands) or the operator (``mge schedule``); read by the scheduler on every tick, so a
    change takes effect without a restart. No row, or no channel: nothing is posted."""

    __tablename__ = "community_schedule"

    community_id: int = Field(primary_key=True, foreign_key="community.id")
    poll_channel_id: str | None = Field(default=None, max_length=64)
    poll_interval_minutes: int = 1440
    polls_per_round: int = 1
    #: None: the operator's default (MGE_POLL_DURATION_HOURS).
    poll_duration_hours: int | None = None
    polls_paused: bool = False
    #: ``core.polls.PollMode``: how polls posted from now on take votes.
    poll_mode: str = Field(
        default=PollMode.REACTIONS, max_length=16, sa_column_kwargs={"server_default": PollMode.REACTIONS.value}
    )
    digest_channel_id: str | None = Field(default=None, max_length=64)
    digest_day: str = Field(default="mon", max_length=3)
    digest_hour: int = 9
    digest_minute: int = 0
    digest_timezone: str = Field(default="UTC", max_length=64)
    digest_paused: bool = False
    #: When the digest's channel or time was last set: slots before it are not due (no instant digest
    #: for a Monday that passed before anyone asked for one).
    digest_since: datetime | None = utc_column(nullable=True)
    updated_at: datetime = utc_column()


class ModerationAction(SQLModel, table=True):
    """The audit log: every moderator (or operator) action, with who, when, what, before and after."""

    __tablename__ = "moderation_action"

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    #: "discord:<user id>", "slack:<user id>" or "cli:<login name>" (the terminal).
    actor: str = Field(max_length=80)
    action: str = Field(max_length=60)
    target: str = Field(default="", max_length=200)
    before: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    after: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    at: datetime = utc_column(index=True)


# --- who may vote ------------------------------------------------------------------------------------
