"""Story polls and reaction votes as use cases, on a migrated SQLite database (no platform)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.voting.polls import (
    PollNotFound,
    VoteOutcome,
    apply_reaction,
    close_poll,
    post_story_poll,
    record_poll,
    story_poll_view,
    tally,
)
from core.messages import CommunityRef, Person
from core.polls import QUESTION, REACTIONS, StoryPoll, choice_for_reaction, how_to_vote, poll_reactions
from storage.models import Poll, Vote
from tests.fakes.story_rows import CONTEXT, FROM_VALUE, STORY, TO_VALUE, add_story

GUILD = CommunityRef("discord", "111", "Guild")
OTHER_GUILD = CommunityRef("discord", "222", "Other")
ALICE, BOB = Person("1001", "Alice"), Person("1002", "Bob")
YES, NO, UNSURE = "\u2705", "\u274c", "\U0001f914"


async def votes(database, poll_id: int) -> dict[str, str]:
    """voter_key → choice."""
    async with database.session() as session:
        rows = (await session.exec(select(Vote).where(Vote.poll_id == poll_id))).all()
        return {row.voter_key: row.choice for row in rows}


@pytest.fixture
async def poll(database, clock) -> Poll:
    story_id = await add_story(database, GUILD, now=clock())
    return await record_poll(
        database,
        story_id=story_id,
        platform="discord",
        channel_id="c1",
        message_id="m1",
        closes_at=clock() + timedelta(days=2),
        now=clock(),
    )


@pytest.fixture
def react(database, clock):
    async def react(
        emoji: str,
        *,
        person: Person = ALICE,
        added: bool = True,
        event_id: str | None = None,
        community: CommunityRef = GUILD,
        message_id: str = "m1",
    ) -> VoteOutcome:
        return await apply_reaction(
            database,
            community=community,
            platform="discord",
            channel_id="c1",
            message_id=message_id,
            person=person,
            emoji=emoji,
            added=added,
            event_id=event_id,
            now=clock(),
        )

    return react


# --- core ------------------------------------------------------------------------------------------


def test_reactions_map_to_choices_on_both_platforms():
    assert poll_reactions("discord") == (YES, NO, UNSURE)
    assert poll_reactions("slack") == ("white_check_mark", "x", "thinking_face")
    assert choice_for_reaction("discord", YES + "\ufe0f") == "upgrade"
    assert choice_for_reaction("slack", "thinking_face::skin-tone-3") == "not_sure"
    assert choice_for_reaction("slack", YES) is None and choice_for_reaction("discord", "x") is None
    assert choice_for_reaction("discord", "\U0001f44d") is None and choice_for_reaction("telegram", YES) is None
    assert {c for table in REACTIONS.values() for c in table.values()} == {"upgrade", "no_upgrade", "not_sure"}
    assert ":white_check_mark:" in how_to_vote("slack") and YES in how_to_vote("discord")
    assert QUESTION.endswith("?")


async def test_story_poll_view(database, clock):
    story_id = await add_story(database, GUILD, now=clock())
    view = await story_poll_view(database, story_id)
    assert isinstance(view, StoryPoll)
    assert (view.story, view.context) == (STORY, CONTEXT)
    assert view.from_value.title == FROM_VALUE["title"] and view.to_value.policies == tuple(TO_VALUE["policies"])
    with pytest.raises(PollNotFound):
        await story_poll_view(database, story_id + 100)


async def test_record_poll_is_idempotent_on_the_message(database, clock, poll):
    again = await record_poll(
        database,
        story_id=poll.story_id,
        platform="discord",
        channel_id="c1",
        message_id="m1",
        closes_at=None,
        now=clock() + timedelta(hours=1),
    )
    assert again.id == poll.id and again.closes_at == poll.closes_at and poll.state == "open"


async def test_post_story_poll_records_before_reactions_are_added(database, clock):
    story_id = await add_story(database, GUILD, now=clock())
    seen: list[str] = []

    class Publisher:
        async def publish(self, *, channel_id, poll, on_posted=None):
            assert poll.story == STORY
            await on_posted("m9")
            async with database.session() as session:  # the poll exists before the reactions go up
                seen.extend(p.message_id for p in (await session.exec(select(Poll))).all())
            return "m9"

    recorded = await post_story_poll(
        database, Publisher(), story_id=story_id, platform="discord", channel_id="c1", closes_at=None, now=clock()
    )
    assert seen == ["m9"] and recorded.message_id == "m9"


# --- reactions → votes -------------------------------------------------------------------------------


async def test_counted_replaced_and_retracted(database, poll, react):
    assert await react(YES) == VoteOutcome.COUNTED
    assert await votes(database, poll.id) == {"member:1": "upgrade"}
    assert await react(UNSURE) == VoteOutcome.REPLACED  # the latest reaction wins
    assert await votes(database, poll.id) == {"member:1": "not_sure"}
    assert await react(UNSURE) == VoteOutcome.UNCHANGED
    assert await react(YES, added=False) == VoteOutcome.IGNORED_NOT_CURRENT  # the replaced one
    assert await votes(database, poll.id) == {"member:1": "not_sure"}
    assert await react(UNSURE, added=False) == VoteOutcome.RETRACTED
    assert await votes(database, poll.id) == {}
    assert await react(UNSURE, added=False) == VoteOutcome.IGNORED_NOT_CURRENT


async def test_members_vote_separately(database, poll, react):
    await react(YES)
    await react(NO, person=BOB)
    assert sorted((await votes(database, poll.id)).values()) == ["no_upgrade", "upgrade"]
    assert await tally(database, poll.id) == {"upgrade": 1, "no_upgrade": 1, "not_sure": 0}


async def test_unknown_message_or_emoji_ignored(database, poll, react):
    assert await react("\U0001f44d") == VoteOutcome.IGNORED_EMOJI
    assert await react("x") == VoteOutcome.IGNORED_EMOJI  # a Slack name on Discord
    assert await react(YES, message_id="not-a-poll") == VoteOutcome.IGNORED_UNKNOWN_POLL
    assert await votes(database, poll.id) == {}


async def test_other_community_never_touches_the_poll(database, clock, poll, react):
    await add_story(database, OTHER_GUILD, now=clock())  # the other guild exists too
    assert await react(YES, community=OTHER_GUILD) == VoteOutcome.IGNORED_OTHER_COMMUNITY
    assert await react(YES, community=CommunityRef("slack", "111")) == VoteOutcome.IGNORED_OTHER_COMMUNITY
    assert await react(YES, community=CommunityRef("discord", "333")) == VoteOutcome.IGNORED_OTHER_COMMUNITY
    assert await votes(database, poll.id) == {}


async def test_redelivered_event_is_applied_once(database, poll, react):
    assert await react(YES, event_id="Ev1") == VoteOutcome.COUNTED
    assert await react(NO, event_id="Ev2") == VoteOutcome.REPLACED
    # Ev1 again (a retry arriving late) must not turn the vote back into "upgrade".
    assert await react(YES, event_id="Ev1") == VoteOutcome.IGNORED_DUPLICATE_EVENT
    # The member's ✅ is still on the message: removing ❌ leaves the vote on it.
    assert await react(NO, added=False, event_id="Ev3") == VoteOutcome.REPLACED
    assert await react(NO, added=False, event_id="Ev3") == VoteOutcome.IGNORED_DUPLICATE_EVENT
    assert await votes(database, poll.id) == {"member:1": "upgrade"}
    assert await react(YES, added=False, event_id="Ev4") == VoteOutcome.RETRACTED
    assert await votes(database, poll.id) == {}


async def test_closed_poll_ignores_reactions(database, clock, poll, react):
    await react(YES)
    assert await close_poll(database, poll_id=poll.id, now=clock()) == {"upgrade": 1, "no_upgrade": 0, "not_sure": 0}
    assert await react(NO, person=BOB) == VoteOutcome.IGNORED_CLOSED
    assert await react(YES, added=False) == VoteOutcome.IGNORED_CLOSED  # the vote stays as counted
    assert await votes(database, poll.id) == {"member:1": "upgrade"}


async def test_poll_past_closes_at_ignores_reactions(database, clock, poll, react):
    clock.advance(days=2)  # exactly closes_at
    assert await react(YES) == VoteOutcome.IGNORED_CLOSED
    assert await votes(database, poll.id) == {}


async def test_close_poll_stores_tallies_and_is_idempotent(database, clock, poll, react):
    await react(YES)
    await react(YES, person=BOB)
    await react(UNSURE, person=Person("1003"))
    first = await close_poll(database, poll_id=poll.id, now=clock())
    assert first == {"upgrade": 2, "no_upgrade": 0, "not_sure": 1}
    clock.advance(hours=1)
    assert await close_poll(database, poll_id=poll.id, now=clock()) == first
    async with database.session() as session:
        stored = await session.get(Poll, poll.id)
    assert stored.state == "closed" and stored.tallies == first and stored.closed_at == clock() - timedelta(hours=1)
    with pytest.raises(PollNotFound):
        await close_poll(database, poll_id=poll.id + 100, now=clock())


async def test_concurrent_reactions_of_one_member_leave_one_vote(database, poll, react):
    outcomes = await asyncio.gather(*(react(emoji) for emoji in (YES, NO, UNSURE, YES, NO, UNSURE)))
    assert outcomes.count(VoteOutcome.COUNTED) == 1
    assert len(await votes(database, poll.id)) == 1
