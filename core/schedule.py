"""When polls and digests are due: windows, weekly slots in a community's timezone, and the rules a
schedule must obey. Pure (no clock, no database): the scheduler passes ``now`` in.

Poll rounds run once per *window*: ``floor((now - ANCHOR) / interval)`` in UTC, ``ANCHOR`` being Monday
1970-01-05 00:00 UTC, so an interval that divides a day starts its windows at 00:00 UTC and a weekly one
on Monday 00:00 UTC. The digest runs once per *slot*: the latest "<day> <hh:mm>" in the community's
timezone at or before ``now`` (wall-clock time, so 09:00 stays 09:00 across daylight-saving changes).
A scheduler that was down for three weeks finds one slot due, not three: missed runs are coalesced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

#: Where windows are counted from: a Monday midnight UTC, so weekly windows run Monday to Monday.
ANCHOR = datetime(1970, 1, 5, tzinfo=UTC)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_INTERVAL = timedelta(minutes=10)
MAX_INTERVAL = timedelta(days=28)
MAX_POLLS_PER_ROUND = 10
#: Discord's limit for native polls, which we keep for reaction polls too: 1 hour to 32 days.
MIN_DURATION_HOURS, MAX_DURATION_HOURS = 1, 768


class ScheduleError(ValueError):
    """A schedule value that cannot be used; the message says what is allowed."""


def period_key(now: datetime, interval: timedelta) -> str:
    """The window ``now`` falls in, as text: its start and the interval, e.g. ``2026-11-02T06:00Z/21600s``."""
    if now.tzinfo is None:
        raise ValueError("period_key needs an aware datetime")
    seconds = int(interval.total_seconds())
    if seconds <= 0:
        raise ValueError("interval must be positive")
    index = int((now - ANCHOR).total_seconds()) // seconds
    start = ANCHOR + timedelta(seconds=index * seconds)
    return f"{start:%Y-%m-%dT%H:%M}Z/{seconds}s"


def check_interval(interval: timedelta) -> timedelta:
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise ScheduleError(f"the poll interval must be between 10 minutes and 28 days, not {describe(interval)}")
    return interval


def check_polls_per_round(count: int) -> int:
    if not 0 <= count <= MAX_POLLS_PER_ROUND:
        raise ScheduleError(f"polls per round must be between 0 and {MAX_POLLS_PER_ROUND}, not {count}")
    return count


def check_duration_hours(hours: int) -> int:
    if not MIN_DURATION_HOURS <= hours <= MAX_DURATION_HOURS:
        raise ScheduleError(f"a poll stays open between 1 and 768 hours (32 days), not {hours}")
    return hours


def check_day(day: str) -> str:
    short = day.strip().casefold()[:3]
    if short not in DAYS:
        raise ScheduleError(f"the digest day must be a weekday (mon, tue, … sun), not {day!r}")
    return short


def check_time_of_day(hour: int, minute: int) -> tuple[int, int]:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ScheduleError(f"the digest time must be between 00:00 and 23:59, not {hour:02d}:{minute:02d}")
    return hour, minute


def parse_time_of_day(text: str) -> tuple[int, int]:
    """``"9"``, ``"09:30"`` or ``"9:30"`` → (hour, minute)."""
    hour, _, minute = text.strip().partition(":")
    try:
        return check_time_of_day(int(hour), int(minute or 0))
    except ValueError as error:
        if isinstance(error, ScheduleError):
            raise
        raise ScheduleError(f"give the digest time as HH:MM in 24-hour time, e.g. 09:00, not {text!r}") from None


def check_timezone(name: str) -> str:
    """An IANA timezone name ("Europe/Berlin", "America/New_York", "UTC")."""
    name = name.strip()
    try:
        if name and "/" not in name and name.upper() == "UTC":
            return "UTC"
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = sorted(z for z in available_timezones() if name and name.casefold() in z.casefold())[:3]
        hint = f" Did you mean {', '.join(close)}?" if close else " Use a name like Europe/Berlin or America/New_York."
        raise ScheduleError(f"{name!r} is not a timezone I know.{hint}") from None
    return name


_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_interval(text: str) -> timedelta:
    """``"30m"``, ``"6h"``, ``"1d"``, ``"1w"`` (a bare number is hours) → a checked interval."""
    raw = text.strip().casefold().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :] or "h"
    unit = {
        "minutes": "m",
        "minute": "m",
        "mins": "m",
        "hours": "h",
        "hour": "h",
        "days": "d",
        "day": "d",
        "weeks": "w",
        "week": "w",
    }.get(unit, unit)
    try:
        amount = float(number)
    except ValueError:
        raise ScheduleError(f"give the interval as a number and a unit, e.g. 12h, 1d or 30m — not {text!r}") from None
    if unit not in _UNITS:
        raise ScheduleError(f"the interval's unit must be m, h, d or w, not {unit!r}")
    return check_interval(timedelta(seconds=round(amount * _UNITS[unit])))


def describe(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class PollSchedule:
    """Where and how often one community's story polls are posted."""

    community_id: int
    platform: str  # "discord" | "slack"
    channel_id: str
    interval: timedelta = timedelta(days=1)
    per_round: int = 1
    duration: timedelta = timedelta(hours=72)
    paused: bool = False

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ScheduleError("the poll interval must be positive")
        if self.per_round < 0:
            raise ScheduleError("polls per round must not be negative")
        if self.duration <= timedelta(0):
            raise ScheduleError("the poll duration must be positive")

    def period(self, now: datetime) -> str:
        return period_key(now, self.interval)


@dataclass(frozen=True)
class DigestSchedule:
    """When one community's weekly digest is posted: a weekday and wall-clock time in its timezone."""

    community_id: int
    platform: str
    channel_id: str
    day: str = "mon"
    hour: int = 9
    minute: int = 0
    timezone: str = "UTC"
    paused: bool = False
    #: Slots before this instant are not due (the schedule did not exist yet).
    since: datetime | None = None

    def __post_init__(self) -> None:
        check_day(self.day)
        check_time_of_day(self.hour, self.minute)
        check_timezone(self.timezone)

    def latest_slot(self, now: datetime) -> datetime:
        """The latest slot at or before ``now``, in UTC."""
        return latest_weekly_slot(now, day=self.day, hour=self.hour, minute=self.minute, timezone=self.timezone)

    def due_slot(self, now: datetime) -> datetime | None:
        """The slot to post for now, or None: paused, or the latest slot is older than the schedule."""
        if self.paused:
            return None
        slot = self.latest_slot(now)
        if self.since is not None and slot < self.since:
            return None
        return slot

    def period(self, slot: datetime) -> str:
        """The claim key of a slot: the ISO week of its local date, e.g. ``2026-W47``."""
        year, week, _ = slot.astimezone(ZoneInfo(self.timezone)).isocalendar()
        return f"{year}-W{week:02d}"

    def describe(self) -> str:
        return f"{self.day.capitalize()} {self.hour:02d}:{self.minute:02d} {self.timezone}"


def latest_weekly_slot(now: datetime, *, day: str, hour: int, minute: int, timezone: str) -> datetime:
    """The latest ``day hour:minute`` wall-clock time in ``timezone`` at or before ``now``, in UTC."""
    if now.tzinfo is None:
        raise ValueError("latest_weekly_slot needs an aware datetime")
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    days_back = (local.weekday() - DAYS.index(check_day(day))) % 7
    date = local.date() - timedelta(days=days_back)
    slot = datetime.combine(date, time(hour, minute), tzinfo=zone)
    if slot > now:
        slot = datetime.combine(date - timedelta(days=7), time(hour, minute), tzinfo=zone)
    return slot.astimezone(UTC)
