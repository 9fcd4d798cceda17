"""Value checks (docs/method.md §4) on Discord and Slack: after a batch merge the member whose card joined
another value gets a DM with the value and Yes / "No, keep mine separate"; a press is stored once and "keep
mine separate" splits the card back out; the rate is in the moderators' stats."""

from __future__ import annotations

import pytest
from sqlmodel import select

from adapters.discord.legitimacy import DiscordDirectMessenger
from adapters.embeddings import LLMEmbedder
from adapters.slack.legitimacy import SlackDirectMessenger
from bot.values.batch import run_dedup
from bot.values.checks import send_value_checks, stats_lines
from core.member_texts import english
from core.messages import CommunityRef
from storage.models import ValueCheck
from tests.conftest import make_llm
from tests.dedup_support import AUTONOMY, AUTONOMY_REWORDED, Embeddings, add_card, near, same, unit
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.slack_api import TEAM_ID
from tests.slack_support import serving_slack
from tests.test_dedup_batch import current
from tests.test_legitimacy import community

# SQLite only: the platforms' DMs and buttons; the dedup passes run on PostgreSQL in test_dedup_converge.py.
pytestmark = pytest.mark.sqlite_only


async def merged_by_the_batch_job(database, fake_openai, ref: CommunityRef, *, joining: str, clock) -> tuple:
    """``other``'s card founds a value; ``joining``'s card is placed by the batch job into it (judged the same)."""
    vectors = Embeddings()
    fake_openai.embedding_fn = vectors
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.05, 1))
    cid = await community(database, ref)
    first = await add_card(database, cid, AUTONOMY, clock(), member="other")
    llm = make_llm(fake_openai)

    async def batch(llm, cid, now):
        await run_dedup(database, llm=llm, embedder=LLMEmbedder(llm, "e"), judge_model="j", community_id=cid, now=now)

    try:
        await run_dedup(
            database, llm=llm, embedder=LLMEmbedder(llm, "e"), judge_model="j", community_id=cid, now=clock()
        )
        value_id = (await current(database))[first][0]
        card = await add_card(database, cid, AUTONOMY_REWORDED, clock(), member=joining)
        fake_openai.script(same(value_id))
        clock.advance(minutes=1)
        await run_dedup(
            database, llm=llm, embedder=LLMEmbedder(llm, "e"), judge_model="j", community_id=cid, now=clock()
        )
    finally:
        await llm.aclose()
    assert (await current(database))[card] == (value_id, "judged_same")
    return cid, card, value_id


async def checks(database) -> list[ValueCheck]:
    async with database.session() as session:
        return list((await session.exec(select(ValueCheck))).all())


async def test_discord_dm_after_a_batch_merge_and_keep_mine_separate_splits(
    fake_discord,
    guild,
    service,
    database,
    fake_openai,
    clock,  # noqa: F811
):
    alice = fake_discord.add_user("alice")
    ref = CommunityRef("discord", str(guild.id), guild.name)
    cid, card, value_id = await merged_by_the_batch_job(database, fake_openai, ref, joining=str(alice.id), clock=clock)
    async with running_bot(fake_discord, service, database, clock) as client:
        messengers = {"discord": DiscordDirectMessenger(client)}
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 1
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 0  # once
        channel = fake_discord.dm_channel_id(alice)
        [message] = await fake_discord.wait_for_bot_messages(channel, 1)
        assert english().later_check_question in message["content"] and AUTONOMY["title"] in message["content"]
        [check] = await checks(database)
        buttons = [(c["custom_id"], c["label"]) for row in message["components"] for c in row["components"]]
        assert buttons == [
            (f"mge:choice:valuecheck:{check.id}:same", "Yes"),
            (f"mge:choice:valuecheck:{check.id}:separate", "No, keep mine separate"),
        ]

        await fake_discord.press_button(alice, message, f"mge:choice:valuecheck:{check.id}:separate")
        [_, done] = await fake_discord.wait_for_bot_messages(channel, 2)
        assert "value of its own" in done["content"]
    [check] = await checks(database)
    assert check.answer == "separate"
    placed = (await current(database))[card]
    assert placed[0] != value_id and placed[1] == "member_declined"
    assert "0 of 1 who answered said it is still their value" in (await stats_lines(database, community_id=cid))[0]


async def test_slack_dm_after_a_batch_merge_and_yes_is_stored_once(service, database, fake_openai, clock):
    ref = CommunityRef("slack", TEAM_ID, "test")
    cid, card, value_id = await merged_by_the_batch_job(database, fake_openai, ref, joining="U1", clock=clock)
    async with serving_slack(service, database, clock=clock) as harness:
        messengers = {"slack": SlackDirectMessenger(harness.app.client)}
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 1
        [opened] = harness.slack.calls_to("conversations.open")
        assert opened.params["users"] == "U1"
        [posted] = harness.posted()
        assert english().later_check_question in posted.dump() and "No, keep mine separate" in posted.dump()

        await harness.press(posted, "Yes")
        await harness.settle()
        assert "still represents" in harness.posted()[-1].dump()
        await harness.press(posted, "No, keep mine separate")  # the buttons are gone; a late press changes nothing
        await harness.settle()
    [check] = await checks(database)
    assert check.answer == "same"
    assert (await current(database))[card] == (value_id, "judged_same")
    assert (
        "1 of 1 who answered said it is still their value (100%)" in (await stats_lines(database, community_id=cid))[0]
    )


async def test_discord_closed_dms_are_not_asked_again_but_a_passing_failure_is(
    fake_discord,
    guild,
    service,
    database,
    fake_openai,
    clock,  # noqa: F811
):
    alice = fake_discord.add_user("alice")
    ref = CommunityRef("discord", str(guild.id), guild.name)
    cid, _, _ = await merged_by_the_batch_job(database, fake_openai, ref, joining=str(alice.id), clock=clock)

    class FailingOnce:
        """A messenger whose first DM fails as a network blip would."""

        def __init__(self) -> None:
            self.tries = 0

        async def send(self, **kwargs) -> None:
            self.tries += 1
            raise ConnectionResetError("blip")

    blip = FailingOnce()
    assert await send_value_checks(database, {"discord": blip}, community_id=cid, now=clock()) == 0
    [check] = await checks(database)
    assert check.sent_at is None and check.answer is None  # given back: the next run tries again

    fake_discord.closed_dms.add(alice.id)
    async with running_bot(fake_discord, service, database, clock) as client:
        messengers = {"discord": DiscordDirectMessenger(client)}
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 0
        posts = len(fake_discord.requests_to("POST", r"/channels/\d+/messages"))
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 0
        assert len(fake_discord.requests_to("POST", r"/channels/\d+/messages")) == posts  # not tried again
    [check] = await checks(database)
    assert check.answer == "undelivered" and check.sent_at is not None
    [line] = await stats_lines(database, community_id=cid)
    assert "0 of 0 who answered" in line and "0 asked" in line and "1 could not be sent (DMs closed)" in line


async def test_slack_a_deactivated_member_is_not_asked_again(service, database, fake_openai, clock):
    ref = CommunityRef("slack", TEAM_ID, "test")
    cid, _, _ = await merged_by_the_batch_job(database, fake_openai, ref, joining="U1", clock=clock)
    async with serving_slack(service, database, clock=clock) as harness:
        harness.slack.deactivated.add("U1")
        messengers = {"slack": SlackDirectMessenger(harness.app.client)}
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 0
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 0
        assert len(harness.slack.calls_to("conversations.open")) == 1 and harness.posted() == []
    [check] = await checks(database)
    assert check.answer == "undelivered"
