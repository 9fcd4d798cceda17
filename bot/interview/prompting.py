"""What the member is being asked in each state, said again: after an unclear answer, on coming back, or
under a button that belongs to an earlier message. Also the choices each state offers (for telling a
current button press from a stale one) and placing a confirmed card among the values, which the value
check asks about."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.interview.ports import CardReconciler
from bot.interview.scenarios import ScenarioLookup
from bot.interview.texts import welcome_back
from bot.interview.turns import TurnContext
from bot.values.languages import member_card
from core.cards import ValuesCard
from core.interview import SPEC, Choice, localized
from core.interview import InterviewState as S
from core.llm import LLMError
from core.messages import CardProposal, ChoicePrompt, Outbound, Reply
from storage import repositories as repo
from storage.models import ValuesCardRecord

if TYPE_CHECKING:
    from bot.values.placement import Reconciliation

log = logging.getLogger("mge.interviews")

#: States whose question is the last bot turn of a kind, shown again with the state's choices.
LAST_TURN_OF_KIND = {S.CONVERSING: "conversation", S.CHECKING: "check"}


class CurrentPrompt:
    def __init__(self, *, scenarios: ScenarioLookup, reconciler: CardReconciler | None):
        self._scenarios = scenarios
        self._reconciler = reconciler

    async def offered(self, ctx: TurnContext) -> tuple[Choice, ...]:
        """The choices the member can press now, labelled in the interview's language."""
        state = S(ctx.interview.state)
        if state is S.CHOOSING_SCENARIO:
            return tuple(await self._scenario_choices(ctx))
        return localized(SPEC[state].choices, ctx.texts)

    async def show(self, ctx: TurnContext, state: S, *, hint: bool = False) -> list[Outbound]:
        """What the member is asked in ``state`` (the interview's state, or the one it is entering)."""
        texts = ctx.texts
        prefix = texts.pick_an_option + "\n\n" if hint else ""
        choices = localized(SPEC[state].choices, texts)
        match state:
            case S.AWAITING_CONSENT:
                return [ChoicePrompt(prefix + texts.consent_notice, choices)]
            case S.CHOOSING_SCENARIO:
                return [ChoicePrompt(prefix + texts.choose_scenario, tuple(await self._scenario_choices(ctx)))]
            case S.CONVERSING | S.CHECKING:
                kind = LAST_TURN_OF_KIND[state]
                last = await repo.last_turn(ctx.session, interview_id=ctx.interview.id, kinds=(kind,))
                text = last.content if last is not None and last.role == "bot" else texts.go_on
                return [ChoicePrompt(text, choices) if choices and last is not None else Reply(text)]
            case S.CARD_PROPOSED:
                record = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
                if record is None:
                    return [Reply(texts.go_on)]
                return [CardProposal(as_card(record), prefix + texts.card_again, choices, texts.attention_heading)]
            case S.REVISING:
                return [Reply(texts.revision_question)]
            case S.TIMED_OUT:
                return [ChoicePrompt(welcome_back(texts), choices)]
            case S.VALUE_CHECK:
                card = await repo.confirmed_card(ctx.session, interview_id=ctx.interview.id)
                placed = await self.place(ctx, card.id) if card is not None else None
                question = prefix + texts.value_check_question
                if placed is not None:
                    return [CardProposal(placed.value_card, question, choices, texts.attention_heading)]
                return [ChoicePrompt(question, choices)]
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
