"""`/mge poll` on Discord end to end: the real discord.Client ↔ the fake Discord on 127.0.0.1, real databases.

The moderator gate reads the caller's permissions and role ids from the INTERACTION_CREATE payload.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest
from aiohttp import web
from sqlmodel import select

from adapters.discord.commands import MODERATOR_GROUP_NAME
from adapters.discord.member_commands import HELP_TEXT
from adapters.discord.moderator_commands import IN_A_SERVER_TEXT, NOTHING_TO_POLL_TEXT
from bot.commands.permissions import denial_text
from core.messages import CommunityRef
from core.polls import QUESTION
from storage.models import ModerationAction, Poll
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord, FakeGuild, FakeUser
from tests.fakes.story_rows import add_story
from tests.test_poll_selection import add_reverse

# SQLite only: the Discord gate and rendering;
# posting a poll runs on PostgreSQL in test_polls.py and test_poll_selection.py.
pytestmark = pytest.mark.sqlite_only

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
        fake_discord,
        service,
        database,
        clock,
        sync_commands=False,
        moderator_role_ids=(MODERATOR_ROLE,),
        poll_duration=POLL_DURATION,
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


async def run_poll(
    fake: FakeDiscord, user: FakeUser, guild: FakeGuild | None, *, permissions: int = 0, responses: int = 2
) -> list[dict]:
    interaction = await fake.send_slash_command(
        user, guild, MODERATOR_GROUP_NAME, "poll", member_permissions=permissions
    )
    return await fake.wait_for_responses(interaction, responses)


def nothing_to_poll(guild: FakeGuild) -> str:
    return NOTHING_TO_POLL_TEXT.format(command=f"`mge stories generate --community {guild.id}`")


async def audit_log(database) -> list[ModerationAction]:
    async with database.session() as session:
        return list((await session.exec(select(ModerationAction).order_by(ModerationAction.id))).all())


def refuse_posts_in(fake: FakeDiscord, monkeypatch, channel_id: int, *, status: int, code: int, message: str) -> None:
    post = fake._post_message

    async def refuse(body, channel):
        if int(channel) == channel_id:
            return web.json_response({"message": message, "code": code}, status=status)
        return await post(body, channel)

    monkeypatch.setattr(fake, "_post_message", refuse)


async def polls(database) -> list[Poll]:
    async with database.session() as session:
        return list((await session.exec(select(Poll).order_by(Poll.id))).all())


def reactions_on(fake: FakeDiscord, guild: FakeGuild, message: dict) -> list[str]:
    puts = fake.requests_to("PUT", rf"/channels/{guild.channel_id}/messages/{message['id']}/reactions/.+/@me")
    return [unquote(p.path.split("/")[-2]) for p in puts]


async def test_a_member_without_manage_server_is_told_why_and_nothing_is_posted(
    fake_discord, bot, guild, alice, database, clock
):
    await add_story(database, CommunityRef("discord", str(guild.id), guild.name), now=clock())
    [response] = await run_poll(fake_discord, alice, guild, responses=1)
    assert response["type"] == 4 and response["flags"] == EPHEMERAL
    assert response["content"] == DENIED and "Manage Server" in DENIED
    assert response["allowed_mentions"] == {"parse": []}
    assert fake_discord.requests_to("POST", rf"/channels/{guild.channel_id}/messages") == []
    assert fake_discord.bot_messages(guild.channel_id) == [] and await polls(database) == []


async def test_manage_server_posts_the_next_story_with_three_reactions(
    fake_discord, bot, guild, alice, database, clock
):
    story_id = await add_story(database, CommunityRef("discord", str(guild.id), guild.name), now=clock())
    deferred, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
    assert deferred["type"] == 5 and deferred["flags"] == EPHEMERAL  # acknowledged before the work
    assert followup["flags"] == EPHEMERAL and followup["content"].startswith("Posted a poll on")

    [message] = fake_discord.bot_messages(guild.channel_id)
    assert message["embeds"][0]["title"] == QUESTION
    assert reactions_on(fake_discord, guild, message) == [YES, NO, UNSURE]
    [poll] = await polls(database)
    assert (poll.story_id, poll.channel_id, poll.message_id, poll.state) == (
        story_id,
        str(guild.channel_id),
        message["id"],
        "open",
    )
    assert poll.closes_at == clock() + POLL_DURATION
    [entry] = await audit_log(database)
    assert (entry.action, entry.actor, entry.target, entry.at) == (
        "poll",
        f"discord:{alice.id}",
        f"poll {poll.id}",
        clock(),
    )
    assert entry.after == {
        "story": story_id,
        "channel": str(guild.channel_id),
        "message": message["id"],
        "closes_at": poll.closes_at.isoformat(),
    }
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
    assert deferred["type"] == 5 and followup["content"] == nothing_to_poll(guild) and followup["flags"] == EPHEMERAL
    assert fake_discord.bot_messages(guild.channel_id) == [] and await polls(database) == []


async def test_a_second_poll_posts_neither_the_open_story_nor_its_reverse(
    fake_discord, bot, guild, alice, database, clock
):
    community = CommunityRef("discord", str(guild.id), guild.name)
    first = await add_story(database, community, now=clock())
    await add_reverse(database, first, now=clock())
    other = await add_story(database, community, now=clock())

    for _ in range(2):
        _, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
        assert followup["content"].startswith("Posted a poll on")
    assert [poll.story_id for poll in await polls(database)] == [first, other]
    _, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
    assert followup["content"] == nothing_to_poll(guild)
    assert len(fake_discord.bot_messages(guild.channel_id)) == 2


@pytest.mark.parametrize(
    ("status", "code", "message", "reason"),
    [
        (403, 50001, "Missing Access", "I need the View Channel, Send Messages, Embed Links and Add Reactions"),
        (404, 10003, "Unknown Channel", "that channel doesn't exist or I can't see it"),
    ],
)
async def test_a_channel_the_bot_cannot_post_in_is_answered_with_the_reason_never_posted(
    fake_discord, bot, guild, alice, database, clock, monkeypatch, status, code, message, reason
):
    story_id = await add_story(database, CommunityRef("discord", str(guild.id), guild.name), now=clock())
    refuse_posts_in(fake_discord, monkeypatch, guild.channel_id, status=status, code=code, message=message)
    _, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
    assert followup["content"].startswith(f"I couldn't post in channel {guild.channel_id}: ")
    assert reason in followup["content"] and "posted" not in followup["content"].casefold()
    assert await polls(database) == [] and await audit_log(database) == []

    monkeypatch.undo()  # the moderator fixed the channel: the same story is still there to post
    _, followup = await run_poll(fake_discord, alice, guild, permissions=MANAGE_GUILD)
    assert followup["content"].startswith("Posted a poll on")
    assert [poll.story_id for poll in await polls(database)] == [story_id]


async def test_polls_post_now_answers_with_the_failure_and_audits_the_post(
    fake_discord, bot, guild, alice, database, clock, monkeypatch
):
    await add_story(database, CommunityRef("discord", str(guild.id), guild.name), now=clock())
    refuse_posts_in(fake_discord, monkeypatch, guild.channel_id, status=403, code=50013, message="Missing Permissions")
    interaction = await fake_discord.send_slash_command(
        alice, guild, "mge-mod", "post-now", group="polls", member_permissions=MANAGE_GUILD
    )
    _, failed = await fake_discord.wait_for_responses(interaction, 2)
    assert failed["content"].startswith(f"I couldn't post in channel {guild.channel_id}: I need the View Channel")
    assert await polls(database) == [] and await audit_log(database) == []

    monkeypatch.undo()
    interaction = await fake_discord.send_slash_command(
        alice, guild, "mge-mod", "post-now", group="polls", member_permissions=MANAGE_GUILD
    )
    _, posted = await fake_discord.wait_for_responses(interaction, 2)
    assert posted["content"].startswith("Posted a poll on")
    [poll] = await polls(database)
    [entry] = await audit_log(database)
    assert (entry.action, entry.actor, entry.target) == ("polls.post-now", f"discord:{alice.id}", f"poll {poll.id}")


async def test_in_a_dm_the_command_points_to_a_server(fake_discord, bot, alice, database):
    [response] = await run_poll(fake_discord, alice, None, responses=1)
    assert response["flags"] == EPHEMERAL and response["content"] == IN_A_SERVER_TEXT.format(command="/mge-mod poll")
    assert await polls(database) == []


def test_help_lists_poll_as_a_moderator_command():
    assert "/mge-mod poll" in HELP_TEXT and "Moderator" in HELP_TEXT and "/mge poll" not in HELP_TEXT
