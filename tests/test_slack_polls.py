"""Story polls on Slack end to end: the real Bolt app over HTTP on 127.0.0.1, the fake Slack Web API,
signed ``reaction_added`` / ``reaction_removed`` events, real SQLite."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp
import pytest
from sqlmodel import select

from mge.adapters.slack.app import SlackConfig, build_slack_app, start_http
from mge.adapters.slack.context import SlackDeps
from mge.adapters.slack.polls import SlackPollPublisher
from mge.bot.polls import close_poll, post_story_poll
from mge.core.messages import CommunityRef
from mge.core.polls import QUESTION
from mge.storage.models import Member, Poll, Vote
from tests.fakes.slack_api import (
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_DOMAIN,
    TEAM_ID,
    FakeSlack,
    reaction_event,
    signed_request,
)
from tests.fakes.story_rows import TO_VALUE, add_story

CHANNEL = "C1"
HOSTILE_STORY = "I told <!channel> and <@U999> about <https://evil.example|a link> & more. Then I listened."


@dataclass
class Harness:
    slack: FakeSlack
    url: str
    http: aiohttp.ClientSession
    deps: SlackDeps

    async def event(self, body: dict, *, retry: int | None = None) -> None:
        raw = json.dumps(body)
        headers = signed_request(raw)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        async with self.http.post(self.url, data=raw.encode(), headers=headers) as response:
            assert response.status == 200, await response.text()

    async def react(self, poll: Poll, reaction: str, *, added: bool = True, user: str = "U1", **extra) -> dict:
        body = reaction_event(reaction, added=added, user=user, channel=poll.channel_id, ts=poll.message_id, **extra)
        await self.event(body)
        await self.settle()
        return body

    async def settle(self) -> None:
        """Let every dispatched handler finish (they run after the ack, as separate tasks)."""
        for _ in range(3):
            await asyncio.sleep(0.05)
            await self.deps.background.wait_idle(10)


@pytest.fixture
async def slack(service, database):
    async with FakeSlack() as fake:
        config = SlackConfig(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=fake.api_url)
        app, deps = build_slack_app(config, interviews=service, database=database)
        runner, port = await start_http(app, host="127.0.0.1", port=0)
        try:
            async with aiohttp.ClientSession() as http:
                harness = Harness(fake, f"http://127.0.0.1:{port}/slack/events", http, deps)
                harness.app = app
                yield harness
                await harness.settle()
        finally:
            await runner.cleanup()


@pytest.fixture
async def poll(slack, database, clock) -> Poll:
    story_id = await add_story(database, CommunityRef("slack", TEAM_ID, TEAM_DOMAIN), now=clock(), story=HOSTILE_STORY)
    # closes_at None: the handler reads the real clock, the fixture's clock is in the past.
    return await post_story_poll(
        database, SlackPollPublisher(slack.app.client), story_id=story_id, platform="slack", channel_id=CHANNEL,
        closes_at=None, now=clock(),
    )


async def votes(database) -> dict[str, str]:
    """platform user id → choice."""
    async with database.session() as session:
        rows = (await session.exec(select(Vote, Member).join(Member, Member.id == Vote.member_id))).all()
    return {member.platform_user_id: vote.choice for vote, member in rows}


async def assert_votes(database, expected: dict[str, str], timeout: float = 5) -> None:
    """The votes are ``expected``, waiting up to ``timeout`` for a handler a loaded machine runs late
    (``settle`` already waits for dispatched handlers; this covers one not yet started)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await votes(database)) != expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert found == expected


async def test_publish_posts_escaped_story_and_adds_three_reactions(slack, poll, database):
    [post] = slack.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL and poll.message_id == post.result["ts"] and poll.channel_id == CHANNEL
    dump = post.dump()
    assert "<!channel>" not in dump and "<@U999>" not in dump and "<https://" not in dump
    assert "&lt;!channel&gt;" in dump and "&amp; more" in dump
    assert post.params["parse"] == "none" and post.params["link_names"] in (False, "0", "false", "False")
    blocks = post.blocks()
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": QUESTION, "emoji": True}}
    assert TO_VALUE["title"] in dump and ":white_check_mark:" in dump

    adds = slack.slack.calls_to("reactions.add")
    assert [(c.params["channel"], c.params["timestamp"], c.params["name"]) for c in adds] == [
        (CHANNEL, poll.message_id, name) for name in ("white_check_mark", "x", "thinking_face")
    ]
    # Slack sends the bot's own three reactions back as events: they are not votes.
    for name in ("white_check_mark", "x", "thinking_face"):
        await slack.react(poll, name, user=BOT_USER_ID)
    await assert_votes(database, {})


async def test_reactions_count_replace_and_retract_votes(slack, poll, database):
    await slack.react(poll, "white_check_mark")
    await slack.react(poll, "thinking_face", user="U2")
    await assert_votes(database, {"U1": "upgrade", "U2": "not_sure"})
    await slack.react(poll, "x")  # the latest reaction wins
    await assert_votes(database, {"U1": "no_upgrade", "U2": "not_sure"})
    await slack.react(poll, "white_check_mark", added=False)  # not the current choice: nothing changes
    await assert_votes(database, {"U1": "no_upgrade", "U2": "not_sure"})
    await slack.react(poll, "x", added=False)
    await slack.react(poll, "tada", user="U2")
    await assert_votes(database, {"U2": "not_sure"})


async def test_retried_event_is_counted_once(slack, poll, database):
    first = await slack.react(poll, "white_check_mark", event_id="EvFirst")
    await slack.react(poll, "x")
    # Slack retries the first event (it thought the ack was late): it must not undo the later change.
    await slack.event(first, retry=1)
    await slack.event(first, retry=2)
    await slack.settle()
    await assert_votes(database, {"U1": "no_upgrade"})


async def test_reactions_after_close_or_from_another_workspace_are_ignored(slack, poll, database, clock):
    await slack.react(poll, "white_check_mark", team="T0OTHER")
    await assert_votes(database, {})
    await slack.react(poll, "white_check_mark")
    await close_poll(database, poll_id=poll.id, now=clock())
    await slack.react(poll, "x")
    await slack.react(poll, "thinking_face", user="U2")
    await slack.react(poll, "white_check_mark", added=False)
    await assert_votes(database, {"U1": "upgrade"})
