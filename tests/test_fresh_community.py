"""A Discord server or Slack workspace the bot has never seen has questions to discuss from the first
`/mge join`: the paper's default scenarios, added once; scenarios a moderator archived stay archived."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.interview.scenarios import prepare_scenarios
from core.messages import CommunityRef
from core.scenarios import DEFAULT_SCENARIOS
from storage.models import Scenario
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID
from tests.slack_support import serving_slack
from tests.test_discord_adapter import DmThread, buttons, join
from tests.test_slack_http import actions

QUESTION = "Which question would you like to think about?"
NO_QUESTION = "There is no open question to discuss right now."


async def scenarios(database) -> list[Scenario]:
    async with database.session() as session:
        return list((await session.exec(select(Scenario).order_by(Scenario.id))).all())


async def archive_all(database, community: CommunityRef, now) -> None:
    """What a moderator who put the defaults away leaves behind."""
    await prepare_scenarios(database, community, text=None, now=now)
    async with database.session() as session:
        for row in (await session.exec(select(Scenario))).all():
            row.is_open, row.archived_at = False, now
            session.add(row)
        await session.commit()


@pytest.fixture
async def slack(service, database, clock):
    async with serving_slack(service, database, clock=clock) as harness:
        yield harness


async def slack_question(slack, user: str):
    await slack.command("join", user=user)
    [consent] = await slack.next_posts()
    await slack.press(consent, "I agree")
    [question] = await slack.next_posts()
    return question


async def test_a_fresh_slack_workspace_offers_the_defaults_once(slack, database):
    question = await slack_question(slack, "U1")
    assert QUESTION in question.params["text"] and len(actions(question)) == len(DEFAULT_SCENARIOS)
    assert [s.text for s in await scenarios(database)] == list(DEFAULT_SCENARIOS)  # once, not per member


async def test_archived_defaults_do_not_come_back_on_slack(slack, database, clock):
    await archive_all(database, CommunityRef("slack", TEAM_ID, TEAM_DOMAIN), clock())
    question = await slack_question(slack, "U1")
    assert question.params["text"].startswith(NO_QUESTION)
    assert len(await scenarios(database)) == len(DEFAULT_SCENARIOS)


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(fake_discord, service, database, clock) as client:
        yield client


async def discord_question(fake, guild, name: str) -> dict:
    user = fake.add_user(name)
    await join(fake, user, guild)
    member = DmThread(fake, user)
    [consent] = await member.said()
    [question] = await member.press(consent, "accept")
    return question


async def test_a_fresh_discord_server_offers_the_defaults_once(fake_discord, bot, guild, database):
    question = await discord_question(fake_discord, guild, "alice")
    assert QUESTION in question["content"] and len(buttons(question)) == len(DEFAULT_SCENARIOS)
    second = await discord_question(fake_discord, guild, "bob")
    assert len(buttons(second)) == len(DEFAULT_SCENARIOS)
    assert [s.text for s in await scenarios(database)] == list(DEFAULT_SCENARIOS)  # once, not per member


async def test_archived_defaults_do_not_come_back_on_discord(fake_discord, bot, guild, database, clock):
    await archive_all(database, CommunityRef("discord", str(guild.id), guild.name), clock())
    question = await discord_question(fake_discord, guild, "alice")
    assert question["content"].startswith(NO_QUESTION)
    assert len(await scenarios(database)) == len(DEFAULT_SCENARIOS)
