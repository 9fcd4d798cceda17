"""Scheduled story poll rounds and closing polls when their time is up. No APScheduler here: plain async
functions taking the database, the platform publishers and ``now`` (the scheduler's jobs call them, and
tests drive them with a hand-moved clock).

Never twice: every round claims ``("poll_round", community, window)`` in ``job_run`` before posting
(``core.schedule.period_key``). The poll tick fires every minute but posts only in the first tick of
each window, so a restart, a missed fire or a second process within a window posts nothing twice, and a
round that failed before posting anything is retried on the next tick. Changing a community's interval
changes its window keys, so the window in which it changes may get one extra round.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.legitimacy.checks import DirectMessenger, after_polls_closed
from bot.runtime.jobs import STALE_RUN, claim_job, finish_job
from bot.runtime.schedules import poll_schedules
from bot.voting.polls import PollPublisher, close_poll, post_story_poll
from bot.voting.private import show_closed_tallies
from bot.voting.selection import next_story
from core.schedule import PollSchedule
from storage import polls_repo
from storage.database import Database
from storage.models import JobRun, Poll

log = logging.getLogger("mge.rounds")

POLL_ROUND_JOB = "poll_round"  # job name in job_run


def _progress(detail: str) -> list[int]:
    """Poll ids recorded by an earlier, interrupted run of the same round."""
    try:
        return [int(i) for i in json.loads(detail).get("polls", [])]
    except (ValueError, TypeError, AttributeError):
        return []


def _detail(polls: list[int], error: str | None = None) -> str:
    return json.dumps({"polls": polls, **({"error": error} if error else {})})


async def _finish_run(
    database: Database, run_id: int, *, polls: list[int], now: datetime, ok: bool = True, error: str | None = None
) -> None:
    async with database.session() as session:
        run = await session.get(JobRun, run_id)
        assert run is not None
        finish_job(run, now=now, ok=ok, detail=_detail(polls, error))
        session.add(run)
        await session.commit()


def _note_in_run(run_id: int, polls: list[int]):
    """Writes, in the transaction that records a poll, that this round posted it: a process killed
    after that (while the voting reactions are added, say) leaves a run whose successor counts it."""

    async def note(session: AsyncSession, poll: Poll) -> None:
        run = await session.get(JobRun, run_id)
        assert run is not None
        run.detail = _detail([*polls, poll.id])
        session.add(run)

    return note


async def run_poll_round(
    database: Database,
    publisher: PollPublisher,
    schedule: PollSchedule,
    *,
    now: datetime,
    stale_after: timedelta = STALE_RUN,
) -> list[int]:
    """Post this window's round for one community: up to ``per_round`` stories that most need votes,
    each open until ``now + duration``. Returns the ids of the polls posted by this call — empty when the
    schedule is paused, the community has no stories, or this window's round already ran (or is running).

    A round that fails before posting anything is marked failed and retried by the next call in the same
    window; one that fails after posting some polls is marked done with the error (never post twice; the
    rest come next window). A round whose process died mid-way is resumed (after ``stale_after``; the
    scheduler passes the time since it became leader, as no other scheduler can have been running it)
    from the poll ids it recorded."""
    if schedule.paused or schedule.per_round == 0:
        return []
    community_id = schedule.community_id
    period = schedule.period(now)
    async with database.session() as session:
        run = await claim_job(
            session, job=POLL_ROUND_JOB, community_id=community_id, period=period, now=now, stale_after=stale_after
        )
        if run is None:
            return []
        await session.commit()
        run_id, done_before = run.id, _progress(run.detail)
    assert run_id is not None

    polls = list(done_before)
    posted: list[int] = []
    story_ids: list[int] = []
    try:
        while len(polls) < schedule.per_round:
            story_id = await next_story(database, community_id=community_id, now=now, exclude=story_ids)
            if story_id is None:
                break
            poll = await post_story_poll(
                database,
                publisher,
                story_id=story_id,
                platform=schedule.platform,
                channel_id=schedule.channel_id,
                closes_at=now + schedule.duration,
                now=now,
                also=_note_in_run(run_id, polls),
            )
            assert poll.id is not None
            story_ids.append(story_id)
            polls.append(poll.id)
            posted.append(poll.id)
    except Exception as error:
        log.exception("poll round of community %s, %s, failed after %d poll(s)", community_id, period, len(polls))
        await _finish_run(database, run_id, polls=polls, now=now, ok=bool(polls), error=repr(error)[:500])
        raise
    await _finish_run(database, run_id, polls=polls, now=now)
    log.info("poll round of community %s, %s: posted polls %s", community_id, period, posted)
    return posted


async def run_due_poll_rounds(
    database: Database,
    publishers: Mapping[str, PollPublisher],
    *,
    now: datetime,
    default_duration: timedelta,
    stale_after: timedelta = STALE_RUN,
) -> dict[int, list[int]]:
    """Every community's round for the current window, if not run yet: community id → polls posted.
    One community's failure (a channel the bot may not post in) does not stop the others."""
    posted: dict[int, list[int]] = {}
    for schedule in await poll_schedules(database, default_duration=default_duration):
        publisher = publishers.get(schedule.platform)
        if publisher is None:
            continue  # this process does not serve that platform
        try:
            polls = await run_poll_round(database, publisher, schedule, now=now, stale_after=stale_after)
        except Exception:
            continue  # logged by run_poll_round; retried next tick
        if polls:
            posted[schedule.community_id] = polls
    return posted


async def close_due_polls(
    database: Database,
    *,
    now: datetime,
    messengers: Mapping[str, DirectMessenger] | None = None,
    publishers: Mapping[str, PollPublisher] | None = None,
) -> list[int]:
    """Close every open poll whose ``closes_at`` is at or before ``now`` (final tallies stored); returns
    their ids. Idempotent: closed polls are not open any more, and ``close_poll`` itself is idempotent.

    With ``publishers`` (platform → poll publisher), the messages of closed private polls are then edited
    to show their tallies, without buttons (``bot.voting.private.show_closed_tallies``: also those an
    earlier call could not edit).

    With ``messengers`` (platform → DMs), closing polls is also when members of those polls' communities
    who have a confirmed card and a vote are offered the follow-up survey, once each
    (``bot.legitimacy.checks.after_polls_closed``): communities without a digest schedule get it too."""
    async with database.session() as session:
        due = await polls_repo.due_poll_ids(session, now=now)
    closed = []
    for poll_id in due:
        try:
            await close_poll(database, poll_id=poll_id, now=now)
            closed.append(poll_id)
        except Exception:  # one bad poll must not keep the others open
            log.exception("closing poll %s failed", poll_id)
    if publishers:
        try:
            await show_closed_tallies(database, publishers, now=now)
        except Exception:  # the next tick tries again; the survey offers below must not wait for it
            log.exception("showing the tallies of closed private polls failed")
    if closed and messengers:
        await after_polls_closed(database, messengers, poll_ids=closed, now=now)  # logs its failures, never raises
    return closed
