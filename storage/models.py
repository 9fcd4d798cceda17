"""SQLModel tables. Every row belongs to one community (a Discord guild, a Slack workspace, the console).

Alembic migrations in ``mge/storage/migrations`` create these tables; change both together
(``alembic revision --autogenerate`` then review).

A surrogate key is typed ``id: int`` with a ``None`` default: it is None only from constructing a row until
the session flushes it, and every row the code reads back has one (``int | None`` would make each use
prove it again).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.cards import ValueStatus
from core.polls import PollState
from core.stories import StoryStatus


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


def _when(*, nullable: bool = False, index: bool = False):
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


class Community(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("platform", "external_id"),)

    id: int = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime = _when()


class Member(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("community_id", "platform_user_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    platform_user_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    consented_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()
    #: Set when the member erased their data (`/mge forget`): the row then names no one (its platform
    #: user id is a random ``forgotten:…`` key) and is kept only so rows that must point somewhere can.
    forgotten_at: datetime | None = _when(nullable=True)


class Scenario(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    text: str = Field(max_length=1000)
    is_open: bool = True
    created_at: datetime = _when()
    #: Set when a moderator archived it: closed for interviews and listed apart; its values, stories
    #: and votes stay in the graph.
    archived_at: datetime | None = _when(nullable=True)


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
    created_at: datetime = _when()
    last_activity_at: datetime = _when()
    ended_at: datetime | None = _when(nullable=True)


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
    created_at: datetime = _when()


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
    created_at: datetime = _when()
    confirmed_at: datetime | None = _when(nullable=True)


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
    created_at: datetime = _when()


class InboundEvent(SQLModel, table=True):
    """Platform deliveries already handled: a redelivered event id is ignored."""

    __tablename__ = "inbound_event"
    __table_args__ = (sa.UniqueConstraint("community_id", "event_id"),)

    id: int = Field(default=None, primary_key=True)
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


# --- reconciliation: canonical values, contexts, stories (docs/method.md §4–§6) ------------------------------


class CanonicalValue(SQLModel, table=True):
    """One value that one or more members' cards express. Its text is the best-written member card's."""

    __tablename__ = "canonical_value"

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(max_length=1000)
    policies: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    #: The member card whose text this value shows (changes when a better-written card joins).
    source_card_id: int | None = Field(default=None, foreign_key="values_card.id")
    status: str = Field(default=ValueStatus.ACTIVE, max_length=16, index=True)  # ValueStatus
    #: When two values were merged, the one this value now lives on as.
    merged_into_id: int | None = Field(default=None, foreign_key="canonical_value.id")
    created_at: datetime = _when()
    updated_at: datetime = _when()


class ValueAssignment(SQLModel, table=True):
    """A versioned decision that a member card belongs to a canonical value.

    A card's current value is its assignment with ``superseded_at`` empty; undoing a decision sets
    ``superseded_at`` and adds the new one, so the history of every card stays readable.
    """

    __tablename__ = "value_assignment"
    __table_args__ = (
        # At most one current decision per card, even when two processes reconcile the same card.
        sa.Index(
            "uq_value_assignment_current_card",
            "card_id",
            unique=True,
            sqlite_where=sa.text("superseded_at IS NULL"),
            postgresql_where=sa.text("superseded_at IS NULL"),
        ),
    )

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    card_id: int = Field(foreign_key="values_card.id")
    canonical_value_id: int = Field(foreign_key="canonical_value.id", index=True)
    #: new_value | judged_same | cluster | manual_merge | manual_split | member_declined
    decision: str = Field(max_length=24)
    reason: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    prompt_sha: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    #: The member's answer to "does this value represent what you care about?": None until asked.
    member_agrees: bool | None = None
    actor: str = Field(default="bot", max_length=100)  # bot, or the moderator who decided
    created_at: datetime = _when()
    superseded_at: datetime | None = _when(nullable=True)


class EmbeddingCache(SQLModel, table=True):
    """Vectors by model and text hash, so a text is embedded once per model."""

    __tablename__ = "embedding_cache"
    __table_args__ = (sa.UniqueConstraint("model", "text_sha"),)

    id: int = Field(default=None, primary_key=True)
    model: str = Field(max_length=200)
    text_sha: str = Field(max_length=64)
    #: float32 little-endian bytes
    vector: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    dimensions: int
    created_at: datetime = _when()


class MoralContext(SQLModel, table=True):
    """A "When …" situation with moral weight (docs/method.md §5)."""

    __tablename__ = "moral_context"
    __table_args__ = (sa.UniqueConstraint("community_id", "text"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    text: str = Field(max_length=120)
    source: str = Field(default="llm", max_length=16)  # llm | moderator
    prompt_sha: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    created_at: datetime = _when()


class ScenarioContext(SQLModel, table=True):
    __tablename__ = "scenario_context"

    scenario_id: int = Field(foreign_key="scenario.id", primary_key=True)
    context_id: int = Field(foreign_key="moral_context.id", primary_key=True)


class TransitionStory(SQLModel, table=True):
    """An edge hypothesis: someone moving from one value to a wiser one, in one context (docs/method.md §6)."""

    __tablename__ = "transition_story"
    __table_args__ = (sa.UniqueConstraint("context_id", "from_value_id", "to_value_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    context_id: int = Field(foreign_key="moral_context.id", index=True)
    from_value_id: int = Field(foreign_key="canonical_value.id")
    to_value_id: int = Field(foreign_key="canonical_value.id")
    story: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    #: The generation steps: shared meaning, clarification, per-policy changes (docs/method.md §6).
    steps: dict = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(default=StoryStatus.ACTIVE, max_length=16)  # StoryStatus
    prompt_sha: str = Field(max_length=64)
    model: str = Field(max_length=200)
    run_id: int | None = Field(default=None, foreign_key="job_run.id")
    created_at: datetime = _when()


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
    started_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)


# --- polls and votes (docs/method.md §7) ---------------------------------------------------------------------


class Poll(SQLModel, table=True):
    """A transition story posted as a reaction poll in a channel."""

    __table_args__ = (sa.UniqueConstraint("platform", "channel_id", "message_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    story_id: int = Field(foreign_key="transition_story.id", index=True)
    platform: str = Field(max_length=16)
    channel_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    state: str = Field(default=PollState.OPEN, max_length=16, index=True)  # PollState
    opened_at: datetime = _when()
    closes_at: datetime | None = _when(nullable=True)
    closed_at: datetime | None = _when(nullable=True)
    #: Final counts by choice, stored when the poll closes.
    tallies: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


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
    cast_at: datetime = _when()
    updated_at: datetime = _when()


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
    received_at: datetime = _when()
    #: Eligibility facts the platform sent with the event (account creation, join time, role ids).
    facts: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    applied_at: datetime | None = _when(nullable=True)
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


# --- governance: schedules and the audit log ---------------------------------------------------------


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
    digest_channel_id: str | None = Field(default=None, max_length=64)
    digest_day: str = Field(default="mon", max_length=3)
    digest_hour: int = 9
    digest_minute: int = 0
    digest_timezone: str = Field(default="UTC", max_length=64)
    digest_paused: bool = False
    #: When the digest's channel or time was last set: slots before it are not due (no instant digest
    #: for a Monday that passed before anyone asked for one).
    digest_since: datetime | None = _when(nullable=True)
    updated_at: datetime = _when()


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
    at: datetime = _when(index=True)


# --- who may vote ------------------------------------------------------------------------------------


class MemberFacts(SQLModel, table=True):
    """What the platform told us about a member that eligibility rules look at, and whether a moderator
    blocked them. Facts are refreshed whenever the platform sends them (a Discord reaction or command
    carries the member's join date and roles; the account's creation time is in its id)."""

    __tablename__ = "member_facts"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    account_created_at: datetime | None = _when(nullable=True)
    joined_at: datetime | None = _when(nullable=True)
    role_ids: list | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    blocked_at: datetime | None = _when(nullable=True)
    updated_at: datetime = _when()


class EligibilityRule(SQLModel, table=True):
    """Who may vote in a community. Votes of members who don't qualify are kept but left out of the
    graph (and counted in stats), so changing a rule re-decides every vote, past ones included."""

    __tablename__ = "eligibility_rule"

    community_id: int = Field(primary_key=True, foreign_key="community.id")
    min_account_age_days: int = 0
    min_membership_days: int = 0
    required_role_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime = _when()


class MemberLease(SQLModel, table=True):
    """Which process is handling a member's message right now (PostgreSQL, several processes): a lease
    renewed while held, so a process that dies lets go within ``bot.runtime.leases.LEASE_TTL``."""

    __tablename__ = "member_lease"

    key: str = Field(primary_key=True, max_length=200)
    holder: str = Field(max_length=64)
    expires_at: datetime = _when()


# --- legitimacy (docs/method.md §8): the fair-position question and the follow-up survey ---------------------


class FairPositionAsk(SQLModel, table=True):
    """One member asked, after one digest, whether their value ended up in a fair position: at most one
    row per member and digest period. ``answer`` stays empty until they press Yes or No."""

    __tablename__ = "fair_position_ask"
    __table_args__ = (sa.UniqueConstraint("member_id", "period"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    #: The digest's period (its ISO week, as in ``job_run``).
    period: str = Field(max_length=40)
    value_id: int = Field(foreign_key="canonical_value.id")
    context: str = Field(max_length=120)
    less_wise_value_id: int | None = Field(default=None, foreign_key="canonical_value.id")
    wiser_value_id: int | None = Field(default=None, foreign_key="canonical_value.id")
    answer: str | None = Field(default=None, max_length=8)  # yes | no
    asked_at: datetime = _when()
    answered_at: datetime | None = _when(nullable=True)


class LegitimacyOptOut(SQLModel, table=True):
    """A member who pressed "Don't ask me again": no more fair-position questions or survey offers."""

    __tablename__ = "legitimacy_opt_out"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    community_id: int = Field(foreign_key="community.id", index=True)
    opted_out_at: datetime = _when()


class SurveyOffer(SQLModel, table=True):
    """The follow-up survey, offered once per member (the row is the "once")."""

    __tablename__ = "survey_offer"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    community_id: int = Field(foreign_key="community.id", index=True)
    offered_at: datetime = _when()
    #: Set when the member pressed "Stop the survey", or answered or skipped the last question.
    ended_at: datetime | None = _when(nullable=True)


class SurveyAnswer(SQLModel, table=True):
    """A member's answer to one survey question (1–5), or a skip (``score`` empty): one per question."""

    __tablename__ = "survey_answer"
    __table_args__ = (sa.UniqueConstraint("member_id", "question"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    question: int
    score: int | None = None
    answered_at: datetime = _when()


# --- generalization picks and the ideology screen (docs/method.md §2, §8) ------------------------------------


class GeneralizationOffer(SQLModel, table=True):
    """After a member confirmed a card: other members' values offered with "Which of these would be wise
    to consider for <scenario>?" (docs/method.md §2). One per interview. ``member_id`` is emptied when the member
    erases their data: the offer and its picks stay counted, anonymously, like votes."""

    __tablename__ = "generalization_offer"
    __table_args__ = (sa.UniqueConstraint("interview_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    interview_id: int = Field(foreign_key="interview.id")
    #: The scenario the member's card was written for: impressions are "own scenario" when their value
    #: has a card from it.
    scenario_id: int | None = Field(default=None, foreign_key="scenario.id")
    offered_at: datetime = _when()
    #: Set when the member pressed "None of these" / "Done": later presses are not recorded.
    closed_at: datetime | None = _when(nullable=True)


class GeneralizationImpression(SQLModel, table=True):
    """One value shown in an offer (recorded before the message is sent), and whether it was picked."""

    __tablename__ = "generalization_impression"
    __table_args__ = (sa.UniqueConstraint("offer_id", "value_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    offer_id: int = Field(foreign_key="generalization_offer.id", index=True)
    value_id: int = Field(foreign_key="canonical_value.id")
    #: True when the value has a card from the member's own scenario, False when only from others.
    own_scenario: bool
    #: 1-based place in the offer (values are shuffled, so no group always comes first).
    position: int
    picked_at: datetime | None = _when(nullable=True)


class IdeologyRating(SQLModel, table=True):
    """The ideology screen of docs/method.md §8 (a metric, never a gate): an LLM's 1–5 rating of how ideological
    an interview's opening answer is (echoing slogans, aiming to persuade, strong value judgments),
    with the prompt hash and model that produced it. Deleted with the member's data."""

    __tablename__ = "ideology_rating"
    __table_args__ = (sa.UniqueConstraint("interview_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    interview_id: int = Field(foreign_key="interview.id")
    score: int
    reason: str = Field(max_length=300)
    prompt_sha: str = Field(max_length=64)
    model: str = Field(max_length=200)
    run_id: int | None = Field(default=None, foreign_key="job_run.id")
    rated_at: datetime = _when()
