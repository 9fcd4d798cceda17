"""Generalization picks (docs/method.md §2) on Discord and Slack: after a card is confirmed by a button, the
offer arrives with one button per value and "None of these", escaped; several values can be picked from
the one message, each recorded once; a press by someone else, or from another workspace, is refused."""

from __future__ import annotations

import asyncio
import json

import discord
import pytest
from sqlmodel import col, select

from adapters.discord.render import ZWSP
from bot.generalization.picks import OTHER_COMMUNITY_TEXT
from core.generalization import done_key, value_key
from core.member_texts import english
from core.messages import CommunityRef
from storage.models import GeneralizationImpression, GeneralizationOffer, Scenario
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.openai_server import SAID_BACK
from tests.fakes.slack_api import TEAM_ID, block_actions_body, block_actions_payload
from tests.slack_support import serving_slack
from tests.test_discord_adapter import DmThread, join
from tests.test_generalization import CARD, SCENARIO, add_value, build_world, generalizing, turn

# SQLite only: the platforms' offer and buttons; the picks run on PostgreSQL in test_generalization.py.
pytestmark = pytest.mark.sqlite_only

HOSTILE = "**Bold** <@123> @everyone <!channel>"


@pytest.fixture
async def gen_service(database, fake_openai, interview_config, clock):
    service, llm = generalizing(database, fake_openai, interview_config, clock, seed=11)
    yield service
    await llm.aclose()


async def world_for(database, clock, ref: CommunityRef):
    """Three values of other scenarios and a hostile one of the member's; only the member's scenario is
    open, so the interview starts on it."""
    world = await build_world(database, clock, own=0, other=3, community=ref)
    world.hostile = await add_value(database, world.community_id, world.scenario, HOSTILE, now=clock())
    async with database.session() as session:
        for scenario in (await session.exec(select(Scenario).where(Scenario.community_id == world.community_id))).all():
            scenario.is_open = scenario.id == world.scenario
            session.add(scenario)
        await session.commit()
    return world


async def the_offer(database) -> tuple[GeneralizationOffer, list[GeneralizationImpression]]:
    async with database.session() as session:
        [offer] = (await session.exec(select(GeneralizationOffer))).all()
        shown = (
            await session.exec(
                select(GeneralizationImpression)
                .where(GeneralizationImpression.offer_id == offer.id)
                .order_by(GeneralizationImpression.position)
            )
        ).all()
    return offer, list(shown)


async def picked_ids(database) -> set[int]:
    async with database.session() as session:
        rows = (
            await session.exec(
                select(GeneralizationImpression.value_id).where(col(GeneralizationImpression.picked_at).is_not(None))
            )
        ).all()
    return set(rows)


async def eventually(check, timeout: float = 5.0):
    for _ in range(int(timeout / 0.05)):
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- Discord -------------------------------------------------------------------------------------------------


def buttons(message: dict) -> list[dict]:
    return [c for row in message["components"] for c in row["components"]]


async def test_discord_offer_after_confirming_with_picks_recorded_once_and_foreign_presses_refused(
    fake_discord,
    guild,
    gen_service,
    database,
    clock,
    fake_openai,  # noqa: F811
):
    alice, bob = fake_discord.add_user("alice"), fake_discord.add_user("bob")
    world = await world_for(database, clock, CommunityRef("discord", str(guild.id), guild.name))
    async with running_bot(fake_discord, gen_service, database, clock):
        await join(fake_discord, alice, guild)
        member = DmThread(fake_discord, alice)
        [consent] = await member.said()
        [opening] = await member.press(consent, "accept")
        assert SCENARIO in opening["content"]
        fake_openai.script(
            turn("What do you notice?"), turn("Tell me about a time."), turn("ok", ready=True), SAID_BACK, CARD
        )
        await member.send("Whether he feels heard.")
        await member.send("When he gives up.")
        [check] = await member.send("Once I sat with him and it helped.")
        [proposal] = await member.press(check, "agree")
        [thanks, question] = await member.press(proposal, "confirm", replies=2)
        assert "is saved" in thanks["content"]

        offer, shown = await the_offer(database)
        content = question["content"]
        assert f"Which of these would be wise to consider for “{SCENARIO}”?" in content
        assert "@everyone" not in content and f"@{ZWSP}everyone" in content and "<@123>" not in content
        posts = fake_discord.requests_to("POST", rf"/channels/{member.channel}/messages")
        assert all(p.json["allowed_mentions"] == {"parse": []} for p in posts)
        keys = [b["custom_id"] for b in buttons(question)]
        assert keys == [f"mge:choice:{value_key(offer.id, i.value_id)}" for i in shown] + [
            f"mge:choice:{done_key(offer.id)}"
        ]
        assert buttons(question)[-1]["label"] == f"{len(shown) + 1}. None of these"  # numbered: listed above
        assert world.hostile in {i.value_id for i in shown}

        # A pick: only that button is disabled (and highlighted), "None of these" becomes "Done", no message.
        first = shown[0].value_id
        await member.press(question, value_key(offer.id, first), replies=0)
        assert await eventually(lambda: _has(database, first))
        [now_shown] = [m for m in fake_discord.bot_messages(member.channel) if m["id"] == question["id"]]
        states = [(b["disabled"], b["style"]) for b in buttons(now_shown)]
        assert states[0] == (True, discord.ButtonStyle.success.value)
        assert all(not disabled for disabled, _ in states[1:])
        assert buttons(now_shown)[-1]["label"] == f"{len(shown) + 1}. Done"
        # A second pick from the same message.
        second = shown[1].value_id
        await member.press(now_shown, value_key(offer.id, second), replies=0)
        assert await eventually(lambda: _has(database, second))
        # The first button again (a stale client): recorded once, said so.
        [again] = await member.press(question, value_key(offer.id, first))
        assert "already picked" in again["content"]

        # Bob presses Alice's buttons: refused, in his own DM; nothing changes.
        interaction = await fake_discord.press_button(
            bob, question, f"mge:choice:{value_key(offer.id, shown[2].value_id)}"
        )
        await fake_discord.wait_for_responses(interaction, 1)
        [refused] = await fake_discord.wait_for_bot_messages(fake_discord.dm_channel_id(bob), 1)
        assert refused["content"] == english().offer_not_yours

        [done] = await member.press(question, done_key(offer.id))
        assert "Noted the 2 values you picked" in done["content"]
        [final] = [m for m in fake_discord.bot_messages(member.channel) if m["id"] == question["id"]]
        assert all(b["disabled"] for b in buttons(final))
    assert await picked_ids(database) == {first, second}
    offer, _ = await the_offer(database)
    assert offer.closed_at is not None


async def _has(database, value_id: int) -> bool:
    return value_id in await picked_ids(database)


# --- Slack ---------------------------------------------------------------------------------------------------


def labels(blocks: list[dict]) -> list[str]:
    return [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def test_slack_offer_after_confirming_with_picks_recorded_once_and_foreign_presses_refused(
    gen_service, database, clock, fake_openai
):
    world = await world_for(database, clock, CommunityRef("slack", TEAM_ID, "test"))
    async with serving_slack(gen_service, database, clock=clock) as slack:
        await slack.command("join")
        [consent] = await slack.next_posts()
        await slack.press(consent, "I agree")
        [opening] = await slack.next_posts()
        assert SCENARIO in opening.params["text"]
        fake_openai.script(
            turn("What do you notice?"), turn("Tell me about a time."), turn("ok", ready=True), SAID_BACK, CARD
        )
        for answer in ("Whether he feels heard.", "When he gives up.", "Once I sat with him and it helped."):
            await slack.dm(answer)
            await slack.next_posts()
        await slack.dm("yes")
        [card] = await slack.next_posts()
        await slack.press(card, "Confirm")
        thanks, question = await slack.next_posts(2)
        assert "is saved" in thanks.params["text"]

        offer, shown = await the_offer(database)
        sections = json.dumps(
            [b for b in question.blocks() if b["type"] == "section"] + [question.params["text"]], ensure_ascii=False
        )
        assert "Which of these would be wise to consider for" in sections and SCENARIO in sections
        assert "<@123>" not in sections and "<!channel>" not in sections and "&lt;@123&gt;" in sections
        assert question.params["parse"] == "none"
        assert [e["value"] for b in question.blocks() if b["type"] == "actions" for e in b["elements"]] == [
            value_key(offer.id, i.value_id) for i in shown
        ] + [done_key(offer.id)]
        assert labels(question.blocks())[-1] == "None of these"
        assert world.hostile in {i.value_id for i in shown}

        titles = labels(question.blocks())
        await slack.press(question, titles[0])
        await slack.settle()
        assert await picked_ids(database) == {shown[0].value_id}
        update = slack.slack.calls_to("chat.update")[-1]
        assert update.params["ts"] == question.result["ts"]
        assert labels(update.blocks()) == titles[1:-1] + ["Done"]
        assert "\u2713 *" in json.dumps(update.blocks(), ensure_ascii=False)
        assert slack.posted()[-1] is question  # a pick sends no message

        await slack.press(question, titles[0])  # pressed again: once only
        await slack.settle()
        assert "already picked" in slack.posted()[-1].params["text"]

        # U2 in the same workspace, and U1's press arriving from another workspace: refused.
        message = question.message()
        action = next(
            e["action_id"]
            for b in message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["text"]["text"] == titles[1]
        )
        await slack.post(block_actions_body(block_actions_payload(message, action_id=action, user="U2")))
        await slack.settle()
        assert slack.posted()[-1].params["text"] == english().offer_not_yours
        await slack.post(block_actions_body(block_actions_payload(message, action_id=action, team="T0OTHER")))
        await slack.settle()
        assert slack.posted()[-1].params["text"] == OTHER_COMMUNITY_TEXT
        assert await picked_ids(database) == {shown[0].value_id}

        await slack.press(question, "None of these")
        await slack.settle()
        assert "Noted the 1 value you picked" in slack.posted()[-1].params["text"]
        final = slack.slack.calls_to("chat.update")[-1]
        assert labels(final.blocks()) == []
    offer, _ = await the_offer(database)
    assert offer.closed_at is not None
