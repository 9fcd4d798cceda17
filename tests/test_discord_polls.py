"""Story polls on Discord end to end: the real discord.Client ↔ the fake Discord on 127.0.0.1, real SQLite.

Votes arrive as raw gateway events (MESSAGE_REACTION_ADD / REMOVE); each handled one is announced as
``mge_reaction_handled``, which the tests wait for instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from urllib.parse import unquote

import discord
import pytest
from sqlmodel import select

from adapters.discord.polls import DiscordPollPublisher
from adapters.discord.render import ZWSP
from bot.voting.polls import close_poll, post_story_poll
from core.messages import CommunityRef
from core.polls import QUESTION, VoteOutcome
from storage.models import Member, Poll, Vote
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.story_rows import FROM_VALUE, TO_VALUE, add_story

# SQLite only: Discord events and rendering;
# the vote inbox runs on PostgreSQL in test_vote_inbox.py and test_isolation.py.
pytestmark = pytest.mark.sqlite_only

YES, NO, UNSURE = "\u2705", "\u274c", "\U0001f914"
HOSTILE_STORY = "I told @everyone and <@&123> about it, **loudly**. Then I listened instead."


class Handled:
    """Every reaction the bot handled, as (user id, outcome), in the order handling finished."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, VoteOutcome | None]] = []
        self._changed = asyncio.Condition()

    async def __call__(self, payload: discord.RawReactionActionEvent, outcome: VoteOutcome | None) -> None:
        async with self._changed:
            self.seen.append((payload.user_id, outcome))
            self._changed.notify_all()

    async def wait(self, count: int, timeout: float = 5) -> list[tuple[int, VoteOutcome | None]]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.seen) >= count), timeout)
        return self.seen[:count]


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(fake_discord, service, database, clock, sync_commands=False) as client:
        client.handled = Handled()
        # discord.py calls on_<event> for custom events too (Client.dispatch).
        client.on_mge_reaction_handled = client.handled
        yield client


@pytest.fixture
async def posted(fake_discord, guild, bot, database, clock) -> tuple[Poll, dict]:
    """A story posted as a poll in the guild's channel, its three pre-added reactions handled."""
    community = CommunityRef("discord", str(guild.id), guild.name)
    story_id = await add_story(database, community, now=clock(), story=HOSTILE_STORY)
    poll = await post_story_poll(
        database,
        DiscordPollPublisher(bot),
        story_id=story_id,
        platform="discord",
        channel_id=str(guild.channel_id),
        closes_at=clock() + timedelta(days=3),
        now=clock(),
    )
    await bot.handled.wait(3)
    [message] = fake_discord.bot_messages(guild.channel_id)
    return poll, message


async def votes(database) -> dict[int | None, str]:
    async with database.session() as session:
        rows = (await session.exec(select(Vote, Member).join(Member, Member.id == Vote.member_id))).all()
        return {int(member.platform_user_id): vote.choice for vote, member in rows}


async def test_publish_posts_the_story_without_mentions_and_adds_three_reactions(
    fake_discord, guild, bot, posted, database
):
    poll, message = posted
    assert poll.message_id == message["id"] and poll.channel_id == str(guild.channel_id) and poll.state == "open"

    [post] = fake_discord.requests_to("POST", rf"/channels/{guild.channel_id}/messages")
    assert post.json["allowed_mentions"] == {"parse": []}
    [embed] = post.json["embeds"]
    assert embed["title"] == QUESTION
    text = json.dumps(embed, ensure_ascii=False)
    assert "@everyone" not in text and f"@{ZWSP}everyone" in text and "<@&123>" not in text
    assert "\\*\\*loudly\\*\\*" in embed["description"]  # member-derived markdown shown as text
    assert [f["name"] for f in embed["fields"]] == [f"Before: {FROM_VALUE['title']}", f"After: {TO_VALUE['title']}"]
    assert YES in embed["footer"]["text"] and UNSURE in embed["footer"]["text"]

    puts = fake_discord.requests_to("PUT", rf"/channels/{guild.channel_id}/messages/{message['id']}/reactions/.+/@me")
    assert [unquote(p.path.split("/")[-2]) for p in puts] == [YES, NO, UNSURE]
    # Discord echoed the bot's own three reactions; none of them is a vote.
    assert bot.handled.seen == [(fake_discord.bot.id, VoteOutcome.IGNORED_BOT)] * 3
    assert await votes(database) == {}


async def test_reactions_count_replace_and_retract_votes(fake_discord, bot, posted, database):
    _, message = posted
    alice, bob = fake_discord.add_user("alice"), fake_discord.add_user("bob")
    steps = [
        (alice, YES, True, VoteOutcome.COUNTED, {alice.id: "upgrade"}),
        (bob, UNSURE, True, VoteOutcome.COUNTED, {alice.id: "upgrade", bob.id: "not_sure"}),
        (alice, NO, True, VoteOutcome.REPLACED, {alice.id: "no_upgrade", bob.id: "not_sure"}),
        (alice, YES, False, VoteOutcome.IGNORED_NOT_CURRENT, {alice.id: "no_upgrade", bob.id: "not_sure"}),
        (alice, NO, False, VoteOutcome.RETRACTED, {bob.id: "not_sure"}),
        (bob, "\U0001f44d", True, VoteOutcome.IGNORED_EMOJI, {bob.id: "not_sure"}),
    ]
    for n, (user, emoji, added, outcome, expected) in enumerate(steps, start=4):
        if added:
            await fake_discord.add_reaction(user, message, emoji)
        else:
            await fake_discord.remove_reaction(user, message, emoji)
        assert (await bot.handled.wait(n))[-1] == (user.id, outcome)
        assert await votes(database) == expected
    async with bot.mge_context.database.session() as session:
        alice_row = (await session.exec(select(Member).where(Member.platform_user_id == str(alice.id)))).one()
    assert alice_row.display_name == "Alice"


async def test_other_bots_unknown_messages_and_closed_polls_are_ignored(
    fake_discord, guild, bot, posted, database, clock
):
    poll, message = posted
    alice, helper = fake_discord.add_user("alice"), fake_discord.add_user("helper", bot=True)
    await fake_discord.add_reaction(helper, message, YES)
    assert (await bot.handled.wait(4))[-1] == (helper.id, VoteOutcome.IGNORED_BOT)

    chatter = await fake_discord.send_guild_message(alice, guild, "not a poll")
    await fake_discord.add_reaction(alice, chatter, YES)
    assert (await bot.handled.wait(5))[-1] == (alice.id, VoteOutcome.IGNORED_UNKNOWN_POLL)

    await close_poll(database, poll_id=poll.id, now=clock())
    await fake_discord.add_reaction(alice, message, YES)
    assert (await bot.handled.wait(6))[-1] == (alice.id, VoteOutcome.IGNORED_CLOSED)
    assert await votes(database) == {}


async def test_quick_changes_of_mind_keep_the_latest_reaction(fake_discord, bot, posted, database):
    _, message = posted
    alice = fake_discord.add_user("alice")
    for emoji in (YES, NO, UNSURE, NO):  # sent back to back: the handlers overlap
        await fake_discord.add_reaction(alice, message, emoji)
    await bot.handled.wait(3 + 4)
    assert await votes(database) == {alice.id: "no_upgrade"}


async def test_a_burst_of_conflicting_reactions_ends_as_the_gateway_ordered_them(fake_discord, bot, posted, database):
    """Adds and removals of several members, sent back to back (their handlers overlap): each member's
    vote is the poll reaction they added last among those still on the message, in gateway order."""
    import random

    _, message = posted
    rng = random.Random(5)
    users = [fake_discord.add_user(f"voter{i}") for i in range(8)]
    sent: list[tuple] = []
    for _ in range(60):
        user, emoji, added = rng.choice(users), rng.choice((YES, NO, UNSURE)), rng.random() < 0.6
        sent.append((user, emoji, added))
        if added:
            await fake_discord.add_reaction(user, message, emoji)
        else:
            await fake_discord.remove_reaction(user, message, emoji)
    await bot.handled.wait(3 + len(sent), timeout=20)
    choice = {YES: "upgrade", NO: "no_upgrade", UNSURE: "not_sure"}
    expected: dict[int, str] = {}
    for user in users:
        visible: list[str] = []  # the member's poll reactions on the message, oldest first
        for who, emoji, added in sent:
            if who is user:
                if emoji in visible:
                    visible.remove(emoji)
                if added:
                    visible.append(emoji)
        if visible:
            expected[user.id] = choice[visible[-1]]
    assert await votes(database) == expected
