"""The legitimacy questions (docs/method.md §8) on Discord and Slack: DMs sent with escaped texts and buttons,
presses recorded once, the survey's next question sent, closed DMs skipped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.discord.legitimacy import DiscordDirectMessenger
from adapters.slack.legitimacy import SlackDirectMessenger
from bot.legitimacy.checks import ask_fair_position, offer_surveys
from core.legitimacy import FAIR_QUESTION, SURVEY_QUESTIONS
from core.messages import CommunityRef
from storage.models import FairPositionAsk, LegitimacyOptOut, SurveyAnswer
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.slack_api import TEAM_ID
from tests.slack_support import serving_slack
from tests.test_legitimacy import NOW, add_graph, community, member_with_value, vote_as

# SQLite only: the platforms' DMs and buttons; the checks run on PostgreSQL in test_legitimacy.py.
pytestmark = pytest.mark.sqlite_only

HOSTILE = "**Bold** <@123> @everyone <!channel> <https://evil.example|click>"


async def hostile_setting(database, ref: CommunityRef, users: list[str]):
    """a → b → c where b's title is hostile; the first user holds b, the second c."""
    cid = await community(database, ref)
    ids, polls = await add_graph(database, cid, ["a", HOSTILE, "c"], [("a", HOSTILE), (HOSTILE, "c")])
    members = [await member_with_value(database, cid, users[0], ids[HOSTILE])]
    if len(users) > 1:
        members.append(await member_with_value(database, cid, users[1], ids["c"]))
    return cid, ids, polls, members


async def asks(database):
    async with database.session() as session:
        return list((await session.exec(select(FairPositionAsk).order_by(FairPositionAsk.id))).all())


# --- Discord -------------------------------------------------------------------------------------------


async def test_discord_dm_with_escaped_neighbours_and_yes_no_buttons_and_a_press_recorded_once(
    fake_discord,
    guild,
    service,
    database,
    clock,  # noqa: F811
):
    alice, bob = fake_discord.add_user("alice"), fake_discord.add_user("bob")
    fake_discord.closed_dms.add(bob.id)  # bob holds c: asking him fails, alice is still asked
    ref = CommunityRef("discord", str(guild.id), guild.name)
    cid, _, polls, members = await hostile_setting(database, ref, [str(alice.id), str(bob.id)])
    async with running_bot(fake_discord, service, database, clock) as client:
        messenger = DiscordDirectMessenger(client)
        assert await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47") == 1
        channel = fake_discord.dm_channel_id(alice)
        [message] = await fake_discord.wait_for_bot_messages(channel, 1)
        content = message["content"]
        assert FAIR_QUESTION in content and "“a”" in content and "“c”" in content
        assert "@everyone" not in content and "<@123>" not in content and "**Bold**" not in content
        assert "\\*\\*Bold\\*\\*" in content
        [post] = fake_discord.requests_to("POST", rf"/channels/{channel}/messages")
        assert post.json["allowed_mentions"] == {"parse": []}
        [ask] = await asks(database)
        buttons = [c for row in message["components"] for c in row["components"]]
        assert [(b["custom_id"], b["label"]) for b in buttons] == [
            (f"mge:choice:fair:{ask.id}:yes", "Yes"),
            (f"mge:choice:fair:{ask.id}:no", "No"),
            (f"mge:choice:fair:{ask.id}:stop", "Don't ask me again"),
        ]

        await fake_discord.press_button(alice, message, f"mge:choice:fair:{ask.id}:no")
        [_, thanks] = await fake_discord.wait_for_bot_messages(channel, 2)
        assert "Thank you" in thanks["content"]
        [ask] = await asks(database)
        assert ask.answer == "no"
        # The pressed message's buttons are disabled; a press on the old "Yes" changes nothing.
        await fake_discord.press_button(alice, message, f"mge:choice:fair:{ask.id}:yes")
        [*_, again] = await fake_discord.wait_for_bot_messages(channel, 3)
        assert "already answered" in again["content"]
        assert (await asks(database))[0].answer == "no"

        # The survey, after a vote of her own: 1–5 buttons, the next question on a press.
        await vote_as(database, cid, polls[0], members[0])
        assert await offer_surveys(database, messenger, community_id=cid, now=NOW) == 1
        [*_, first] = await fake_discord.wait_for_bot_messages(channel, 4)
        assert SURVEY_QUESTIONS[0] in first["content"]
        labels = [c["label"] for row in first["components"] for c in row["components"]]
        assert labels == ["1", "2", "3", "4", "5", "Skip", "Stop the survey"]
        await fake_discord.press_button(alice, first, f"mge:choice:survey:{members[0]}:1:5")
        [*_, second] = await fake_discord.wait_for_bot_messages(channel, 5)
        assert SURVEY_QUESTIONS[1] in second["content"]
    async with database.session() as session:
        [answer] = (await session.exec(select(SurveyAnswer))).all()
    assert (answer.question, answer.score) == (1, 5)


# --- Slack ---------------------------------------------------------------------------------------------


async def test_slack_dm_escaped_and_presses_recorded_and_opting_out(service, database, clock):
    ref = CommunityRef("slack", TEAM_ID, "test")
    cid, _, polls, members = await hostile_setting(database, ref, ["U1"])
    async with serving_slack(service, database, clock=clock) as harness:
        messenger = SlackDirectMessenger(harness.app.client)
        assert await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47") == 1
        [opened] = harness.slack.calls_to("conversations.open")
        assert opened.params["users"] == "U1"
        [posted] = harness.posted()
        assert posted.params["channel"] == "D1"
        dump = posted.dump()
        assert FAIR_QUESTION in dump
        assert "<@123>" not in dump and "<!channel>" not in dump and "<https://" not in dump
        assert "&lt;@123&gt;" in dump

        await harness.press(posted, "Yes")
        await harness.settle()
        [ask] = await asks(database)
        assert ask.answer == "yes"
        reply = harness.posted()[-1]
        assert "Thank you" in reply.dump()
        # The pressed message lost its buttons; pressing its "No" anyway changes nothing.
        await harness.press(posted, "No")
        await harness.settle()
        assert (await asks(database))[0].answer == "yes"

        # The survey: a press on 1–5 stores the answer and sends the next question.
        await vote_as(database, cid, polls[0], members[0])
        assert await offer_surveys(database, messenger, community_id=cid, now=NOW) == 1
        survey = harness.posted()[-1]
        assert SURVEY_QUESTIONS[0] in survey.dump()
        await harness.press(survey, "Skip")
        await harness.settle()
        assert SURVEY_QUESTIONS[1] in harness.posted()[-1].dump()

        # Opting out on a later question: no question next period.
        await ask_fair_position(database, messenger, community_id=cid, now=NOW + timedelta(days=7), period="2026-W48")
        later = harness.posted()[-1]
        await harness.press(later, "Don't ask me again")
        await harness.settle()
        assert (
            await ask_fair_position(
                database, messenger, community_id=cid, now=NOW + timedelta(days=14), period="2026-W49"
            )
            == 0
        )
    async with database.session() as session:
        assert len((await session.exec(select(LegitimacyOptOut))).all()) == 1
        [answer] = (await session.exec(select(SurveyAnswer))).all()
    assert (answer.question, answer.score) == (1, None)


async def test_the_schedulers_rest_only_discord_client_can_send_the_dm(
    fake_discord,
    service,
    database,
    clock,  # noqa: F811
):
    import discord

    alice = fake_discord.add_user("alice")
    async with running_bot(fake_discord, service, database, clock):  # the fake echoes posts to a gateway
        rest = discord.Client(intents=discord.Intents.none())  # as runner.platform_publishers builds it
        await rest.login(fake_discord.token)
        try:
            await DiscordDirectMessenger(rest).send(
                platform_user_id=str(alice.id), text="Hi <@1> *there*", buttons=[("fair:1:yes", "Yes")]
            )
        finally:
            await rest.close()
    [message] = fake_discord.bot_messages(fake_discord.dm_channel_id(alice))
    assert message["content"] == "Hi <@\u200b1> \\*there\\*"
    assert message["components"][0]["components"][0]["custom_id"] == "mge:choice:fair:1:yes"
