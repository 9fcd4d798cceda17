"""Canonical values (deduplicated cards), which card belongs to which value, and the embedding cache."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.cards import ValueStatus
from storage.models.types import utc_column


class CanonicalValue(SQLModel, table=True):
    """One value that one or more members' cards express. Its text is the best-written member card's."""

    __tablename__ = "canonical_value"
    # One row per imported value and community, so importing the same file again adds nothing.
    __table_args__ = (sa.Index("uq_canonical_value_imported_from", "community_id", "imported_from", unique=True),)

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
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    #: Where an imported value came from ("<format>:<source>#<table>/<id>", ``mge import``); None when
    #: it grew from this community's own cards.
    imported_from: str | None = Field(default=None, max_length=300)


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
    created_at: datetime = utc_column()
    superseded_at: datetime | None = utc_column(nullable=True)


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
    created_at: datetime = utc_column()


class DedupQueueEntry(SQLModel, table=True):
    """A card that matched no value when it was placed (it founded its own): the next maintenance pass
    clusters it with every active value, so a near-duplicate just past the match radius is looked at again."""

    __tablename__ = "dedup_queue"

    card_id: int = Field(foreign_key="values_card.id", primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    queued_at: datetime = utc_column()


class ValueCheck(SQLModel, table=True):
    """A member asked by DM whether a value still represents them, after their card moved to another value
    or their value's shown text changed: one row per card and change (``change``), claimed before sending."""

    __tablename__ = "value_check"
    __table_args__ = (sa.UniqueConstraint("card_id", "change"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    card_id: int = Field(foreign_key="values_card.id")
    value_id: int = Field(foreign_key="canonical_value.id")
    #: What changed: ``moved:<assignment id>`` or ``text:<value id>:<assignment id of the joining card>``.
    change: str = Field(max_length=64)
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    #: ``same`` or ``separate`` once the member pressed a button; ``undelivered`` when the platform refused
    #: the DM (closed DMs), so it is not asked again.
    answer: str | None = Field(default=None, max_length=16)
    answered_at: datetime | None = utc_column(nullable=True)
