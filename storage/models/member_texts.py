"""The interviewer's fixed texts translated by the model for a language without a hand-written file
(``core.member_texts.translation``). Not a community's data: one row per language serves every community."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.models.types import utc_column


class MemberTextTranslation(SQLModel, table=True):
    """One language's texts, written once (the first process to store them wins) and read by every later one."""

    __tablename__ = "member_text_translations"

    #: The primary subtag ("it" serves "it-CH" too).
    language: str = Field(primary_key=True, max_length=8)
    #: ``InterviewTexts`` as JSON, the keys of the language files.
    texts: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    prompt_sha: str = Field(max_length=64)
    model: str = Field(max_length=200)
    created_at: datetime = utc_column()
