"""Polls on stories, votes, and the reaction inbox that feeds them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.polls import PollMode, PollState
from storage.models.types import utc_column


class Poll(SQLModel, table=True):
    """A transition story posted as a poll in a channel: a reaction poll, or a private one with buttons
    (``mode``, the community's when it was posted)."""

    __table_args__ = (sa.UniqueConstraint("platform", "channel_id", "message_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    story_id: int = Field(foreign_key="transition_story.id", index=True)
    platform: str = Field(max_length=16)
    channel_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    state: str = Field(default=PollState.OPEN, max_length=16, index=True)  # PollState
    opened_at: datetime = utc_column()
    closes_at: datetime | None = utc_column(nullable=True)
    closed_at: datetime | None = utc_column(nullable=True)
    #: Final counts by choice, stored when the poll closes.
    tallies: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    mode: str = Field(
        default=PollMode.REACTIONS, max_length=16, sa_column_kwargs={"server_default": PollMode.REACTIONS.value}
    )  # PollMode
    #: A private poll's message edited to show the tallies (its buttons gone); None until then.
    tally_shown_at: datetime | None = utc_column(nullable=True)


class Vote(SQLModel, table=True):
    """One member's current answer on one poll: upgrade | no_upgrade | not_sure. A new reaction replaces
    it; removing the reaction deletes it. ``member_id`` is emptied when a member erases their data, so
    published totals stay true (``voter_key`` keeps votes of one former member apart)."""

    __table_args__ = (sa.UniqueConstraint("poll_id", "voter_key"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    voter_key: str = Field(max_length=64)
    choice: str = Field(max_length=16)
    why: str | None = Field(default=None, max_length=1000)
    cast_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class ReactionEvent(SQLModel, table=True):
    """A poll reaction as the platform delivered it, written before the delivery is acknowledged and
    turned into votes from here (``bot.voting.inbox``): an acknowledged vote outlives a crash, a full
    connection pool or a backlog, and a process that starts applies what an earlier one left.

    Only reactions whose emoji is a poll choice are recorded; whether the message is a poll is decided
    when the event is applied. ``event_key`` is the platform's event id (Slack), or a receipt id where
    the platform gives none (Discord): a redelivered event is recorded once. ``event_order`` is when
    the platform says the reaction happened (Slack's ``event_ts``, in microseconds), or the order of
    arrival on Discord's gateway (one ordered connection); a member's reactions on a poll are applied
    by it, the latest winning. ``applied_at`` is set when the event has been applied, with its
    ``outcome``; applied rows are pruned after a while (they are also the memory of redeliveries).

    A private poll's button press is recorded here too, as the reaction for its choice: its
    ``event_key`` starts with ``press:``, its ``event_order`` is Slack's ``action_ts`` or Discord's
    interaction id (which grows with time).
    """

    __tablename__ = "reaction_event"
    __table_args__ = (
        sa.UniqueConstraint("platform", "event_key"),
        sa.Index("ix_reaction_event_pending", "applied_at", "id"),
        sa.Index("ix_reaction_event_user", "platform", "community_external_id", "user_id"),
    )

    id: int = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    community_external_id: str = Field(max_length=64)
    channel_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    choice: str = Field(max_length=16)
    added: bool
    event_key: str = Field(max_length=128)
    event_order: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    received_at: datetime = utc_column()
    #: Eligibility facts the platform sent with the event (account creation, join time, role ids).
    facts: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    applied_at: datetime | None = utc_column(nullable=True)
    outcome: str | None = Field(default=None, max_length=32)


class PollReaction(SQLModel, table=True):
    """Whether a member's reaction for one choice is on a poll's message, as of the latest event about
    it (by ``event_order``: a late, older event never overrides a newer one). A member's vote is derived
    from these: the present reaction added last; none present, no vote. So removing one of two visible
    reactions leaves the vote on the other, as the member sees it."""

    __tablename__ = "poll_reaction"

    poll_id: int = Field(foreign_key="poll.id", primary_key=True)
    voter_key: str = Field(max_length=64, primary_key=True)
    choice: str = Field(max_length=16, primary_key=True)
    present: bool
    event_order: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class VoteReasonAsk(SQLModel, table=True):
    """ "Why did you vote so?" asked of one member about one poll (``bot.voting.reasons``): queued when the
    member's vote on the poll is first counted, sent later by the scheduler (``sent_at``), and closed by an
    answer stored on the vote, a Skip, "Don't ask me again", or time (``outcome``). One row per member and
    poll, ever: a changed vote, a retracted and re-cast one, or a redelivered event asks nothing again."""

    __tablename__ = "vote_reason_ask"
    __table_args__ = (
        sa.UniqueConstraint("member_id", "poll_id"),
        sa.Index("ix_vote_reason_ask_queue", "sent_at", "closed_at", "id"),
    )

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    queued_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    closed_at: datetime | None = utc_column(nullable=True)
    outcome: str | None = Field(default=None, max_length=16)  # core.votes.ReasonOutcome


class VoteReasonOptOut(SQLModel, table=True):
    """A member who pressed "Don't ask me again" under a reason question: never asked why again."""

    __tablename__ = "vote_reason_opt_out"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    community_id: int = Field(foreign_key="community.id", index=True)
    opted_out_at: datetime = utc_column()


# --- governance: schedules and the audit log ---------------------------------------------------------
