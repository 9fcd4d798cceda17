"""What the interview service is configured with and what it calls outside itself: the models and limits,
the card reconciler (values) and the generalization offer, as protocols the composition root fills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from core.member_texts import InterviewTexts
from core.messages import CommunityRef, Outbound

if TYPE_CHECKING:
    from bot.values.placement import Reconciliation


@dataclass(frozen=True, slots=True)
class InterviewConfig:
    chat_model: str
    articulation_model: str
    max_turns: int = 12
    min_turns: int = 3
    idle_timeout: timedelta = timedelta(hours=72)
    #: BCP-47 tag: the language cards are shared in (MGE_COMMUNITY_LANGUAGE); members are interviewed in theirs.
    community_language: str = "en"


class CardReconciler(Protocol):
    """Places a just-confirmed card among the community's values (``bot.values.placement.reconcile_card``
    with its LLM, embedder and parameters bound). Without one, cards wait for the `mge dedup` job."""

    async def __call__(self, *, card_id: int, now: datetime) -> Reconciliation: ...

    async def record_verdict(self, *, card_id: int, agrees: bool, now: datetime) -> Reconciliation: ...


class GeneralizationOffer(Protocol):
    """After a confirmed card, other members' values to pick from (``bot.generalization.picks``, docs/method.md §2):
    records what it shows, then returns the question to send (None: nothing to offer)."""

    async def offer(
        self,
        *,
        community_id: int,
        member_id: int,
        interview_id: int,
        scenario_id: int | None,
        now: datetime,
        texts: InterviewTexts | None = None,
    ) -> Outbound | None: ...

    async def typed(
        self,
        *,
        community: CommunityRef,
        community_id: int,
        member_id: int,
        platform_user_id: str,
        text: str,
        now: datetime,
    ) -> GeneralizationAnswer | None:
        """A typed answer to the member's open offer (its text to reply), or None: not one."""
        ...


class GeneralizationAnswer(Protocol):
    text: str
