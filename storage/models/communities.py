"""Communities, their members, who may take part, and the platform plumbing (inbound events, DM routes)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.models.types import utc_column


class Community(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("platform", "external_id"),)

    id: int = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime = utc_column()


class Member(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("community_id", "platform_user_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    platform_user_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    consented_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    #: Set when the member erased their data (`/mge forget`): the row then names no one (its platform
    #: user id is a random ``forgotten:…`` key) and is kept only so rows that must point somewhere can.
    forgotten_at: datetime | None = utc_column(nullable=True)


class MemberFacts(SQLModel, table=True):
    """What the platform told us about a member that eligibility rules look at, and whether a moderator
    blocked them. Facts are refreshed whenever the platform sends them (a Discord reaction or command
    carries the member's join date and roles; the account's creation time is in its id)."""

    __tablename__ = "member_facts"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    account_created_at: datetime | None = utc_column(nullable=True)
    joined_at: datetime | None = utc_column(nullable=True)
    role_ids: list | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    blocked_at: datetime | None = utc_column(nullable=True)
    updated_at: datetime = utc_column()


class EligibilityRule(SQLModel, table=True):
    """Who may vote in a community. Votes of members who don't qualify are kept but left out of the
    graph (and counted in stats), so changing a rule re-decides every vote, past ones included."""

    __tablename__ = "eligibility_rule"

    community_id: int = Field(primary_key=True, foreign_key="community.id")
    min_account_age_days: int = 0
    min_membership_days: int = 0
    required_role_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime = utc_column()


class MemberLease(SQLModel, table=True):
    """Which process is handling a member's message right now (PostgreSQL, several processes): a lease
    renewed while held, so a process that dies lets go within ``bot.runtime.leases.LEASE_TTL``."""

    __tablename__ = "member_lease"

    key: str = Field(primary_key=True, max_length=200)
    holder: str = Field(max_length=64)
    expires_at: datetime = utc_column()


# --- legitimacy (docs/method.md §8): the fair-position question and the follow-up survey ---------------------


class InboundEvent(SQLModel, table=True):
    """Platform deliveries already handled: a redelivered event id is ignored."""

    __tablename__ = "inbound_event"
    __table_args__ = (sa.UniqueConstraint("community_id", "event_id"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    event_id: str = Field(max_length=128)
    received_at: datetime = utc_column()


class DmRoute(SQLModel, table=True):
    """Which community a member's direct messages belong to (Discord DMs carry no guild)."""

    __tablename__ = "dm_route"

    platform: str = Field(primary_key=True, max_length=16)
    platform_user_id: str = Field(primary_key=True, max_length=64)
    community_id: int = Field(foreign_key="community.id")
    updated_at: datetime = utc_column()


# --- reconciliation: canonical values, contexts, stories (docs/method.md §4–§6) ------------------------------
