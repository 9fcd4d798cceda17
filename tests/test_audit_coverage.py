"""Every moderator action that changes something is in the audit log: a walk over the one table of
actions (``bot.commands.moderator_actions.ACTIONS``, which builds the Discord and Slack commands) and over the `/mge`
command tree the bot registers on Discord, run as a moderator through the real discord.Client against
the fake Discord. A new action that forgets its audit entry, or a new moderator command outside the
table, fails here until it is audited or declared ``read_only``.

The walk runs on SQLite and PostgreSQL: it is the only test that runs every action's own writes and reads
(rounds, archiving, blocking, eligibility rules, hiding values, the audit listing …) on PostgreSQL, so each
action must answer without failing, read-only ones included. The poll command's check and the command
tree's run on SQLite."""

from __future__ import annotations

import pytest
from discord import app_commands
from sqlmodel import select

from bot.commands.moderator_actions import ACTIONS
from bot.interview.scenarios import prepare_scenarios
from core.messages import CommunityRef
from storage.communities_repo import ensure_community
from storage.models import CanonicalValue, ModerationAction, ValueAssignment
from tests.dedup_support import add_card
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.story_rows import TO_VALUE, add_story
from tests.test_contexts import SIX
from tests.test_discord_moderator_actions import EXAMPLES, run
from tests.test_stories import story_answer

MANAGE_GUILD = 1 << 5
#: The member's own commands: they change only the member's own data, which the audit log does not name.
MEMBER_COMMANDS = {"join", "mycard", "mydata", "forget", "help", "ask", "vote"}
#: Moderator commands outside the action table, and the audit entry each must leave.
OTHER_MODERATOR_COMMANDS = {"poll": "poll"}
#: What must be true before an action can change anything (restoring needs something archived …).
BEFORE = {
    "scenario restore": "scenario archive",
    "round open": "round close",
    "values restore": "values hide",
    "member unblock": "member block",
    "polls resume": "polls pause",
    "digest resume": "digest pause",
}
#: Words that differ from a fresh community's defaults (the walk wants a change, not "Nothing changed").
WORDS = {**EXAMPLES, "interval": "12h", "role": "555"}
#: How an action that raised answers (bot.commands.base.run_action).
FAILED = "Something went wrong"


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(fake_discord, service, database, clock, sync_commands=False) as client:
        yield client


@pytest.fixture
async def community(database, guild, clock) -> CommunityRef:
    """A scenario, two values with a story between them, and a card in the first value."""
    ref = CommunityRef("discord", str(guild.id), guild.name)
    await prepare_scenarios(database, ref, text="A friend is grieving. How can I help?", now=clock())
    await add_story(database, ref, now=clock())
    community_id = await ensure_community(database, ref, now=clock())
    async with database.session() as session:
        value_id = (await session.exec(select(CanonicalValue.id).order_by(CanonicalValue.id))).first()
    for member in ("ana", "ben"):  # two cards in the first value, so one can be split off
        card = {"title": f"{member} cares", "description": "d", "policies": ["MOMENTS of care"]}
        card_id = await add_card(database, community_id, card, clock(), member=member)
        async with database.session() as session:
            session.add(
                ValueAssignment(
                    community_id=community_id,
                    card_id=card_id,
                    canonical_value_id=value_id,
                    decision="new_value",
                    created_at=clock(),
                )
            )
            await session.commit()
    return ref


async def audit(database) -> list[ModerationAction]:
    async with database.session() as session:
        return list((await session.exec(select(ModerationAction).order_by(ModerationAction.id))).all())


def options(action) -> dict:
    return {p.name: WORDS[p.name] for p in action.params if p.name in WORDS}


async def moderator_runs(fake, mod, guild, path: str) -> str:
    action = next(a for a in ACTIONS if a.path == path)
    _, answer = await run(fake, mod, guild, path, permissions=MANAGE_GUILD, **options(action))
    return answer["content"]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.path)
async def test_every_action_that_changes_something_is_audited(
    fake_discord, bot, guild, community, database, fake_openai, action
):
    if action.path == "stories pair":  # the story of value 2 → 1 (1 → 2 is the fixture's)
        fake_openai.script(story_answer(TO_VALUE["policies"]))
    else:
        fake_openai.script({"contexts": SIX}, {"groups": []})  # `scenario add` writes its contexts
    mod = fake_discord.add_user("mod")
    if action.path in BEFORE:
        prepared = await moderator_runs(fake_discord, mod, guild, BEFORE[action.path])
        assert not prepared.startswith(FAILED), prepared
    before = len(await audit(database))
    answer = await moderator_runs(fake_discord, mod, guild, action.path)
    assert not answer.startswith(FAILED), answer  # the log holds the exception
    added = (await audit(database))[before:]
    if action.read_only:
        assert added == [], f"/mge-mod {action.path} is declared read-only but wrote {[e.action for e in added]}"
        return
    assert added, f"/mge-mod {action.path} answered {answer!r} and left nothing in the audit log"
    assert all(e.actor == f"discord:{mod.id}" and e.community_id == added[0].community_id for e in added)
    assert any(e.action.startswith(action.group) or e.action == action.group for e in added), [e.action for e in added]


@pytest.mark.sqlite_only  # posting a poll: its SQL runs on PostgreSQL in test_polls
async def test_poll_outside_the_table_is_audited(fake_discord, bot, guild, community, database):
    mod = fake_discord.add_user("mod")
    interaction = await fake_discord.send_slash_command(mod, guild, "mge-mod", "poll", member_permissions=MANAGE_GUILD)
    _, answer = await fake_discord.wait_for_responses(interaction, 2)
    assert answer["content"].startswith("Posted a poll on")
    assert [(e.action, e.actor) for e in await audit(database)] == [("poll", f"discord:{mod.id}")]


@pytest.mark.sqlite_only  # the command tree: no SQL
def test_every_command_the_bot_registers_is_known_to_this_walk(bot):
    """A moderator command added outside the action table must be added to OTHER_MODERATOR_COMMANDS (with a
    test of its audit entry), a member command to MEMBER_COMMANDS."""
    # Members' commands are under /mge, moderators' under /mge-mod (shown only to moderators).
    registered = {c.name: c for name in ("mge", "mge-mod") for c in bot.tree.get_command(name).commands}
    table = {a.group for a in ACTIONS}
    unknown = set(registered) - table - MEMBER_COMMANDS - set(OTHER_MODERATOR_COMMANDS)
    assert not unknown, f"commands neither in the action table nor classified here: {sorted(unknown)}"
    for group in table:
        if isinstance(registered[group], app_commands.Group):
            assert {c.name for c in registered[group].commands} == {a.name for a in ACTIONS if a.group == group}
