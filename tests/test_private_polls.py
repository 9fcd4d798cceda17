"""Private polls as use cases (no platform), on SQLite and PostgreSQL: the community's poll mode applies to
polls posted after it changes; a press is a vote with the reaction rules (redelivery, a changed choice, a
closed poll, another community, eligibility); closing shows the tally once; forgetting keeps the count.
The platforms (what each member sees): test_discord_private_polls.py, test_slack_private_polls.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.commands.member_data import forget
from bot.runtime.schedules import update_schedule
from bot.voting.polls import apply_reaction, post_story_poll
from bot.voting.private import CLOSED_TEXT, STALE_TEXT, PollPress, chosen_text, vote_by_button
from bot.voting.rounds import close_due_polls
from core.messages import CommunityRef, Person
from core.polls import StoryPoll, VoteOutcome, poll_button_key
from storage import eligibility_repo
from storage.communities_repo import community_id_of, ensure_community
from storage.models import ModerationAction, Poll, Vote
from tests.fakes.story_rows import add_story

GUILD = CommunityRef("discord", "111", "Guild")
OTHER_GUILD = CommunityRef("discord", "222", "Other")
ALICE, BOB = Person("1001", "Alice"), Person("1002", "Bob")


#: What gives a vote away in a poll's channel: a choice with a number, a number of votes, a closed poll's
#: result, a press's answer.
TALLY = re.compile(r"(Wiser|Not wiser|Not sure)\W{0,3}\d|\b\d+\s+votes?\b|Poll closed|(?-i:You chose)", re.IGNORECASE)


def assert_reveals_nothing(bodies: Iterable[object], voters: Iterable[str]) -> None:
    """No tally and no voter (id or name) in anything the channel was shown."""
    bodies = list(bodies)
    assert bodies, "nothing was read: the check would pass vacuously"
    for body in bodies:
        text = json.dumps(body, ensure_ascii=False)
        assert not TALLY.search(text), text
        for voter in voters:
            assert voter not in text, (voter, text)


class Publisher:
    """Records what it was asked to post and show; message ids m1, m2, …"""

    def __init__(self) -> None:
        self.posted: list[StoryPoll] = []
        self.shown: list[tuple[str, dict[str, int]]] = []

    async def publish(self, *, channel_id, poll, on_posted=None) -> str:
        self.posted.append(poll)
        message_id = f"m{len(self.posted)}"
        if on_posted is not None:
            await on_posted(message_id)
        return message_id

    async def show_tally(self, *, channel_id, message_id, poll, tallies) -> None:
        self.shown.append((message_id, tallies))


async def set_mode(database, clock, mode: str) -> None:
    community_id = await ensure_community(database, GUILD, now=clock())
    await update_schedule(
        database, community_id=community_id, actor="discord:9", now=clock(), changes={"poll_mode": mode}
    )


async def post(database, clock, publisher: Publisher) -> Poll:
    story_id = await add_story(database, GUILD, now=clock())
    return await post_story_poll(
        database,
        publisher,
        story_id=story_id,
        platform="discord",
        channel_id="c1",
        closes_at=clock() + timedelta(days=1),
        now=clock(),
    )


@pytest.fixture
async def private_poll(database, clock) -> Poll:
    await set_mode(database, clock, "private")
    return await post(database, clock, Publisher())


def pressing(database, clock, poll: Poll):
    presses = iter(range(1, 1000))

    async def press(choice: str, *, person: Person = ALICE, event_id: str | None = None, community=GUILD) -> str:
        number = next(presses)
        return await vote_by_button(
            database,
            PollPress(
                key=poll_button_key(choice),  # type: ignore[arg-type]
                community=community,
                channel_id=poll.channel_id,
                message_id=poll.message_id,
                person=person,
                event_id=event_id or f"interaction-{number}",
                now=clock(),
                event_order=number,
            ),
        )

    return press


async def votes(database, poll_id: int) -> dict[int | None, str]:
    async with database.session() as session:
        return {v.member_id: v.choice for v in (await session.exec(select(Vote).where(Vote.poll_id == poll_id))).all()}


async def test_the_mode_applies_to_polls_posted_after_it_changes(database, clock):
    publisher = Publisher()
    before = await post(database, clock, publisher)
    await set_mode(database, clock, "private")
    after = await post(database, clock, publisher)
    await set_mode(database, clock, "reactions")
    last = await post(database, clock, publisher)
    assert [p.mode for p in publisher.posted] == ["reactions", "private", "reactions"]
    async with database.session() as session:
        stored = {p.id: p.mode for p in (await session.exec(select(Poll))).all()}
        audit = [(a.action, a.before, a.after) for a in (await session.exec(select(ModerationAction))).all()]
    assert stored == {before.id: "reactions", after.id: "private", last.id: "reactions"}
    assert audit == [
        ("schedule.update", {"poll_mode": "reactions"}, {"poll_mode": "private"}),
        ("schedule.update", {"poll_mode": "private"}, {"poll_mode": "reactions"}),
    ]


async def test_a_press_is_a_vote_with_the_reaction_rules(database, clock, private_poll):
    press = pressing(database, clock, private_poll)
    assert await press("upgrade") == chosen_text("Wiser")
    assert await press("upgrade", event_id="interaction-1") == chosen_text("Wiser")  # redelivered: nothing new
    assert await press("not_sure", person=BOB) == chosen_text("Not sure")
    assert await press("no_upgrade") == chosen_text("Not wiser")  # a changed choice replaces the vote
    assert sorted((await votes(database, private_poll.id)).values()) == ["no_upgrade", "not_sure"]
    async with database.session() as session:
        assert len((await session.exec(select(Vote))).all()) == 2
    # The same buttons pressed from another server, and a reaction under the message, change nothing.
    assert await press("upgrade", community=OTHER_GUILD) == STALE_TEXT
    reacted = await apply_reaction(
        database,
        community=GUILD,
        platform="discord",
        channel_id="c1",
        message_id=private_poll.message_id,
        person=ALICE,
        emoji="\u2705",
        added=True,
        event_id=None,
        now=clock(),
    )
    assert reacted == VoteOutcome.IGNORED_OTHER_MODE
    assert sorted((await votes(database, private_poll.id)).values()) == ["no_upgrade", "not_sure"]


async def test_a_press_on_a_reaction_poll_is_not_a_vote(database, clock):
    poll = await post(database, clock, Publisher())
    assert await pressing(database, clock, poll)("upgrade") == STALE_TEXT
    assert await votes(database, poll.id) == {}


async def test_a_blocked_or_ineligible_member_is_told_why_and_nothing_is_recorded(database, clock, private_poll):
    press = pressing(database, clock, private_poll)
    assert await press("upgrade") == chosen_text("Wiser")
    community_id = await community_id_of(database, GUILD)
    assert community_id is not None
    async with database.session() as session:
        [alice_id] = (await votes(database, private_poll.id)).keys()
        assert alice_id is not None
        await eligibility_repo.set_blocked(session, member_id=alice_id, blocked=True, now=clock())
        rule = await eligibility_repo.rules_for_update(session, community_id=community_id, now=clock())
        rule.required_role_id = "555"
        session.add(rule)
        await session.commit()
    refused = await press("no_upgrade")
    assert refused.startswith("Your vote can't be counted: a moderator has blocked your votes")
    # Bob's press carries no roles: the platform did not say, so the role rule cannot be met.
    assert "Votes count from members with the role 555." in await press("upgrade", person=BOB)
    assert await votes(database, private_poll.id) == {alice_id: "upgrade"}


async def test_closing_shows_the_tally_once_and_then_presses_are_refused(database, clock, private_poll):
    press = pressing(database, clock, private_poll)
    await press("upgrade")
    await press("not_sure", person=BOB)
    publisher = Publisher()
    clock.advance(days=1)
    assert await close_due_polls(database, now=clock(), publishers={"discord": publisher}) == [private_poll.id]
    tally = {"upgrade": 1, "no_upgrade": 0, "not_sure": 1}
    assert publisher.shown == [(private_poll.message_id, tally)]
    await close_due_polls(database, now=clock(), publishers={"discord": publisher})
    assert publisher.shown == [(private_poll.message_id, tally)]  # shown once
    assert await press("no_upgrade") == CLOSED_TEXT
    # Forgetting keeps the count true: the vote stays, naming no one.
    bob_id = next(member for member, choice in (await votes(database, private_poll.id)).items() if choice == "not_sure")
    await forget(database, GUILD, ALICE.platform_user_id, now=clock())
    assert await votes(database, private_poll.id) == {None: "upgrade", bob_id: "not_sure"}


async def test_a_failed_edit_is_tried_again_on_the_next_tick(database, clock, private_poll):
    class Failing(Publisher):
        async def show_tally(self, **kwargs) -> None:
            raise ConnectionError("platform down")

    clock.advance(days=1)
    await close_due_polls(database, now=clock(), publishers={"discord": Failing()})
    publisher = Publisher()
    clock.advance(minutes=1)
    await close_due_polls(database, now=clock(), publishers={"discord": publisher})
    assert publisher.shown == [(private_poll.message_id, {"upgrade": 0, "no_upgrade": 0, "not_sure": 0})]


async def test_an_open_private_polls_votes_stay_out_of_the_graph_until_it_closes(database, clock, private_poll):
    """The digest and `/mge ask` are built from the graph: counting an open private poll would tell its tally."""
    from bot.graph.build import load_community_graph_input

    press = pressing(database, clock, private_poll)
    await press("upgrade")
    await press("no_upgrade", person=BOB)

    async def counted() -> int:
        data = await load_community_graph_input(database, community_id=private_poll.community_id)
        return len(data.votes) + data.dropped_votes + sum(data.excluded_votes.values())

    assert await counted() == 0
    clock.advance(days=1)
    await close_due_polls(database, now=clock(), publishers={"discord": Publisher()})
    assert await counted() == 2
