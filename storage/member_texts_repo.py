"""The interviewer's fixed texts translated per language (``MemberTextTranslation``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import MemberTextTranslation, table_of
from storage.sql import insert_ignoring_conflict

_TRANSLATIONS = table_of(MemberTextTranslation)


async def stored_translation(session: AsyncSession, *, language: str) -> MemberTextTranslation | None:
    # populate_existing: a row read before in this session may have been replaced by another process since.
    query = select(MemberTextTranslation).where(col(MemberTextTranslation.language) == language)
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def add_translation(
    session: AsyncSession, *, language: str, texts: dict[str, Any], prompt_sha: str, model: str, now: datetime
) -> bool:
    """Store a language's texts unless another process stored them first; True when these went in."""
    values = {"language": language, "texts": texts, "prompt_sha": prompt_sha, "model": model, "created_at": now}
    return await insert_ignoring_conflict(session, _TRANSLATIONS, values)


async def drop_translation(session: AsyncSession, *, language: str) -> None:
    """Forget a language's stored texts (they no longer validate: they are translated again)."""
    await session.exec(sa.delete(MemberTextTranslation).where(col(MemberTextTranslation.language) == language))
