"""Scenarios, interviews and their turns, the values cards they produce, and every LLM call."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.models.types import utc_column


class Scenario(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    text: str = Field(max_length=1000)
    is_open: bool = True
    created_at: datetime = utc_column()
    #: Set when a moderator archived it: closed for interviews and listed apart; its values, stories
    #: and votes stay in the graph.
    archived_at: datetime | None = utc_column(nullable=True)
    #: ``core.framing.Framing``: whose response the values are about (the paper's: an assistant's).
    framing: str = Field(
        default="assistant", sa_column=sa.Column(sa.String(16), nullable=False, server_default="assistant")
    )


class Interview(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_interview_member_state", "community_id", "member_id", "state"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    member_id: int = Field(foreign_key="member.id", index=True)
    scenario_id: int | None = Field(default=None, foreign_key="scenario.id")
    state: str = Field(max_length=32)
    #: The state to go back to when a timed-out interview resumes.
    previous_state: str | None = Field(default=None, max_length=32)
    input_tokens: int = 0
    output_tokens: int = 0
    llm_calls: int = 0
    created_at: datetime = utc_column()
    last_activity_at: datetime = utc_column()
    ended_at: datetime | None = utc_column(nullable=True)
    #: BCP-47 tag of the language the member writes in, as the interviewer last reported it (None: not yet).
    language: str | None = Field(default=None, max_length=35)


class InterviewTurn(SQLModel, table=True):
    """One message of the transcript, member's or bot's, in order (``seq``)."""

    __tablename__ = "interview_turn"
    __table_args__ = (sa.UniqueConstraint("interview_id", "seq"),)

    id: int = Field(default=None, primary_key=True)
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
    created_at: datetime = utc_column()


class ValuesCardRecord(SQLModel, table=True):
    """A card as written for one interview. Revisions supersede; the member confirms one."""

    __tablename__ = "values_card"

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    author_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    scenario_id: int | None = Field(default=None, foreign_key="scenario.id")
    title: str = Field(max_length=200)
    description: str = Field(max_length=1000)
    policies: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(max_length=16, index=True)  # CardStatus
    prompt_sha: str = Field(max_length=64)
    model: str = Field(max_length=200)
    created_at: datetime = utc_column()
    confirmed_at: datetime | None = utc_column(nullable=True)
    # title, description and policies are in the community's language: everything shared (dedup, stories,
    # polls, the digest) reads them. When the member wrote in another language, the card as the member
    # confirmed it is kept below, with the translation call's prompt and model.
    #: BCP-47 tag of the member's language (None: the community's, as for every card before languages).
    language: str | None = Field(default=None, max_length=35)
    member_title: str | None = Field(default=None, max_length=200)
    member_description: str | None = Field(default=None, max_length=1000)
    member_policies: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    translation_prompt_sha: str | None = Field(default=None, max_length=64)
    translation_model: str | None = Field(default=None, max_length=200)


class LLMCall(SQLModel, table=True):
    """Every LLM request the bot made: what for, which prompt and model, tokens, outcome."""

    __tablename__ = "llm_call"

    id: int = Field(default=None, primary_key=True)
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
    created_at: datetime = utc_column()
