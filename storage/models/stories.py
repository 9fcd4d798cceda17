"""Moral contexts, the scenarios they come from, and transition stories between values."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.stories import StoryStatus
from storage.models.types import utc_column


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
    created_at: datetime = utc_column()


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
    created_at: datetime = utc_column()
    #: A moderator's correction (``/mge stories edit``), shown instead of ``story``, which stays as the
    #: model wrote it; who made it ("discord:<id>", "slack:<id>", "cli:<login>") and when.
    edited_story: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    edited_by: str | None = Field(default=None, max_length=200)
    edited_at: datetime | None = utc_column(nullable=True)

    @property
    def shown_story(self) -> str:
        """The text polls, exports and the graph show: the moderator's edit, else the model's story."""
        return self.edited_story if self.edited_story is not None else self.story
