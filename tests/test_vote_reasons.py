"""Votes with reasons and `/mge vote` (docs/method.md §7) on Discord and Slack, through the fakes: one reason
question per member and poll whatever the reactions and redeliveries, "Don't ask me again" honoured, the
answer stored on the vote and shown in the exports and the explorer, erased by forget; `/mge vote` offering
only unvoted stories, the member's own scenarios first, a press recording the vote once."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.discord.legitimacy import DiscordDirectMessenger
from adapters.discord.polls import DiscordPollPublisher
from adapters.slack.legitimacy import SlackDirectMessenger
from adapters.slack.polls import SlackPollPublisher
from bot.graph import export as exporting
from bot.graph.build import load_community_graph_input
from bot.graph.explorer import render_explorer
from bot.privacy.erase import forget_member
from bot.voting.polls import post_story_poll
from bot.voting.reasons import send_reason_questions, stats_lines
from core.graph import GraphParams, build_moral_graph
from core.interview import InterviewState
from core.member_texts import english
from core.messages import CommunityRef
from core.vote_reasons import NOTHING_TO_VOTE_TEXT, Candidate, draw_order
from storage import communities_repo
from storage.models import (
    Interview,
    Member,
    Scenario,
    ScenarioContext,
    TransitionStory,
    Vote,
    VoteReasonAsk,
    VoteReasonOptOut,
)
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID
from tests.fakes.story_rows import add_story
from tests.slack_support import serving_slack
from tests.test_discord_polls import Handled

pytestmark = pytest.mark.sqlite_only

YES, NO = "\u2705", "\u274c"
REASON = "Because <@123> @everyone listening came first, **really**."
OTHER_VALUE = {"title": "Keeping Calm", "description": "Stay steady.", "policies": ["BREATHS before answering"]}
THIRD_VALUE = {"title": "Asking First", "description": "Ask what they need.", "policies": ["QUESTIONS about needs"]}


async def rows(database, model):
    async with database.session() as session:
        return list((await session.exec(select(model))).all())


async def member_id(database, platform: str, user_id: str) -> int:
    async with database.session() as session:
        return (await session.exec(select(Member.id).where(Member.platform_user_id == user_id))).one()


async def interviewed_on(database, community: CommunityRef, user_id: str, story_id: int, now) -> None:
    """The member was interviewed on a scenario whose contexts include the story's."""
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        member = await communities_repo.get_or_create_member(
            session, community_id=row.id, platform_user_id=user_id, display_name="", now=now
        )
        story = await session.get(TransitionStory, story_id)
        scenario = Scenario(community_id=row.id, text="A hard question", created_at=now)
        session.add(scenario)
        await session.flush()
        session.add(ScenarioContext(scenario_id=scenario.id, context_id=story.context_id))
        session.add(
            Interview(
                community_id=row.id,
                member_id=member.id,
                scenario_id=scenario.id,
                state=InterviewState.CONFIRMED,
                created_at=now - timedelta(days=2),
                last_activity_at=now - timedelta(days=2),
                ended_at=now - timedelta(days=2),
            )
        )
        await session.commit()


async def post_discord_polls(client, database, guild, story_ids: list[int], clock) -> list:
    """Each story posted as a poll in the guild's channel, once the bot has handled its own reactions."""
    client.handled = Handled()
    client.on_mge_reaction_handled = client.handled
    polls = [
        await post_story_poll(
            database,
            DiscordPollPublisher(client),
            story_id=story_id,
            platform="discord",
            channel_id=str(guild.channel_id),
            closes_at=clock() + timedelta(days=3),
            now=clock(),
        )
        for story_id in story_ids
    ]
    await client.handled.wait(3 * len(story_ids))
    return polls


def buttons_of(message: dict) -> list[tuple[str, str]]:
    return [(c["custom_id"], c["label"]) for row in message.get("components", []) for c in row["components"]]


def test_the_draw_puts_own_scenarios_first_then_fewest_votes():
    candidates = [Candidate(1, 0, False), Candidate(2, 5, True), Candidate(3, 1, True), Candidate(4, 0, False)]
    assert [c.poll_id for c in draw_order(candidates)] == [3, 2, 1, 4]


# --- Discord -------------------------------------------------------------------------------------------


async def test_discord_one_reason_question_per_vote_stored_exported_and_forgotten(
    fake_discord,
    guild,
    service,
    database,
    clock,  # noqa: F811
):
    community = CommunityRef("discord", str(guild.id), guild.name)
    alice, bob = fake_discord.add_user("alice"), fake_discord.add_user("bob")
    async with running_bot(fake_discord, service, database, clock, sync_commands=False) as client:
        story_ids = [
            await add_story(database, community, now=clock()),
            await add_story(database, community, now=clock(), from_value=OTHER_VALUE, to_value=THIRD_VALUE),
        ]
        await post_discord_polls(client, database, guild, story_ids, clock)
        first, second = fake_discord.bot_messages(guild.channel_id)
        # Alice changes her mind, takes it back and votes again: one question all the same.
        for emoji, added in ((YES, True), (NO, True), (NO, False), (YES, False), (YES, True)):
            await (fake_discord.add_reaction if added else fake_discord.remove_reaction)(alice, first, emoji)
        for message in (first, second):
            await fake_discord.add_reaction(bob, message, NO)
        await client.handled.wait(6 + 7)
        assert len(await rows(database, VoteReasonAsk)) == 3  # alice×1, bob×2

        messengers = {"discord": DiscordDirectMessenger(client)}
        assert await send_reason_questions(database, messengers, now=clock()) == 2  # one per member at a time
        assert await send_reason_questions(database, messengers, now=clock()) == 0  # sent once
        [question] = await fake_discord.wait_for_bot_messages(fake_discord.dm_channel_id(alice), 1)
        assert "What made you choose “Wiser”" in question["content"]
        assert [label for _, label in buttons_of(question)] == ["Skip", "Don't ask me again"]

        # Bob opts out under his first question: his second is never sent.
        [bobs] = await fake_discord.wait_for_bot_messages(fake_discord.dm_channel_id(bob), 1)
        stop = next(key for key, label in buttons_of(bobs) if label == "Don't ask me again")
        await fake_discord.press_button(bob, bobs, stop)
        await fake_discord.wait_for_bot_messages(fake_discord.dm_channel_id(bob), 2)
        assert await send_reason_questions(database, messengers, now=clock()) == 0
        assert len(await rows(database, VoteReasonOptOut)) == 1
        assert len(fake_discord.bot_messages(fake_discord.dm_channel_id(bob))) == 2

        # Alice answers in a sentence: it is her vote's reason, not the start of an interview.
        await fake_discord.send_dm(alice, REASON)
        [_, thanks] = await fake_discord.wait_for_bot_messages(fake_discord.dm_channel_id(alice), 2)
        assert thanks["content"] == english().reason_saved
        assert await rows(database, Interview) == []
        [alices] = [v for v in await rows(database, Vote) if v.why]
        assert alices.why == " ".join(REASON.split()) and alices.choice == "upgrade"

    # Exports and the explorer show it beside the story; stats count it.
    cid = alices.community_id
    data = await load_community_graph_input(database, community_id=cid)
    graph = build_moral_graph(data.values, data.votes, GraphParams())
    doc = json.loads(exporting.export_json(graph, community=data.community, stories=data.stories))
    assert [s["reasons"] for s in doc["stories"]] == [[{"choice": "upgrade", "why": alices.why}], []]
    files = exporting.export_csv_files(graph, data.votes, reasons=data.vote_reasons)
    [line] = list(csv.DictReader(io.StringIO(files["reasons.csv"].decode())))
    assert (line["voter_id"], line["choice"], line["why"]) == ("voter-1", "upgrade", alices.why)
    page = render_explorer(graph, data).decode()
    assert "listening came first" in page and "<@123>" not in page  # JSON-escaped: \u003c@123\u003e
    assert "Why voters chose as they did" in page
    assert await stats_lines(database, community_id=cid) == ["Reasons: 1 of 3 votes."]

    report = await forget_member(database, community_id=cid, platform_user_id=str(alice.id), now=clock())
    assert report.vote_reasons_erased == 1 and report.vote_reason_questions_deleted == 1
    assert [v.why for v in await rows(database, Vote)] == [None, None, None]


async def test_discord_mge_vote_offers_unvoted_stories_own_scenario_first_and_a_press_counts_once(
    fake_discord,
    guild,
    service,
    database,
    clock,  # noqa: F811
):
    community = CommunityRef("discord", str(guild.id), guild.name)
    carol, dave = fake_discord.add_user("carol"), fake_discord.add_user("dave")
    async with running_bot(fake_discord, service, database, clock) as client:
        plain = await add_story(database, community, now=clock())
        own = await add_story(
            database, community, now=clock(), context="When a friend asks for advice", from_value=OTHER_VALUE
        )
        polls = dict(
            zip((plain, own), await post_discord_polls(client, database, guild, [plain, own], clock), strict=True)
        )
        _, own_message = fake_discord.bot_messages(guild.channel_id)
        await fake_discord.add_reaction(dave, own_message, NO)  # the own-scenario story has more votes
        await client.handled.wait(7)
        await interviewed_on(database, community, str(carol.id), own, clock())

        interaction = await fake_discord.send_slash_command(carol, guild, "mge", "vote")
        await fake_discord.wait_for_responses(interaction, 2)
        dm = fake_discord.dm_channel_id(carol)
        [offer] = await fake_discord.wait_for_bot_messages(dm, 1)
        assert "When a friend asks for advice" in offer["content"]  # her scenario first, despite its vote
        keys = dict((label, key) for key, label in buttons_of(offer))
        assert list(keys) == ["Wiser", "Not wiser", "Not sure", "Stop"]
        assert keys["Wiser"] == f"mge:choice:dmvote:{polls[own].id}:upgrade"

        await fake_discord.press_button(carol, offer, keys["Wiser"])
        [_, recorded, following] = await fake_discord.wait_for_bot_messages(dm, 3)
        assert "Recorded" in recorded["content"] and "When someone is in distress" in following["content"]
        # The same button again (a double click): the vote stays, no second story is sent.
        await fake_discord.press_button(carol, offer, keys["Wiser"])
        await fake_discord.wait_for_bot_messages(dm, 4)
        choices = {(v.poll_id, v.member_id): v.choice for v in await rows(database, Vote)}
        carol_id = await member_id(database, "discord", str(carol.id))
        assert choices[(polls[own].id, carol_id)] == "upgrade" and len(choices) == 2
        assert len(fake_discord.bot_messages(dm)) == 4

        # Dave voted on the own-scenario story by reaction: he is offered only the other one.
        interaction = await fake_discord.send_slash_command(dave, guild, "mge", "vote")
        await fake_discord.wait_for_responses(interaction, 2)
        [dave_offer] = await fake_discord.wait_for_bot_messages(fake_discord.dm_channel_id(dave), 1)
        assert f"dmvote:{polls[plain].id}:" in json.dumps(dave_offer["components"])

        next_keys = dict((label, key) for key, label in buttons_of(following))
        await fake_discord.press_button(carol, following, next_keys["Not sure"])
        *_, last = await fake_discord.wait_for_bot_messages(dm, 6)
        assert last["content"].startswith("Nothing left to vote on")
        # A DM vote queues the same reason question a reaction does.
        assert len([a for a in await rows(database, VoteReasonAsk) if a.member_id == carol_id]) == 2


# --- Slack ---------------------------------------------------------------------------------------------


async def test_slack_reason_once_per_redelivered_reaction_answer_stored_and_mge_vote(service, database, clock):
    community = CommunityRef("slack", TEAM_ID, TEAM_DOMAIN)
    async with serving_slack(service, database, clock=clock) as harness:
        story_id = await add_story(database, community, now=clock())
        poll = await post_story_poll(
            database,
            SlackPollPublisher(harness.app.client),
            story_id=story_id,
            platform="slack",
            channel_id="C1",
            closes_at=None,
            now=clock(),
        )
        body = await harness.react(poll.channel_id, poll.message_id, "white_check_mark", user="U1")
        await harness.event(body, retry=1)  # Slack redelivers the same event
        await harness.settle()
        assert len(await rows(database, VoteReasonAsk)) == 1

        messengers = {"slack": SlackDirectMessenger(harness.app.client)}
        assert await send_reason_questions(database, messengers, now=clock()) == 1
        question = harness.posted()[-1]
        assert "What made you choose" in question.dump()
        await harness.dm("Listening came first <!channel>")
        await harness.settle()
        assert english().reason_saved in harness.posted()[-1].dump()
        [vote] = await rows(database, Vote)
        assert vote.why == "Listening came first <!channel>"

        # `/mge vote` for U1 (the presses come from U1): only the story she has not voted on, once.
        other = await add_story(database, community, now=clock(), from_value=OTHER_VALUE, to_value=THIRD_VALUE)
        await post_story_poll(
            database,
            SlackPollPublisher(harness.app.client),
            story_id=other,
            platform="slack",
            channel_id="C1",
            closes_at=None,
            now=clock(),
        )
        await harness.command("vote")
        await harness.settle()
        offer = harness.posted()[-1]
        assert "Wiser" in offer.dump() and "Keeping Calm" in offer.dump() and "Fixing The Problem" not in offer.dump()
        await harness.press(offer, "Not wiser")
        await harness.settle()
        assert NOTHING_TO_VOTE_TEXT in harness.posted()[-1].dump()
        assert sorted(v.choice for v in await rows(database, Vote)) == ["no_upgrade", "upgrade"]
        posts = len(harness.posted())
        await harness.press(offer, "Not wiser")  # again: the vote stays, no story is sent
        await harness.settle()
        assert sorted(v.choice for v in await rows(database, Vote)) == ["no_upgrade", "upgrade"]
        assert NOTHING_TO_VOTE_TEXT not in harness.posted()[-1].dump() and len(harness.posted()) == posts + 1
    assert await stats_lines(database, community_id=poll.community_id) == ["Reasons: 1 of 2 votes."]
