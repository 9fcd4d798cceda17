"""Private polls on Discord end to end: the real discord.Client ↔ the fake Discord on 127.0.0.1, real SQLite.

Every body the bot sends that anyone in the channel could see (messages posted or edited there,
interaction responses that are not ephemeral: ``FakeDiscord.public_bodies``) is read for a tally or a
voter; each press is answered ephemerally, to the presser only.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.discord.polls import DiscordPollPublisher
from bot.voting.polls import post_story_poll
from bot.voting.private import CLOSED_TEXT
from bot.voting.rounds import close_due_polls
from core.messages import CommunityRef
from core.polls import VoteOutcome
from storage import eligibility_repo
from storage.communities_repo import community_id_of
from storage.models import Member, Vote
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL
from tests.fakes.story_rows import add_story
from tests.test_discord_moderator_actions import MANAGE_GUILD, run
from tests.test_discord_polls import YES, Handled
from tests.test_private_polls import assert_reveals_nothing

pytestmark = pytest.mark.sqlite_only

WISER, NOT_WISER, NOT_SURE = "mge:choice:poll:upgrade", "mge:choice:poll:no_upgrade", "mge:choice:poll:not_sure"


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(fake_discord, service, database, clock, sync_commands=False) as client:
        client.handled = Handled()
        client.on_mge_reaction_handled = client.handled
        yield client


async def set_mode(fake, guild, mode: str) -> str:
    _, saved = await run(fake, fake.add_user("mod"), guild, "polls mode", permissions=MANAGE_GUILD, mode=mode)
    return saved["content"]


async def post(fake, guild, bot, database, clock) -> dict:
    story_id = await add_story(database, CommunityRef("discord", str(guild.id), guild.name), now=clock())
    poll = await post_story_poll(
        database,
        DiscordPollPublisher(bot),
        story_id=story_id,
        platform="discord",
        channel_id=str(guild.channel_id),
        closes_at=clock() + timedelta(days=3),
        now=clock(),
    )
    return next(m for m in fake.bot_messages(guild.channel_id) if m["id"] == poll.message_id)


async def press(fake, user, message: dict, custom_id: str) -> dict:
    """``user`` presses; the answer only they see (after the deferral that changes nothing)."""
    interaction = await fake.press_button(user, message, custom_id)
    deferred, answer = await fake.wait_for_responses(interaction, 2)
    assert deferred == {"type": 6}  # the message is left as it is
    assert answer["type"] == "followup" and answer["flags"] == EPHEMERAL
    return answer


async def votes(database) -> dict[int, str]:
    async with database.session() as session:
        rows = (await session.exec(select(Vote, Member).join(Member, Member.id == Vote.member_id))).all()
        return {int(member.platform_user_id): vote.choice for vote, member in rows}


def buttons(message: dict) -> list[tuple[str, str]]:
    return [(c["label"], c["custom_id"]) for row in message["components"] for c in row["components"]]


async def test_votes_stay_private_until_the_poll_closes_and_the_tally_replaces_the_buttons(
    fake_discord, guild, bot, database, clock
):
    assert "take votes by private button" in await set_mode(fake_discord, guild, "private")
    message = await post(fake_discord, guild, bot, database, clock)
    assert buttons(message) == [("Wiser", WISER), ("Not wiser", NOT_WISER), ("Not sure", NOT_SURE)]
    assert fake_discord.requests_to("PUT", r"/channels/.+/reactions/.+") == []  # no reactions, no counts

    alice, bob, carol = (fake_discord.add_user(name) for name in ("alice", "bob", "carol"))
    voters = [str(u.id) for u in (alice, bob, carol)] + ["alice", "bob", "carol", "Alice", "Bob", "Carol"]
    answer = await press(fake_discord, alice, message, WISER)
    assert "You chose “Wiser”" in answer["content"] and "press another button" in answer["content"]
    assert "Not sure" in (await press(fake_discord, bob, message, NOT_SURE))["content"]
    assert "Not wiser" in (await press(fake_discord, alice, message, NOT_WISER))["content"]  # replaces Wiser
    assert await votes(database) == {alice.id: "no_upgrade", bob.id: "not_sure"}

    # The same press delivered again (a gateway replay) changes nothing, and is not answered twice.
    last = fake_discord.interactions[max(fake_discord.interactions)]
    await fake_discord.dispatch("INTERACTION_CREATE", last.payload)
    await press(fake_discord, bob, message, NOT_SURE)  # handled after the replay
    assert await votes(database) == {alice.id: "no_upgrade", bob.id: "not_sure"}
    assert len(last.responses) == 2

    # A member without the role votes need is told so, privately; nothing is recorded.
    community_id = await community_id_of(database, CommunityRef("discord", str(guild.id), guild.name))
    async with database.session() as session:
        rule = await eligibility_repo.rules_for_update(session, community_id=community_id, now=clock())
        rule.required_role_id = "555"
        session.add(rule)
        await session.commit()
    refused = await press(fake_discord, carol, message, WISER)
    assert refused["content"].startswith("Your vote can't be counted: you don't have the role votes need")
    assert await votes(database) == {alice.id: "no_upgrade", bob.id: "not_sure"}

    assert_reveals_nothing(fake_discord.public_bodies(guild.channel_id), voters)

    # Past its deadline the poll takes no votes, before the closing tick has edited its message.
    clock.advance(days=3)
    assert (await press(fake_discord, bob, message, WISER))["content"] == CLOSED_TEXT
    assert await votes(database) == {alice.id: "no_upgrade", bob.id: "not_sure"}
    assert_reveals_nothing(fake_discord.public_bodies(guild.channel_id), voters)

    assert len(await close_due_polls(database, now=clock(), publishers={"discord": DiscordPollPublisher(bot)})) == 1
    [edit] = fake_discord.requests_to("PATCH", rf"/channels/{guild.channel_id}/messages/{message['id']}")[-1:]
    assert edit.json["components"] == []
    assert edit.json["embeds"][0]["footer"]["text"] == "Poll closed. Wiser: 0 · Not wiser: 1 · Not sure: 1 (2 votes)"
    closed = next(m for m in fake_discord.bot_messages(guild.channel_id) if m["id"] == message["id"])
    assert closed["components"] == []
    assert not any(voter in str(edit.json) for voter in voters)


async def test_a_poll_posted_before_the_mode_changed_keeps_its_reactions(fake_discord, guild, bot, database, clock):
    before = await post(fake_discord, guild, bot, database, clock)
    await bot.handled.wait(3)  # the bot's own three reactions
    assert "Saved" in await set_mode(fake_discord, guild, "private")
    after = await post(fake_discord, guild, bot, database, clock)
    assert buttons(before) == [] and len(buttons(after)) == 3

    alice = fake_discord.add_user("alice")
    await fake_discord.add_reaction(alice, before, YES)
    assert (await bot.handled.wait(4))[-1] == (alice.id, VoteOutcome.COUNTED)
    await fake_discord.add_reaction(alice, after, YES)  # a reaction under a private poll is not a vote
    assert (await bot.handled.wait(5))[-1] == (alice.id, VoteOutcome.IGNORED_OTHER_MODE)
    assert await votes(database) == {alice.id: "upgrade"}
    async with database.session() as session:
        assert len((await session.exec(select(Vote))).all()) == 1
