"""`/mge mydata` and `/mge forget` on Slack end to end: the real Bolt app over HTTP on 127.0.0.1, the fake
Slack Web API (files_upload_v2 included), signed slash commands, real databases. The member's data is
made by the interview and poll use cases (``tests.test_privacy.build_world``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from adapters.slack.member_commands import (
    FORGET_NOT_ASKED_TEXT,
    MYDATA_TEXT,
    UPLOAD_FAILED_TEXT,
)
from bot.commands.member_data import NO_DATA_TEXT
from bot.privacy.confirmations import FORGET_CONFIRM_WINDOW
from bot.privacy.erase import NOTHING_STORED_TEXT
from bot.privacy.export import export_member_data, has_member_data
from core.messages import CommunityRef, Person
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID
from tests.slack_support import Harness, serving_slack
from tests.test_privacy import ALICE_PHRASE, BOB_PHRASE, CARD, Builder, build_world, where_found

# SQLite only: the Slack flow; export and erasure run on PostgreSQL in test_privacy.py and test_isolation.py.
pytestmark = pytest.mark.sqlite_only

COMMUNITY = CommunityRef("slack", TEAM_ID, TEAM_DOMAIN)
ALICE_ID, ALICE_NAME = "U0ALICE77", "Alice Q. Privacy"


@pytest.fixture
async def slack(service, database, clock):
    async with serving_slack(service, database, clock=clock) as harness:
        yield harness


@pytest.fixture
async def world(database, service, fake_openai, clock):
    return await build_world(
        Builder(database, service, fake_openai, clock), COMMUNITY, alice=Person(ALICE_ID, ALICE_NAME)
    )


async def ask(slack: Harness, text: str, user: str = ALICE_ID) -> dict[str, Any]:
    """Run ``/mge text`` as ``user``; the ack (the ephemeral answer), once the work after it is done."""
    answer = (await slack.command(text, user=user, user_name="alice")).json()
    await slack.settle()
    assert answer["response_type"] == "ephemeral"
    return answer


async def alice_data(database, world) -> dict:
    return await export_member_data(database, community_id=world.community_id, platform_user_id=ALICE_ID)


# --- mydata --------------------------------------------------------------------------------------------------


async def test_mydata_uploads_the_json_file_to_the_members_dm(slack, world):
    answer = await ask(slack, "mydata")
    assert answer["text"] == MYDATA_TEXT

    [opened] = slack.slack.calls_to("conversations.open")
    assert opened.params["users"] == ALICE_ID
    dm = "D" + ALICE_ID.removeprefix("U")
    [requested] = slack.slack.calls_to("files.getUploadURLExternal")
    assert requested.params["filename"].startswith("mge-my-data-slack-")
    [completed] = slack.slack.calls_to("files.completeUploadExternal")
    assert completed.params["channel_id"] == dm
    assert "/mge forget" in completed.params["initial_comment"]
    [file_id] = slack.slack.uploads
    data = json.loads(slack.slack.uploads[file_id])
    assert data["member"]["platform_user_id"] == ALICE_ID and data["exported_at"] and data["explanation"]
    assert data["community"]["id"] == TEAM_ID
    said = [t["text"] for i in data["interviews"] for t in i["transcript"] if t["from"] == "you"]
    assert any(ALICE_PHRASE in text for text in said)
    assert [c["title"] for c in data["values_cards"]] == [CARD["title"]]
    assert [v["choice"] for v in data["votes"]] == ["upgrade", "not_sure"]
    assert BOB_PHRASE not in json.dumps(data)
    assert slack.posted() == []  # the file is the only thing sent


async def test_mydata_with_nothing_stored_says_so_and_uploads_nothing(slack, world):
    answer = await ask(slack, "mydata", user="U0STRANGER")
    assert answer["text"] == NO_DATA_TEXT
    assert slack.slack.calls_to("files.getUploadURLExternal") == [] and slack.slack.calls_to("conversations.open") == []


async def test_a_failed_upload_is_explained_in_the_dm(service, database, clock, world):
    def without_files_scope(fake) -> None:
        fake.api_files_getUploadURLExternal = lambda params, request: {"ok": False, "error": "missing_scope"}

    async with serving_slack(service, database, clock=clock, prepare=without_files_scope) as slack:
        await ask(slack, "mydata")
        [post] = slack.posted()
    assert post.params["channel"] == "D" + ALICE_ID.removeprefix("U")
    assert post.params["text"] == UPLOAD_FAILED_TEXT.format(error="missing_scope")


# --- forget --------------------------------------------------------------------------------------------------


async def test_forget_shows_what_goes_and_erases_only_on_confirm(slack, world, database):
    refused = await ask(slack, "forget confirm")  # no request before it
    assert refused["text"] == FORGET_NOT_ASKED_TEXT
    assert has_member_data(await alice_data(database, world))

    preview = await ask(slack, "forget")
    assert "cannot be undone" in preview["text"] and "/mge forget confirm" in preview["text"]
    assert "2 votes anonymised" in preview["text"]
    assert has_member_data(await alice_data(database, world))  # asking erased nothing

    done = await ask(slack, "forget confirm")
    assert done["text"].startswith("Done: your data in this community is erased")
    assert "2 votes anonymised" in done["text"] and "/mge join" in done["text"]
    assert not has_member_data(await alice_data(database, world))
    assert await where_found(database, [ALICE_ID, ALICE_NAME, ALICE_PHRASE]) == []

    again = await ask(slack, "forget")
    assert again["text"] == NOTHING_STORED_TEXT
    assert (await ask(slack, "forget confirm"))["text"] == FORGET_NOT_ASKED_TEXT


async def test_a_late_confirmation_erases_nothing(slack, world, database, clock):
    await ask(slack, "forget")
    clock.advance(seconds=FORGET_CONFIRM_WINDOW.total_seconds() + 1)
    late = await ask(slack, "forget confirm")
    assert late["text"] == FORGET_NOT_ASKED_TEXT
    assert has_member_data(await alice_data(database, world))


async def test_one_members_request_is_not_another_members_confirmation(slack, world, database):
    await ask(slack, "forget")
    assert (await ask(slack, "forget confirm", user="U0MALLORY"))["text"] == FORGET_NOT_ASKED_TEXT
    assert has_member_data(await alice_data(database, world))


async def test_help_lists_mydata_and_forget(slack):
    answer = await ask(slack, "help")
    assert "/mge mydata" in answer["text"] and "/mge forget [confirm]" in answer["text"]
    assert timedelta(minutes=5) == FORGET_CONFIRM_WINDOW
