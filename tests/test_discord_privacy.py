"""`/mge mydata` and `/mge forget` on Discord end to end: the real discord.Client ↔ the fake Discord on
127.0.0.1, real databases. The member's data is made by the interview and poll use cases
(``tests.test_privacy.build_world``)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapters.discord.member_commands import (
    HELP_TEXT,
)
from bot.commands.member_data import FORGET_EXPIRED_TEXT, FORGET_KEPT_TEXT, NO_DATA_TEXT
from bot.privacy.confirmations import FORGET_CONFIRM_WINDOW
from bot.privacy.export import export_member_data, has_member_data
from core.messages import CommunityRef, Person
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord, FakeUser
from tests.test_privacy import ALICE_PHRASE, BOB_PHRASE, CARD, Builder, build_world, where_found

# SQLite only: the Discord flow; export and erasure run on PostgreSQL in test_privacy.py and test_isolation.py.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def alice(fake_discord) -> FakeUser:
    return fake_discord.add_user("alice", global_name="Alice Q. Privacy")


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(fake_discord, service, database, clock, sync_commands=False) as client:
        yield client


@pytest.fixture
async def world(guild, alice, database, service, fake_openai, clock):
    community = CommunityRef("discord", str(guild.id), guild.name)
    return await build_world(
        Builder(database, service, fake_openai, clock), community, alice=Person(str(alice.id), "Alice Q. Privacy")
    )


async def run(fake: FakeDiscord, user: FakeUser, guild, subcommand: str, responses: int = 2) -> tuple[int, list[dict]]:
    interaction = await fake.send_slash_command(user, guild, "mge", subcommand)
    return interaction, await fake.wait_for_responses(interaction, responses)


async def alice_data(database, world, alice: FakeUser) -> dict:
    return await export_member_data(database, community_id=world.community_id, platform_user_id=str(alice.id))


def buttons(message: dict) -> list[tuple[str, str]]:
    return [(b["custom_id"], b["label"]) for row in message["components"] for b in row["components"]]


# --- mydata --------------------------------------------------------------------------------------------------


async def test_mydata_is_an_ephemeral_reply_with_the_json_file(fake_discord, bot, guild, alice, world):
    interaction, (deferred, followup) = await run(fake_discord, alice, guild, "mydata")
    assert deferred["type"] == 5 and deferred["flags"] == EPHEMERAL  # acknowledged before the work
    assert followup["flags"] == EPHEMERAL and "only you can see it" in followup["content"]
    assert "2 interviews" in followup["content"] and "2 votes" in followup["content"]
    assert followup["allowed_mentions"] == {"parse": []}

    [attachment] = fake_discord.interactions[interaction].messages[-1]["attachments"]
    assert attachment["filename"].startswith("mge-my-data-discord-") and attachment["filename"].endswith(".json")
    data = json.loads(fake_discord.files[attachment["id"]])
    assert data["member"]["platform_user_id"] == str(alice.id) and data["exported_at"] and data["explanation"]
    said = [t["text"] for i in data["interviews"] for t in i["transcript"] if t["from"] == "you"]
    assert any(ALICE_PHRASE in text for text in said)
    assert [c["title"] for c in data["values_cards"]] == [CARD["title"]]
    assert [v["choice"] for v in data["votes"]] == ["upgrade", "not_sure"]
    assert BOB_PHRASE not in json.dumps(data)
    # Nothing was posted anywhere else: no DM, no channel message.
    assert fake_discord.bot_messages(fake_discord.dm_channel_id(alice)) == []
    assert fake_discord.bot_messages(guild.channel_id) == []


async def test_mydata_with_nothing_stored_says_so(fake_discord, bot, guild, world):
    stranger = fake_discord.add_user("stranger")
    interaction, (_, followup) = await run(fake_discord, stranger, guild, "mydata")
    assert followup["content"] == NO_DATA_TEXT and followup["flags"] == EPHEMERAL
    assert fake_discord.interactions[interaction].messages[-1]["attachments"] == []


async def test_mydata_in_dms_uses_the_remembered_server(fake_discord, bot, alice, world):
    interaction, (_, followup) = await run(fake_discord, alice, None, "mydata")
    [attachment] = fake_discord.interactions[interaction].messages[-1]["attachments"]
    assert json.loads(fake_discord.files[attachment["id"]])["community"]["id"] == str(world.community.external_id)


# --- forget --------------------------------------------------------------------------------------------------


async def test_forget_asks_first_and_erases_only_on_the_button(fake_discord, bot, guild, alice, world, database):
    interaction, (deferred, prompt) = await run(fake_discord, alice, guild, "forget")
    assert deferred["flags"] == EPHEMERAL and prompt["flags"] == EPHEMERAL
    assert "cannot be undone" in prompt["content"] and "Erase my data" in prompt["content"]
    assert "2 votes anonymised" in prompt["content"]
    message = fake_discord.interactions[interaction].messages[-1]
    (erase, erase_label), (keep, keep_label) = buttons(message)
    assert erase.startswith(f"mge:choice:forget:{guild.id}:") and (erase_label, keep_label) == (
        "Erase my data",
        "Keep my data",
    )
    assert keep == "mge:choice:forget:cancel"
    assert has_member_data(await alice_data(database, world, alice))  # asking erased nothing

    pressed = await fake_discord.press_button(alice, message, keep)
    update, followup = await fake_discord.wait_for_responses(pressed, 2)
    assert update["type"] == 7 and all(b["disabled"] for row in update["components"] for b in row["components"])
    assert followup["content"] == FORGET_KEPT_TEXT and followup["flags"] == EPHEMERAL
    assert has_member_data(await alice_data(database, world, alice))

    interaction, _ = await run(fake_discord, alice, guild, "forget")
    message = fake_discord.interactions[interaction].messages[-1]
    pressed = await fake_discord.press_button(alice, message, buttons(message)[0][0])
    update, done = await fake_discord.wait_for_responses(pressed, 2)
    assert update["type"] == 7 and done["flags"] == EPHEMERAL
    assert done["content"].startswith("Done: your data in this community is erased")
    assert "2 votes anonymised" in done["content"] and "/mge join" in done["content"]
    assert not has_member_data(await alice_data(database, world, alice))
    assert await where_found(database, [str(alice.id), "Alice Q. Privacy", ALICE_PHRASE]) == []

    # Again: nothing left to erase.
    _, (_, again) = await run(fake_discord, alice, guild, "forget")
    assert "nothing stored about you" in again["content"] and not again.get("components")


async def test_an_expired_confirmation_erases_nothing(fake_discord, bot, guild, alice, world, database, clock):
    interaction, _ = await run(fake_discord, alice, guild, "forget")
    message = fake_discord.interactions[interaction].messages[-1]
    clock.advance(seconds=FORGET_CONFIRM_WINDOW.total_seconds() + 1)
    pressed = await fake_discord.press_button(alice, message, buttons(message)[0][0])
    _, followup = await fake_discord.wait_for_responses(pressed, 2)
    assert followup["content"] == FORGET_EXPIRED_TEXT
    assert has_member_data(await alice_data(database, world, alice))


async def test_another_member_pressing_the_button_erases_only_their_own_data(
    fake_discord, bot, guild, alice, world, database
):
    interaction, _ = await run(fake_discord, alice, guild, "forget")
    message = fake_discord.interactions[interaction].messages[-1]
    mallory = fake_discord.add_user("mallory")
    pressed = await fake_discord.press_button(mallory, message, buttons(message)[0][0])
    _, followup = await fake_discord.wait_for_responses(pressed, 2)
    assert "nothing stored about you" in followup["content"]
    assert has_member_data(await alice_data(database, world, alice))


async def test_a_forged_or_mangled_confirmation_key_erases_nothing(
    fake_discord, bot, guild, alice, world, database, clock
):
    # The key carries the community and the time: a press whose key is not one the bot made is refused
    # like an expired one, by the same registry route as on every platform.
    interaction, _ = await run(fake_discord, alice, guild, "forget")
    message = fake_discord.interactions[interaction].messages[-1]
    now = int(clock().timestamp())
    for key in (f"forget:{guild.id}", f"forget:{guild.id}:soon", f"forget::{now}", f"forget:{guild.id}:{now}:1"):
        custom_id = f"mge:choice:{key}"
        forged = {
            **message,
            "id": str(fake_discord.snowflake()),
            "components": [
                {"type": 1, "components": [{"type": 2, "style": 4, "label": "Erase my data", "custom_id": custom_id}]}
            ],
        }
        pressed = await fake_discord.press_button(alice, forged, custom_id)
        _, followup = await fake_discord.wait_for_responses(pressed, 2)
        assert followup["content"] == FORGET_EXPIRED_TEXT and followup["flags"] == EPHEMERAL
    assert has_member_data(await alice_data(database, world, alice))


def test_help_lists_mydata_and_forget():
    assert "/mge mydata" in HELP_TEXT and "/mge forget" in HELP_TEXT


async def test_the_commands_are_registered(fake_discord, guild, service, database, clock):
    async with running_bot(fake_discord, service, database, clock, sync_commands=True):
        pass
    [sync] = fake_discord.requests_to("PUT", rf"/applications/{fake_discord.application_id}/commands")
    group, _moderators = sync.json
    assert {"mydata", "forget"} <= {option["name"] for option in group["options"]}
    assert timedelta(minutes=5) == FORGET_CONFIRM_WINDOW


async def test_a_file_too_large_for_discord_is_compressed_or_explained(
    fake_discord, bot, guild, alice, world, monkeypatch
):
    import gzip

    import tests.fakes.discord_server as fake_module

    monkeypatch.setattr(fake_module, "ATTACHMENT_SIZE_LIMIT", 6000)  # the export is larger, its gzip smaller
    interaction, (_, followup) = await run(fake_discord, alice, guild, "mydata")
    [attachment] = fake_discord.interactions[interaction].messages[-1]["attachments"]
    assert attachment["filename"].endswith(".json.gz")
    assert json.loads(gzip.decompress(fake_discord.files[attachment["id"]]))["member"]["platform_user_id"] == str(
        alice.id
    )

    monkeypatch.setattr(fake_module, "ATTACHMENT_SIZE_LIMIT", 100)
    interaction, (_, followup) = await run(fake_discord, alice, guild, "mydata")
    assert "larger than Discord lets me attach" in followup["content"]
    assert fake_discord.interactions[interaction].messages[-1]["attachments"] == []
