"""Community schedules as stored: every change checked, audited with before/after, read by the
scheduler; and ``mge schedule`` / ``mge audit`` in the terminal."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli.schedule import audit_command, schedule_app
from bot.runtime.schedules import (
    community_schedule,
    describe_schedule,
    digest_schedules,
    poll_schedules,
    update_schedule,
)
from core.messages import CommunityRef
from core.schedule import ScheduleError
from storage.database import Database
from storage.models import ModerationAction
from tests.test_scheduler import community_id

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DISCORD = CommunityRef("discord", "1001", "Here")
SLACK = CommunityRef("slack", "T1", "There")


async def audit(database: Database) -> list[ModerationAction]:
    async with database.session() as session:
        return list((await session.exec(select(ModerationAction).order_by(ModerationAction.id))).all())


async def test_changes_are_checked_audited_and_read_by_the_scheduler(database):
    cid = await community_id(database, DISCORD)
    assert await poll_schedules(database, default_duration=timedelta(hours=72)) == []
    assert await digest_schedules(database) == []

    before, after = await update_schedule(
        database,
        community_id=cid,
        actor="discord:42",
        now=NOW,
        changes={"poll_channel_id": "777", "poll_interval_minutes": timedelta(hours=12), "polls_per_round": 2},
    )
    assert before["poll_channel_id"] is None and after["poll_interval_minutes"] == 720
    [entry] = await audit(database)
    assert (entry.actor, entry.action, entry.target) == ("discord:42", "schedule.update", "schedule")
    assert entry.before == {"poll_channel_id": None, "poll_interval_minutes": 1440, "polls_per_round": 1}
    assert entry.after == {"poll_channel_id": "777", "poll_interval_minutes": 720, "polls_per_round": 2}

    [plan] = await poll_schedules(database, default_duration=timedelta(hours=72))
    assert (plan.community_id, plan.platform, plan.channel_id) == (cid, "discord", "777")
    assert plan.interval == timedelta(hours=12) and plan.per_round == 2 and plan.duration == timedelta(hours=72)

    # The same values again: nothing changes, nothing is audited.
    await update_schedule(database, community_id=cid, actor="discord:42", now=NOW, changes={"polls_per_round": 2})
    assert len(await audit(database)) == 1


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"poll_interval_minutes": 5}, "10 minutes"),
        ({"polls_per_round": 11}, "between 0 and 10"),
        ({"poll_duration_hours": 0}, "1 and 768"),
        ({"digest_timezone": "Atlantis/Capital"}, "not a timezone"),
        ({"digest_day": "caturday"}, "weekday"),
        ({"digest_hour": 24}, "23:59"),
        ({"poll_channel_id": "<!here>"}, "channel id"),
        ({"polls_paused": "yes"}, "true or false"),
        ({"owner": "me"}, "unknown schedule settings"),
    ],
)
async def test_bad_values_are_refused_and_nothing_is_written(database, changes, words):
    cid = await community_id(database, DISCORD)
    with pytest.raises(ScheduleError, match=words):
        await update_schedule(
            database, community_id=cid, actor="discord:42", now=NOW, changes={"poll_channel_id": "777", **changes}
        )
    assert await audit(database) == []
    assert (await community_schedule(database, community_id=cid)).poll_channel_id is None


async def test_the_digest_schedule_starts_from_when_it_was_set(database):
    cid = await community_id(database, SLACK)
    await update_schedule(
        database,
        community_id=cid,
        actor="slack:U1",
        now=NOW,
        changes={
            "digest_channel_id": "C9",
            "digest_day": "Friday",
            "digest_hour": 17,
            "digest_timezone": "America/New_York",
        },
    )
    [digest] = await digest_schedules(database)
    assert (digest.platform, digest.channel_id, digest.day, digest.hour, digest.timezone) == (
        "slack",
        "C9",
        "fri",
        17,
        "America/New_York",
    )
    assert digest.since == NOW
    # Pausing does not move the start; changing the time does.
    await update_schedule(
        database, community_id=cid, actor="slack:U1", now=NOW + timedelta(days=1), changes={"digest_paused": True}
    )
    assert (await digest_schedules(database))[0].since == NOW
    await update_schedule(
        database, community_id=cid, actor="slack:U1", now=NOW + timedelta(days=2), changes={"digest_minute": 30}
    )
    assert (await digest_schedules(database))[0].since == NOW + timedelta(days=2)
    row = await community_schedule(database, community_id=cid)
    assert describe_schedule(row, default_duration_hours=72) == [
        "Story polls: no channel set, so none are posted on a schedule.",
        "Weekly digest: Fri 17:30 America/New_York in channel C9 — PAUSED",
    ]


async def test_concurrent_changes_from_two_processes_both_land(database):
    cid = await community_id(database, DISCORD)
    other = Database(database.url)
    try:
        await asyncio.gather(
            update_schedule(database, community_id=cid, actor="discord:1", now=NOW, changes={"poll_channel_id": "777"}),
            update_schedule(other, community_id=cid, actor="discord:2", now=NOW, changes={"digest_channel_id": "888"}),
        )
    finally:
        await other.dispose()
    row = await community_schedule(database, community_id=cid)
    assert (row.poll_channel_id, row.digest_channel_id) == ("777", "888")
    assert sorted(a.actor for a in await audit(database)) == ["discord:1", "discord:2"]


# --- the terminal ---------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch, sqlite_url: str) -> tuple[typer.Typer, dict[str, str]]:
    monkeypatch.chdir(tmp_path)
    url = sqlite_url

    async def seed() -> None:
        database = Database(url)
        try:
            await community_id(database, SLACK)
        finally:
            await database.dispose()

    asyncio.run(seed())
    app = typer.Typer()
    app.add_typer(schedule_app, name="schedule")
    app.command("audit")(audit_command)
    return app, {"DATABASE_URL": url}


def test_the_operator_sets_schedules_and_reads_the_audit_log(cli):
    app, env = cli
    runner = CliRunner()
    shown = runner.invoke(app, ["schedule", "show"], env=env)
    assert shown.exit_code == 0 and "no channel set" in shown.output
    polls = runner.invoke(
        app, ["schedule", "polls", "--channel", "C123", "--every", "12h", "--per-round", "2"], env=env
    )
    assert polls.exit_code == 0, polls.output
    assert "Story polls: 2 every 12h in channel C123, each open 72 h" in polls.output
    digest = runner.invoke(
        app,
        ["schedule", "digest", "--channel", "C9", "--day", "sun", "--time", "18:00", "--timezone", "Europe/Berlin"],
        env=env,
    )
    assert "Weekly digest: Sun 18:00 Europe/Berlin in channel C9" in digest.output
    paused = runner.invoke(app, ["schedule", "polls", "--pause"], env=env)
    assert "PAUSED" in paused.output

    log = runner.invoke(app, ["audit", "--format", "json"], env=env)
    entries = json.loads(log.output)
    assert [e["action"] for e in entries] == ["polls.schedule", "digest.schedule", "polls.schedule"]
    assert all(e["actor"].startswith("cli:") for e in entries)
    assert entries[0]["before"] == {"polls_paused": False} and entries[0]["after"] == {"polls_paused": True}
    table = runner.invoke(app, ["audit"], env={**env, "COLUMNS": "200"})
    assert table.exit_code == 0 and "digest.schedule" in table.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["schedule", "digest", "--timezone", "Mars/Olympus"], "not a timezone"),
        (["schedule", "polls", "--every", "3 fortnights"], "unit must be"),
        (["schedule", "polls", "--pause", "--resume"], "not both"),
        (["schedule", "digest", "--time", "25:00"], "23:59"),
        (["schedule", "show", "--community", "nowhere"], "nowhere"),
    ],
)
def test_the_terminal_explains_bad_input_and_exits_2(cli, args, words):
    app, env = cli
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2 and words in result.output
