"""`/mge vote`: the stories that most need a member's vote, one at a time in their DM (docs/method.md §7).

The paper drew, for each voter, stories about the question they had been interviewed on. Here a member
who runs `/mge vote` is sent the open polls they have not voted on (active stories between active
values), in ``core.vote_reasons.draw_order``: stories whose context belongs to a scenario they were
interviewed on first, then fewest votes so far, then oldest. Each comes with Wiser / Not wiser / Not
sure and Stop; a press records the vote and sends the next one, until "nothing left to vote on".

A press is recorded through the vote inbox exactly as a reaction on the poll would be
(``bot.voting.inbox``, applied by ``bot.voting.apply``): same Vote row, same rules (a poll of the member's
community, open when pressed, the latest choice is the vote, a redelivered press applied once), the same
reason question afterwards, and the same erasure by ``/mge forget``. Its event key is ``dm:`` and the
platform's interaction id. The graph applies the community's eligibility rules to every stored vote as
it does to reactions; a button can also say so at once, so a member whose vote would be left out
(blocked, or not meeting a rule by what the platform told us) is told why and nothing is recorded.

Idempotent: a second press on the same button (the message's buttons are retired after the first, but a
double click can race) finds the vote unchanged and sends no second story.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.legitimacy.checks import Outgoing
from bot.voting.apply import DM_KEY_PREFIX as DM_EVENT_PREFIX
from bot.voting.inbox import Reaction, inbox_for
from core.eligibility import Facts, exclusion_reason, exclusion_words
from core.graph.votes import CHOICES
from core.messages import CommunityRef, Person
from core.polls import VoteOutcome, poll_reactions
from core.vote_reasons import (
    NOTHING_TO_VOTE_TEXT,
    VOTE_CLOSED_TEXT,
    VOTING_STOPPED_TEXT,
    StoryToVote,
    draw_order,
    parse_vote_key,
    vote_buttons,
    vote_prompt_text,
    vote_recorded_text,
)
from storage import communities_repo, eligibility_repo, polls_repo
from storage import reasons_repo as repo
from storage.database import Database
from storage.models import Community, Poll
from storage.polls_repo import voter_key_of

log = logging.getLogger("mge.votes")


async def start_voting(
    database: Database, community: CommunityRef, person: Person, *, now: datetime, facts: Facts | None = None
) -> Outgoing:
    """`/mge vote`: the first story for the member's DM, or why there is none. ``facts``: what the platform
    said about the member with the command (kept for the eligibility rules, as a reaction's are)."""
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        member = await communities_repo.get_or_create_member(
            session,
            community_id=row.id,
            platform_user_id=person.platform_user_id,
            display_name=person.display_name,
            now=now,
        )
        if facts is not None:
            await eligibility_repo.record_facts(
                session,
                member_id=member.id,
                now=now,
                account_created_at=facts.account_created_at,
                joined_at=facts.joined_at,
                role_ids=facts.role_ids,
            )
        refusal = await _refusal(session, community_id=row.id, member_id=member.id, now=now)
        await session.commit()
        community_id, member_id = row.id, member.id
    if refusal is not None:
        return Outgoing(refusal)
    return await next_story(database, community_id=community_id, member_id=member_id, now=now)


async def next_story(database: Database, *, community_id: int, member_id: int, now: datetime) -> Outgoing:
    """The story that most needs the member's vote, with its buttons; or "nothing left"."""
    async with database.session() as session:
        candidates = draw_order(
            await repo.polls_to_vote(
                session, community_id=community_id, member_id=member_id, voter_key=voter_key_of(member_id), now=now
            )
        )
        poll = await session.get(Poll, candidates[0].poll_id) if candidates else None
        found = await polls_repo.story_with_values(session, story_id=poll.story_id) if poll else None
    if poll is None or found is None:
        return Outgoing(NOTHING_TO_VOTE_TEXT)
    story, context, from_value, to_value = found
    view = StoryToVote(poll.id, context.text, story.shown_story, from_value.title, to_value.title)
    return Outgoing(vote_prompt_text(view, left=len(candidates)), vote_buttons(poll.id))


async def answer_vote_button(
    database: Database, *, key: str, platform: str, platform_user_id: str, event_id: str, now: datetime
) -> list[Outgoing]:
    """A press on a story's button in the member's DM: the vote recorded, then the next story (module
    docstring). Nothing for a malformed key, or a press by someone who is not a member of the poll's
    community on this platform."""
    parsed = parse_vote_key(key)
    if parsed is None:
        return []
    if parsed.poll_id is None or parsed.choice is None:
        return [Outgoing(VOTING_STOPPED_TEXT)]
    async with database.session() as session:
        poll = await session.get(Poll, parsed.poll_id)
        community = await session.get(Community, poll.community_id) if poll else None
        if poll is None or community is None or community.platform != platform:
            return []
        found = await communities_repo.find_member(
            session, platform=platform, external_id=community.external_id, platform_user_id=platform_user_id
        )
        if found is None:
            return []
        member = found[1]
        refusal = await _refusal(session, community_id=community.id, member_id=member.id, now=now)
    if refusal is not None:
        return [Outgoing(refusal)]
    emoji = dict(zip(CHOICES, poll_reactions(platform), strict=True))[parsed.choice]
    reaction = Reaction(
        community=CommunityRef(platform, community.external_id, community.name),
        platform=platform,
        channel_id=poll.channel_id,
        message_id=poll.message_id,
        person=Person(platform_user_id, member.display_name),
        emoji=emoji,
        added=True,
        event_id=DM_EVENT_PREFIX + event_id,
        now=now,
    )
    outcome = await inbox_for(database).record(reaction, wait_applied=True)
    if outcome == VoteOutcome.IGNORED_DUPLICATE_EVENT:
        return []
    if outcome in (VoteOutcome.REPLACED, VoteOutcome.UNCHANGED):
        return [Outgoing(vote_recorded_text(parsed.choice))]  # a repeated press: the next story was sent already
    if outcome == VoteOutcome.COUNTED:
        done = Outgoing(vote_recorded_text(parsed.choice))
    else:
        log.info("DM vote on poll %s not counted: %s", poll.id, outcome)
        done = Outgoing(VOTE_CLOSED_TEXT)
    return [done, await next_story(database, community_id=community.id, member_id=member.id, now=now)]


async def _refusal(session: AsyncSession, *, community_id: int, member_id: int, now: datetime) -> str | None:
    """Why the member's votes would be left out (``core.eligibility``), as they should read it; None if they count."""
    facts = await eligibility_repo.facts_of(session, member_id=member_id)
    rules = await eligibility_repo.get_rules(session, community_id=community_id)
    reason = exclusion_reason(facts, rules, at=now)
    if reason is None:
        return None
    return f"Your votes can't be counted: {exclusion_words(reason)}. {rules.describe()}"
