"""`mge run` as an operator starts it: a real process, Slack in Socket Mode against the fake Slack
(reached through the SLACK_API_URL setting), the fake OpenAI server, SQLite; stopped with SIGTERM. What is
missing from the settings is explained before anything starts: those checks run `mge run` in the test's
process (tests/cli_support.py; tests/test_operator_errors.py shows such a line reaching a process's stderr)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.cli_support import mge_in_process
from tests.fakes.slack_api import FakeSlack, message_im_event


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MGE_", "OPENAI_", "DATABASE_URL", "SLACK_", "DISCORD_"))
    }
    env.update(MGE_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path), **extra)
    return env


async def run_mge(*args: str, env: dict, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.slow  # an `mge run` process
async def test_run_serves_slack_socket_mode_and_stops_on_sigterm(fake_openai, tmp_path):
    async with FakeSlack() as slack:
        env = base_env(
            tmp_path,
            OPENAI_BASE_URL=fake_openai.base_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_APP_TOKEN="xapp-test",
            SLACK_API_URL=slack.api_url,
        )
        process = await run_mge("run", env=env, cwd=tmp_path)
        try:
            await slack.wait_connected(timeout=30)
            envelope = await slack.push_envelope(message_im_event("hello"))
            assert await slack.wait_for_ack(envelope) == {"envelope_id": envelope}
            [prompt] = await slack.wait_for("chat.postMessage", timeout=30)
            assert "Do you agree to take part?" in prompt.params["text"]
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert "serving slack" in stderr.decode() and "Traceback" not in stderr.decode()


@pytest.mark.parametrize(
    ("args", "extra", "words"),
    [
        ((), {}, "No chat platform is configured"),
        (("--role", "discord"), {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, "DISCORD_TOKEN is not set"),
        (("--role", "worker"), {}, "No chat platform is configured"),
        ((), {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
        (("--http-port", "3999"), {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ((), {"DISCORD_TOKEN": "abc"}, "No language model is configured"),
    ],
    ids=[
        "nothing",
        "discord-missing",
        "worker-without-platform",
        "socket-mode-without-app-token",
        "http-without-secret",
        "no-llm",
    ],
)
def test_run_explains_what_is_missing(tmp_path, args, extra, words):
    env = base_env(tmp_path, **extra)
    if "No language model" not in words:
        env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    result = mge_in_process("run", *args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # an `mge run` process
async def test_a_worker_posts_scheduled_polls_through_the_web_api_and_stops_on_sigterm(
    fake_openai, tmp_path, migrated_sqlite
):
    """`mge run --role worker` serves no events: it leads the scheduler and posts through Slack's Web API."""
    from datetime import UTC, datetime

    from bot.runtime.schedules import update_schedule
    from core.messages import CommunityRef
    from storage.database import Database
    from tests.fakes.story_rows import add_story
    from tests.test_scheduler import community_id

    url = migrated_sqlite(tmp_path / "data" / "mge.sqlite3")
    database = Database(url)
    try:
        now = datetime.now(UTC)
        community = CommunityRef("slack", "T0TEST", "Test Team")
        await add_story(database, community, now=now)
        await update_schedule(
            database,
            community_id=await community_id(database, community),
            actor="test",
            now=now,
            changes={"poll_channel_id": "CPOLLS"},
        )
    finally:
        await database.dispose()
    async with FakeSlack() as slack:
        env = base_env(
            tmp_path,
            OPENAI_BASE_URL=fake_openai.base_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_API_URL=slack.api_url,
            MGE_SCHEDULER_TICK_SECONDS="1",
        )
        process = await run_mge("run", "--role", "worker", env=env, cwd=tmp_path)
        try:
            [poll] = await slack.wait_for("chat.postMessage", timeout=30)
            assert poll.params["channel"] == "CPOLLS"
            await slack.wait_for("reactions.add", 3, timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    log = stderr.decode()
    assert "serving the scheduler" in log and "Traceback" not in log
    assert not slack.calls_to("apps.connections.open")  # a worker opens no Socket Mode connection
