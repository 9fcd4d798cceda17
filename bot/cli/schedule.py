"""``mge schedule …``: where and how often a community's story polls and weekly digest are posted, and
``mge audit``: the community's audit log. The same settings moderators change with ``/mge polls …`` and
``/mge digest …``; every change is recorded in the audit log with the operator's login name."""

from __future__ import annotations

import json
from typing import Any

import typer

from bot.cli.support import (
    COMMUNITY_HELP,
    OutputFormat,
    fail,
    operator_actor,
    print_rows,
    run_with_database,
    settings_or_exit,
)
from core.clock import utcnow

schedule_app = typer.Typer(
    help="When story polls and the weekly digest are posted (the scheduler of `mge run` reads it every minute).",
    no_args_is_help=True,
)


def _change(community: str | None, changes: dict[str, Any], action: str) -> None:
    from bot.cli.support import choose_community
    from bot.runtime.schedules import community_schedule, describe_schedule, update_schedule
    from core.schedule import ScheduleError

    default_hours = int(settings_or_exit().poll_duration_hours)

    async def work(database) -> list[str]:
        community_id = await choose_community(database, community)
        if changes:
            await update_schedule(
                database,
                community_id=community_id,
                actor=operator_actor(),
                now=utcnow(),
                changes=changes,
                action=action,
            )
        row = await community_schedule(database, community_id=community_id)
        return describe_schedule(row, default_duration_hours=default_hours)

    for line in run_with_database(work, errors=(LookupError, ScheduleError)):
        typer.echo(line)


def _pause(pause: bool, resume: bool) -> bool | None:
    if pause and resume:
        raise fail("give --pause or --resume, not both")
    return True if pause else False if resume else None


@schedule_app.command("show")
def schedule_show(community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP)) -> None:
    """Show where and how often polls and the digest are posted."""
    _change(community, {}, "schedule.show")


@schedule_app.command("polls")
def schedule_polls(
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
    channel: str | None = typer.Option(None, "--channel", help="Channel id to post story polls in."),
    every: str | None = typer.Option(None, "--every", help="How often a round is posted: 30m, 12h, 1d, 1w."),
    per_round: int | None = typer.Option(None, "--per-round", help="Stories per round (0-10)."),
    duration_hours: int | None = typer.Option(None, "--duration-hours", help="How long each poll stays open (1-768)."),
    pause: bool = typer.Option(False, "--pause", help="Stop posting rounds (open polls still close)."),
    resume: bool = typer.Option(False, "--resume", help="Post rounds again."),
    mode: str | None = typer.Option(
        None, "--mode", help="How polls posted from now on take votes: reactions or private (buttons)."
    ),
) -> None:
    """Set where, how often and how story polls are posted."""
    from core.schedule import ScheduleError, parse_interval

    changes: dict[str, Any] = {}
    if channel is not None:
        changes["poll_channel_id"] = channel
    if every is not None:
        try:
            changes["poll_interval_minutes"] = parse_interval(every)
        except ScheduleError as error:
            raise fail(str(error)) from None
    if per_round is not None:
        changes["polls_per_round"] = per_round
    if duration_hours is not None:
        changes["poll_duration_hours"] = duration_hours
    paused = _pause(pause, resume)
    if paused is not None:
        changes["polls_paused"] = paused
    if mode is not None:
        changes["poll_mode"] = mode
    _change(community, changes, "polls.schedule")


@schedule_app.command("digest")
def schedule_digest(
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
    channel: str | None = typer.Option(None, "--channel", help="Channel id to post the weekly digest in."),
    day: str | None = typer.Option(None, "--day", help="Weekday: mon, tue, … sun."),
    at: str | None = typer.Option(None, "--time", help="Time of day, 24-hour HH:MM, in the timezone."),
    timezone: str | None = typer.Option(None, "--timezone", help="IANA timezone, e.g. Europe/Berlin."),
    pause: bool = typer.Option(False, "--pause", help="Stop posting the digest."),
    resume: bool = typer.Option(False, "--resume", help="Post the digest again."),
) -> None:
    """Set when and where the weekly digest is posted."""
    from core.schedule import ScheduleError, parse_time_of_day

    changes: dict[str, Any] = {}
    if channel is not None:
        changes["digest_channel_id"] = channel
    if day is not None:
        changes["digest_day"] = day
    if at is not None:
        try:
            changes["digest_hour"], changes["digest_minute"] = parse_time_of_day(at)
        except ScheduleError as error:
            raise fail(str(error)) from None
    if timezone is not None:
        changes["digest_timezone"] = timezone
    paused = _pause(pause, resume)
    if paused is not None:
        changes["digest_paused"] = paused
    _change(community, changes, "digest.schedule")


def audit_command(
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many entries, newest first."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
) -> None:
    """Show the community's audit log: every moderator and operator action, newest first."""
    from bot.cli.support import choose_community
    from storage.governance_repo import list_actions

    async def work(database):
        community_id = await choose_community(database, community)
        async with database.session() as session:
            return [
                {
                    "at": a.at.isoformat(),
                    "actor": a.actor,
                    "action": a.action,
                    "target": a.target,
                    "before": a.before,
                    "after": a.after,
                }
                for a in await list_actions(session, community_id=community_id, limit=limit)
            ]

    def cells(e: dict) -> tuple[str, ...]:
        return (
            e["at"][:16].replace("T", " "),
            e["actor"],
            f"{e['action']} {e['target']}".strip(),
            json.dumps(e["before"], ensure_ascii=False) if e["before"] else "",
            json.dumps(e["after"], ensure_ascii=False) if e["after"] else "",
        )

    print_rows(
        output_format,
        run_with_database(work),
        ("when (UTC)", "who", "what", "before", "after"),
        cells,
        empty="No moderator or operator actions recorded yet.",
    )
