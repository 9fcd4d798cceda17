"""The checks on the process: fair-position asks, surveys, generalization offers, ideology ratings."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.models.types import utc_column


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
    asked_at: datetime = utc_column()
    answered_at: datetime | None = utc_column(nullable=True)


class LegitimacyOptOut(SQLModel, table=True):
    """A member who pressed "Don't ask me again": no more fair-position questions or survey offers."""

    __tablename__ = "legitimacy_opt_out"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    community_id: int = Field(foreign_key="community.id", index=True)
    opted_out_at: datetime = utc_column()


class SurveyOffer(SQLModel, table=True):
    """The follow-up survey, offered once per member (the row is the "once")."""

    __tablename__ = "survey_offer"

    member_id: int = Field(primary_key=True, foreign_key="member.id")
    community_id: int = Field(foreign_key="community.id", index=True)
    offered_at: datetime = utc_column()
    #: Set when the member pressed "Stop the survey", or answered or skipped the last question.
    ended_at: datetime | None = utc_column(nullable=True)


class SurveyAnswer(SQLModel, table=True):
    """A member's answer to one survey question (1–5), or a skip (``score`` empty): one per question."""

    __tablename__ = "survey_answer"
    __table_args__ = (sa.UniqueConstraint("member_id", "question"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    question: int
    score: int | None = None
    answered_at: datetime = utc_column()


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
    offered_at: datetime = utc_column()
    #: Set when the member pressed "None of these" / "Done": later presses are not recorded.
    closed_at: datetime | None = utc_column(nullable=True)


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
    picked_at: datetime | None = utc_column(nullable=True)


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
    rated_at: datetime = utc_column()
