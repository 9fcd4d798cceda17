"""Shared pieces of the dedup tests: stored cards, controlled embeddings, the judge's answers."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from core.embeddings import policies_text
from storage import communities_repo
from storage.database import Database
from storage.models import Interview, ValuesCardRecord
from tests.fakes.openai_server import hash_embedding

DIMENSIONS = 16

SAME_REASONS = {
    "same_attention": "Both attend to the moments the person sees a real choice and decides.",
    "fully_captured": "Each author would recognise everything they care about in the other card.",
    "same_granularity": "Both are general, at the same level of detail.",
    "differences_are_oversights": "The only differences are wording.",
}
DIFFERENT_REASONS = {
    "same_attention": "One attends to the person's choices, the other to telling the person hard truths.",
    "fully_captured": "Neither author would feel the other card captures their value.",
    "same_granularity": "Similar level of detail.",
    "differences_are_oversights": "No: the difference is what each author cares about.",
}

AUTONOMY = {
    "title": "Informed Autonomy Under Pressure",
    "description": "The assistant helps the person see their options clearly so they can choose for themselves.",
    "policies": [
        "MOMENTS when the person realises they have a real choice",
        "OPPORTUNITIES for the person to decide for themselves",
        "INSIGHTS that widen the person's view of their options",
        "FEELINGS of steadiness that let the person think clearly",
    ],
}
AUTONOMY_REWORDED = {
    "title": "Choosing With Open Eyes",
    "description": "The assistant lays out the person's options so the decision stays theirs.",
    "policies": [
        "MOMENTS when the person notices they really can choose",
        "OPPORTUNITIES for the person to make the decision themselves",
        "INSIGHTS that show the person options they had missed",
        "FEELINGS of calm that let the person weigh things clearly",
    ],
}
# The same words as AUTONOMY's, a different value: candour, not autonomy.
CANDOUR_SAME_WORDS = {
    "title": "Candour About Real Choices",
    "description": "The assistant tells the person plainly when a choice they face is hard.",
    "policies": [
        "MOMENTS when the person needs to hear a hard truth about their choice",
        "OPPORTUNITIES to tell the person plainly what their options cost",
        "INSIGHTS the person would rather not hear about their options",
        "FEELINGS of discomfort the person should not be spared",
    ],
}
GENEROSITY = {
    "title": "Generosity With Clear Eyes",
    "description": "The assistant helps the person give in ways that keep both people whole.",
    "policies": [
        "SIGNS that the relative is ready to use help well",
        "LIMITS the person can hold without resentment",
        "CONVERSATIONS where both people say what they expect",
        "MOMENTS when giving strengthens the relationship",
    ],
}


def unit(index: int, dimensions: int = DIMENSIONS) -> np.ndarray:
    vector = np.zeros(dimensions, dtype=np.float32)
    vector[index] = 1.0
    return vector


def near(base: np.ndarray, distance: float, towards: int) -> np.ndarray:
    """A unit vector at cosine distance ``distance`` from unit vector ``base``, tilted towards an axis."""
    cos = 1.0 - distance
    other = unit(towards, base.shape[0])
    return (cos * base + np.sqrt(1 - cos * cos) * other).astype(np.float32)


class Embeddings:
    """``fake.embedding_fn``: chosen vectors for chosen cards' policies, hashed vectors for other texts."""

    def __init__(self) -> None:
        self.vectors: dict[str, list[float]] = {}

    def set(self, card: dict, vector: np.ndarray) -> None:
        self.vectors[policies_text(_Policies(card["policies"]))] = [float(x) for x in vector]

    def __call__(self, text: str) -> list[float]:
        return self.vectors.get(text) or hash_embedding(text, DIMENSIONS)


class _Policies:
    def __init__(self, policies: list[str]) -> None:
        self.policies = policies


def same(candidate_id: int, better_written: str = "existing") -> dict:
    return {"reasons": SAME_REASONS, "same_value": True, "candidate_id": candidate_id, "better_written": better_written}


def different() -> dict:
    return {"reasons": DIFFERENT_REASONS, "same_value": False, "candidate_id": None, "better_written": "existing"}


def group(card_ids: list[int], best: int) -> dict:
    return {"card_ids": card_ids, "best_written_card_id": best, "reasons": SAME_REASONS}


async def community(database: Database, name: str, now: datetime) -> int:
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform="console", external_id=name, name=name, now=now
        )
        await session.commit()
        return row.id


async def add_card(
    database: Database, community_id: int, card: dict, now: datetime, *, member: str = "ana", status: str = "confirmed"
) -> int:
    """A member's card as the interview stores it (with its member and interview)."""
    async with database.session() as session:
        author = await communities_repo.get_or_create_member(
            session, community_id=community_id, platform_user_id=member, display_name=member, now=now
        )
        interview = Interview(
            community_id=community_id, member_id=author.id, state="done", created_at=now, last_activity_at=now
        )
        session.add(interview)
        await session.flush()
        record = ValuesCardRecord(
            community_id=community_id,
            interview_id=interview.id,
            author_member_id=author.id,
            title=card["title"],
            description=card["description"],
            policies=list(card["policies"]),
            status=status,
            prompt_sha="test",
            model="card-model",
            created_at=now,
            confirmed_at=now if status == "confirmed" else None,
        )
        session.add(record)
        await session.commit()
        return record.id
