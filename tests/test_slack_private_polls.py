"""Private polls on Slack end to end: the real Bolt app over HTTP on 127.0.0.1, the fake Slack Web API,
signed ``block_actions`` presses, real SQLite.

Everything posted or updated in the poll's channel (``FakeSlack.public_calls``) is read for a tally or a
voter; each press is answered with ``chat.postEphemeral``, to the presser only.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.slack.polls import SlackPollPublisher
from bot.runtime.schedules import update_schedule
from bot.voting.polls import post_story_poll
from bot.voting.private import CLOSED_TEXT
from bot.voting.rounds import close_due_polls
from core.messages import CommunityRef
from storage import communities_repo, eligibility_repo
from storage.communities_repo import ensure_community
from storage.models import Member, Vote
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID
from tests.fakes.story_rows import add_story
from tests.slack_support import press_body, serving_slack
from tests.test_private_polls import assert_reveals_nothing

pytestmark = pytest.mark.sqlite_only

CHANNEL = "C1"
WORKSPACE = CommunityRef("slack", TEAM_ID, TEAM_DOMAIN)


@pytest.fixture
async def slack(service, database, clock):
    async with serving_slack(service, database, clock=clock) as harness:
        yield harness


@pytest.fixture
async def message(slack, database, clock) -> dict:
    """A private poll posted in CHANNEL: the message as members see it (with its buttons)."""
    community_id = await ensure_community(database, WORKSPACE, now=clock())
    await update_schedule(
        database, community_id=community_id, actor="slack:UMOD", now=clock(), changes={"poll_mode": "private"}
    )
    story_id = await add_story(database, WORKSPACE, now=clock())
    poll = await post_story_poll(
        database,
        SlackPollPublisher(slack.app.client),
        story_id=story_id,
        platform="slack",
        channel_id=CHANNEL,
        closes_at=clock() + timedelta(days=3),
        now=clock(),
    )
    [update] = slack.slack.calls_to("chat.update")
    assert update.params["ts"] == poll.message_id
    return {**update.message(), "ts": poll.message_id}


def body_of(message: dict, label: str, user: str) -> str:
    return press_body(message, label, user=user, channel=CHANNEL)


async def press(slack, body: str) -> dict:
    """Send a press; the ephemeral answer it got."""
    before = len(slack.slack.calls_to("chat.postEphemeral"))
    response = await slack.post(body)
    assert response.status == 200, response.text
    calls = await slack.slack.wait_for("chat.postEphemeral", before + 1)
    await slack.settle()
    assert len(slack.slack.calls_to("chat.postEphemeral")) == before + 1
    return calls[-1].params


async def votes(database) -> dict[str, str]:
    async with database.session() as session:
        rows = (await session.exec(select(Vote, Member).join(Member, Member.id == Vote.member_id))).all()
    return {member.platform_user_id: vote.choice for vote, member in rows}


def shown_in_channel(slack) -> list[dict]:
    return [{"text": c.params.get("text"), "blocks": c.blocks()} for c in slack.slack.public_calls(CHANNEL)]


async def test_votes_stay_private_until_the_poll_closes_and_the_tally_replaces_the_buttons(
    slack, message, database, clock
):
    labels = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Wiser", "Not wiser", "Not sure"]
    assert slack.slack.calls_to("reactions.add") == []  # no reactions, no counts
    voters = ["U1", "U2", "U3", "alice", "user-u1"]

    answer = await press(slack, body_of(message, "Wiser", "U1"))
    assert (answer["channel"], answer["user"]) == (CHANNEL, "U1")
    assert "You chose “Wiser”" in answer["text"] and "press another button" in answer["text"]
    assert (await press(slack, body_of(message, "Not sure", "U2")))["user"] == "U2"
    changed = body_of(message, "Not wiser", "U1")
    assert "Not wiser" in (await press(slack, changed))["text"]  # replaces Wiser
    assert await votes(database) == {"U1": "no_upgrade", "U2": "not_sure"}

    # The same press delivered twice: answered again, to the presser; the votes do not change.
    assert (await press(slack, changed))["user"] == "U1"
    assert await votes(database) == {"U1": "no_upgrade", "U2": "not_sure"}
    async with database.session() as session:
        assert len((await session.exec(select(Vote))).all()) == 2

    # A member a moderator blocked is told so, privately; nothing is recorded.
    community_id = await ensure_community(database, WORKSPACE, now=clock())
    async with database.session() as session:
        u3 = await communities_repo.get_or_create_member(
            session, community_id=community_id, platform_user_id="U3", display_name="", now=clock()
        )
        await eligibility_repo.set_blocked(session, member_id=u3.id, blocked=True, now=clock())
        await session.commit()
    refused = await press(slack, body_of(message, "Not sure", "U3"))
    assert refused["user"] == "U3" and refused["text"].startswith("Your vote can't be counted: a moderator has blocked")
    assert await votes(database) == {"U1": "no_upgrade", "U2": "not_sure"}

    # Past its deadline the poll takes no votes, before the closing tick has updated its message.
    clock.advance(days=3)
    assert (await press(slack, body_of(message, "Wiser", "U2")))["text"] == CLOSED_TEXT
    assert_reveals_nothing(shown_in_channel(slack), voters)

    assert (
        len(await close_due_polls(database, now=clock(), publishers={"slack": SlackPollPublisher(slack.app.client)}))
        == 1
    )
    final = slack.slack.calls_to("chat.update")[-1]
    assert final.params["ts"] == message["ts"]
    blocks = final.blocks()
    assert [b for b in blocks if b["type"] == "actions"] == []
    assert blocks[-1]["elements"][0]["text"] == "Poll closed. Wiser: 0 · Not wiser: 1 · Not sure: 1 (2 votes)"
    assert not any(voter in final.dump() for voter in voters)
