"""Private polls (``core.polls.PollMode.PRIVATE``): a press on a poll's button becomes a vote, answered
only to the voter; when the poll closes its message is edited to show the tally.

A press is recorded through the vote inbox, like a reaction (``Reaction.pressed``), not written to the
votes directly: it then follows the very rules a reaction does — a poll of the press's own community,
received before the poll closed, applied in the platform's order per member (the latest press is the
vote, so a changed choice replaces the earlier one), a redelivered press applied once — and the paths
that must see every vote (closing a poll, ``/mge forget``) already drain that inbox first. A direct
write would have to repeat each rule and take part in the appliers' turn-taking.

What a reaction cannot do, a button can: answer the member. So eligibility is checked at the press,
and a member whose vote would be left out (blocked, or not meeting the community's rules) is told why
and nothing is recorded; the graph still applies the rules to every stored vote, so a block added
later leaves earlier presses out just like reactions.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.voting.inbox import Reaction, inbox_for
from bot.voting.polls import PollNotFound, PollPublisher, story_poll_view
from core.eligibility import Facts, exclusion_reason, exclusion_words
from core.messages import CommunityRef, Person
from core.polls import BUTTON_LABELS, PollMode, VoteOutcome, choice_of_poll_key
from storage import communities_repo, eligibility_repo, polls_repo
from storage.database import Database
from storage.models import Community

log = logging.getLogger("mge.polls")

#: A closed private poll whose message could not be edited is tried again on every closing tick for this
#: long (a channel the bot lost access to must not be retried forever).
SHOW_TALLY_FOR = timedelta(days=1)

CLOSED_TEXT = "This poll has closed, so it takes no more votes. Its result is shown on the poll."
STALE_TEXT = "This poll is no longer taking votes here."


#: Outcomes after which the member's vote is the pressed choice (a redelivered press: as the first one left it).
_TAKEN = (VoteOutcome.COUNTED, VoteOutcome.REPLACED, VoteOutcome.UNCHANGED, VoteOutcome.IGNORED_DUPLICATE_EVENT)


def chosen_text(label: str) -> str:
    return (
        f"You chose “{label}”. Only you can see this. To change your vote, press another button before the poll closes."
    )


def refusal_text(reason: str, rules_text: str) -> str:
    return f"Your vote can't be counted: {exclusion_words(reason)}. {rules_text}"


@dataclasses.dataclass(frozen=True, slots=True)
class PollPress:
    """A press on a private poll's button, as the adapter received it."""

    key: str
    community: CommunityRef
    channel_id: str
    message_id: str
    person: Person
    #: The platform's id of this press: a redelivered press is recorded once.
    event_id: str
    now: datetime
    #: When the platform says it happened (its order among the member's presses); None: order of arrival.
    event_order: int | None = None
    facts: Facts | None = None


async def vote_by_button(database: Database, press: PollPress) -> str:
    """Record ``press`` as the member's vote on the poll it is under; what to tell them, privately."""
    choice = choice_of_poll_key(press.key)
    async with database.session() as session:
        poll = await polls_repo.find_poll(
            session, platform=press.community.platform, channel_id=press.channel_id, message_id=press.message_id
        )
        community = await session.get(Community, poll.community_id) if poll else None
        if choice is None or poll is None or community is None or poll.mode != PollMode.PRIVATE:
            return STALE_TEXT
        if community.external_id != press.community.external_id:
            return STALE_TEXT
        if polls_repo.is_closed(poll, press.now):
            return CLOSED_TEXT
        refusal = await _refusal(session, community_id=poll.community_id, press=press)
    if refusal is not None:
        return refusal
    reaction = Reaction(
        community=press.community,
        platform=press.community.platform,
        channel_id=press.channel_id,
        message_id=press.message_id,
        person=press.person,
        emoji="",
        added=True,
        event_id=press.event_id,
        now=press.now,
        event_order=press.event_order,
        facts=press.facts,
        pressed=choice,
    )
    outcome = await inbox_for(database).record(reaction, wait_applied=True)
    if outcome in _TAKEN:
        return chosen_text(BUTTON_LABELS[choice])
    if outcome == VoteOutcome.IGNORED_CLOSED:
        return CLOSED_TEXT
    log.info("press on poll %s ignored: %s", poll.id, outcome)
    return STALE_TEXT


async def _refusal(session: AsyncSession, *, community_id: int, press: PollPress) -> str | None:
    """Why this member's vote would be left out (``core.eligibility``), as they should read it; None if it counts."""
    known = await communities_repo.find_member(
        session,
        platform=press.community.platform,
        external_id=press.community.external_id,
        platform_user_id=press.person.platform_user_id,
    )
    stored = await eligibility_repo.facts_of(session, member_id=known[1].id) if known else None
    given = press.facts or Facts()
    stored = stored or Facts()
    # What the platform says now wins; what it did not say this time comes from what it said before.
    facts = Facts(
        account_created_at=given.account_created_at or stored.account_created_at,
        joined_at=given.joined_at or stored.joined_at,
        role_ids=given.role_ids if given.role_ids is not None else stored.role_ids,
        blocked=stored.blocked,
    )
    rules = await eligibility_repo.get_rules(session, community_id=community_id)
    reason = exclusion_reason(facts, rules, at=press.now)
    return refusal_text(reason, rules.describe()) if reason is not None else None


async def show_closed_tallies(
    database: Database, publishers: Mapping[str, PollPublisher], *, now: datetime
) -> list[int]:
    """Edit the message of every private poll closed lately whose tally is not shown yet (on the platforms
    this process serves): the story and the tally, no buttons. Returns the poll ids shown. A poll that
    fails does not stop the others, and is tried again at the next call (for ``SHOW_TALLY_FOR``)."""
    async with database.session() as session:
        polls = await polls_repo.polls_awaiting_tally(session, closed_since=now - SHOW_TALLY_FOR)
    shown = []
    for poll in polls:
        publisher = publishers.get(poll.platform)
        if publisher is None or poll.tallies is None:
            continue
        try:
            view = await story_poll_view(database, poll.story_id)
            await publisher.show_tally(
                channel_id=poll.channel_id,
                message_id=poll.message_id,
                poll=dataclasses.replace(view, poll_id=poll.id, mode=PollMode.PRIVATE),
                tallies=dict(poll.tallies),
            )
        except PollNotFound:
            log.warning("poll %s: its story is gone, so its message cannot be redrawn", poll.id)
        except Exception:
            log.exception("could not show the tally of poll %s; trying again at the next tick", poll.id)
            continue
        async with database.session() as session:
            await polls_repo.mark_tally_shown(session, poll_id=poll.id, now=now)
            await session.commit()
        shown.append(poll.id)
    return shown
