"""What each step of the interview does (the :class:`~core.interview.Effect` of a transition): ask the LLM,
save a card, say what the member sees. An effect never writes the interview's state: it returns an
:class:`Outcome` (what to send, and the next trigger when the interview moves on by itself), and the
service's loop writes the state once the effect succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.interview.ports import CardReconciler, GeneralizationOffer, InterviewConfig
from bot.interview.prompting import CurrentPrompt, as_card
from bot.interview.scenarios import ScenarioLookup
from bot.interview.texts import saved_with_note, welcome_back
from bot.interview.turns import PENDING_KINDS, TurnContext
from bot.values.languages import card_schema_for, translate_card
from core import interview as machine
from core.cards import CardStatus
from core.framing import Framing
from core.interview import (
    CARD_CHOICES,
    CHECK_CHOICES,
    TIMED_OUT_CHOICES,
    VALUE_CHECK_CHOICES,
    Choice,
    Effect,
    localized,
)
from core.interview import InterviewState as S
from core.interview import Trigger as T
from core.interviewer import (
    CardAnswer,
    InterviewerTurn,
    articulation_messages,
    card_question_messages,
    interviewer_messages,
    opening_question,
)
from core.llm import LLM, ChatMessage
from core.messages import CardProposal, ChoicePrompt, Outbound, Reply
from core.prompts import combined_sha
from core.say_back import AttentionList, items_in, say_back_messages, say_back_text
from storage import repositories as repo
from storage.models import ValuesCardRecord

log = logging.getLogger("mge.interviews")

#: The member answers counted toward the turn cap: conversation answers and corrections of the list.
ANSWER_KINDS = ("conversation", "check")


@dataclass(frozen=True, slots=True)
class Event:
    """One step for an effect to perform."""

    ctx: TurnContext
    step: machine.Step
    #: The state the interview is in while the effect runs (the loop writes ``step.new_state`` after).
    source: S
    choice: Choice | None = None
    #: The member's message behind the trigger (None: the interview moving on by itself).
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    send: list[Outbound] = field(default_factory=list)
    #: The trigger to look up next (the turn cap reached, a preselected scenario, a card to place).
    next: T | None = None
    choice: Choice | None = None
    #: Run after the new state is committed (what may only follow a saved state: a new interview, the
    #: offer of other values); its messages are sent after ``send``.
    after: Callable[[], Awaitable[list[Outbound]]] | None = None


Begin = Callable[[TurnContext], Awaitable[list[Outbound]]]


class Effects:
    def __init__(
        self,
        *,
        llm: LLM,
        config: InterviewConfig,
        scenarios: ScenarioLookup,
        prompts: CurrentPrompt,
        begin: Begin,
        reconciler: CardReconciler | None,
        generalizer: GeneralizationOffer | None,
    ):
        self._llm = llm
        self._config = config
        self._scenarios = scenarios
        self._prompts = prompts
        #: Starts a new interview for the member of the context (``InterviewService``'s).
        self._begin = begin
        self._reconciler = reconciler
        #: Offers other values after a confirmed card (docs/method.md §2); without one, nothing is offered.
        self._generalizer = generalizer
        self._table: dict[Effect, Callable[[Event], Awaitable[Outcome]]] = {
            Effect.OFFER_SCENARIOS: self._offer_scenarios,
            Effect.OPEN_CONVERSATION: self._open_conversation,
            Effect.CONTINUE_CONVERSATION: self._continue_conversation,
            Effect.SAY_BACK: self._say_back,
            Effect.PROPOSE_CARD: self._propose_card,
            Effect.ASK_WHAT_TO_CHANGE: self._ask_what_to_change,
            Effect.REVISE_CARD: self._revise_card,
            Effect.ANSWER_QUESTION: self._answer_question,
            Effect.REPLAY_PENDING: self._replay_pending,
            Effect.CONFIRM_CARD: self._confirm_card,
            Effect.PLACE_CARD: self._place_card,
            Effect.THANK: self._thank,
            Effect.RECORD_VERDICT: self._record_verdict,
            Effect.NOTE_TIMEOUT: self._note_timeout,
            Effect.RESUME: self._resume,
            Effect.SAY_CANCELLED: self._say("cancelled"),
            Effect.SAY_NO_CONSENT: self._say("no_consent"),
            Effect.START_OVER: self._start_over,
            Effect.REPEAT_PROMPT: self._repeat_prompt,
        }

    async def perform(self, event: Event) -> Outcome:
        return await self._table[event.step.effect](event)

    # --- before the conversation -------------------------------------------------------------------

    async def _offer_scenarios(self, event: Event) -> Outcome:
        ctx = event.ctx
        ctx.member.consented_at = ctx.member.consented_at or ctx.now
        choices = await self._scenarios.choices(ctx.session, community_id=ctx.interview.community_id, now=ctx.now)
        preset = ctx.interview.scenario_id
        if preset is not None or len(choices) == 1:
            chosen = Choice(str(preset), "") if preset is not None else choices[0]
            return Outcome(next=T.SCENARIO_CHOSEN, choice=chosen)
        if not choices:
            return Outcome([Reply(ctx.texts.no_scenario)])
        return Outcome([ChoicePrompt(ctx.texts.choose_scenario, tuple(choices))])

    async def _open_conversation(self, event: Event) -> Outcome:
        ctx = event.ctx
        if event.choice is not None:
            ctx.interview.scenario_id = int(event.choice.key)
        text = opening_question(await self._scenarios.framed(ctx.session, ctx.interview), ctx.texts)
        await ctx.bot_turn(text, kind="conversation")
        return Outcome([Reply(text)])

    # --- the conversation and the check ------------------------------------------------------------

    async def _answered(self, ctx: TurnContext) -> int:
        return sum(1 for role, kind, _ in await ctx.llm_transcript() if role == "member" and kind in ANSWER_KINDS)

    async def _continue_conversation(self, event: Event) -> Outcome:
        ctx = event.ctx
        answered = await self._answered(ctx)
        if answered >= self._config.max_turns:
            return Outcome(next=T.READY)
        transcript = await ctx.transcript(kinds=("conversation",))
        messages, prompt = interviewer_messages(
            await self._scenarios.framed(ctx.session, ctx.interview), transcript, language=ctx.language
        )
        model = self._config.chat_model
        result = await ctx.call_llm(
            "interview",
            prompt.sha,
            model,
            self._llm.structured(messages, InterviewerTurn, model=model, temperature=0.7),
        )
        turn: InterviewerTurn = result.value
        ctx.interview.language = turn.language or ctx.interview.language
        # The model may say it is ready early (or be talked into it); a card needs a few real answers.
        if turn.ready_to_articulate and answered >= self._config.min_turns:
            return Outcome(next=T.READY)
        await ctx.bot_turn(turn.message, kind="conversation", prompt_sha=prompt.sha, result=result)
        return Outcome([Reply(turn.message)])

    async def _say_back(self, event: Event) -> Outcome:
        """Say back what the member attends to (again, after a correction); at the turn cap a correction
        goes straight into the card with the last list."""
        ctx = event.ctx
        if event.source is S.CHECKING and await self._answered(ctx) > self._config.max_turns:
            return Outcome(next=T.READY)
        messages, prompt = say_back_messages(
            await self._scenarios.framed(ctx.session, ctx.interview),
            await ctx.transcript(),
            language=ctx.language,
        )
        model = self._config.articulation_model
        result = await ctx.call_llm(
            "say_back", prompt.sha, model, self._llm.structured(messages, AttentionList, model=model, temperature=0.2)
        )
        text = say_back_text(result.value.items, ctx.texts)
        await ctx.bot_turn(text, kind="check", prompt_sha=prompt.sha, result=result)
        return Outcome([ChoicePrompt(text, localized(CHECK_CHOICES, ctx.texts))])

    # --- the card ----------------------------------------------------------------------------------

    async def _propose_card(self, event: Event) -> Outcome:
        ctx = event.ctx
        # The list the member agreed to (at the turn cap: the last one, with the correction after it).
        attention = items_in(await self._last_said_back(ctx))
        scenario = await self._scenarios.framed(ctx.session, ctx.interview)
        messages, prompts = articulation_messages(
            scenario, await ctx.transcript(), attention=attention, language=ctx.language
        )
        record = await self._articulate(ctx, messages, combined_sha(*prompts), scenario.framing)
        return await self._show_card(ctx, record, ctx.texts.card_heading)

    async def _last_said_back(self, ctx: TurnContext) -> str:
        for role, kind, content in reversed(await ctx.llm_transcript()):
            if role == "bot" and kind == "check":
                return content
        return ""

    async def _revise_card(self, event: Event) -> Outcome:
        ctx = event.ctx
        current = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
        feedback = await repo.last_turn(ctx.session, interview_id=ctx.interview.id, kinds=("revision",))
        if current is None or feedback is None:
            return await self._propose_card(event)
        scenario = await self._scenarios.framed(ctx.session, ctx.interview)
        messages, prompts = articulation_messages(
            scenario,
            await ctx.transcript(kinds=("conversation", "check")),
            attention=items_in(await self._last_said_back(ctx)),
            previous_card=as_card(current),
            feedback=feedback.content,
            language=ctx.language,
        )
        record = await self._articulate(ctx, messages, combined_sha(*prompts), scenario.framing)
        return await self._show_card(ctx, record, ctx.texts.revised_card_heading)

    async def _show_card(self, ctx: TurnContext, record: ValuesCardRecord, heading: str) -> Outcome:
        await ctx.bot_turn(heading, kind="notice")
        texts = ctx.texts
        proposal = CardProposal(as_card(record), heading, localized(CARD_CHOICES, texts), texts.attention_heading)
        return Outcome([proposal])

    async def _articulate(
        self, ctx: TurnContext, messages: list[ChatMessage], prompt_sha: str, framing: Framing
    ) -> ValuesCardRecord:
        """The card in the member's language, and (when the community shares cards in another) its
        translation, which dedup, stories, polls and the digest read."""
        model = self._config.articulation_model
        language = ctx.language
        schema = card_schema_for(framing, language)
        result = await ctx.call_llm(
            "articulate", prompt_sha, model, self._llm.structured(messages, schema, model=model, temperature=0.2)
        )
        translation = await translate_card(
            ctx.call_llm,
            llm=self._llm,
            model=model,
            card=result.value,
            framing=framing,
            member_language=language,
            community_language=self._config.community_language,
        )
        return await repo.add_card(
            ctx.session,
            interview=ctx.interview,
            card=result.value,
            prompt_sha=prompt_sha,
            model=result.model,
            now=ctx.now,
            translation=translation,
        )

    async def _ask_what_to_change(self, event: Event) -> Outcome:
        text = event.ctx.texts.revision_question
        await event.ctx.bot_turn(text, kind="notice")
        return Outcome([Reply(text)])

    async def _answer_question(self, event: Event) -> Outcome:
        """A question about the proposed card gets a short answer; the card stays proposed."""
        ctx = event.ctx
        record = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
        question = await repo.last_turn(ctx.session, interview_id=ctx.interview.id, kinds=("question",))
        if record is None or question is None:
            return Outcome(await self._prompts.show(ctx, event.source, hint=True))
        messages, prompt = card_question_messages(as_card(record), question.content, language=ctx.language)
        model = self._config.articulation_model
        result = await ctx.call_llm(
            "card_question", prompt.sha, model, self._llm.structured(messages, CardAnswer, model=model, temperature=0.3)
        )
        answer: CardAnswer = result.value
        await ctx.bot_turn(answer.answer, kind="question", prompt_sha=prompt.sha, result=result)
        return Outcome([ChoicePrompt(answer.answer, localized(CARD_CHOICES, ctx.texts))])

    async def _replay_pending(self, event: Event) -> Outcome:
        """``retry``: read the member's unanswered words again, as they were read the first time."""
        ctx = event.ctx
        pending = await repo.last_turn(ctx.session, interview_id=ctx.interview.id, kinds=PENDING_KINDS)
        if pending is None or pending.role != "member":
            return Outcome(await self._prompts.show(ctx, event.source))
        trigger, choice = machine.interpret(event.source, pending.content, texts=ctx.texts)
        return Outcome(next=trigger, choice=choice)

    async def _confirm_card(self, event: Event) -> Outcome:
        ctx = event.ctx
        record = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
        if record is None:  # cannot happen through the machine; keep the member in a sane place
            return Outcome(await self._prompts.show(ctx, event.source, hint=True))
        record.status = CardStatus.CONFIRMED
        record.confirmed_at = ctx.now
        # What follows the card (the offer of other values, presses on it) is said in the language the
        # interview was held in, also when that was the community's by default.
        ctx.interview.language = ctx.language
        # The card is the member's (committed by the loop) before its value is looked for.
        return Outcome(next=T.CARD_SAVED)

    async def _place_card(self, event: Event) -> Outcome:
        ctx = event.ctx
        record = await repo.confirmed_card(ctx.session, interview_id=ctx.interview.id)
        placed = await self._prompts.place(ctx, record.id) if record is not None else None
        if record is None or placed is None or not placed.ask_member:
            return Outcome(next=T.NOTHING_TO_CHECK)
        texts = ctx.texts
        await ctx.bot_turn(texts.value_check_question, kind="notice")
        question = CardProposal(
            placed.value_card,
            texts.value_check_question,
            localized(VALUE_CHECK_CHOICES, texts),
            texts.attention_heading,
        )
        return Outcome([Reply(saved_with_note(texts, record)), question])

    # --- the end -----------------------------------------------------------------------------------

    async def _thank(self, event: Event) -> Outcome:
        """Right after confirming (no message behind it): the card saved, the closing note, thanks."""
        texts = event.ctx.texts
        card = await repo.confirmed_card(event.ctx.session, interview_id=event.ctx.interview.id)
        if event.text is not None or card is None:
            return await self._end_with(event, texts.thanks)
        return await self._end_with(event, f"{saved_with_note(texts, card)} {texts.thanks}")

    async def _record_verdict(self, event: Event) -> Outcome:
        ctx = event.ctx
        agrees = event.choice is not None and event.choice.key == "same"
        card = await repo.confirmed_card(ctx.session, interview_id=ctx.interview.id)
        if card is not None and self._reconciler is not None:
            await self._reconciler.record_verdict(card_id=card.id, agrees=agrees, now=ctx.now)
        texts = ctx.texts
        return await self._end_with(event, f"{texts.agreed_value if agrees else texts.kept_separate} {texts.thanks}")

    async def _end_with(self, event: Event, text: str) -> Outcome:
        """The thanks after a confirmed card, then (once the end is saved) the offer of other values."""
        await event.ctx.bot_turn(text, kind="notice")
        return Outcome([Reply(text)], after=lambda: self._offer_generalization(event.ctx))

    async def _offer_generalization(self, ctx: TurnContext) -> list[Outbound]:
        """Other members' values to pick from. Optional: a failure is logged and never keeps the member
        from their thanks."""
        if self._generalizer is None:
            return []
        try:
            offer = await self._generalizer.offer(
                community_id=ctx.interview.community_id,
                member_id=ctx.member.id,
                interview_id=ctx.interview.id,
                scenario_id=ctx.interview.scenario_id,
                now=ctx.now,
                texts=ctx.texts,
            )
        except Exception:
            log.exception("offering values to pick after interview %s failed", ctx.interview.id)
            return []
        return [offer] if offer is not None else []

    def _say(self, key: str) -> Callable[[Event], Awaitable[Outcome]]:
        """An effect that says one of the fixed texts (``key`` of ``InterviewTexts``)."""

        async def say(event: Event) -> Outcome:
            text = getattr(event.ctx.texts, key)
            await event.ctx.bot_turn(text, kind="notice")
            return Outcome([Reply(text)])

        return say

    async def _start_over(self, event: Event) -> Outcome:
        ctx = event.ctx

        async def begin_again() -> list[Outbound]:
            return await self._begin(ctx)

        return Outcome([Reply(ctx.texts.starting_over)], after=begin_again)

    # --- coming back -------------------------------------------------------------------------------

    async def _note_timeout(self, event: Event) -> Outcome:
        texts = event.ctx.texts
        if event.text is not None:  # a message is here: it is answered next
            return Outcome([Reply(welcome_back(texts, ask=False))])
        return Outcome([ChoicePrompt(welcome_back(texts), localized(TIMED_OUT_CHOICES, texts))])

    async def _resume(self, event: Event) -> Outcome:
        """Back to the state before the timeout: answer a pending message, or show what was last asked.
        Free text (not "continue") is read next as a normal message, so nothing is shown for it here."""
        if event.choice is None and event.text is not None:
            return Outcome()
        if await event.ctx.pending():
            return Outcome(next=T.RETRY)
        return Outcome(await self._prompts.show(event.ctx, event.step.new_state))

    async def _repeat_prompt(self, event: Event) -> Outcome:
        return Outcome(await self._prompts.show(event.ctx, event.source, hint=True))
