"""The interview use case: load state, run the state machine, call the LLM, save, then reply.

Every path commits before it returns what to send, so a crash between saving and sending loses at most
the sending; the member's words are stored before the LLM is asked, and a failed LLM step leaves a
*pending* member turn that ``retry`` (or the next start of the console) answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.interview.ports import CardReconciler, GeneralizationAnswer, GeneralizationOffer, InterviewConfig
from bot.interview.scenarios import add_default_scenarios
from bot.interview.texts import (
    CONSENT_NOTICE,
    STALE_BUTTON,
    THANKS,
    VALUE_CHECK_QUESTION,
    llm_failure_text,
    revision_question,
    saved_text,
    welcome_back,
)
from bot.interview.turns import LLM_KINDS, PENDING_KINDS, TurnContext
from bot.runtime.leases import MemberLeases
from bot.values.languages import card_schema_for, member_card, translate_card
from core import interview as machine
from core.cards import CardStatus, ValuesCard
from core.clock import utcnow
from core.framing import FramedScenario, Framing
from core.interview import (
    CARD_CHOICES,
    CONSENT_CHOICES,
    TIMED_OUT_CHOICES,
    VALUE_CHECK_CHOICES,
    Choice,
    Effect,
    InterviewState,
    Trigger,
)
from core.interviewer import (
    InterviewerTurn,
    TranscriptLine,
    articulation_messages,
    interviewer_messages,
    opening_question,
)
from core.llm import LLM, LLMError, LLMErrorKind
from core.messages import CardProposal, ChoicePrompt, CommunityRef, InboundMessage, Outbound, Person, Reply
from core.prompts import combined_sha
from core.text import clean_member_text
from storage import communities_repo
from storage import repositories as repo
from storage.database import Database
from storage.models import Interview, Member, ValuesCardRecord

if TYPE_CHECKING:
    from bot.values.placement import Reconciliation

log = logging.getLogger("mge.interviews")

MAX_CHOICE_LABEL = 80
#: Scenarios kept in memory (they are read on every turn and never edited).
SCENARIO_CACHE = 1024


class InterviewService:
    def __init__(
        self,
        *,
        database: Database,
        llm: LLM,
        config: InterviewConfig,
        clock: Callable[[], datetime] = utcnow,
        reconciler: CardReconciler | None = None,
        leases: MemberLeases | None = None,
        generalizer: GeneralizationOffer | None = None,
    ):
        self._db = database
        #: Several processes on one database (PostgreSQL): a member's messages are handled by one at a time.
        self._leases = leases
        self._llm = llm
        self._config = config
        self._clock = clock
        self._reconciler = reconciler
        #: Offers other values after a confirmed card (docs/method.md §2); without one, nothing is offered.
        self._generalizer = generalizer
        # A scenario never changes once written (moderators archive scenarios, they don't edit them).
        self._scenarios: dict[tuple[int, int | None], FramedScenario] = {}
        # One lock per member: their messages are handled in order, never two LLM calls racing on one interview.
        self._locks: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def llm(self) -> LLM:
        """The language model the interviews use (read-only; `/mge ask` answers with it too)."""
        return self._llm

    @property
    def articulation_model(self) -> str:
        """The model for low-temperature structured calls (cards; `/mge ask`)."""
        return self._config.articulation_model

    def _lock(self, community: CommunityRef, person: Person) -> asyncio.Lock:
        key = (community.platform, community.external_id, person.platform_user_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, community: CommunityRef, person: Person) -> AsyncIterator[None]:
        """The member's turn: in order within this process, and (with leases) across processes."""
        async with self._lock(community, person):
            if self._leases is None:
                yield
                return
            async with self._leases.hold(f"{community.platform}:{community.external_id}:{person.platform_user_id}"):
                yield

    # --- entry points ------------------------------------------------------------------------------

    async def handle(self, message: InboundMessage) -> list[Outbound]:
        """Handle one member message. A repeated ``event_id`` is ignored (returns nothing)."""
        async with self._one_at_a_time(message.community, message.author), self._db.session() as session:
            return await self._handle(session, message)

    async def resume(
        self,
        community: CommunityRef,
        person: Person,
        *,
        scenario_id: int | None = None,
        consent: bool = False,
    ) -> list[Outbound]:
        """Where the member stands: start an interview if none is active, answer a pending turn, or
        repeat the current question. ``scenario_id`` preselects the scenario of a new interview;
        ``consent`` records that the member accepted the notice elsewhere (``mge chat --yes``)."""
        async with self._one_at_a_time(community, person), self._db.session() as session:
            now = self._clock()
            member = await self._member(session, community, person, now)
            if consent and member.consented_at is None:
                member.consented_at = now
            interview = await repo.active_interview(session, community_id=member.community_id, member_id=member.id)
            if interview is None:
                return await self._begin(session, member, now, scenario_id=scenario_id)
            ctx = TurnContext(session, member, interview, now)
            if self._idle(interview, now) and interview.state != InterviewState.TIMED_OUT:
                self._time_out(ctx)
                await session.commit()
                return [ChoicePrompt(welcome_back(), TIMED_OUT_CHOICES)]
            if await ctx.pending():
                return await self._retry_pending(ctx)
            await session.commit()
            return await self._current_prompt(ctx)

    # --- the message path --------------------------------------------------------------------------

    async def _handle(self, session: AsyncSession, message: InboundMessage) -> list[Outbound]:
        now = message.received_at or self._clock()
        member = await self._member(session, message.community, message.author, now)
        if not await communities_repo.claim_event(
            session, community_id=member.community_id, event_id=message.event_id, now=now
        ):
            log.info("ignoring redelivered event %s", message.event_id)
            return []
        cleaned = clean_member_text(message.text)
        if cleaned.problem:
            await session.commit()
            return [Reply(cleaned.problem)]
        found = await repo.active_interview_and_last_turn(
            session, community_id=member.community_id, member_id=member.id, kinds=PENDING_KINDS
        )
        interview, last_role, last_seq = found if found else (None, None, 0)
        if message.is_choice:
            stale = await self._stale_press(session, member, interview, cleaned.text, now)
            if stale is not None:
                return stale
        if interview is None:
            if (answer := await self._typed_pick(session, message, member, cleaned.text, now)) is not None:
                return [Reply(answer.text)]
            return await self._begin(session, member, now)
        ctx = TurnContext(session, member, interview, now, next_seq=last_seq + 1, last_role=last_role)
        notices: list[Outbound] = []
        if self._idle(interview, now) and interview.state != InterviewState.TIMED_OUT:
            self._time_out(ctx)
            notices.append(Reply(welcome_back(ask=False)))
        return notices + await self._react(ctx, cleaned.text)

    async def _stale_press(
        self, session: AsyncSession, member: Member, interview: Interview | None, key: str, now: datetime
    ) -> list[Outbound] | None:
        """The answer to a button that is no longer on offer, or None when the press is current."""
        if interview is None:
            await session.commit()
            return [Reply(STALE_BUTTON + " Send me a message to start a new interview.")]
        ctx = TurnContext(session, member, interview, now)
        if key in {choice.key for choice in await self._offered_choices(ctx)}:
            return None
        await session.commit()
        return [Reply(STALE_BUTTON + " Here is where we are:")] + await self._current_prompt(ctx)

    async def _offered_choices(self, ctx: TurnContext) -> tuple[Choice, ...]:
        match InterviewState(ctx.interview.state):
            case InterviewState.AWAITING_CONSENT:
                return CONSENT_CHOICES
            case InterviewState.CHOOSING_SCENARIO:
                return tuple(await self._scenario_choices(ctx))
            case InterviewState.CARD_PROPOSED:
                return CARD_CHOICES
            case InterviewState.REVISING:
                return CARD_CHOICES[:1]  # confirming the card as it is stays possible
            case InterviewState.TIMED_OUT:
                return TIMED_OUT_CHOICES
            case InterviewState.VALUE_CHECK:
                return VALUE_CHECK_CHOICES
        return ()

    async def _react(self, ctx: TurnContext, text: str) -> list[Outbound]:
        state = InterviewState(ctx.interview.state)
        choices = await self._scenario_choices(ctx) if state is InterviewState.CHOOSING_SCENARIO else ()
        pending = await ctx.pending()
        trigger, choice = machine.interpret(state, text, choices=choices, pending=pending)
        if trigger is Trigger.RESUME and choice is None:
            # Free text after a timeout: go back to where we were and read it as a normal message.
            self._resume_state(ctx)
            return await self._react(ctx, text)
        kind = self._turn_kind(trigger)
        await ctx.add_turn(role="member", kind=kind, content=text)
        if kind in LLM_KINDS:
            await ctx.llm_transcript()  # the model will be shown it: read it in this transaction
        await repo.touch_interview(ctx.session, interview=ctx.interview, now=ctx.now)
        await ctx.session.commit()  # the member's words are safe before anything else happens
        return await self._apply(ctx, trigger, choice)

    async def _apply(self, ctx: TurnContext, trigger: Trigger, choice: Choice | None = None) -> list[Outbound]:
        state = InterviewState(ctx.interview.state)
        previous = InterviewState(ctx.interview.previous_state) if ctx.interview.previous_state else None
        try:
            step = machine.transition(state, trigger, previous=previous)
        except machine.InvalidTransition:
            log.warning("interview %s: %s in %s", ctx.interview.id, trigger, state)
            return await self._current_prompt(ctx, hint=True)
        try:
            outbound = await self._perform(ctx, step, choice)
        except LLMError as error:
            await ctx.session.commit()  # keeps the member's turn and the failed call's record
            log.warning("LLM step %s failed: %s", step.effect, error)
            return [Reply(llm_failure_text(error, step.effect))]
        return outbound

    async def _perform(self, ctx: TurnContext, step: machine.Step, choice: Choice | None) -> list[Outbound]:
        interview = ctx.interview
        match step.effect:
            case Effect.OFFER_SCENARIOS:
                ctx.member.consented_at = ctx.member.consented_at or ctx.now
                return await self._enter_state(ctx, step.new_state, self._offer_scenarios)
            case Effect.OPEN_CONVERSATION:
                interview.scenario_id = int(choice.key) if choice else interview.scenario_id
                return await self._enter_state(ctx, step.new_state, self._open_conversation)
            case Effect.CONTINUE_CONVERSATION:
                return await self._continue_conversation(ctx)
            case Effect.PROPOSE_CARD:
                return await self._enter_state(ctx, step.new_state, self._propose_card)
            case Effect.REVISE_CARD:
                return await self._enter_state(ctx, step.new_state, self._revise_card)
            case Effect.ASK_WHAT_TO_CHANGE:
                return await self._enter_state(ctx, step.new_state, self._ask_what_to_change)
            case Effect.CONFIRM_CARD:
                return await self._enter_state(ctx, step.new_state, self._confirm_card)
            case Effect.THANK:
                card = await repo.confirmed_card(ctx.session, interview_id=ctx.interview.id)
                ended = await self._end(ctx, step.new_state, f"{saved_text(card)} {THANKS}")
                return ended + (await self._offer_generalization(ctx) if card is not None else [])
            case Effect.RECORD_VERDICT:
                return await self._record_verdict(
                    ctx, step.new_state, agrees=choice is not None and choice.key == "same"
                )
            case Effect.RESUME:
                interview.previous_state = None
                interview.state = step.new_state
                if await ctx.pending():
                    return await self._retry_pending(ctx)
                await ctx.session.commit()
                return await self._current_prompt(ctx)
            case Effect.SAY_CANCELLED:
                return await self._end(
                    ctx, step.new_state, "Interview cancelled. Send me any message to start a new one."
                )
            case Effect.SAY_NO_CONSENT:
                return await self._end(
                    ctx,
                    step.new_state,
                    "No problem, nothing more will be asked. Send me a message if you change your mind.",
                )
            case Effect.START_OVER:
                await self._end(ctx, step.new_state, "")
                return [Reply("Starting over.")] + await self._begin(ctx.session, ctx.member, ctx.now)
            case Effect.REPEAT_PROMPT:
                await ctx.session.commit()
                return await self._current_prompt(ctx, hint=True)
            case Effect.NOTE_TIMEOUT:
                self._time_out(ctx)
                await ctx.session.commit()
                return [ChoicePrompt(welcome_back(), TIMED_OUT_CHOICES)]
        raise AssertionError(f"unhandled effect {step.effect}")

    async def _enter_state(
        self,
        ctx: TurnContext,
        state: InterviewState,
        effect: Callable[[TurnContext], Awaitable[list[Outbound]]],
    ) -> list[Outbound]:
        """Run ``effect``; only if it succeeds does the interview move to ``state`` (then commit).

        An effect may move the interview on by itself (a preselected scenario opens the conversation at
        once, confirming ends it); then its state stands."""
        before = ctx.interview.state
        outbound = await effect(ctx)
        if ctx.interview.state == before:
            ctx.interview.state = state
        await ctx.session.commit()
        return outbound

    # --- effects -----------------------------------------------------------------------------------

    async def _begin(
        self, session: AsyncSession, member: Member, now: datetime, *, scenario_id: int | None = None
    ) -> list[Outbound]:
        state = InterviewState.CHOOSING_SCENARIO if member.consented_at else InterviewState.AWAITING_CONSENT
        interview = await repo.add_interview(
            session,
            community_id=member.community_id,
            member_id=member.id,
            state=state,
            scenario_id=scenario_id,
            now=now,
        )
        ctx = TurnContext(session, member, interview, now, next_seq=1, last_role=None, transcript_rows=[])
        if state is InterviewState.AWAITING_CONSENT:
            await session.commit()
            return [ChoicePrompt(CONSENT_NOTICE, CONSENT_CHOICES)]
        return await self._offer_scenarios(ctx)

    async def _offer_scenarios(self, ctx: TurnContext) -> list[Outbound]:
        ctx.interview.state = InterviewState.CHOOSING_SCENARIO
        choices = await self._scenario_choices(ctx)
        preset = ctx.interview.scenario_id
        if preset is not None or len(choices) == 1:
            chosen = Choice(str(preset), "") if preset is not None else choices[0]
            return await self._apply(ctx, Trigger.SCENARIO_CHOSEN, chosen)
        await ctx.session.commit()
        if not choices:
            return [Reply("There is no open question to discuss right now. A moderator can open one; try again later.")]
        return [ChoicePrompt("Which question would you like to think about?", tuple(choices))]

    async def _open_conversation(self, ctx: TurnContext) -> list[Outbound]:
        text = opening_question(await self._scenario(ctx))
        await ctx.bot_turn(text, kind="conversation")
        return [Reply(text)]

    async def _continue_conversation(self, ctx: TurnContext) -> list[Outbound]:
        rows = await ctx.llm_transcript()
        answered = sum(1 for role, kind, _ in rows if role == "member" and kind == "conversation")
        if answered >= self._config.max_turns:
            return await self._apply(ctx, Trigger.READY)
        transcript = [TranscriptLine(role, content) for role, _, content in rows]
        messages, prompt = interviewer_messages(await self._scenario(ctx), transcript, language=self._language(ctx))
        result = await ctx.call_llm(
            "interview",
            prompt.sha,
            self._config.chat_model,
            self._llm.structured(messages, InterviewerTurn, model=self._config.chat_model, temperature=0.7),
        )
        turn: InterviewerTurn = result.value
        ctx.interview.language = turn.language or ctx.interview.language
        # The model may say it is ready early (or be talked into it); a card needs a few real answers.
        if turn.ready_to_articulate and answered >= self._config.min_turns:
            await ctx.session.commit()
            return await self._apply(ctx, Trigger.READY)
        await ctx.bot_turn(turn.message, kind="conversation", prompt_sha=prompt.sha, result=result)
        await ctx.session.commit()
        return [Reply(turn.message)]

    async def _propose_card(self, ctx: TurnContext) -> list[Outbound]:
        scenario = await self._scenario(ctx)
        messages, prompts = articulation_messages(scenario, await ctx.transcript(), language=self._language(ctx))
        record = await self._articulate(ctx, messages, combined_sha(*prompts), scenario.framing)
        heading = "Thank you. Here is what I heard you care about. Does this card capture it?"
        await ctx.bot_turn(heading, kind="notice")
        return [CardProposal(_card(record), heading, CARD_CHOICES)]

    async def _revise_card(self, ctx: TurnContext) -> list[Outbound]:
        current = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
        feedback = await repo.last_turn(ctx.session, interview_id=ctx.interview.id, kinds=("revision",))
        if current is None or feedback is None:
            return await self._propose_card(ctx)
        scenario = await self._scenario(ctx)
        messages, prompts = articulation_messages(
            scenario,
            await ctx.transcript(kinds=("conversation",)),
            previous_card=_card(current),
            feedback=feedback.content,
            language=self._language(ctx),
        )
        record = await self._articulate(ctx, messages, combined_sha(*prompts), scenario.framing)
        heading = "Here is the revised card. Does it capture what you care about now?"
        await ctx.bot_turn(heading, kind="notice")
        return [CardProposal(_card(record), heading, CARD_CHOICES)]

    async def _articulate(self, ctx: TurnContext, messages, prompt_sha: str, framing: Framing) -> ValuesCardRecord:
        model = self._config.articulation_model
        language = self._language(ctx)
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

    async def _ask_what_to_change(self, ctx: TurnContext) -> list[Outbound]:
        text = revision_question()
        await ctx.bot_turn(text, kind="notice")
        return [Reply(text)]

    async def _confirm_card(self, ctx: TurnContext) -> list[Outbound]:
        record = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
        if record is None:  # cannot happen through the machine; keep the member in a sane place
            return await self._current_prompt(ctx, hint=True)
        record.status = CardStatus.CONFIRMED
        record.confirmed_at = ctx.now
        ctx.interview.state = InterviewState.VALUE_CHECK
        await ctx.session.commit()  # the card is the member's, whatever happens next
        placed = await self._place(ctx, record.id)
        if placed is None or not placed.ask_member:
            return await self._apply(ctx, Trigger.NOTHING_TO_CHECK)
        await ctx.bot_turn(VALUE_CHECK_QUESTION, kind="notice")
        return [Reply(saved_text(record)), CardProposal(placed.value_card, VALUE_CHECK_QUESTION, VALUE_CHECK_CHOICES)]

    async def _place(self, ctx: TurnContext, card_id: int) -> Reconciliation | None:
        """Find the card's value now; on failure leave it to the `mge dedup` job (never block confirming)."""
        if self._reconciler is None:
            return None
        try:
            return await self._reconciler(card_id=card_id, now=ctx.now)
        except LLMError as error:
            log.warning("placing card %s among values failed, left for mge dedup: %s", card_id, error)
            return None

    async def _record_verdict(self, ctx: TurnContext, state: InterviewState, *, agrees: bool) -> list[Outbound]:
        card = await repo.confirmed_card(ctx.session, interview_id=ctx.interview.id)
        if card is not None and self._reconciler is not None:
            await self._reconciler.record_verdict(card_id=card.id, agrees=agrees, now=ctx.now)
        text = (
            "Thank you. Your card now counts toward that shared value."
            if agrees
            else "Understood: your card stays a value of its own."
        )
        ended = await self._end(ctx, state, f"{text} {THANKS}")
        return ended + (await self._offer_generalization(ctx) if card is not None else [])

    async def _typed_pick(
        self, session: AsyncSession, message: InboundMessage, member: Member, text: str, now: datetime
    ) -> GeneralizationAnswer | None:
        """After an interview ended with an offer of other values, a typed option ("2", a title, "done")
        is a pick, not the start of a new interview."""
        if self._generalizer is None:
            return None
        await session.commit()  # the event's claim; the pick is written in the generalizer's own session
        return await self._generalizer.typed(
            community=message.community,
            community_id=member.community_id,
            member_id=member.id,
            platform_user_id=message.author.platform_user_id,
            text=text,
            now=now,
        )

    async def _offer_generalization(self, ctx: TurnContext) -> list[Outbound]:
        """Other members' values to pick from, after the interview ended with a confirmed card (it is
        committed by then). Optional: a failure is logged and never keeps the member from their thanks."""
        if self._generalizer is None:
            return []
        try:
            offer = await self._generalizer.offer(
                community_id=ctx.interview.community_id,
                member_id=ctx.member.id,
                interview_id=ctx.interview.id,
                scenario_id=ctx.interview.scenario_id,
                now=ctx.now,
            )
        except Exception:
            log.exception("offering values to pick after interview %s failed", ctx.interview.id)
            return []
        return [offer] if offer is not None else []

    async def _end(self, ctx: TurnContext, state: InterviewState, text: str) -> list[Outbound]:
        ctx.interview.state = state
        ctx.interview.ended_at = ctx.now
        if text:
            await ctx.bot_turn(text, kind="notice")
        await ctx.session.commit()
        return [Reply(text)] if text else []

    # --- helpers -----------------------------------------------------------------------------------

    async def _member(self, session: AsyncSession, community: CommunityRef, person: Person, now: datetime) -> Member:
        known = await communities_repo.find_member(
            session,
            platform=community.platform,
            external_id=community.external_id,
            platform_user_id=person.platform_user_id,
        )
        if known is not None:
            row, member = known
            # Keep names current, as get_or_create_* do.
            if community.name and row.name != community.name:
                row.name = community.name
            if person.display_name and member.display_name != person.display_name:
                member.display_name = person.display_name
            return member
        row = await communities_repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        return await communities_repo.get_or_create_member(
            session,
            community_id=row.id,
            platform_user_id=person.platform_user_id,
            display_name=person.display_name,
            now=now,
        )

    async def _retry_pending(self, ctx: TurnContext) -> list[Outbound]:
        return await self._apply(ctx, Trigger.RETRY)

    async def _scenario_choices(self, ctx: TurnContext) -> list[Choice]:
        scenarios = await repo.open_scenarios(ctx.session, community_id=ctx.interview.community_id)
        if not scenarios and await add_default_scenarios(
            ctx.session, community_id=ctx.interview.community_id, now=ctx.now
        ):
            scenarios = await repo.open_scenarios(ctx.session, community_id=ctx.interview.community_id)
        return [Choice(str(s.id), _shorten(s.text, MAX_CHOICE_LABEL), detail=s.text) for s in scenarios]

    def _language(self, ctx: TurnContext) -> str:
        """The interview's language: the member's, once the interviewer has heard them; else the community's."""
        return ctx.interview.language or self._config.community_language

    async def _scenario(self, ctx: TurnContext) -> FramedScenario:
        key = (ctx.interview.community_id, ctx.interview.scenario_id)
        if (framed := self._scenarios.get(key)) is not None:
            return framed
        scenario = None
        if ctx.interview.scenario_id is not None:
            scenario = await repo.get_scenario(
                ctx.session, community_id=ctx.interview.community_id, scenario_id=ctx.interview.scenario_id
            )
        if scenario is None:
            raise LLMError(LLMErrorKind.CONFIGURATION, f"interview {ctx.interview.id} has no scenario")
        if len(self._scenarios) >= SCENARIO_CACHE:
            self._scenarios.clear()
        framed = self._scenarios[key] = FramedScenario(scenario.text, Framing(scenario.framing))
        return framed

    async def _current_prompt(self, ctx: TurnContext, *, hint: bool = False) -> list[Outbound]:
        """Say again what the member is being asked, e.g. after an unclear answer or on resuming."""
        state = InterviewState(ctx.interview.state)
        prefix = "Please pick one of the options, by number or by name.\n\n" if hint else ""
        match state:
            case InterviewState.AWAITING_CONSENT:
                return [ChoicePrompt(prefix + CONSENT_NOTICE, CONSENT_CHOICES)]
            case InterviewState.CHOOSING_SCENARIO:
                choices = await self._scenario_choices(ctx)
                return [ChoicePrompt(prefix + "Which question would you like to think about?", tuple(choices))]
            case InterviewState.CONVERSING:
                last = await repo.last_turn(ctx.session, interview_id=ctx.interview.id, kinds=("conversation",))
                return [Reply(last.content if last else "Please go on.")]
            case InterviewState.CARD_PROPOSED | InterviewState.REVISING:
                record = await repo.proposed_card(ctx.session, interview_id=ctx.interview.id)
                if state is InterviewState.REVISING:
                    return [Reply(revision_question())]
                if record is not None:
                    return [
                        CardProposal(
                            _card(record), prefix + "Does this card capture what you care about?", CARD_CHOICES
                        )
                    ]
                return [Reply("Please go on.")]
            case InterviewState.TIMED_OUT:
                return [ChoicePrompt(welcome_back(), TIMED_OUT_CHOICES)]
            case InterviewState.VALUE_CHECK:
                card = await repo.confirmed_card(ctx.session, interview_id=ctx.interview.id)
                placed = await self._place(ctx, card.id) if card is not None else None
                if placed is not None:
                    return [CardProposal(placed.value_card, prefix + VALUE_CHECK_QUESTION, VALUE_CHECK_CHOICES)]
                return [ChoicePrompt(prefix + VALUE_CHECK_QUESTION, VALUE_CHECK_CHOICES)]
        return []

    def _idle(self, interview: Interview, now: datetime) -> bool:
        return now - interview.last_activity_at > self._config.idle_timeout

    def _time_out(self, ctx: TurnContext) -> None:
        ctx.interview.previous_state = ctx.interview.state
        ctx.interview.state = InterviewState.TIMED_OUT

    def _resume_state(self, ctx: TurnContext) -> None:
        ctx.interview.state = ctx.interview.previous_state or InterviewState.CONVERSING
        ctx.interview.previous_state = None

    @staticmethod
    def _turn_kind(trigger: Trigger) -> str:
        if trigger is Trigger.ANSWERED:
            return "conversation"
        if trigger is Trigger.REVISION_TEXT:
            return "revision"
        return "control"


def _card(record: ValuesCardRecord) -> ValuesCard:
    return member_card(record)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
