"""The Slack adapter in HTTP mode: the real Bolt app on 127.0.0.1, a fake Slack Web API, FakeOpenAI, SQLite."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from sqlmodel import select

from adapters.slack.app import SlackConfig
from adapters.slack.dm import FILES_ONLY
from bot.commands.buttons import STALE_BUTTON_TEXT
from bot.commands.member_commands import NO_CARD_TEXT
from bot.interview.scenarios import prepare_scenarios
from core.messages import CommunityRef, Person
from storage.models import Interview, InterviewTurn, Member, ValuesCardRecord
from tests.fakes.openai_server import Body, Delay, Error
from tests.fakes.slack_api import (
    BOT_ID,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_DOMAIN,
    TEAM_ID,
    Call,
    FakeSlack,
    block_actions_body,
    block_actions_payload,
    message_im_event,
    signed_request,
    slash_command_body,
    url_verification_body,
)
from tests.slack_support import Harness, bolt_listeners, serving_slack

# SQLite only: the Slack adapter parses and renders;
# the interview's SQL runs on PostgreSQL in test_interview_service.py.
pytestmark = pytest.mark.sqlite_only

COMMUNITY = CommunityRef("slack", TEAM_ID, TEAM_DOMAIN)
MEMBER = Person("U1")
SCENARIO = "My friend asks whether to report a colleague who cut corners. What should I tell her?"
CARD = {
    "title": "Courage Grounded In Care",
    "description": "The assistant helps the person act on what they see while caring for everyone involved.",
    "policies": [
        "MOMENTS when the person senses something is wrong but hesitates",
        "CONSEQUENCES for the people who would be hurt by silence",
        "WAYS to speak up that keep the relationship intact",
    ],
}


def turn(message: str, ready: bool = False) -> dict:
    return {"message": message, "ready_to_articulate": ready}


@pytest.fixture
async def slack(service, database):
    async with serving_slack(service, database) as harness:
        yield harness


@pytest.fixture
async def scenario_id(database, clock):
    return await prepare_scenarios(database, COMMUNITY, text=SCENARIO, now=clock())


async def rows(database, model, *where):
    async with database.session() as session:
        return (await session.exec(select(model).where(*where))).all()


def actions(call: Call) -> list[str]:
    return [e["text"]["text"] for b in call.blocks() if b["type"] == "actions" for e in b["elements"]]


async def conversing(service, scenario_id) -> None:
    """Put the member straight into the conversation (consent given elsewhere)."""
    await service.resume(COMMUNITY, MEMBER, scenario_id=scenario_id, consent=True)


# --- request verification -------------------------------------------------------------------------


async def test_url_verification_echoes_the_challenge(slack):
    response = await slack.post(url_verification_body("abc123"))
    assert response.status == 200 and "abc123" in response.text


async def test_bad_signature_and_stale_timestamp_are_rejected(slack):
    body = slash_command_body("help")
    bad = await slack.post(body, signed_request(body, secret="not-the-secret"))
    stale = await slack.post(body, signed_request(body, timestamp=int(time.time()) - 10 * 60))
    assert (bad.status, stale.status) == (401, 401)
    assert slack.slack.calls == []


# --- slash commands --------------------------------------------------------------------------------


async def test_help_is_ephemeral(slack):
    for text in ("help", "", "frobnicate"):
        answer = (await slack.command(text)).json()
        assert answer["response_type"] == "ephemeral"
        assert "/mge join" in answer["text"] and "/mge mycard" in answer["text"]
    assert "`/mge frobnicate` is not a command I know" in (await slack.command("frobnicate")).json()["text"]


async def test_a_stale_subcommand_or_button_gets_a_clear_private_answer_and_no_traceback(slack, caplog):
    # A subcommand an older version had (or a typo): what there is now, privately.
    answer = (await slack.command("ballot 3")).json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("`/mge ballot` is not a command I know") and "/mge join" in answer["text"]
    # A button from an older version of the bot: acknowledged, and the member told so, privately.
    for action_id in ("mge_vote_yes", "mge_choice_", "mge_choice_1x"):
        old = {
            "ts": "1700000000.000100",
            "text": "old",
            "blocks": [
                {
                    "type": "actions",
                    "block_id": "b",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": action_id,
                            "text": {"type": "plain_text", "text": "Yes"},
                            "value": "y",
                        }
                    ],
                }
            ],
        }
        response = await slack.post(block_actions_body(block_actions_payload(old, action_id=action_id)))
        assert response.status == 200, response.text
    said = await slack.slack.wait_for("chat.postEphemeral", 3)
    assert [(c.params["channel"], c.params["user"], c.params["text"]) for c in said] == [
        ("D1", "U1", STALE_BUTTON_TEXT)
    ] * 3
    await slack.settle()
    assert not slack.posted()  # not read as an interview answer
    assert "Traceback" not in caplog.text and "Unhandled request" not in caplog.text


async def test_join_opens_a_dm_and_posts_the_consent_prompt_with_buttons(slack, scenario_id):
    answer = (await slack.command("join")).json()
    assert answer["response_type"] == "ephemeral" and "Check your DMs" in answer["text"]
    [opened] = await slack.slack.wait_for("conversations.open")
    assert opened.params["users"] == "U1"
    [prompt] = await slack.next_posts()
    assert prompt.params["channel"] == "D1"
    assert actions(prompt) == ["I agree", "No thanks"]
    assert [e["action_id"] for b in prompt.blocks() if b["type"] == "actions" for e in b["elements"]] == [
        "mge_choice_1",
        "mge_choice_2",
    ]
    assert prompt.params["unfurl_links"] is False and prompt.params["unfurl_media"] is False


async def test_command_is_acked_fast_while_the_llm_is_slow(slack, service, fake_openai, scenario_id):
    await conversing(service, scenario_id)
    fake_openai.script(Error(500))  # leaves the member's answer pending
    await slack.dm("I think she should speak to her colleague first.")
    [failure] = await slack.next_posts()
    assert "nothing is lost" in failure.params["text"]

    fake_openai.script(Delay(2, then=turn("What would speaking up cost her?")))
    join = await slack.command("join")  # resumes: answers the pending turn with a 2 s LLM call
    assert join.seconds < 1.5 and "Check your DMs" in join.json()["text"]
    [question] = await slack.next_posts()
    assert "What would speaking up cost her?" in question.params["text"]

    fake_openai.script(Delay(2, then=turn("And what would silence cost?")))
    answered = await slack.dm("Her job, maybe.")
    assert answered.seconds < 1.5  # the event is acked before the LLM answers
    [question] = await slack.next_posts()
    assert "silence" in question.params["text"]


async def test_a_cut_off_llm_response_is_told_in_the_dm_and_the_next_message_continues(
    slack, service, fake_openai, database, scenario_id
):
    await conversing(service, scenario_id)
    fake_openai.script(Body('{"id": "chatcmpl-1", "object": "chat.completion", "choi'))
    await slack.dm("I think she should speak to her colleague first.")
    [failure] = await slack.next_posts()
    assert "answer I couldn't use" in failure.params["text"] and "nothing is lost" in failure.params["text"]

    fake_openai.script(turn("What would speaking up cost her?"))
    await slack.dm("retry")
    [question] = await slack.next_posts()
    assert "What would speaking up cost her?" in question.params["text"]
    async with database.session() as session:
        saved = (
            await session.exec(
                select(InterviewTurn.content).where(
                    InterviewTurn.role == "member", InterviewTurn.kind == "conversation"
                )
            )
        ).all()
    assert saved == ["I think she should speak to her colleague first."]


# --- the whole interview ---------------------------------------------------------------------------


HEARD = {"items": ["who gets hurt if nobody speaks", "the moment someone hesitates", "a kind way to say it"]}


async def reach_card(slack: Harness, fake_openai, *, agree: str | None = None) -> Call:
    """Consent, three answers, the said-back list agreed to (by its button, or by typing ``agree``)."""
    await slack.command("join")
    [consent] = await slack.next_posts()
    await slack.press(consent, "I agree")
    [opening] = await slack.next_posts()
    assert SCENARIO in opening.params["text"]
    [pressed] = await slack.slack.wait_for("chat.update")
    assert pressed.params["ts"] == consent.result["ts"]
    assert not any(b["type"] == "actions" for b in pressed.blocks())
    assert "\\u2713 *I agree*" in json.dumps(pressed.blocks())

    fake_openai.script(turn("What do you notice?"), turn("Tell me about a time."), turn("ok", ready=True), HEARD, CARD)
    for answer, expected in [
        ("She should think about who gets hurt.", "What do you notice?"),
        ("I notice when people hesitate.", "Tell me about a time."),
    ]:
        await slack.dm(answer)
        [reply] = await slack.next_posts()
        assert reply.params["text"] == expected
    await slack.dm("Once I spoke up about a safety issue and it mattered.")
    [check] = await slack.next_posts()
    assert "what I heard you pay attention to" in check.params["text"] and actions(check) == ["That's it"]
    assert all(item in json.dumps(check.blocks(), ensure_ascii=False) for item in HEARD["items"])
    if agree is None:
        await slack.press(check, "That's it")
    else:
        await slack.dm(agree)
    [card] = await slack.next_posts()
    return card


def assert_card_blocks(card: Call) -> None:
    blocks = card.blocks()
    header = next(b for b in blocks if b["type"] == "header")
    assert header["text"] == {"type": "plain_text", "text": CARD["title"], "emoji": True}
    dumped = json.dumps(blocks, ensure_ascii=False)
    assert CARD["description"] in dumped
    assert all(f"• {policy}" in dumped for policy in CARD["policies"])
    assert actions(card) == ["Confirm", "Revise", "Start over"]


async def test_full_interview_by_buttons(slack, fake_openai, database, scenario_id):
    card = await reach_card(slack, fake_openai)
    assert_card_blocks(card)
    await slack.press(card, "Confirm")
    [done] = await slack.next_posts()
    assert "is saved" in done.params["text"]
    [row] = await rows(database, ValuesCardRecord)
    assert row.status == "confirmed" and row.title == CARD["title"] and row.scenario_id == scenario_id

    # Pressing the same Confirm again (a double click, a stale client) is refused in words and changes nothing.
    await slack.press(card, "Confirm")
    [refused] = await slack.next_posts()
    assert "earlier message" in refused.params["text"]
    assert [r.status for r in await rows(database, ValuesCardRecord)] == ["confirmed"]
    assert len(await rows(database, Interview)) == 1


async def test_full_interview_confirming_by_typing(slack, fake_openai, database, scenario_id):
    await reach_card(slack, fake_openai, agree="that's it")
    updates = len(slack.slack.calls_to("chat.update"))
    fake_openai.script({"answer": "It comes from what you said about speaking up kindly."})
    await slack.dm("what does the second point mean")  # a question is answered; the card stays proposed
    [answer] = await slack.next_posts()
    assert answer.params["text"].startswith("It comes from") and actions(answer) == ["Confirm", "Revise", "Start over"]
    await slack.dm("yes")
    [done] = await slack.next_posts()
    assert "is saved" in done.params["text"]
    [row] = await rows(database, ValuesCardRecord)
    assert row.status == "confirmed"
    assert slack.slack.calls_to("chat.update")[updates:] == []  # only pressed messages are edited

    answer = (await slack.command("mycard")).json()
    assert answer["response_type"] == "ephemeral"
    shown = json.dumps(answer["blocks"])
    assert CARD["title"] in shown and "confirmed" in shown and CARD["policies"][0] in shown


async def test_old_consent_button_is_refused_after_the_interview_moved_on(slack, fake_openai, database, scenario_id):
    await slack.command("join")
    [consent] = await slack.next_posts()
    await slack.dm("yes")  # typed instead of pressed
    [opening] = await slack.next_posts()
    assert SCENARIO in opening.params["text"]
    requests = len(fake_openai.chat_requests)
    await slack.press(consent, "I agree")
    [refused, where_we_are] = await slack.next_posts(2)
    assert "earlier message" in refused.params["text"] and SCENARIO in where_we_are.params["text"]
    member_turns = await rows(database, InterviewTurn, InterviewTurn.role == "member")
    assert [t.content for t in member_turns] == ["yes"]
    assert len(fake_openai.chat_requests) == requests


async def test_mycard_without_a_card(slack):
    answer = (await slack.command("mycard")).json()
    assert answer["response_type"] == "ephemeral" and answer["text"] == NO_CARD_TEXT


async def test_a_command_slower_than_the_ack_allows_is_acknowledged_and_answered_in_a_dm(slack, monkeypatch):
    from adapters.slack import commands

    monkeypatch.setattr(commands, "ACK_WITHIN", 0.0)  # every subcommand "too slow" for the ack
    answer = (await slack.command("mycard")).json()
    assert answer["response_type"] == "ephemeral" and answer["text"] == commands.STILL_WORKING_TEXT
    await slack.settle()
    [dm] = slack.posted()
    assert dm.params["text"] == NO_CARD_TEXT and dm.params["parse"] == "none"


async def test_the_ack_deadline_counts_from_when_the_request_arrived(slack, monkeypatch):
    """A loaded process may reach the handler late; Slack's 3 s (and Bolt's wait) started at arrival."""
    from adapters.slack import commands

    monkeypatch.setattr(commands, "ACK_WITHIN", 2.5)  # the real deadlines (conftest relaxes them)
    for listener in slack.app._async_listeners:
        listener.ack_timeout = 3

    async def late(body, next):  # what a busy event loop does to a request before the listener runs
        if body.get("command"):
            await asyncio.sleep(commands.ACK_WITHIN + 0.2)
        await next()

    slack.app.use(late)
    response = await slack.command("mycard")
    answer = response.json()  # Bolt gave up after 3 s (404, "unhandled request") if the handler waited on
    assert answer["text"] == commands.STILL_WORKING_TEXT and response.seconds < 3.0
    await slack.settle()
    [dm] = slack.posted()
    assert dm.params["text"] == NO_CARD_TEXT


# --- delivery and input edge cases -----------------------------------------------------------------


async def test_retried_event_is_handled_once(slack, scenario_id):
    payload = message_im_event("hello")
    await slack.event(payload)
    await slack.event(payload, retry=1)
    await slack.next_posts()
    await slack.settle()
    assert len(slack.posted()) == 1


async def test_bot_messages_and_edits_are_ignored(slack, database):
    await slack.dm("my own echo", user=BOT_USER_ID, bot_id=BOT_ID)  # Bolt drops the bot's own messages
    await slack.dm("another bot", user="U9", bot_id="BOTHER", subtype="bot_message")
    await slack.dm(None, user="U1", subtype="message_changed", message={"text": "edited"})
    await slack.dm(None, user="U1", subtype="message_deleted")
    await slack.settle()
    assert slack.posted() == [] and await rows(database, Member) == []


async def test_file_without_text_gets_a_clear_reply(slack, database):
    await slack.dm("", subtype="file_share", files=[{"id": "F1", "name": "cat.png", "mimetype": "image/png"}])
    [reply] = await slack.next_posts()
    assert reply.params["text"] == FILES_ONLY
    assert await rows(database, Member) == []  # the interview service was not involved


HOSTILE = "<!channel> <!here> <!everyone> <@U123> <!subteam^S1>"
INJECTIONS = [
    HOSTILE,
    '[{"type": "section", "text": {"type": "mrkdwn", "text": "<!channel> fake"}}]',
    "*bold* " * 50,
    "<https://evil.example|click here> & <mailto:x@example.com|mail>",
]


async def test_hostile_text_is_echoed_inert(slack, service, fake_openai, scenario_id):
    await conversing(service, scenario_id)

    def echo(request: dict) -> dict:
        return turn("You said: " + request["messages"][-1]["content"])

    for text in INJECTIONS:
        fake_openai.script(echo)
        await slack.dm(text)
        [reply] = await slack.next_posts()
        dumped = reply.dump()
        assert "<!" not in dumped and "<@" not in dumped and "<http" not in dumped and "<mailto" not in dumped
        assert "&lt;" in dumped or "*bold*" in dumped
        blocks = reply.blocks()
        assert all(b["type"] == "section" and b["text"]["verbatim"] is True for b in blocks)
        assert reply.params["parse"] == "none" and reply.params["unfurl_links"] is False


async def test_oversized_message_gets_a_clear_reply_and_nothing_is_stored(slack, service, database, scenario_id):
    await conversing(service, scenario_id)
    before = await rows(database, InterviewTurn)
    await slack.dm("x" * 40_000)
    [reply] = await slack.next_posts()
    assert "40,000 characters" in reply.params["text"]
    assert len(await rows(database, InterviewTurn)) == len(before)


async def test_run_slack_http_serves_until_stopped(service, database):
    import socket

    from adapters.slack.app import run_slack_http

    with socket.socket() as probe:  # a free port for the entry point, which takes a fixed one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with FakeSlack() as fake:
        config = SlackConfig(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=fake.api_url)
        stop = asyncio.Event()
        running = asyncio.create_task(
            run_slack_http(config, interviews=service, database=database, host="127.0.0.1", port=port, stop=stop)
        )
        try:
            body = url_verification_body("ping")
            async with aiohttp.ClientSession() as http:
                for _ in range(100):  # until the server is up
                    try:
                        async with http.post(
                            f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_request(body)
                        ) as response:
                            assert response.status == 200 and "ping" in await response.text()
                            break
                    except aiohttp.ClientConnectorError:
                        await asyncio.sleep(0.02)
                else:
                    raise AssertionError("run_slack_http never started listening")
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)


# --- the harness: settle ---------------------------------------------------------------------------


async def test_settle_returns_once_a_slow_reply_is_posted(slack, service, fake_openai, scenario_id):
    """settle waits for the handler itself (here half a second of model), not for a while."""
    await conversing(service, scenario_id)
    fake_openai.script(Delay(0.5, then=turn("What would speaking up cost her?")))
    await slack.dm("I think she should speak to her colleague first.")
    assert bolt_listeners(), "settle finds Bolt's listener tasks by their name: has slack_bolt renamed it?"
    await slack.settle()
    [question] = slack.posted()
    assert "What would speaking up cost her?" in question.params["text"]


async def test_settle_fails_saying_what_still_runs(slack):
    async def run_ack_function_asynchronously() -> None:  # a listener that never ends, named as Bolt's are
        await asyncio.Event().wait()

    listener = asyncio.ensure_future(run_ack_function_asynchronously())
    try:
        with pytest.raises(AssertionError, match=r"still running after 0.2 s: 1 Bolt listener\(s\), 0 in"):
            await slack.settle(timeout=0.2)
    finally:
        listener.cancel()
    async with slack.deps.background.running():
        with pytest.raises(AssertionError, match=r"0 Bolt listener\(s\), 1 in deps.background"):
            await slack.settle(timeout=0.2)
