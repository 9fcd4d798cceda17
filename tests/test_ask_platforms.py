"""`/mge ask` through the fakes: the real discord.Client ↔ the fake Discord, the real Bolt app ↔ the fake
Slack, the real OpenAI client ↔ the fake OpenAI server, a graph built from rows, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from adapters.discord.render import ZWSP
from adapters.slack.ask_command import THINKING_TEXT
from bot.ask.answer import NO_GRAPH_TEXT
from core.ask import EMPTY_QUESTION_TEXT
from core.messages import CommunityRef
from storage.models import LLMCall
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL, FakeGuild, FakeUser
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID
from tests.fakes.story_rows import CONTEXT
from tests.slack_support import serving_slack
from tests.test_ask import ANSWER, QUESTION, answered, build_graph, choose

# SQLite only: the platforms' flow; asking the graph runs on PostgreSQL in test_ask.py.
pytestmark = pytest.mark.sqlite_only

HOSTILE = "@everyone <@123> <!channel> **look** [click](https://example.com) & more. " + ANSWER
# The InterviewService fixture's articulation model: `/mge ask` answers with it.
MODEL = "card-model"
SLACK = CommunityRef("slack", TEAM_ID, TEAM_DOMAIN)


def discord_community(guild: FakeGuild) -> CommunityRef:
    return CommunityRef("discord", str(guild.id), guild.name)


def question_option(text: str) -> list[dict]:
    return [{"name": "question", "type": 3, "value": text}]


async def llm_calls(database) -> list[LLMCall]:
    async with database.session() as session:
        return list((await session.exec(select(LLMCall).order_by(LLMCall.id))).all())


# --- Discord ------------------------------------------------------------------------------------------


@pytest.fixture
def alice(fake_discord) -> FakeUser:
    return fake_discord.add_user("alice", global_name="Alice")


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(fake_discord, service, database, clock) as client:
        yield client


async def test_discord_ask_defers_then_answers_ephemerally_with_the_values_that_guided_it(
    fake_discord, bot, guild, alice, database, fake_openai, clock
):
    built = await build_graph(database, discord_community(guild), now=clock())
    fake_openai.script(choose(built.context_id), answered(HOSTILE, built.winner_id))

    interaction = await fake_discord.send_slash_command(alice, guild, "mge", "ask", options=question_option(QUESTION))
    deferred, reply = await fake_discord.wait_for_responses(interaction, 2)

    assert deferred["type"] == 5 and deferred["flags"] == EPHEMERAL  # acknowledged before the LLM is asked
    assert reply["flags"] == EPHEMERAL and reply["allowed_mentions"] == {"parse": []}
    content = reply["content"]
    assert ANSWER in content
    assert f"@{ZWSP}everyone" in content and "<@123>" not in content  # mentions defused
    assert r"\*\*look\*\*" in content and r"\[click](" in content  # the answer's markdown is inert
    assert "**Guided by the community's moral graph:**" in content
    assert f"• **Being With The Person** (wisest in “{CONTEXT}”, score " in content
    assert "voted wiser than Fixing The Problem (3 of 4 voters)" in content
    assert {r["model"] for r in fake_openai.chat_requests} == {MODEL}
    assert [(c.purpose, c.model, c.community_id) for c in await llm_calls(database)] == [
        ("ask_contexts", MODEL, built.community_id),
        ("ask_answer", MODEL, built.community_id),
    ]


async def test_discord_ask_without_a_graph_says_so_without_the_llm(
    fake_discord, bot, guild, alice, database, fake_openai
):
    interaction = await fake_discord.send_slash_command(alice, guild, "mge", "ask", options=question_option(QUESTION))
    _, reply = await fake_discord.wait_for_responses(interaction, 2)
    assert reply["content"] == NO_GRAPH_TEXT and reply["flags"] == EPHEMERAL
    assert fake_openai.chat_requests == []


async def test_discord_ask_refuses_an_empty_question_at_once(fake_discord, bot, guild, alice, fake_openai):
    interaction = await fake_discord.send_slash_command(alice, guild, "mge", "ask", options=question_option(" \u200b "))
    [reply] = await fake_discord.wait_for_responses(interaction, 1)
    assert reply["type"] == 4 and reply["flags"] == EPHEMERAL and reply["content"] == EMPTY_QUESTION_TEXT
    assert fake_openai.chat_requests == []


async def test_discord_ask_in_dms_uses_the_members_community(
    fake_discord, bot, guild, alice, database, fake_openai, clock
):
    built = await build_graph(database, discord_community(guild), now=clock())
    fake_openai.script(choose(built.context_id), answered(ANSWER, built.winner_id))
    interaction = await fake_discord.send_slash_command(alice, None, "mge", "ask", options=question_option(QUESTION))
    _, reply = await fake_discord.wait_for_responses(interaction, 2)
    assert ANSWER in reply["content"] and "Being With The Person" in reply["content"]


async def test_discord_ask_registers_the_command_with_its_question_option(fake_discord, bot):
    [sync] = fake_discord.requests_to("PUT", rf"/applications/{fake_discord.application_id}/commands")
    group, _moderators = sync.json
    [ask] = [option for option in group["options"] if option["name"] == "ask"]
    [question] = ask["options"]
    assert question["name"] == "question" and question["type"] == 3 and question["required"]
    assert question["max_length"] == 500


# --- Slack --------------------------------------------------------------------------------------------


async def test_slack_ask_acks_at_once_then_answers_ephemerally_in_the_channel(service, database, fake_openai, clock):
    built = await build_graph(database, SLACK, now=clock())
    fake_openai.script(choose(built.context_id), answered(HOSTILE, built.winner_id))
    async with serving_slack(service, database) as slack:
        ack = (await slack.command(f"ask {QUESTION}")).json()
        assert ack["response_type"] == "ephemeral" and ack["text"] == THINKING_TEXT
        [posted] = await slack.slack.wait_for("chat.postEphemeral")
        await slack.settle()
    assert posted.params["channel"] == "C1" and posted.params["user"] == "U1"
    shown = posted.dump()
    assert ANSWER in shown and "Being With The Person" in shown
    assert "voted wiser than Fixing The Problem (3 of 4 voters)" in shown
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown and "<@123>" not in shown
    assert posted.params["parse"] == "none"
    assert slack.slack.calls_to("chat.postMessage") == []  # nothing in the channel for everyone
    assert fake_openai.chat_requests[0]["messages"][-1]["content"] == QUESTION
    assert [c.purpose for c in await llm_calls(database)] == ["ask_contexts", "ask_answer"]


async def test_slack_ask_answers_by_dm_when_the_channel_refuses_an_ephemeral(service, database, fake_openai, clock):
    built = await build_graph(database, SLACK, now=clock())
    fake_openai.script(choose(built.context_id), answered(ANSWER, built.winner_id))

    def refuse(fake) -> None:
        fake.api_chat_postEphemeral = lambda params, request: {"ok": False, "error": "not_in_channel"}

    async with serving_slack(service, database, prepare=refuse) as slack:
        await slack.command(f"ask {QUESTION}")
        [posted] = await slack.next_posts()
        await slack.settle()
    assert posted.params["channel"] == "D1" and ANSWER in posted.dump()


async def test_slack_ask_without_a_graph_or_a_question(service, database, fake_openai):
    async with serving_slack(service, database) as slack:
        empty = (await slack.command("ask")).json()
        assert EMPTY_QUESTION_TEXT in empty["text"] and "`/mge ask &lt;question&gt;`" in empty["text"]
        await slack.command(f"ask {QUESTION}")
        [posted] = await slack.slack.wait_for("chat.postEphemeral")
        await slack.settle()
        listed = (await slack.command("help")).json()
    assert posted.params["text"] == NO_GRAPH_TEXT
    assert "`/mge ask &lt;question&gt;` — ask a question" in listed["text"]
    assert fake_openai.chat_requests == []
