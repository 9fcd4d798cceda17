"""What the member is being asked in each state, said again: after an unclear answer, on coming back, or
under a button that belongs to an earlier message. Also the choices each state offers (for telling a
current button press from a stale one) and placing a confirmed card among the values, which the value
check asks about."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.interview.ports import CardReconciler
from bot.interview.scenarios import ScenarioLookup
from bot.interview.texts import (
    CARD_AGAIN,
    CHOOSE_SCENARIO,
    CONSENT_NOTICE,
    PICK_AN_OPTION,
    VALUE_CHECK_QUESTION,
    revision_question,
    welcome_back,
)
from bot.interview.turns import TurnContext
from bot.values.languages import member_card
from core.cards import ValuesCard
from core.interview import SPEC, Choice
from core.interview import InterviewState as S
from core.llm import LLMError
from core.messages import CardProposal, ChoicePrompt, Outbound, Reply
from storage import repositories as repo
from storage.models import ValuesCardRecord

if TYPE_CHECKING:
    from bot.values.placement import Reconciliation

log = logging.getLogger("mge.interviews")

GO_ON = "Please go on."
#: States whose question is the last bot turn of a kind, shown again with the state's choices.
LAST_TURN_OF_KIND = {S.CONVERSING: "conversation", S.CHECKING: "check"}


class CurrentPrompt:
    def __init__(self, *, scenarios: ScenarioLookup, reconciler: CardReconciler | None):
        self._scenarios = scenarios
        self._reconciler = reconciler

    async def offered(self, ctx: TurnContext) -> tuple[Choice, ...]:
        """The choices the member can press now."""
        state = S(ctx.interview.state)
        if state is S.CHOOSING_SCENARIO:
            return tuple(await self._scenario_choices(ctx))
        return SPEC[state].choices

    async def show(self, ctx: TurnContext, state: S, *, hint: bool = False) -> list[Outbound]:
        """What the member is asked in ``state`` (the interview's state, or the one it is entering)."""
        prefix = PICK_AN_OPTION if hint else ""
        choices = SPEC[state].choices
        match state:
            case S.AWAITING_CONSENT:
                return [ChoicePrompt(prefix + CONSENT_NOTICE, choices)]
            case S.CHOOSING_SCENARIO:
                return [ChoicePrompt(prefix + CHOOSE_SCENARIO, tuple(await self._scenario_choices(ctx)))]
            case S.CONVERSING | S.CHECKING:
                kind = LAST_TURN_OF_KIND[state]
                last = await repo.last_turn(ctx.session, interview_id=ctx.interview.id, kinds=(kind,))
                text = last.content if last is not None and last.role == "bot" else GO_ON
                return [ChoicePrompt(text, choices) if choices and last is not None else Reply(text)]
            case S.CARD_PROPOSED:
                record = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
                return [CardProposal(as_card(record), prefix + CARD_AGAIN, choices)] if record else [Reply(GO_ON)]
            case S.REVISING:
                return [Reply(revision_question())]
            case S.TIMED_OUT:
                return [ChoicePrompt(welcome_back(), choices)]
            case S.VALUE_CHECK:
                card = await repo.confirmed_card(ctx.session, interview_id=ctx.interview.id)
                placed = await self.place(ctx, card.id) if card is not None else None
                if placed is not None:
                    return [CardProposal(placed.value_card, prefix + VALUE_CHECK_QUESTION, choices)]
                return [ChoicePrompt(prefix + VALUE_CHECK_QUESTION, choices)]
        return []

    async def place(self, ctx: TurnContext, card_id: int) -> Reconciliation | None:
        """Find the card's value now; on failure leave it to the `mge dedup` job (never block confirming)."""
        if self._reconciler is None:
            return None
        try:
            return await self._reconciler(card_id=card_id, now=ctx.now)
        except LLMError as error:
            log.warning("placing card %s among values failed, left for mge dedup: %s", card_id, error)
            return None

    async def _scenario_choices(self, ctx: TurnContext) -> list[Choice]:
        return await self._scenarios.choices(ctx.session, community_id=ctx.interview.community_id, now=ctx.now)


def as_card(record: ValuesCardRecord) -> ValuesCard:
    """The card as its member wrote it (in their language), for showing to them."""
    return member_card(record)
