"""`/mge poll` on Slack end to end: the real Bolt app over HTTP on 127.0.0.1, the fake Slack Web API
(with user-groups), signed slash commands, real databases. Plus the platform-neutral moderator gate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from adapters.slack.moderator_commands import GROUPS_UNCHECKED_TEXT, NOTHING_TO_POLL_TEXT, POSTING_TEXT
from bot.commands.permissions import (
    ModeratorFacts,
    SlackModeratorId,
    denial_text,
    is_moderator,
    parse_slack_moderator_id,
    slack_group_ids,
)
from core.messages import CommunityRef
from core.polls import QUESTION
from storage.models import ModerationAction, Poll
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID
from tests.fakes.story_rows import add_story
from tests.slack_support import Harness, serving_slack
from tests.test_poll_selection import add_reverse

# SQLite only: the Slack gate and rendering;
# posting a poll runs on PostgreSQL in test_polls.py and test_poll_selection.py.
pytestmark = pytest.mark.sqlite_only

CHANNEL = "C1"
COMMUNITY = CommunityRef("slack", TEAM_ID, TEAM_DOMAIN)
MODERATOR, GROUP_MEMBER, MEMBER = "UMOD", "UGRP", "U1"
GROUP, MISSING_GROUP = "S0MODS", "S0GONE"
POLL_DURATION = timedelta(hours=48)
REACTIONS = ["white_check_mark", "x", "thinking_face"]
NOTHING_TO_POLL = NOTHING_TO_POLL_TEXT.format(command=f"`mge stories generate --community {TEAM_ID}`")


async def ask(slack: Harness, text: str, **extra: Any) -> dict[str, Any]:
    """Run ``/mge text``; returns the ack (the ephemeral answer) after the work it started is done."""
    answer = (await slack.command(text, **extra)).json()
    await slack.settle()
    assert answer["response_type"] == "ephemeral"
    return answer


@pytest.fixture
def moderator_ids() -> tuple[str, ...]:
    return (MODERATOR, GROUP)


@pytest.fixture
async def slack(service, database, clock, moderator_ids):
    def with_groups(fake) -> None:
        fake.usergroups[GROUP] = [GROUP_MEMBER, "USOMEONE"]

    async with serving_slack(
        service, database, clock=clock, prepare=with_groups, moderator_ids=moderator_ids, poll_duration=POLL_DURATION
    ) as harness:
        yield harness


async def audit_log(database) -> list[ModerationAction]:
    async with database.session() as session:
        return list((await session.exec(select(ModerationAction).order_by(ModerationAction.id))).all())


async def polls(database) -> list[Poll]:
    async with database.session() as session:
        return list((await session.exec(select(Poll).order_by(Poll.id))).all())


# --- the gate ---------------------------------------------------------------------------------------


async def test_a_non_moderator_is_told_why_and_nothing_is_posted(slack, database, clock):
    await add_story(database, COMMUNITY, now=clock())
    answer = await ask(slack, "poll", user=MEMBER)
    assert answer["text"] == denial_text("slack", action="post polls", moderator_ids=(MODERATOR, GROUP))
    assert "MGE_SLACK_MODERATOR_IDS" in answer["text"]
    assert slack.slack.calls_to("chat.postMessage") == [] and slack.slack.calls_to("reactions.add") == []
    assert await polls(database) == []
    # The configured user-group was checked (the member might have been in it).
    [lookup] = slack.slack.calls_to("usergroups.users.list")
    assert lookup.params["usergroup"] == GROUP


async def test_a_listed_user_posts_the_next_story_with_three_reactions(slack, database, clock):
    story_id = await add_story(database, COMMUNITY, now=clock())
    answer = await ask(slack, "poll", user=MODERATOR)
    assert answer["text"].startswith("Posted a poll on") and "<!date^" in answer["text"]

    [post] = slack.posts_to(CHANNEL)
    assert post.blocks()[0]["text"]["text"] == QUESTION
    adds = slack.slack.calls_to("reactions.add")
    assert [(c.params["channel"], c.params["timestamp"], c.params["name"]) for c in adds] == [
        (CHANNEL, post.result["ts"], name) for name in REACTIONS
    ]
    [poll] = await polls(database)
    assert (poll.story_id, poll.platform, poll.channel_id, poll.message_id, poll.state) == (
        story_id,
        "slack",
        CHANNEL,
        post.result["ts"],
        "open",
    )
    assert poll.closes_at == clock() + POLL_DURATION
    assert slack.slack.calls_to("usergroups.users.list") == []  # listed by user id: no lookup needed
    [entry] = await audit_log(database)
    assert (entry.action, entry.actor, entry.target, entry.at) == (
        "poll",
        f"slack:{MODERATOR}",
        f"poll {poll.id}",
        clock(),
    )
    assert entry.after == {
        "story": story_id,
        "channel": CHANNEL,
        "message": post.result["ts"],
        "closes_at": poll.closes_at.isoformat(),
    }


async def test_a_user_group_member_is_allowed_and_the_group_is_looked_up_once_a_minute(slack, database, clock):
    first = await add_story(database, COMMUNITY, now=clock())
    await add_reverse(database, first, now=clock())
    other = await add_story(database, COMMUNITY, now=clock())

    for _ in range(2):
        answer = await ask(slack, "poll", user=GROUP_MEMBER)
        assert answer["text"].startswith("Posted a poll on")
    # The second poll is another story: neither the open one nor its reverse.
    assert [poll.story_id for poll in await polls(database)] == [first, other]
    assert len(slack.posts_to(CHANNEL)) == 2 and len(slack.slack.calls_to("reactions.add")) == 6
    assert len(slack.slack.calls_to("usergroups.users.list")) == 1  # cached

    assert (await ask(slack, "poll", user=GROUP_MEMBER))["text"] == NOTHING_TO_POLL


async def test_nothing_to_post_gets_a_clear_answer(slack, database):
    answer = await ask(slack, "poll", user=MODERATOR)
    assert answer["text"] == NOTHING_TO_POLL
    assert "`mge stories generate --community T0TEST`" in answer["text"]
    assert slack.slack.calls_to("chat.postMessage") == [] and await polls(database) == []


def refuse_posts_in(slack: Harness, monkeypatch, channel: str, error: str) -> None:
    post = slack.slack.api_chat_postMessage

    def refuse(params, request):
        return {"ok": False, "error": error} if params.get("channel") == channel else post(params, request)

    monkeypatch.setattr(slack.slack, "api_chat_postMessage", refuse)


async def test_a_channel_the_bot_is_not_in_is_named_in_the_answer_and_the_story_stays_available(
    slack, database, clock, monkeypatch
):
    story_id = await add_story(database, COMMUNITY, now=clock())
    refuse_posts_in(slack, monkeypatch, "C2", "not_in_channel")
    answer = await ask(slack, "poll", user=MODERATOR, channel="C2")
    # Never "posting" or "posted": the answer is the failure and what to do about it.
    assert answer["text"] == (
        "I couldn't post in channel C2: I'm not in that channel. Invite me there "
        "(`/invite @Moral Graph Bot`) and try again."
    )
    assert slack.posts_to("DMOD") == []  # no second, contradicting message
    assert await polls(database) == [] and await audit_log(database) == []

    assert (await ask(slack, "poll", user=MODERATOR))["text"].startswith("Posted a poll on")
    assert [poll.story_id for poll in await polls(database)] == [story_id]


async def test_polls_post_now_in_a_channel_the_bot_is_not_in_answers_with_the_failure(
    slack, database, clock, monkeypatch
):
    await add_story(database, COMMUNITY, now=clock())
    refuse_posts_in(slack, monkeypatch, "C2", "channel_not_found")
    answer = await ask(slack, "polls post-now <#C2|secret>", user=MODERATOR)
    assert answer["text"].startswith("I couldn't post in channel C2: I can't see that channel")
    assert slack.posts_to("DMOD") == [] and await polls(database) == [] and await audit_log(database) == []

    posted = await ask(slack, "polls post-now", user=MODERATOR, channel="C1")
    assert posted["text"].startswith("Posted a poll on")
    [poll] = await polls(database)
    [entry] = await audit_log(database)
    assert (entry.action, entry.actor, entry.target) == ("polls.post-now", f"slack:{MODERATOR}", f"poll {poll.id}")


async def test_a_post_slower_than_the_ack_is_reported_when_it_ends(slack, database, clock, monkeypatch):
    await add_story(database, COMMUNITY, now=clock())
    monkeypatch.setattr("adapters.slack.moderator_actions.ANSWER_IN_ACK_WITHIN", 0.0)
    answer = await ask(slack, "poll", user=MODERATOR)
    assert answer["text"] == POSTING_TEXT and "posted" not in answer["text"].casefold()
    [note] = slack.posts_to("DMOD")
    assert note.params["text"].startswith("Posted a poll on") and len(await polls(database)) == 1


@pytest.mark.parametrize("moderator_ids", [(MODERATOR, MISSING_GROUP)])
async def test_a_group_that_cannot_be_listed_denies_and_says_so(slack, database, clock):
    await add_story(database, COMMUNITY, now=clock())
    answer = await ask(slack, "poll", user=GROUP_MEMBER)
    assert answer["text"].endswith(GROUPS_UNCHECKED_TEXT)
    assert slack.slack.calls_to("chat.postMessage") == [] and await polls(database) == []


# --- ids scoped to one workspace ------------------------------------------------------------------------

OTHER_TEAM, THIRD_TEAM = "T0OTHER", "T0THIRD"
SCOPED = (f"{TEAM_ID}:{MODERATOR}", f"{OTHER_TEAM}:{GROUP}")


@pytest.mark.parametrize("moderator_ids", [SCOPED])
async def test_a_scoped_id_is_a_moderator_only_in_its_workspace(slack, database, clock):
    await add_story(database, COMMUNITY, now=clock())
    assert (await ask(slack, "poll", user=MODERATOR))["text"].startswith("Posted a poll on")
    # The same user id in another workspace (Enterprise Grid shares W… ids across workspaces) is no one there.
    refused = await ask(slack, "poll", user=MODERATOR, team=OTHER_TEAM)
    assert refused["text"] == denial_text("slack", action="post polls", moderator_ids=SCOPED, team_id=OTHER_TEAM)
    assert "not on that list" in refused["text"]
    assert slack.slack.calls_to("usergroups.users.list")[-1].params == {"usergroup": GROUP, "team_id": OTHER_TEAM}
    # The group scoped to the other workspace counts there (looked up in that workspace) and nowhere else.
    assert (await ask(slack, "poll", user=GROUP_MEMBER, team=OTHER_TEAM))["text"] == NOTHING_TO_POLL.replace(
        TEAM_ID, OTHER_TEAM
    )
    lookups = len(slack.slack.calls_to("usergroups.users.list"))
    here = await ask(slack, "poll", user=GROUP_MEMBER)
    assert here["text"] == denial_text("slack", action="post polls", moderator_ids=SCOPED, team_id=TEAM_ID)
    assert len(slack.slack.calls_to("usergroups.users.list")) == lookups  # no group applies here: no lookup
    # A workspace with no entry for it says so, and how to add one.
    third = await ask(slack, "poll", user=MODERATOR, team=THIRD_TEAM)
    assert "none are configured for this workspace" in third["text"] and f"{THIRD_TEAM}:USER_ID" in third["text"]
    assert len(await polls(database)) == 1  # only the moderator in their own workspace posted


@pytest.mark.parametrize("moderator_ids", [(MODERATOR,)])
async def test_a_bare_id_is_a_moderator_in_every_workspace(slack, database, clock):
    await add_story(database, COMMUNITY, now=clock())
    assert (await ask(slack, "poll", user=MODERATOR))["text"].startswith("Posted a poll on")
    assert (await ask(slack, "poll", user=MODERATOR, team=OTHER_TEAM))["text"] == NOTHING_TO_POLL.replace(
        TEAM_ID, OTHER_TEAM
    )


async def test_help_lists_poll(slack):
    answer = await ask(slack, "help")
    assert "/mge poll" in answer["text"] and "moderators" in answer["text"]


# --- the gate itself (platform-neutral) ---------------------------------------------------------------


def test_is_moderator_rules():
    def facts(**extra) -> ModeratorFacts:
        return ModeratorFacts(platform=extra.pop("platform", "discord"), user_id="42", **extra)

    assert is_moderator(facts(is_admin_by_platform=True))
    assert is_moderator(facts(role_ids=("7", "9")), moderator_role_ids=(9,))
    assert not is_moderator(facts(role_ids=("7",)), moderator_role_ids=(9,))
    assert not is_moderator(facts(), moderator_role_ids=(), moderator_ids=())
    assert is_moderator(facts(platform="slack"), moderator_ids=("42",))
    assert is_moderator(facts(platform="slack", group_ids=("S1",)), moderator_ids=("U9", "S1"))
    assert not is_moderator(facts(platform="slack", group_ids=("S2",)), moderator_ids=("U9", "S1"))
    assert slack_group_ids(("U1", " S1 ", "W2", "S2")) == ("S1", "S2")


def test_scoped_slack_ids_apply_only_in_their_workspace():
    def slack(team: str, user: str = "W42", groups: tuple[str, ...] = ()) -> ModeratorFacts:
        return ModeratorFacts(platform="slack", user_id=user, team_id=team, group_ids=groups)

    ids = ("T1:W42", "T2:S9", "U7")
    assert is_moderator(slack("T1"), moderator_ids=ids)
    assert not is_moderator(slack("T2"), moderator_ids=ids)
    assert is_moderator(slack("T2", groups=("S9",)), moderator_ids=ids)
    assert not is_moderator(slack("T1", user="W99", groups=("S9",)), moderator_ids=ids)
    assert is_moderator(slack("T1", user="U7"), moderator_ids=ids)
    assert is_moderator(slack("T3", user="U7"), moderator_ids=ids)
    assert slack_group_ids(ids, team_id="T1") == () and slack_group_ids(ids, team_id="T2") == ("S9",)
    assert parse_slack_moderator_id(" T1:W42 ") == SlackModeratorId("T1", "W42")
    assert str(SlackModeratorId("T1", "W42")) == "T1:W42"
    assert parse_slack_moderator_id("S9") == SlackModeratorId("", "S9")


def test_denial_texts_say_what_is_needed():
    assert "Manage Server" in denial_text("discord", moderator_role_ids=(1,)) and "moderator roles" in denial_text(
        "discord", moderator_role_ids=(1,)
    )
    assert "no moderator roles are configured" in denial_text("discord")
    assert "none are configured yet" in denial_text("slack")
    assert "not on that list" in denial_text("slack", moderator_ids=("U1",))
    assert "not on that list" in denial_text("slack", moderator_ids=("T1:U1",), team_id="T1")
    elsewhere = denial_text("slack", moderator_ids=("T1:U1",), team_id="T2")
    assert "none are configured for this workspace yet" in elsewhere and "T2:USER_ID" in elsewhere
