"""Community schedules: where and how often story polls and the weekly digest are posted.

Moderators change them with ``/mge polls …`` and ``/mge digest …``, the operator with ``mge schedule``;
both go through :func:`update_schedule`, which checks every value, records the change in the audit log
(before/after) and commits before anyone is told it is done. The scheduler reads them with
:func:`poll_schedules` and :func:`digest_schedules` on each tick, so changes need no restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.polls import PollMode
from core.schedule import (
    DigestSchedule,
    PollSchedule,
    ScheduleError,
    check_day,
    check_duration_hours,
    check_interval,
    check_polls_per_round,
    check_time_of_day,
    check_timezone,
    describe,
)
from storage import governance_repo as repo
from storage.database import Database
from storage.models import CommunitySchedule

log = logging.getLogger("mge.schedules")

#: Changing any of these moves the digest's next slot: slots before the change are not due.
_DIGEST_TIMING = {"digest_channel_id", "digest_day", "digest_hour", "digest_minute", "digest_timezone"}


def _channel(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > 64 or not text.replace("-", "").replace("_", "").isalnum():
        raise ScheduleError(f"{value!r} is not a channel id")
    return text


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ScheduleError(f"expected true or false, not {value!r}")
    return value


def _minutes(value: Any) -> int:
    interval = value if isinstance(value, timedelta) else timedelta(minutes=int(value))
    return int(check_interval(interval).total_seconds() // 60)


def _poll_mode(value: Any) -> str:
    try:
        return PollMode(str(value).strip().lower()).value
    except ValueError:
        raise ScheduleError(f"the poll mode is {' or '.join(PollMode)}, not {value!r}") from None


_CHECKS = {
    "poll_channel_id": _channel,
    "poll_interval_minutes": _minutes,
    "polls_per_round": lambda v: check_polls_per_round(int(v)),
    "poll_duration_hours": lambda v: None if v is None else check_duration_hours(int(v)),
    "polls_paused": _flag,
    "digest_channel_id": _channel,
    "digest_day": lambda v: check_day(str(v)),
    "digest_hour": lambda v: check_time_of_day(int(v), 0)[0],
    "digest_minute": lambda v: check_time_of_day(0, int(v))[1],
    "digest_timezone": lambda v: check_timezone(str(v)),
    "digest_paused": _flag,
    "poll_mode": _poll_mode,
}


def checked_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` with every value checked and normalised; ScheduleError names the first bad one."""
    unknown = set(changes) - set(_CHECKS)
    if unknown:
        raise ScheduleError(f"unknown schedule settings: {', '.join(sorted(unknown))}")
    return {name: _CHECKS[name](value) for name, value in changes.items()}


async def update_schedule(
    database: Database,
    *,
    community_id: int,
    actor: str,
    now: datetime,
    changes: Mapping[str, Any],
    action: str = "schedule.update",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``changes`` (schedule field → value) to the community's schedule, audit and commit.
    Returns (before, after). Nothing is written when a value is bad (ScheduleError) or nothing changes."""
    checked = checked_changes(changes)
    async with database.session() as session:
        row = await repo.schedule_for_update(session, community_id=community_id, now=now)
        before = repo.schedule_fields(row)
        for name, value in checked.items():
            setattr(row, name, value)
        after = repo.schedule_fields(row)
        changed = {name for name in checked if before[name] != after[name]}
        if not changed:
            await session.rollback()
            return before, after
        if changed & _DIGEST_TIMING:
            row.digest_since = now
        row.updated_at = now
        session.add(row)
        await repo.record_action(
            session,
            community_id=community_id,
            actor=actor,
            action=action,
            now=now,
            target="schedule",
            before={k: before[k] for k in sorted(changed)},
            after={k: after[k] for k in sorted(changed)},
        )
        await session.commit()
    return before, after


async def community_schedule(database: Database, *, community_id: int) -> CommunitySchedule:
    """The community's schedule (the defaults, unsaved, when none was ever set)."""
    async with database.session() as session:
        row = await repo.get_schedule(session, community_id=community_id)
    return row or CommunitySchedule(community_id=community_id, updated_at=datetime.min.replace(tzinfo=UTC))


def describe_schedule(row: CommunitySchedule, *, default_duration_hours: int) -> list[str]:
    """Lines a moderator reads: where polls and the digest go, how often, and whether paused."""
    duration = row.poll_duration_hours or default_duration_hours
    if row.poll_channel_id is None:
        polls = "Story polls: no channel set, so none are posted on a schedule."
    else:
        polls = (
            f"Story polls: {row.polls_per_round} every {describe(timedelta(minutes=row.poll_interval_minutes))} "
            f"in channel {row.poll_channel_id}, each open {duration} h" + (" — PAUSED" if row.polls_paused else "")
        )
    if row.poll_mode == PollMode.PRIVATE:
        polls += " Votes are private (buttons) until each poll closes."
    if row.digest_channel_id is None:
        digest = "Weekly digest: no channel set, so none is posted."
    else:
        digest = (
            f"Weekly digest: {row.digest_day.capitalize()} {row.digest_hour:02d}:{row.digest_minute:02d} "
            f"{row.digest_timezone} in channel {row.digest_channel_id}" + (" — PAUSED" if row.digest_paused else "")
        )
    return [polls, digest]


async def _with_platform(database: Database) -> Sequence[tuple[CommunitySchedule, str]]:
    """Every schedule, with its community's platform."""
    async with database.session() as session:
        return await repo.schedules_with_platform(session)


async def poll_schedules(database: Database, *, default_duration: timedelta) -> list[PollSchedule]:
    """Every community's poll schedule that has a channel (paused ones included: they post nothing)."""
    schedules = []
    for row, platform in await _with_platform(database):
        if row.poll_channel_id is None:
            continue
        hours = row.poll_duration_hours
        try:
            schedules.append(
                PollSchedule(
                    community_id=row.community_id,
                    platform=platform,
                    channel_id=row.poll_channel_id,
                    interval=timedelta(minutes=row.poll_interval_minutes),
                    per_round=row.polls_per_round,
                    duration=timedelta(hours=hours) if hours else default_duration,
                    paused=row.polls_paused,
                )
            )
        except ScheduleError as error:  # a row edited by hand: skip it, loudly, and serve the others
            log.error("community %s has an unusable poll schedule: %s", row.community_id, error)
    return schedules


async def digest_schedules(database: Database) -> list[DigestSchedule]:
    """Every community's digest schedule that has a channel (paused ones included)."""
    schedules = []
    for row, platform in await _with_platform(database):
        if row.digest_channel_id is None:
            continue
        try:
            schedules.append(
                DigestSchedule(
                    community_id=row.community_id,
                    platform=platform,
                    channel_id=row.digest_channel_id,
                    day=row.digest_day,
                    hour=row.digest_hour,
                    minute=row.digest_minute,
                    timezone=row.digest_timezone,
                    paused=row.digest_paused,
                    since=row.digest_since,
                )
            )
        except ScheduleError as error:
            log.error("community %s has an unusable digest schedule: %s", row.community_id, error)
    return schedules
