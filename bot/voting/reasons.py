"""Votes with reasons (docs/method.md §7): after a member's vote, one DM asking what made them choose it.

The paper collected a sentence of reasoning with most votes (1,349 of 1,592). Here:

* **Queued, not sent, by the vote.** The vote applier (``bot.voting.apply``) queues a
  ``vote_reason_ask`` row in the transaction that first stores a member's vote on a poll — a reaction or
  a button, whatever the path. One row per (member, poll), ever: a changed, retracted and re-cast, or
  redelivered vote asks nothing again. A burst of votes costs one insert per batch, no DM.
* **Sent by the scheduler** (:func:`send_reason_questions`, every tick): per member, the oldest queued
  question, and only when no question of theirs is waiting for an answer, so a member has at most one
  open question. It is claimed (``sent_at``) before the DM goes out, so two processes never send it
  twice; a DM that fails is not tried again. Not sent: to members who pressed "Don't ask me again"
  (``vote_reason_opt_out``), who were blocked by a moderator, whose vote is gone, or who are in the
  middle of a values interview (the question waits, see below). A question not sent within
  ``SEND_WITHIN``, or not answered within ``ANSWER_WITHIN``, lapses.
* **Answered by the member's next DM text**, which the interview service hands to :func:`take_reason`
  *only when the member has no active interview* and no interview of theirs has moved since the question
  was sent. That is the routing rule: the interview always wins, so a reason question never swallows an
  interview answer, and the scheduler does not send a question while an interview is active (its answer
  would go to the interview). The text is cleaned like every DM (``core.text.clean_member_text``), put
  on one line and cut to ``MAX_REASON_CHARS``, and stored as the vote's ``why``; the bot never echoes it.
* **A reason explains one choice.** A member who changes their choice loses the reason given for the
  earlier one (``reactions_repo.save_votes`` clears ``why``) and is not asked again; a reply to a question
  whose vote changed after it was sent is not stored (it explains the choice the question quoted).
* **Buttons** under the question: Skip (this question only) and "Don't ask me again" (no more questions,
  and every open one is closed).

``/mge forget`` erases the reasons with the votes' other links to the member (``bot.privacy.erase``), and
deletes their questions and opt-out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.interview.member_texts import member_texts
from bot.legitimacy.checks import DirectMessenger, Outgoing
from core.member_texts import InterviewTexts
from core.vote_reasons import (
    STOP,
    ReasonOutcome,
    clip_reason,
    parse_reason_key,
    reason_buttons,
    reason_question_text,
)
from storage import eligibility_repo, polls_repo
from storage import reasons_repo as repo
from storage import repositories as interviews_repo
from storage.database import Database
from storage.models import Community, Member, Poll, VoteReasonAsk
from storage.polls_repo import voter_key_of

log = logging.getLogger("mge.votes")

SEND_WITHIN = timedelta(days=1)
ANSWER_WITHIN = timedelta(days=1)
#: Questions sent per tick at most (the rest wait for the next).
SEND_BATCH = 100


# --- sending ------------------------------------------------------------------------------------------


async def send_reason_questions(database: Database, messengers: Mapping[str, DirectMessenger], *, now: datetime) -> int:
    """Send the due reason questions (module docstring) on the platforms this process can DM on; how many
    were sent."""
    if not messengers:
        return 0
    async with database.session() as session:
        await repo.expire_asks(session, queued_before=now - SEND_WITHIN, sent_before=now - ANSWER_WITHIN, now=now)
        due = await repo.asks_to_send(session, limit=SEND_BATCH)
        await session.commit()
    sent = 0
    for ask, member, platform in due:
        messenger = messengers.get(platform)
        if messenger is None:
            continue
        claimed = await _claim(database, ask, member, now=now)
        if claimed is None:
            continue
        text, texts = claimed
        try:
            buttons = reason_buttons(ask.id, texts)
            await messenger.send(platform_user_id=member.platform_user_id, text=text, buttons=buttons)
        except Exception as error:
            log.warning("could not ask member %s why they voted: %r", member.id, error)
            async with database.session() as session:
                await repo.close_ask(session, ask_id=ask.id, outcome=ReasonOutcome.UNDELIVERED, now=now)
                await session.commit()
            continue
        sent += 1
    return sent


async def _claim(
    database: Database, ask: VoteReasonAsk, member: Member, *, now: datetime
) -> tuple[str, InterviewTexts] | None:
    """The question's text (and the texts of the member's language), with the question claimed as sent;
    None when it is not to be sent now (closed with the reason, or left queued while the member is in an
    interview)."""
    async with database.session() as session:
        outcome = await _not_to_ask(session, ask, member)
        if outcome is not None:
            await repo.close_ask(session, ask_id=ask.id, outcome=outcome, now=now)
            await session.commit()
            return None
        if await interviews_repo.active_interview(session, community_id=member.community_id, member_id=member.id):
            return None  # its answer would go to the interview: asked when the interview is over
        vote = await repo.vote_of(session, poll_id=ask.poll_id, voter_key=voter_key_of(member.id))
        poll = await session.get(Poll, ask.poll_id)
        found = await polls_repo.story_with_values(session, story_id=poll.story_id) if poll else None
        if vote is None or found is None:
            await repo.close_ask(session, ask_id=ask.id, outcome=ReasonOutcome.RETRACTED, now=now)
            await session.commit()
            return None
        if not await repo.claim_ask(session, ask_id=ask.id, now=now):
            return None
        await session.commit()
        texts = await member_texts(session, member_id=member.id)
        return reason_question_text(vote.choice, found[0].shown_story, texts), texts


async def _not_to_ask(session: AsyncSession, ask: VoteReasonAsk, member: Member) -> ReasonOutcome | None:
    if member.forgotten_at is not None:
        return ReasonOutcome.RETRACTED
    if await repo.has_opted_out(session, member_id=member.id):
        return ReasonOutcome.OPTED_OUT
    facts = await eligibility_repo.facts_of(session, member_id=member.id)
    if facts is not None and facts.blocked:
        return ReasonOutcome.BLOCKED
    return None


# --- answering ----------------------------------------------------------------------------------------


async def take_reason(session: AsyncSession, *, member_id: int, text: str, now: datetime) -> str | None:
    """Store ``text`` (cleaned already) as the reason for the vote the member was last asked about, in the
    interview service's session and turn (it commits); what to reply, or None when no question is open
    (the text is then the interview's). The caller has checked that the member has no active interview."""
    ask = await repo.outstanding_ask(session, member_id=member_id, sent_since=now - ANSWER_WITHIN)
    if ask is None:
        return None
    texts = await member_texts(session, member_id=member_id)
    vote = await repo.vote_of(session, poll_id=ask.poll_id, voter_key=voter_key_of(member_id))
    if vote is None:
        await repo.close_ask(session, ask_id=ask.id, outcome=ReasonOutcome.RETRACTED, now=now)
        return None
    if ask.sent_at is not None and vote.updated_at > ask.sent_at:
        # The question quoted the choice they had then; this text explains that one, not the current vote.
        await repo.close_ask(session, ask_id=ask.id, outcome=ReasonOutcome.RETRACTED, now=now)
        return texts.reason_vote_changed
    vote.why = clip_reason(text)
    session.add(vote)
    await repo.close_ask(session, ask_id=ask.id, outcome=ReasonOutcome.ANSWERED, now=now)
    return texts.reason_saved


async def answer_reason_button(
    database: Database, *, key: str, platform: str, platform_user_id: str, now: datetime
) -> list[Outgoing]:
    """A press on Skip or "Don't ask me again" under a reason question; nothing for a press that is not
    the member's own or is malformed."""
    parsed = parse_reason_key(key)
    if parsed is None:
        return []
    async with database.session() as session:
        ask = await session.get(VoteReasonAsk, parsed.ask_id)
        member = await session.get(Member, ask.member_id) if ask else None
        community = await session.get(Community, member.community_id) if member else None
        if (
            ask is None
            or member is None
            or community is None
            or member.platform_user_id != platform_user_id
            or community.platform != platform
        ):
            return []
        texts = await member_texts(session, member_id=member.id)
        if parsed.action == STOP:
            await repo.opt_out(session, member_id=member.id, community_id=member.community_id, now=now)
            await repo.close_member_asks(session, member_id=member.id, outcome=ReasonOutcome.OPTED_OUT, now=now)
            await session.commit()
            return [Outgoing(texts.reason_opted_out)]
        skipped = await repo.close_ask(session, ask_id=ask.id, outcome=ReasonOutcome.SKIPPED, now=now)
        await session.commit()
    return [Outgoing(texts.reason_skipped if skipped else texts.reason_closed)]


# --- stats --------------------------------------------------------------------------------------------


async def stats_lines(database: Database, *, community_id: int) -> list[str]:
    async with database.session() as session:
        with_reason, votes = await repo.reason_counts(session, community_id=community_id)
    return [f"Reasons: {with_reason} of {votes} votes."]
