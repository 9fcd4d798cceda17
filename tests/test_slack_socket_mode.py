"""Socket Mode offline: the real Bolt handler connects to the fake's websocket through apps.connections.open."""

from __future__ import annotations

import asyncio

import pytest

from adapters.slack.app import SlackConfig, run_slack_socket_mode
from bot.interview.scenarios import prepare_scenarios
from core.messages import CommunityRef
from tests.fakes.slack_api import TEAM_DOMAIN, TEAM_ID, FakeSlack, message_im_event, slash_command_payload

# SQLite only: the Socket Mode transport; the interview's SQL runs on PostgreSQL in test_interview_service.py.
pytestmark = pytest.mark.sqlite_only


async def test_dm_through_socket_mode_is_acked_and_answered(service, database, clock):
    await prepare_scenarios(database, CommunityRef("slack", TEAM_ID, TEAM_DOMAIN), text="A hard question?", now=clock())
    async with FakeSlack() as slack:
        config = SlackConfig(bot_token="xoxb-test", app_token="xapp-test", api_url=slack.api_url)
        stop = asyncio.Event()
        running = asyncio.create_task(run_slack_socket_mode(config, interviews=service, database=database, stop=stop))
        try:
            await slack.wait_connected()
            [opened] = slack.calls_to("apps.connections.open")
            assert opened.headers["Authorization"] == "Bearer xapp-test"  # the app-level token, not the bot's
            assert slack.hellos_sent == 1

            envelope = await slack.push_envelope(message_im_event("hello"))
            ack = await slack.wait_for_ack(envelope)
            assert ack == {"envelope_id": envelope}
            [prompt] = await slack.wait_for("chat.postMessage")
            assert prompt.params["channel"] == "D1" and "agree" in prompt.params["text"]
            assert prompt.headers["Authorization"] == "Bearer xoxb-test"

            # A slash command's ephemeral answer travels back in the envelope ack's payload.
            envelope = await slack.push_envelope(slash_command_payload("help"), type="slash_commands")
            ack = await slack.wait_for_ack(envelope)
            assert "/mge join" in ack["payload"]["text"]
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
