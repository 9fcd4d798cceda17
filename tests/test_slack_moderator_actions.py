"""The moderator actions as `/mge` subcommands on Slack, end to end: the real Bolt app against the fake
Slack, signed slash commands, real databases. Each is denied to a member and allowed to a moderator;
changes land in the audit log; slow ones answer in a DM, with their file."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from io import BytesIO

import pytest
from sqlmodel import select

from bot.commands.members import SLACK_CANNOT
from bot.commands.moderator_actions import ACTIONS
from bot.graph.build import load_community_graph_input
from bot.runtime.schedules import community_schedule
from core.messages import CommunityRef
from storage.models import CanonicalValue, ModerationAction, Poll
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID
from tests.fakes.story_rows import add_story
from tests.slack_support import serving_slack
from tests.test_poll_selection import open_poll
from tests.test_scheduler import community_id
from tests.test_slack_moderation import ask

# SQLite only: Slack parsing and rendering; every action runs on PostgreSQL in test_audit_coverage.py.
pytestmark = pytest.mark.sqlite_only

COMMUNITY = CommunityRef("slack", TEAM_ID, TEAM_DOMAIN)
OTHER = CommunityRef("slack", "T0OTHER", "other")
MODERATOR, MEMBER = "UMOD", "U1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def slack(service, database, clock):
    async with serving_slack(
        service, database, clock=clock, moderator_ids=(MODERATOR,), poll_duration=timedelta(hours=48)
    ) as harness:
        yield harness


async def audit(database) -> list[ModerationAction]:
    async with database.session() as session:
        return list((await session.exec(select(ModerationAction).order_by(ModerationAction.id))).all())


def example_text(action) -> str:
    words = {
        "interval": "1d",
        "count": "2",
        "hours": "24",
        "day": "sun",
        "time": "18:00",
        "timezone": "Europe/Berlin",
        "value": "1",
        "keep": "1",
        "merge": "2",
        "card": "1",
        "format": "json",
        "channel": "C9",
        "text": "When in doubt",
        "scenario": "1",
        "context": "1",
        "member": "<@U2|bob>",
        "days": "30",
        "mode": "private",
        "value_a": "1",
        "value_b": "2",
        "story": "1",
    }
    return " ".join([action.path] + [words[p.name] for p in action.params if p.required])


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.path)
async def test_every_moderator_action_is_denied_to_a_member_with_the_reason(slack, database, action):
    answer = await ask(slack, example_text(action), user=MEMBER)
    assert answer["text"].startswith("Only moderators can use /mge " + action.group)
    assert "MGE_SLACK_MODERATOR_IDS" not in answer["text"] or "none are configured" not in answer["text"]
    assert await audit(database) == []
    assert slack.slack.calls_to("chat.postMessage") == []


async def test_a_moderator_sets_the_schedule_from_chat_and_it_is_audited(slack, database):
    answer = await ask(slack, "polls channel <#C0POLLS|polls>", user=MODERATOR)
    assert "Saved." in answer["text"] and "in channel C0POLLS" in answer["text"]
    await ask(slack, "polls every 12h", user=MODERATOR)
    await ask(slack, "digest schedule sun 18:30", user=MODERATOR, channel="C0DIGEST")
    await ask(slack, "digest channel", user=MODERATOR, channel="C0DIGEST")  # this channel
    bad = await ask(slack, "digest timezone Berlin", user=MODERATOR)
    assert "Did you mean Europe/Berlin" in bad["text"]
    await ask(slack, "digest timezone Europe/Berlin", user=MODERATOR)
    shown = await ask(slack, "schedule", user=MODERATOR)
    assert "Story polls: 1 every 12h in channel C0POLLS, each open 48 h" in shown["text"]
    assert "Weekly digest: Sun 18:30 Europe/Berlin in channel C0DIGEST" in shown["text"]
    usage = await ask(slack, "polls", user=MODERATOR)
    assert "/mge polls every &lt;interval&gt;" in usage["text"]

    row = await community_schedule(database, community_id=await community_id(database, COMMUNITY))
    assert (row.poll_channel_id, row.poll_interval_minutes, row.digest_timezone) == ("C0POLLS", 720, "Europe/Berlin")
    entries = await audit(database)
    assert [e.action for e in entries] == [
        "polls.channel",
        "polls.every",
        "digest.schedule",
        "digest.channel",
        "digest.timezone",
    ]
    assert all(e.actor == f"slack:{MODERATOR}" for e in entries)
    assert entries[1].before == {"poll_interval_minutes": 1440} and entries[1].after == {"poll_interval_minutes": 720}
    log = await ask(slack, "audit 2", user=MODERATOR)
    assert "digest.timezone" in log["text"] and "polls.channel" not in log["text"]


async def test_values_are_hidden_restored_and_scoped_to_the_community(slack, database, clock):
    await add_story(database, COMMUNITY, now=clock())
    await add_story(
        database,
        OTHER,
        now=clock(),
        from_value={"title": "Elsewhere", "description": "d", "policies": ["MOMENTS elsewhere"]},
    )
    async with database.session() as session:
        ours, theirs = [], []
        for value in (await session.exec(select(CanonicalValue).order_by(CanonicalValue.id))).all():
            (ours if value.title != "Elsewhere" and len(ours) < 2 else theirs).append(value.id)
    listed = await ask(slack, "values list", user=MODERATOR)
    assert f"{ours[0]}. Fixing The Problem" in listed["text"] and "Elsewhere" not in listed["text"]
    hidden = await ask(slack, f"values hide {ours[0]}", user=MODERATOR)
    assert hidden["text"] == f"Hidden: {ours[0]}. Fixing The Problem."
    assert "(hidden)" in (await ask(slack, "values list", user=MODERATOR))["text"]
    restored = await ask(slack, f"values restore {ours[0]}", user=MODERATOR)
    assert restored["text"].startswith("Restored")
    # Another community's value cannot be touched from here.
    refused = await ask(slack, f"values hide {theirs[0]}", user=MODERATOR)
    assert refused["text"] == f"No value {theirs[0]} in this community."
    bad = await ask(slack, "values hide twelve", user=MODERATOR)
    assert "whole number" in bad["text"]
    assert [e.action for e in await audit(database)] == ["values.hide", "values.restore"]


async def test_slow_actions_answer_in_a_dm_with_their_files(slack, database, clock):
    await add_story(database, COMMUNITY, now=clock())
    assert (await ask(slack, "export csv", user=MODERATOR))["text"].startswith("Working on it")
    assert (await ask(slack, "digest preview", user=MODERATOR))["text"].startswith("Working on it")
    # A slow action without a file that ends within the ack's time answers in the ack itself.
    posted = await ask(slack, "polls post-now", user=MODERATOR, channel="C0HERE")
    assert posted["text"].startswith("Posted a poll on")
    dms = [c for c in slack.slack.calls_to("chat.postMessage") if c.params["channel"].startswith("D")]
    assert len(dms) == 2
    assert "The moral graph: 2 values" in dms[0].params["text"]
    assert "Moral graph digest" in dms[1].params["text"]
    uploads = list(slack.slack.uploads.values())
    with zipfile.ZipFile(BytesIO(uploads[0])) as archive:
        assert sorted(archive.namelist()) == [
            "moral-graph/edges.csv",
            "moral-graph/rankings.csv",
            "moral-graph/reasons.csv",
            "moral-graph/values.json",
            "moral-graph/votes.csv",
        ]
        assert json.loads(archive.read("moral-graph/values.json"))
    assert uploads[1].startswith(PNG_MAGIC)
    async with database.session() as session:
        [poll] = (await session.exec(select(Poll))).all()
    assert poll.channel_id == "C0HERE" and poll.closes_at.replace(tzinfo=clock().tzinfo) == clock() + timedelta(
        hours=48
    )
    assert [e.action for e in await audit(database)] == ["export", "polls.post-now"]


async def test_a_moderator_runs_a_deliberation_round_from_chat(service, database, clock, fake_openai):
    from tests.test_contexts import SIX

    # The interview service's LLM (on the fake OpenAI server) writes the new scenario's contexts.
    fake_openai.script({"contexts": SIX}, {"groups": [{"contexts": ["When grieving", "When mourning a loss"]}]})
    async with serving_slack(service, database, clock=clock, moderator_ids=(MODERATOR,)) as slack:
        added = await ask(slack, "scenario add My friend is grieving. How can I help?", user=MODERATOR)
        assert "is open for interviews: My friend is grieving. How can I help?" in added["text"]
        assert "When grieving" in added["text"] and "When mourning a loss" not in added["text"]
        listed = (await ask(slack, "scenario list", user=MODERATOR))["text"]
        scenario_id = int(listed.split(".", 1)[0])
        assert "— open" in listed
        closed = await ask(slack, f"round close {scenario_id}", user=MODERATOR)
        assert "is closed" in closed["text"]
        assert "— closed" in (await ask(slack, "contexts list", user=MODERATOR))["text"]
        typed = await ask(slack, f"contexts add {scenario_id} When grief &amp; anger mix", user=MODERATOR)
        assert "“When grief &amp; anger mix” is linked" in typed["text"]  # stored as typed, escaped again
        await ask(slack, f"contexts remove {int(typed['text'].split()[1])}", user=MODERATOR)
        added = await ask(slack, f"contexts add {scenario_id} When someone asks for advice", user=MODERATOR)
        context_id = int(added["text"].split()[1])
        assert "“When someone asks for advice” is linked" in added["text"]
        bad = await ask(slack, f"contexts edit {context_id} Asking for advice", user=MODERATOR)
        assert "start with 'When'" in bad["text"]
        await ask(slack, f"contexts edit {context_id} When asked for advice", user=MODERATOR)
        removed = await ask(slack, f"contexts remove {context_id}", user=MODERATOR)
        assert removed["text"] == f"Removed context {context_id} “When asked for advice”."
        reopened = await ask(slack, f"round open {scenario_id}", user=MODERATOR)
        assert "is open" in reopened["text"]
        archived = await ask(slack, f"scenario archive {scenario_id}", user=MODERATOR)
        assert "is archived" in archived["text"]
        assert "— archived" in (await ask(slack, "scenario list", user=MODERATOR))["text"]
        refused = await ask(slack, f"round open {scenario_id}", user=MODERATOR)
        assert "restore it first" in refused["text"]
        await ask(slack, f"scenario restore {scenario_id}", user=MODERATOR)
        assert "— closed" in (await ask(slack, "scenario list", user=MODERATOR))["text"]
    entries = await audit(database)
    assert [e.action for e in entries] == [
        "scenario.add",
        "round.close",
        "contexts.add",
        "contexts.remove",
        "contexts.add",
        "contexts.edit",
        "contexts.remove",
        "round.open",
        "scenario.archive",
        "scenario.restore",
    ]
    assert entries[2].after["text"] == "When grief & anger mix"
    assert entries[5].before == {"text": "When someone asks for advice"} and entries[5].after == {
        "text": "When asked for advice"
    }


async def test_blocking_on_slack_and_why_account_rules_cannot_apply_there(slack, database, clock):
    story = await add_story(database, COMMUNITY, now=clock())
    poll = await open_poll(database, story, now=clock(), closes_at=None)
    async with database.session() as session:
        row = await session.get(Poll, poll.id)
        row.platform, row.channel_id, row.message_id = "slack", "CPOLL", "1700000000.000100"
        session.add(row)
        await session.commit()
    await slack.react("CPOLL", "1700000000.000100", "white_check_mark", user="U2")
    refused = await ask(slack, "eligibility account-age 30", user=MODERATOR)
    assert refused["text"] == SLACK_CANNOT
    blocked = await ask(slack, "member block <@U2|bob>", user=MODERATOR)
    assert blocked["text"].startswith("Blocked.")
    again = await ask(slack, "member block <@U2>", user=MODERATOR)
    assert again["text"] == "That member is already blocked."
    data = await load_community_graph_input(database, community_id=await community_id(database, COMMUNITY))
    assert data.votes == [] and data.excluded_votes == {"blocked": 1}
    stats = await ask(slack, "stats", user=MODERATOR)
    assert "Votes left out of the graph: 1 (1 blocked)." in stats["text"]
    assert (await ask(slack, "eligibility show", user=MODERATOR))[
        "text"
    ] == "Every member's vote counts. Blocked members: 1."
    assert (await ask(slack, "member block @bob", user=MODERATOR))["text"] == "Name the member with a @mention."
    assert [e.action for e in await audit(database)] == ["member.block"]


async def test_stats_estimate_the_cost_at_the_operators_prices(service, database, clock):
    from storage.models import LLMCall

    cid = await community_id(database, COMMUNITY)
    async with database.session() as session:
        session.add(
            LLMCall(
                community_id=cid,
                purpose="interview",
                model="m",
                prompt_sha="0" * 12,
                input_tokens=300_000,
                output_tokens=50_000,
                ok=True,
                duration_ms=1,
                created_at=clock(),
            )
        )
        await session.commit()
    async with serving_slack(
        service, database, clock=clock, moderator_ids=(MODERATOR,), token_prices=(2.5, 10.0)
    ) as priced:
        stats = (await ask(priced, "stats", user=MODERATOR))["text"]
    assert (
        "LLM tokens used in all: 300,000 in, 50,000 out (interviews, dedup, contexts, stories), "
        "about $1.25 at the configured prices."
    ) in stats
    async with serving_slack(service, database, clock=clock, moderator_ids=(MODERATOR,)) as unpriced:
        assert "configured prices" not in (await ask(unpriced, "stats", user=MODERATOR))["text"]
