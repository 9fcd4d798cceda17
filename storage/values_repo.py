"""Canonical values, value assignments and the embedding cache. Keyword-only functions; callers own the
session and decide when to commit (so a use case can make all its writes land together or not at all)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import numpy as np
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import CardStatus, ValueStatus
from core.embeddings import Embedded, Embedder
from storage.models import CanonicalValue, EmbeddingCache, ValueAssignment, ValuesCardRecord, table_of
from storage.sql import insert_ignoring_conflict

#: Wraps the embedder's request, e.g. to record its usage with ``LLMRecorder.call``.
EmbedWrapper = Callable[[Awaitable[Embedded]], Awaitable[Embedded]]

# --- embedding cache -----------------------------------------------------------------------------


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def cached_vectors(session: AsyncSession, *, model: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    unique = sorted(set(shas))
    # Chunked: SQLite caps the number of bound parameters per statement.
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        query = select(EmbeddingCache).where(EmbeddingCache.model == model, col(EmbeddingCache.text_sha).in_(chunk))
        for row in (await session.exec(query)).all():
            vector = np.frombuffer(row.vector, dtype="<f4")
            if vector.shape[0] == row.dimensions:
                found[row.text_sha] = vector.astype(np.float32)
    return found


async def store_vectors(session: AsyncSession, *, model: str, vectors: dict[str, np.ndarray], now: datetime) -> None:
    """Cache vectors by text hash; a row another process stored first is left as it is."""
    for sha, vector in vectors.items():
        data = np.asarray(vector, dtype="<f4")
        values = {
            "model": model,
            "text_sha": sha,
            "vector": data.tobytes(),
            "dimensions": int(data.shape[0]),
            "created_at": now,
        }
        await insert_ignoring_conflict(session, table_of(EmbeddingCache), values)


async def embed_texts(
    session: AsyncSession,
    *,
    embedder: Embedder,
    texts: Sequence[str],
    now: datetime,
    wrap: EmbedWrapper | None = None,
    store: bool = True,
) -> np.ndarray:
    """One float32 row per text, in order: cached vectors where the (model, text) was embedded before,
    the rest from one batched ``embedder.embed`` call, which are then cached (unless ``store`` is False)."""
    shas = [text_sha(text) for text in texts]
    vectors = await cached_vectors(session, model=embedder.model, shas=shas)
    missing: dict[str, str] = {}
    for sha, text in zip(shas, texts):
        if sha not in vectors:
            missing.setdefault(sha, text)
    if missing:
        request = embedder.embed(list(missing.values()))
        embedded = await (wrap(request) if wrap is not None else request)
        fresh = dict(zip(missing, np.asarray(embedded.vectors, dtype=np.float32)))
        if store:
            await store_vectors(session, model=embedder.model, vectors=fresh, now=now)
        vectors.update(fresh)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    dimensions = {vectors[sha].shape[0] for sha in shas}
    if len(dimensions) != 1:
        raise ValueError(f"embedding model {embedder.model!r} returned vectors of several sizes: {sorted(dimensions)}")
    return np.stack([vectors[sha] for sha in shas]).astype(np.float32)


# --- cards ---------------------------------------------------------------------------------------


async def get_card(session: AsyncSession, *, card_id: int) -> ValuesCardRecord | None:
    return await session.get(ValuesCardRecord, card_id)


async def unassigned_cards(session: AsyncSession, *, community_id: int) -> list[ValuesCardRecord]:
    """Confirmed cards of the community with no current value assignment, oldest first."""
    current = select(ValueAssignment.card_id).where(col(ValueAssignment.superseded_at).is_(None))
    query = (
        select(ValuesCardRecord)
        .where(
            ValuesCardRecord.community_id == community_id,
            ValuesCardRecord.status == CardStatus.CONFIRMED,
            col(ValuesCardRecord.id).not_in(current),
        )
        .order_by(col(ValuesCardRecord.id))
    )
    return list((await session.exec(query)).all())


# --- canonical values ----------------------------------------------------------------------------


async def get_value(session: AsyncSession, *, value_id: int, community_id: int | None = None) -> CanonicalValue | None:
    value = await session.get(CanonicalValue, value_id)
    if value is None or (community_id is not None and value.community_id != community_id):
        return None
    return value


async def all_values_of(session: AsyncSession, *, community_id: int) -> list[CanonicalValue]:
    """Every value of the community whatever its status, merged ones too (callers resolve merges), in no
    particular order."""
    return list((await session.exec(select(CanonicalValue).where(CanonicalValue.community_id == community_id))).all())


async def list_values(
    session: AsyncSession, *, community_id: int | None = None, statuses: Sequence[str] | None = (ValueStatus.ACTIVE,)
) -> list[CanonicalValue]:
    query = select(CanonicalValue).order_by(col(CanonicalValue.id))
    if community_id is not None:
        query = query.where(CanonicalValue.community_id == community_id)
    if statuses is not None:
        query = query.where(col(CanonicalValue.status).in_(statuses))
    return list((await session.exec(query)).all())


async def create_value_from_card(session: AsyncSession, *, card: ValuesCardRecord, now: datetime) -> CanonicalValue:
    value = CanonicalValue(
        community_id=card.community_id,
        title=card.title,
        description=card.description,
        policies=list(card.policies),
        source_card_id=card.id,
        status=ValueStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )
    session.add(value)
    await session.flush()
    return value


def show_card_text(value: CanonicalValue, card: ValuesCardRecord, *, now: datetime) -> None:
    """Make ``card`` the text the value shows."""
    value.title, value.description, value.policies = card.title, card.description, list(card.policies)
    value.source_card_id = card.id
    value.updated_at = now


async def member_counts(session: AsyncSession, *, community_id: int) -> dict[int, int]:
    query = (
        select(ValueAssignment.canonical_value_id, func.count())
        .where(ValueAssignment.community_id == community_id, col(ValueAssignment.superseded_at).is_(None))
        .group_by(col(ValueAssignment.canonical_value_id))
    )
    return {value_id: count for value_id, count in (await session.exec(query)).all()}


async def values_merged_into(session: AsyncSession, *, value_id: int) -> list[CanonicalValue]:
    query = select(CanonicalValue).where(CanonicalValue.merged_into_id == value_id).order_by(col(CanonicalValue.id))
    return list((await session.exec(query)).all())


# --- assignments ---------------------------------------------------------------------------------


async def current_assignment(session: AsyncSession, *, card_id: int) -> ValueAssignment | None:
    query = (
        select(ValueAssignment)
        .where(ValueAssignment.card_id == card_id, col(ValueAssignment.superseded_at).is_(None))
        .order_by(col(ValueAssignment.id).desc())
    )
    return (await session.exec(query)).first()


async def assignment_history(session: AsyncSession, *, card_id: int) -> list[ValueAssignment]:
    """Every decision about the card, oldest first."""
    query = select(ValueAssignment).where(ValueAssignment.card_id == card_id).order_by(col(ValueAssignment.id))
    return list((await session.exec(query)).all())


async def current_members(session: AsyncSession, *, value_id: int) -> list[tuple[ValueAssignment, ValuesCardRecord]]:
    """The value's current assignments with their cards, in the order the cards joined."""
    query = (
        select(ValueAssignment, ValuesCardRecord)
        .join(ValuesCardRecord, col(ValuesCardRecord.id) == ValueAssignment.card_id)
        .where(ValueAssignment.canonical_value_id == value_id, col(ValueAssignment.superseded_at).is_(None))
        .order_by(col(ValueAssignment.id))
    )
    return [(assignment, card) for assignment, card in (await session.exec(query)).all()]


async def add_assignment(
    session: AsyncSession,
    *,
    card: ValuesCardRecord,
    value_id: int,
    decision: str,
    now: datetime,
    reason: str = "",
    prompt_sha: str | None = None,
    model: str | None = None,
    actor: str = "bot",
    member_agrees: bool | None = None,
) -> ValueAssignment:
    assignment = ValueAssignment(
        community_id=card.community_id,
        card_id=card.id,
        canonical_value_id=value_id,
        decision=decision,
        reason=reason,
        prompt_sha=prompt_sha,
        model=model,
        member_agrees=member_agrees,
        actor=actor[:100],
        created_at=now,
    )
    session.add(assignment)
    await session.flush()
    return assignment


def supersede(assignment: ValueAssignment, *, now: datetime) -> None:
    assignment.superseded_at = now
