"""The pure schedule rules: weekly digest slots in a community's timezone, parsing what moderators type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.schedule import (
    DigestSchedule,
    ScheduleError,
    check_day,
    check_timezone,
    describe,
    latest_weekly_slot,
    parse_interval,
    parse_time_of_day,
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_latest_slot_is_the_last_weekday_and_time_in_the_timezone_at_or_before_now():
    # Monday 09:00 in Berlin is 08:00 UTC in November (CET, UTC+1).
    slot = dict(day="mon", hour=9, minute=0, timezone="Europe/Berlin")
    assert latest_weekly_slot(utc(2026, 11, 16, 8, 0), **slot) == utc(2026, 11, 16, 8, 0)
    assert latest_weekly_slot(utc(2026, 11, 16, 7, 59), **slot) == utc(2026, 11, 9, 8, 0)
    assert latest_weekly_slot(utc(2026, 11, 22, 23, 0), **slot) == utc(2026, 11, 16, 8, 0)
    # Sunday 23:30 UTC is already Monday 00:30 in Berlin.
    assert latest_weekly_slot(utc(2026, 11, 22, 23, 30), day="mon", hour=0, minute=15, timezone="Europe/Berlin") == utc(
        2026, 11, 22, 23, 15
    )


def test_the_slot_keeps_its_wall_clock_time_across_daylight_saving():
    # Berlin leaves summer time on Sunday 2026-10-25: 09:00 is 07:00 UTC before and 08:00 UTC after.
    slot = dict(day="sun", hour=9, minute=0, timezone="Europe/Berlin")
    assert latest_weekly_slot(utc(2026, 10, 19, 0, 0), **slot) == utc(2026, 10, 18, 7, 0)
    assert latest_weekly_slot(utc(2026, 10, 26, 0, 0), **slot) == utc(2026, 10, 25, 8, 0)


def test_a_digest_is_due_from_its_latest_slot_unless_paused_or_set_after_it():
    schedule = DigestSchedule(
        community_id=1,
        platform="slack",
        channel_id="C1",
        day="mon",
        hour=9,
        timezone="UTC",
        since=utc(2026, 11, 18, 12, 0),
    )
    assert schedule.due_slot(utc(2026, 11, 20, 0, 0)) is None  # Monday the 16th passed before it was set
    assert schedule.due_slot(utc(2026, 11, 23, 9, 0)) == utc(2026, 11, 23, 9, 0)
    # Three weeks down: only the latest slot is due (missed weeks are coalesced).
    assert schedule.due_slot(utc(2026, 12, 16, 0, 0)) == utc(2026, 12, 14, 9, 0)
    paused = DigestSchedule(community_id=1, platform="slack", channel_id="C1", paused=True)
    assert paused.due_slot(utc(2026, 11, 23, 9, 0)) is None


def test_a_slots_period_is_the_iso_week_of_its_local_date():
    auckland = DigestSchedule(
        community_id=1, platform="slack", channel_id="C1", day="mon", hour=8, timezone="Pacific/Auckland"
    )
    slot = auckland.latest_slot(utc(2026, 11, 22, 20, 0))  # Monday 09:00 NZDT = Sunday 20:00 UTC
    assert slot == utc(2026, 11, 22, 19, 0)
    assert auckland.period(slot) == "2026-W48"  # UTC says week 47; the community's Monday is in week 48
    assert auckland.describe() == "Mon 08:00 Pacific/Auckland"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("2 days", timedelta(days=2)),
        ("6", timedelta(hours=6)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_intervals_are_read_as_people_write_them(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("5m", "between 10 minutes and 28 days"),
        ("0h", "between"),
        ("5w", "between"),
        ("abc", "a number and a unit"),
        ("3x", "unit must be m, h, d or w"),
        ("", "a number and a unit"),
    ],
)
def test_bad_intervals_are_refused_with_what_is_allowed(text, words):
    with pytest.raises(ScheduleError, match=words):
        parse_interval(text)


def test_times_days_and_timezones_are_checked_with_helpful_messages():
    assert parse_time_of_day("9") == (9, 0)
    assert parse_time_of_day("09:30") == (9, 30)
    for bad in ("25:00", "9:60", "nine", "-1"):
        with pytest.raises(ScheduleError, match="HH:MM|between 00:00 and 23:59"):
            parse_time_of_day(bad)
    assert check_day("Monday") == "mon" and check_day("SUN") == "sun"
    with pytest.raises(ScheduleError, match="weekday"):
        check_day("someday")
    assert check_timezone("Europe/Berlin") == "Europe/Berlin" and check_timezone("utc") == "UTC"
    with pytest.raises(ScheduleError, match="Did you mean Europe/Berlin"):
        check_timezone("berlin")
    with pytest.raises(ScheduleError, match="not a timezone"):
        check_timezone("Mars/Olympus_Mons")
    with pytest.raises(ScheduleError):
        DigestSchedule(community_id=1, platform="slack", channel_id="C1", timezone="Nowhere/Land")
    assert describe(timedelta(days=1)) == "1d" and describe(timedelta(minutes=90)) == "90m"
