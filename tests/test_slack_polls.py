"""Story polls on Slack end to end: the real Bolt app over HTTP on 127.0.0.1, the fake Slack Web API,
signed ``reaction_added`` / ``reaction_removed`` events, real SQLite."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from adapters.slack.polls import SlackPollPublisher
from bot.voting.polls import close_poll, post_story_poll
from core.messages import CommunityRef
from core.polls import QUESTION
from storage.models import Member, Poll, Vote
from tests.fakes.slack_api import (
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    reaction_event,
)
from tests.fakes.story_rows import TO_VALUE, add_story
from tests.slack_support import serving_slack

# SQLite only: Slack events and rendering;
# the vote inbox runs on PostgreSQL in test_vote_inbox.py and test_isolation.py.
pytestmark = pytest.mark.sqlite_only

CHANNEL = "C1"
HOSTILE_STORY = "I told <!channel> and <@U999> about <https://evil.example|a link> & more. Then I listened."


@pytest.fixture
async def slack(service, database):
    async with serving_slack(service, database) as harness:
        yield harness


@pytest.fixture
async def poll(slack, database, clock) -> Poll:
    story_id = await add_story(database, CommunityRef("slack", TEAM_ID, TEAM_DOMAIN), now=clock(), story=HOSTILE_STORY)
    # closes_at None: the handler reads the real clock, the fixture's clock is in the past.
    return await post_story_poll(
        database,
        SlackPollPublisher(slack.app.client),
        story_id=story_id,
        platform="slack",
        channel_id=CHANNEL,
        closes_at=None,
        now=clock(),
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
        await slack.react(poll.channel_id, poll.message_id, name, user=BOT_USER_ID)
    await assert_votes(database, {})


async def test_reactions_count_replace_and_retract_votes(slack, poll, database):
    await slack.react(poll.channel_id, poll.message_id, "white_check_mark")
    await slack.react(poll.channel_id, poll.message_id, "thinking_face", user="U2")
    await assert_votes(database, {"U1": "upgrade", "U2": "not_sure"})
    await slack.react(poll.channel_id, poll.message_id, "x")  # the latest reaction wins
    await assert_votes(database, {"U1": "no_upgrade", "U2": "not_sure"})
    await slack.react(
        poll.channel_id, poll.message_id, "white_check_mark", added=False
    )  # not the current choice: nothing changes
    await assert_votes(database, {"U1": "no_upgrade", "U2": "not_sure"})
    await slack.react(poll.channel_id, poll.message_id, "x", added=False)
    await slack.react(poll.channel_id, poll.message_id, "tada", user="U2")
    await assert_votes(database, {"U2": "not_sure"})


async def test_retried_event_is_counted_once(slack, poll, database):
    first = await slack.react(poll.channel_id, poll.message_id, "white_check_mark", event_id="EvFirst")
    await slack.react(poll.channel_id, poll.message_id, "x")
    # Slack retries the first event (it thought the ack was late): it must not undo the later change.
    await slack.event(first, retry=1)
    await slack.event(first, retry=2)
    await slack.settle()
    await assert_votes(database, {"U1": "no_upgrade"})


async def test_a_burst_of_first_reactions_asks_slack_who_the_bot_is_once(slack, poll, database):
    # The first reactions after a start arrive together; each needs the bot's own user id.
    bodies = [
        reaction_event("white_check_mark", user=f"U{n}", channel=poll.channel_id, ts=poll.message_id) for n in range(40)
    ]
    await asyncio.gather(*(slack.event(body) for body in bodies))
    await slack.settle()
    assert len(slack.slack.calls_to("auth.test")) == 1
    await assert_votes(database, {f"U{n}": "upgrade" for n in range(40)})


async def test_reactions_after_close_or_from_another_workspace_are_ignored(slack, poll, database, clock):
    await slack.react(poll.channel_id, poll.message_id, "white_check_mark", team="T0OTHER")
    await assert_votes(database, {})
    await slack.react(poll.channel_id, poll.message_id, "white_check_mark")
    await close_poll(database, poll_id=poll.id, now=clock())
    await slack.react(poll.channel_id, poll.message_id, "x")
    await slack.react(poll.channel_id, poll.message_id, "thinking_face", user="U2")
    await slack.react(poll.channel_id, poll.message_id, "white_check_mark", added=False)
    await assert_votes(database, {"U1": "upgrade"})


async def test_concurrent_conflicting_reactions_end_as_slack_ordered_them(slack, poll, database):
    """Adds and removals of several members sent at once over HTTP, out of order, with Slack's
    ``event_ts``: each member's vote is the reaction added last (by ``event_ts``) among those left."""
    import json
    import random

    from tests.fakes.slack_api import reaction_event, signed_request

    rng = random.Random(3)
    names = {"white_check_mark": "upgrade", "x": "no_upgrade", "thinking_face": "not_sure"}
    bodies, sent = [], []
    for step in range(80):
        user, name, added = f"U{rng.randrange(6)}", rng.choice(list(names)), rng.random() < 0.6
        body = reaction_event(name, added=added, user=user, channel=CHANNEL, ts=poll.message_id)
        body["event"]["event_ts"] = f"1700000000.{step:06d}"
        bodies.append(body)
        sent.append((user, name, added))
    rng.shuffle(bodies)
    responses = await asyncio.gather(*(slack.post(json.dumps(b), signed_request(json.dumps(b))) for b in bodies))
    assert {r.status for r in responses} == {200}
    await slack.settle()
    expected: dict[str, str] = {}
    for user in {u for u, _, _ in sent}:
        visible: list[str] = []
        for who, name, added in sent:  # in event_ts order
            if who == user:
                if name in visible:
                    visible.remove(name)
                if added:
                    visible.append(name)
        if visible:
            expected[user] = names[visible[-1]]
    await assert_votes(database, expected)


async def test_while_slack_cannot_say_who_the_bot_is_its_own_reactions_never_count(slack, poll, database, monkeypatch):
    import json

    from tests.fakes.slack_api import reaction_event, signed_request

    monkeypatch.setattr(slack.slack, "api_auth_test", lambda params, request: {"ok": False, "error": "invalid_auth"})
    body = json.dumps(reaction_event("white_check_mark", user=BOT_USER_ID, channel=poll.channel_id, ts=poll.message_id))
    response = await slack.post(body, signed_request(body))
    assert response.status != 500  # not taken by the short road: Bolt answers (and Slack retries later)
    await slack.settle()
    await assert_votes(database, {})
