"""`/mge poll` on Discord end to end: the real discord.Client ↔ the fake Discord on 127.0.0.1, real databases.

The moderator gate reads the caller's permissions and role ids from the INTERACTION_CREATE payload.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlmodel import select

from mge.adapters.discord.commands import MODERATOR_GROUP_NAME
from mge.adapters.discord.member_commands import HELP_TEXT
from mge.adapters.discord.moderator_commands import IN_A_SERVER_TEXT, NOTHING_TO_POLL_TEXT
from mge.bot.permissions import denial_text
from mge.core.messages import CommunityRef
from mge.core.polls import QUESTION
from mge.storage.models import Poll
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord, FakeGuild, FakeUser
from tests.fakes.story_rows import add_story
from tests.test_poll_selection import add_reverse

YES, NO, UNSURE = "\u2705", "\u274c", "\U0001f914"
MANAGE_GUILD, ADMINISTRATOR = 1 << 5, 1 << 3
MODERATOR_ROLE = 1_200_000_000_000_000_001
OTHER_ROLE = 1_200_000_000_000_000_002
POLL_DURATION = timedelta(hours=48)
DENIED = denial_text("discord", action="post polls", moderator_role_ids=(MODERATOR_ROLE,))


@pytest.fixture
def alice(fake_discord) -> FakeUser:
    return fake_discord.add_user("alice")


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(
        fake_discord, service, database, clock,
        sync_commands=False, moderator_role_ids=(MODERATOR_ROLE,), poll_duration=POLL_DURATION,
    ) as client:
        yield client


def give_roles(fake: FakeDiscord, monkeypatch, user: FakeUser, *role_ids: int) -> None:
    """Interactions from ``user`` carry these role ids in ``member.roles`` (the fake sends none)."""
    member = fake._member

    def with_roles(who: FakeUser, permissions: int) -> dict:
        payload = member(who, permissions)
        if who.id == user.id:
            payload["roles"] = [str(role_id) for role_id in role_ids]
        return payload

    monkeypatch.setattr(fake, "_member", with_roles)


async def run_poll(fake: FakeDiscord, user: FakeUser, guild: FakeGuild | None, *, permissions: int = 0,
                   responses: int = 2) -> list[dict]:
    interaction = await fake.send_slash_command(user, guild, MODERATOR_GROUP_NAME, "poll", member_permissions=permissions)
    return await fake.wait_for_responses(interaction, responses)


async def polls(database) -> list[Poll]:
    async with database.session() as session:
        return list((await session.exec(select(Poll).order_by(Poll.id))).all())


def reactions_on(fake: FakeDiscord, guild: FakeGuild, message: dict) -> list[str]:
    puts = fake.requests_to("PUT", rf"/channels/{guild.channel_id}/messages/{message['id']}/reactions/.+/@me")
    return [unquote(p.path.split("/")[-2]) for p in puts]


async def test_a_member_without_manage_server_is_told_why_and_nothing_is_posted(fake_discord, bot, guild, alice, database, clock):
    await add_story(database, CommunityRef("discord", str(guild.id), guild.name), now=clock())
    [response] = await run_poll(fake_discord, alice, guild, responses=1)
    assert response["type"] == 4 and response["flags"] == EPHEMERAL
    assert response["content"] == DENIED and "Manage Server" in DENIED
    assert response["allowed_mentions"] == {"parse": []}
    assert fake_discord.requests_to("POST", rf"/channels/{guild.channel_id}/messages") == []
    assert fake_discord.bot_messages(guild.channel_id) == [] and await polls(database) == []


async def test_manage_server_posts_the_next_story_with_three_reactions(fake_discord, bot, guild, alice, database, clock):
    story_id = await add_story(database, CommunityRef("discord", str(guild.id), guild.name), now=clock())
    deferred, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
    assert deferred["type"] == 5 and deferred["flags"] == EPHEMERAL  # acknowledged before the work
    assert followup["flags"] == EPHEMERAL and followup["content"].startswith("Posted a poll on")

    [message] = fake_discord.bot_messages(guild.channel_id)
    assert message["embeds"][0]["title"] == QUESTION
    assert reactions_on(fake_discord, guild, message) == [YES, NO, UNSURE]
    [poll] = await polls(database)
    assert (poll.story_id, poll.channel_id, poll.message_id, poll.state) == (
        story_id, str(guild.channel_id), message["id"], "open"
    )
    assert poll.closes_at == clock() + POLL_DURATION
    assert message["id"] in followup["content"] and f"<t:{int(poll.closes_at.timestamp())}:f>" in followup["content"]


async def test_administrator_and_moderator_role_are_allowed_other_roles_are_not(
    fake_discord, bot, guild, alice, database, clock, monkeypatch
):
    community = CommunityRef("discord", str(guild.id), guild.name)
    for _ in range(2):
        await add_story(database, community, now=clock())
    bob, carol = fake_discord.add_user("bob"), fake_discord.add_user("carol")
    give_roles(fake_discord, monkeypatch, bob, OTHER_ROLE, MODERATOR_ROLE)
    give_roles(fake_discord, monkeypatch, carol, OTHER_ROLE)

    [refused] = await run_poll(fake_discord, carol, guild, responses=1)
    assert refused["content"] == DENIED
    _, posted = await run_poll(fake_discord, bob, guild)  # the role is enough, no permission needed
    assert posted["content"].startswith("Posted a poll on")
    _, posted = await run_poll(fake_discord, alice, guild, permissions=ADMINISTRATOR)
    assert posted["content"].startswith("Posted a poll on")
    assert len(await polls(database)) == 2


async def test_nothing_to_post_gets_a_clear_answer(fake_discord, bot, guild, alice, database):
    deferred, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
    assert deferred["type"] == 5 and followup["content"] == NOTHING_TO_POLL_TEXT and followup["flags"] == EPHEMERAL
    assert fake_discord.bot_messages(guild.channel_id) == [] and await polls(database) == []


async def test_a_second_poll_posts_neither_the_open_story_nor_its_reverse(fake_discord, bot, guild, alice, database, clock):
    community = CommunityRef("discord", str(guild.id), guild.name)
    first = await add_story(database, community, now=clock())
    await add_reverse(database, first, now=clock())
    other = await add_story(database, community, now=clock())

    for _ in range(2):
        _, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
        assert followup["content"].startswith("Posted a poll on")
    assert [poll.story_id for poll in await polls(database)] == [first, other]
    _, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
    assert followup["content"] == NOTHING_TO_POLL_TEXT
    assert len(fake_discord.bot_messages(guild.channel_id)) == 2


async def test_in_a_dm_the_command_points_to_a_server(fake_discord, bot, alice, database):
    [response] = await run_poll(fake_discord, alice, None, responses=1)
    assert response["flags"] == EPHEMERAL and response["content"] == IN_A_SERVER_TEXT.format(command="/mge-mod poll")
    assert await polls(database) == []


def test_help_lists_poll_as_a_moderator_command():
    assert "/mge-mod poll" in HELP_TEXT and "Moderator" in HELP_TEXT and "/mge poll" not in HELP_TEXT
