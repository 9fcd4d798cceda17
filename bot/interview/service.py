"""The interview use case: load state, read the message into a trigger, run the loop, then reply.

The loop (``_run``) is the only writer of the interview's state: it looks the trigger up in the table
(``core.interview``), performs the effect (``bot.interview.effects``), and only when the effect succeeded
writes the new state and commits, then follows the next trigger the effect returned. Every path commits
before it returns what to send, so a crash between saving and sending loses at most the sending; the
member's words are stored before the LLM is asked, and a failed LLM step leaves a *pending* member turn
that ``retry`` (or the next start of the console) answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.interview.effects import Effects, Event, Outcome
from bot.interview.member_texts import MemberTexts, stored_or_written
from bot.interview.ports import CardReconciler, GeneralizationAnswer, GeneralizationOffer, InterviewConfig
from bot.interview.prompting import CurrentPrompt
from bot.interview.scenarios import ScenarioLookup
from bot.interview.texts import llm_failure_text, unreadable_text
from bot.interview.turns import LLM_KINDS, PENDING_KINDS, TurnContext
from bot.runtime.jobs import LLMRecorder
from bot.runtime.leases import MemberLeases
from bot.voting.reasons import take_reason
from core import interview as machine
from core.clock import utcnow
from core.interview import CONSENT_CHOICES, TURN_KINDS, Choice, InterviewState, Trigger, localized
from core.languages import guess_language
from core.llm import LLM, LLMError
from core.member_texts import built_in_languages, texts_for
from core.messages import ChoicePrompt, CommunityRef, InboundMessage, Outbound, Person, Reply
from core.text import clean_member_text
from storage import communities_repo
from storage import repositories as repo
from storage.database import Database
from storage.models import Interview, Member

log = logging.getLogger("mge.interviews")


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
        #: Offers other values after a confirmed card (docs/method.md §2); without one, nothing is offered.
        self._generalizer = generalizer
        #: The interviewer's fixed texts in languages without a file: translated once, then stored.
        self._texts = MemberTexts(llm=llm, model=config.articulation_model)
        scenarios = ScenarioLookup()
        self._prompts = CurrentPrompt(scenarios=scenarios, reconciler=reconciler)
        self._effects = Effects(
            llm=llm,
            config=config,
            scenarios=scenarios,
            prompts=self._prompts,
            begin=lambda ctx: self._begin(ctx.session, ctx.member, ctx.now),
            reconciler=reconciler,
            generalizer=generalizer,
        )
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
            ctx = self._context(session, member, interview, now)
            await self._texts.prepare(ctx)
            if self._idle(interview, now):
                return await self._run(ctx, Trigger.TIMEOUT)
            if await ctx.pending():
                return await self._run(ctx, Trigger.RETRY)
            await session.commit()
            return await self._prompts.show(ctx, InterviewState(interview.state))

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
        found = await repo.active_interview_and_last_turn(
            session, community_id=member.community_id, member_id=member.id, kinds=PENDING_KINDS
        )
        interview, last_role, last_seq = found if found else (None, None, 0)
        if cleaned.problem:
            texts = await stored_or_written(session, await self._language_of(session, member, interview))
            await session.commit()
            return [Reply(unreadable_text(texts, cleaned))]
        if message.is_choice:
            stale = await self._stale_press(session, member, interview, cleaned.text, now)
            if stale is not None:
                return stale
        if interview is None:
            if (answer := await self._typed_pick(session, message, member, cleaned.text, now)) is not None:
                return [Reply(answer.text)]
            # No interview under way: an open "why did you vote so?" question takes the text (bot.voting.reasons).
            if (saved := await take_reason(session, member_id=member.id, text=cleaned.text, now=now)) is not None:
                await session.commit()
                return [Reply(saved)]
            return await self._begin(session, member, now, first_words=cleaned.text)
        ctx = self._context(session, member, interview, now, next_seq=last_seq + 1, last_role=last_role)
        # What is stored only: the member's words are read with it, and saved before any model is asked.
        await self._texts.prepare(ctx, translate=False)
        idle = self._idle(interview, now)
        notices = await self._run(ctx, Trigger.TIMEOUT, text=cleaned.text, unsaved=True) if idle else []
        return notices + await self._react(ctx, cleaned.text)

    async def _stale_press(
        self, session: AsyncSession, member: Member, interview: Interview | None, key: str, now: datetime
    ) -> list[Outbound] | None:
        """The answer to a button that is no longer on offer, or None when the press is current."""
        if interview is None:
            tag = await self._language_of(session, member, interview)
            call = LLMRecorder(session, member.community_id, now).call
            texts = await self._texts.texts(session, tag, now=now, call=call) or texts_for(tag)
            await session.commit()
            return [Reply(f"{texts.stale_button} {texts.stale_no_interview}")]
        ctx = self._context(session, member, interview, now)
        await self._texts.prepare(ctx, translate=False)  # a current press is read next, before any model
        if key in {choice.key for choice in await self._prompts.offered(ctx)}:
            return None
        await session.commit()
        here = Reply(f"{ctx.texts.stale_button} {ctx.texts.stale_here}")
        return [here] + await self._prompts.show(ctx, InterviewState(interview.state))

    async def _react(self, ctx: TurnContext, text: str) -> list[Outbound]:
        state = InterviewState(ctx.interview.state)
        if ctx.interview.language is None:  # until the interviewer reports it, the member's words tell
            ctx.interview.language = guess_language(text, among=built_in_languages())
        choices = await self._prompts.offered(ctx) if state is InterviewState.CHOOSING_SCENARIO else ()
        pending = await ctx.pending()
        trigger, choice = machine.interpret(state, text, choices=choices, pending=pending, texts=ctx.texts)
        if trigger is Trigger.RESUME and choice is None:
            # Free text after a timeout: go back to where we were and read it as a normal message.
            await self._run(ctx, Trigger.RESUME, text=text, unsaved=True)
            return await self._react(ctx, text)
        kind = TURN_KINDS.get(trigger, "control")
        await ctx.add_turn(role="member", kind=kind, content=text)
        if kind in LLM_KINDS:
            await ctx.llm_transcript()  # the model will be shown it: read it in this transaction
        await repo.touch_interview(ctx.session, interview=ctx.interview, now=ctx.now)
        await ctx.session.commit()  # the member's words are safe before anything else happens
        return await self._run(ctx, trigger, choice, text=text)

    async def _run(
        self,
        ctx: TurnContext,
        trigger: Trigger | None,
        choice: Choice | None = None,
        *,
        text: str | None = None,
        unsaved: bool = False,
    ) -> list[Outbound]:
        """The loop: look up, perform, then (only on success) write the state and commit; repeat while
        the effect names a next trigger. The only place an interview's state is written. ``unsaved``: the
        member's ``text`` is read after this (a timeout, a resume), so no model is asked here."""
        sent: list[Outbound] = []
        while trigger is not None:
            state = InterviewState(ctx.interview.state)
            previous = InterviewState(ctx.interview.previous_state) if ctx.interview.previous_state else None
            try:
                step = machine.transition(state, trigger, previous=previous)
            except machine.InvalidTransition:
                log.warning("interview %s: %s in %s", ctx.interview.id, trigger, state)
                await ctx.session.commit()
                return sent + await self._prompts.show(ctx, state, hint=True)
            try:
                outcome: Outcome = await self._effects.perform(Event(ctx, step, state, choice, text))
            except LLMError as error:
                await ctx.session.commit()  # keeps the member's turn and the failed call's record
                log.warning("LLM step %s failed: %s", step.effect, error)
                return sent + [Reply(llm_failure_text(ctx.texts, error, step.effect))]
            self._enter(ctx, state, step.new_state)
            await ctx.session.commit()
            # The effect may have learned the member's language (the interviewer reports it each turn):
            # what follows, like the say-back in the same turn, reads its fixed texts in it.
            await self._texts.prepare(ctx, translate=not unsaved)
            sent += outcome.send
            if outcome.after is not None:
                sent += await outcome.after()
            trigger, choice, text = outcome.next, outcome.choice, None
        return sent

    @staticmethod
    def _enter(ctx: TurnContext, source: InterviewState, target: InterviewState) -> None:
        interview = ctx.interview
        if target is InterviewState.TIMED_OUT and source is not InterviewState.TIMED_OUT:
            interview.previous_state = source  # where resuming goes back to
        elif source is InterviewState.TIMED_OUT:
            interview.previous_state = None
        interview.state = target
        if not target.is_active:
            interview.ended_at = ctx.now

    async def _begin(
        self,
        session: AsyncSession,
        member: Member,
        now: datetime,
        *,
        scenario_id: int | None = None,
        first_words: str = "",
    ) -> list[Outbound]:
        """A new interview: the consent notice, or (consented before) straight on to the scenarios. It is
        held in the language of ``first_words`` (the message that started it) when they tell, else in the
        language of the member's last interview, else in the community's."""
        interview = await repo.add_interview(
            session,
            community_id=member.community_id,
            member_id=member.id,
            state=InterviewState.AWAITING_CONSENT,
            scenario_id=scenario_id,
            now=now,
        )
        interview.language = guess_language(first_words, among=built_in_languages()) or await repo.last_language(
            session, member_id=member.id
        )
        ctx = self._context(session, member, interview, now, next_seq=1, last_role=None, transcript_rows=[])
        await self._texts.prepare(ctx)
        if member.consented_at is not None:
            return await self._run(ctx, Trigger.CONSENT_GIVEN)
        await session.commit()
        return [ChoicePrompt(ctx.texts.consent_notice, localized(CONSENT_CHOICES, ctx.texts))]

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

    async def _language_of(self, session: AsyncSession, member: Member, interview: Interview | None) -> str:
        """The language to answer the member in outside an interview's turn: the active interview's, else
        their last interview's, else the community's."""
        if interview is not None and interview.language:
            return interview.language
        return await repo.last_language(session, member_id=member.id) or self._config.community_language

    def _context(
        self, session: AsyncSession, member: Member, interview: Interview, now: datetime, **read: Any
    ) -> TurnContext:
        """The context of one handled message; ``read`` is what the handler already read of the transcript."""
        return TurnContext(session, member, interview, now, community_language=self._config.community_language, **read)

    def _idle(self, interview: Interview, now: datetime) -> bool:
        """Idle past the timeout: the member's next message (or `mge chat`) gets ``timeout`` first."""
        return (
            interview.state != InterviewState.TIMED_OUT and now - interview.last_activity_at > self._config.idle_timeout
        )
