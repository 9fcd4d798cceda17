"""The scheduler: story poll rounds, closing due polls, maintenance (dedup + stories), the weekly digest.

Two layers:

- **Job functions** (``run_poll_round``, ``close_due_polls``, ``run_maintenance``, ``run_weekly_digest``):
  plain async functions taking the database, the platform publisher and ``now``. They know nothing of
  APScheduler and are what the tests drive with a hand-moved clock.
- **APScheduler 3 wiring** (``build_scheduler``, ``run_scheduler``): an ``AsyncIOScheduler`` whose jobs live
  in a ``SQLAlchemyJobStore`` (table ``apscheduler_jobs``) in the bot's own database. The job store pickles
  jobs, so each job is a module-level function (``poll_round_job`` …) whose arguments are plain strings;
  the live objects (database, publishers, schedules, LLM) are found in the process-wide
  ``SchedulerContext`` installed by ``run_scheduler`` (``install_context``).

Never twice, however many processes or restarts (ENGINEERING.md, APScheduler 3):

1. **One scheduler.** On PostgreSQL only the process holding the session-level advisory lock
   ``pg_try_advisory_lock(LEADER_LOCK_KEY)`` runs the scheduler; it keeps that connection open for its
   lifetime, and the lock goes when the process (or its connection) does, so a standby takes over. On
   SQLite a single bot process is assumed (SQLite is the one-machine setup); the claims below still stop
   a second process from posting a round twice.
2. **One run per (job, community, period).** Every round claims ``("poll_round", community,
   period_key(now, interval))`` in ``job_run`` (``mge.bot.jobs.claim_job``) before posting. The poll job
   fires every ``tick`` (≤ 15 minutes) but posts only in the first tick of each window, so a restart, a
   missed fire or a second process within a window posts nothing twice, and a round that failed before
   posting anything is retried on the next tick.

Windows are ``floor((now - ANCHOR) / interval)`` in UTC, ``ANCHOR`` being Monday 1970-01-05 00:00 UTC: an
interval that divides a day starts its windows at 00:00 UTC, a weekly one on Monday 00:00 UTC. Changing a community's
interval changes its window keys, so the window in which it changes may get one extra round.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from mge.bot.jobs import claim_job, finish_job
from mge.bot.poll_selection import community_id_of, next_story
from mge.bot.polls import PollPublisher, close_poll, post_story_poll
from mge.core.messages import CommunityRef
from mge.storage.database import Database, database_backend, install_sqlite_pragmas, sync_url
from mge.storage.models import JobRun, Poll

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from mge.bot.dedup import DedupParams
    from mge.core.embeddings import Embedder
    from mge.core.llm import LLM

log = logging.getLogger("mge.scheduler")

POLL_ROUND_JOB = "poll_round"  # job name in job_run
MAINTENANCE_JOB = "maintenance"
#: APScheduler job ids. Every job of ours starts with JOB_PREFIX; others in the store are left alone.
JOB_PREFIX = "mge:"
CLOSE_POLLS_JOB_ID = "mge:close_polls"
MAINTENANCE_JOB_ID = "mge:maintenance"
DIGEST_JOB_ID = "mge:digest"
JOBS_TABLE = "apscheduler_jobs"

#: The poll job's tick: how often it looks whether its window's round is due (and retries a failed one).
MAX_TICK = timedelta(minutes=15)
#: A job that could not fire on time (process down, event loop busy) still runs within this grace.
MISFIRE_GRACE = timedelta(hours=6)
DIGEST_MISFIRE_GRACE = timedelta(hours=12)
#: Arbitrary constant for ``pg_try_advisory_lock``: "mge" + "sched" in ASCII-ish hex. Same in every process.
LEADER_LOCK_KEY = 0x6D6765_5343
#: Where windows are counted from: a Monday midnight UTC, so weekly windows run Monday to Monday.
ANCHOR = datetime(1970, 1, 5, tzinfo=UTC)


# --- configuration ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollSchedule:
    """Where and how often one community's story polls are posted."""

    platform: str  # "discord" | "slack"
    external_id: str  # guild id / team id, as in ``Community.external_id``
    channel_id: str
    interval: timedelta = timedelta(days=1)
    per_interval: int = 1
    duration: timedelta = timedelta(hours=72)
    paused: bool = False

    def __post_init__(self) -> None:
        if self.interval < timedelta(minutes=1):
            raise ValueError(f"poll interval must be at least a minute, got {self.interval}")
        if self.per_interval < 0:
            raise ValueError("polls per interval must not be negative")
        if self.duration <= timedelta(0):
            raise ValueError("poll duration must be positive")

    @property
    def key(self) -> str:
        """The community, as a string (the poll job's only argument)."""
        return f"{self.platform}:{self.external_id}"

    @property
    def job_id(self) -> str:
        return f"{JOB_PREFIX}{POLL_ROUND_JOB}:{self.key}"

    @property
    def community(self) -> CommunityRef:
        return CommunityRef(self.platform, self.external_id, "")


@dataclass(frozen=True)
class DigestSchedule:
    """When the weekly digest job fires (APScheduler ``CronTrigger`` fields)."""

    day_of_week: str = "mon"
    hour: int = 9
    minute: int = 0
    timezone: str = "UTC"


@dataclass
class Maintenance:
    """What the maintenance job (dedup, then story generation) needs."""

    llm: LLM
    embedder: Embedder
    judge_model: str
    story_model: str
    dedup_params: DedupParams | None = None


@dataclass
class SchedulerContext:
    """The live objects the pickled jobs find at run time (one per process)."""

    database: Database
    publishers: Mapping[str, PollPublisher]  # by platform
    schedules: Sequence[PollSchedule] = ()
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    maintenance: Maintenance | None = None

    def schedule(self, key: str) -> PollSchedule | None:
        return next((s for s in self.schedules if s.key == key), None)


_context: SchedulerContext | None = None


def install_context(context: SchedulerContext | None) -> None:
    """Make ``context`` the one the jobs of this process use (None: uninstall)."""
    global _context
    _context = context


def current_context() -> SchedulerContext | None:
    return _context


# --- periods ------------------------------------------------------------------------------------------


def period_key(now: datetime, interval: timedelta) -> str:
    """The window ``now`` falls in: ``floor((now - ANCHOR) / interval)`` in UTC, as text — the start of
    the window and the interval, e.g. ``2026-11-02T06:00Z/21600s`` (≤ 40 characters)."""
    if now.tzinfo is None:
        raise ValueError("period_key needs an aware datetime")
    seconds = int(interval.total_seconds())
    if seconds <= 0:
        raise ValueError("interval must be positive")
    index = int((now - ANCHOR).total_seconds()) // seconds
    start = ANCHOR + timedelta(seconds=index * seconds)
    return f"{start:%Y-%m-%dT%H:%M}Z/{seconds}s"


# --- job functions (no APScheduler) -------------------------------------------------------------------


def _progress(detail: str) -> list[int]:
    """Poll ids recorded by an earlier, interrupted run of the same round."""
    try:
        return [int(i) for i in json.loads(detail).get("polls", [])]
    except (ValueError, TypeError, AttributeError):
        return []


async def _save_run(database: Database, run_id: int, *, polls: list[int], now: datetime,
                    finished: bool = False, ok: bool = True, error: str | None = None) -> None:
    detail = json.dumps({"polls": polls, **({"error": error} if error else {})})
    async with database.session() as session:
        run = await session.get(JobRun, run_id)
        assert run is not None
        if finished:
            finish_job(run, now=now, ok=ok, detail=detail)
        else:
            run.detail = detail
        session.add(run)
        await session.commit()


async def run_poll_round(
    database: Database, publisher: PollPublisher, schedule: PollSchedule, *, now: datetime
) -> list[int]:
    """Post this window's round for one community: up to ``per_interval`` stories that most need votes,
    each open until ``now + duration``. Returns the ids of the polls posted by this call — empty when the
    schedule is paused, the community has no stories, or this window's round already ran (or is running).

    A round that fails before posting anything is marked failed and retried by the next call in the same
    window; one that fails after posting some polls is marked done with the error (never post twice; the
    rest come next window). A round whose process died mid-way is resumed (after ``jobs.STALE_RUN``)
    from the poll ids it recorded."""
    if schedule.paused or schedule.per_interval == 0:
        return []
    community_id = await community_id_of(database, schedule.community)
    if community_id is None:
        log.info("poll round for %s: no such community recorded yet", schedule.key)
        return []
    period = period_key(now, schedule.interval)
    async with database.session() as session:
        run = await claim_job(session, job=POLL_ROUND_JOB, community_id=community_id, period=period, now=now)
        if run is None:
            return []
        await session.commit()
        run_id, done_before = run.id, _progress(run.detail)
    assert run_id is not None

    polls = list(done_before)
    posted: list[int] = []
    story_ids: list[int] = []
    try:
        while len(polls) < schedule.per_interval:
            story_id = await next_story(database, community_id=community_id, now=now, exclude=story_ids)
            if story_id is None:
                break
            poll = await post_story_poll(
                database, publisher, story_id=story_id, platform=schedule.platform, channel_id=schedule.channel_id,
                closes_at=now + schedule.duration, now=now,
            )
            assert poll.id is not None
            story_ids.append(story_id)
            polls.append(poll.id)
            posted.append(poll.id)
            await _save_run(database, run_id, polls=polls, now=now)
    except Exception as error:
        log.exception("poll round %s %s failed after %d poll(s)", schedule.key, period, len(polls))
        await _save_run(database, run_id, polls=polls, now=now, finished=True, ok=bool(polls), error=repr(error)[:500])
        raise
    await _save_run(database, run_id, polls=polls, now=now, finished=True)
    log.info("poll round %s %s: posted polls %s", schedule.key, period, posted)
    return posted


async def close_due_polls(database: Database, *, now: datetime) -> list[int]:
    """Close every open poll whose ``closes_at`` is at or before ``now`` (final tallies stored); returns
    their ids. Idempotent: closed polls are not open any more, and ``close_poll`` itself is idempotent."""
    query = (
        select(Poll.id)
        .where(Poll.state == "open", col(Poll.closes_at).is_not(None), col(Poll.closes_at) <= now)
        .order_by(col(Poll.id))
    )
    async with database.session() as session:
        due = [poll_id for poll_id in (await session.exec(query)).all() if poll_id is not None]
    closed = []
    for poll_id in due:
        try:
            await close_poll(database, poll_id=poll_id, now=now)
            closed.append(poll_id)
        except Exception:  # one bad poll must not keep the others open
            log.exception("closing poll %s failed", poll_id)
    return closed


async def run_maintenance(
    database: Database, maintenance: Maintenance, *, community_ids: Iterable[int], now: datetime
) -> dict[int, dict[str, str]]:
    """Dedup, then story generation, for each community. Both are idempotent per period (they claim
    their own job runs), so running this often is cheap when nothing changed. Returns a short outcome
    per community and step; an error in one community or step does not stop the others."""
    from mge.bot.dedup import DedupParams, run_dedup
    from mge.bot.stories import generate_stories

    outcomes: dict[int, dict[str, str]] = {}
    for community_id in community_ids:
        outcome = outcomes.setdefault(community_id, {})
        try:
            report = await run_dedup(
                database, llm=maintenance.llm, embedder=maintenance.embedder, judge_model=maintenance.judge_model,
                community_id=community_id, now=now, params=maintenance.dedup_params or DedupParams(),
            )
            outcome["dedup"] = f"ok: {report}"[:200]
        except Exception as error:
            log.exception("dedup for community %s failed", community_id)
            outcome["dedup"] = f"error: {error!r}"[:200]
        try:
            stories = await generate_stories(
                database, llm=maintenance.llm, model=maintenance.story_model, community_id=community_id, now=now
            )
            outcome["stories"] = f"ok: {stories}"[:200]
        except Exception as error:
            log.exception("story generation for community %s failed", community_id)
            outcome["stories"] = f"error: {error!r}"[:200]
    return outcomes


async def run_weekly_digest(context: SchedulerContext, *, now: datetime) -> str:
    """HOOK for the weekly graph digest (not written yet): fired by ``DIGEST_JOB_ID`` on its
    ``CronTrigger``. Fill this in: per community, claim ``("digest", community, <ISO week of now>)`` with
    ``claim_job``, build the digest and post it through ``context.publishers[platform]`` (or the
    platform client). Until then it does nothing and says so."""
    del context, now
    return "not configured"


# --- APScheduler entry points (module-level, string arguments: the job store pickles them) ------------


def _require_context() -> SchedulerContext | None:
    if _context is None:
        log.warning("a scheduled job fired but no SchedulerContext is installed in this process")
    return _context


async def poll_round_job(schedule_key: str) -> list[int]:
    context = _require_context()
    if context is None:
        return []
    schedule = context.schedule(schedule_key)
    if schedule is None:
        log.warning("no poll schedule %s is configured any more; skipping", schedule_key)
        return []
    publisher = context.publishers.get(schedule.platform)
    if publisher is None:
        log.warning("no %s publisher for poll schedule %s; skipping", schedule.platform, schedule_key)
        return []
    return await run_poll_round(context.database, publisher, schedule, now=context.clock())


async def close_polls_job() -> list[int]:
    context = _require_context()
    return [] if context is None else await close_due_polls(context.database, now=context.clock())


async def maintenance_job() -> dict[int, dict[str, str]]:
    context = _require_context()
    if context is None or context.maintenance is None:
        return {}
    ids = []
    for schedule in context.schedules:
        community_id = await community_id_of(context.database, schedule.community)
        if community_id is not None and community_id not in ids:
            ids.append(community_id)
    return await run_maintenance(context.database, context.maintenance, community_ids=ids, now=context.clock())


async def digest_job() -> str:
    context = _require_context()
    return "not configured" if context is None else await run_weekly_digest(context, now=context.clock())


# --- building and running the scheduler ---------------------------------------------------------------


def poll_tick(interval: timedelta) -> timedelta:
    return min(interval, MAX_TICK)


def build_scheduler(
    *,
    database_url: str,
    schedules: Sequence[PollSchedule] = (),
    close_every: timedelta = timedelta(minutes=1),
    maintenance_every: timedelta | None = None,
    digest: DigestSchedule | None = None,
) -> AsyncIOScheduler:
    """An ``AsyncIOScheduler`` with its job store in ``database_url`` and our jobs added (pending until
    ``start``): one poll job per schedule (paused schedules included: the job itself does nothing), the
    poll closer, maintenance when ``maintenance_every`` is given, the digest when ``digest`` is given.
    Adding is idempotent (``replace_existing``); ``prune_jobs`` removes jobs no longer configured."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    engine = sa.create_engine(sync_url(database_url), pool_pre_ping=database_backend(database_url) != "sqlite")
    install_sqlite_pragmas(engine)
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(MISFIRE_GRACE.total_seconds())},
        timezone=UTC,
    )

    def every(period: timedelta) -> IntervalTrigger:
        # Anchored like the windows: fires on window boundaries, whatever time the process started.
        return IntervalTrigger(seconds=int(period.total_seconds()), start_date=ANCHOR, timezone=UTC)

    for schedule in schedules:
        scheduler.add_job(
            "mge.bot.scheduler:poll_round_job", every(poll_tick(schedule.interval)), args=[schedule.key],
            id=schedule.job_id, name=f"poll round {schedule.key}", replace_existing=True,
        )
    scheduler.add_job("mge.bot.scheduler:close_polls_job", every(close_every), id=CLOSE_POLLS_JOB_ID,
                      name="close due polls", replace_existing=True)
    if maintenance_every is not None:
        scheduler.add_job("mge.bot.scheduler:maintenance_job", every(maintenance_every), id=MAINTENANCE_JOB_ID,
                          name="dedup and stories", replace_existing=True)
    if digest is not None:
        scheduler.add_job(
            "mge.bot.scheduler:digest_job",
            CronTrigger(day_of_week=digest.day_of_week, hour=digest.hour, minute=digest.minute, timezone=digest.timezone),
            id=DIGEST_JOB_ID, name="weekly digest", replace_existing=True,
            misfire_grace_time=int(DIGEST_MISFIRE_GRACE.total_seconds()),
        )
    return scheduler


def prune_jobs(scheduler: AsyncIOScheduler, keep: Iterable[str]) -> list[str]:
    """Remove our stored jobs (id starting with ``JOB_PREFIX``) that are not in ``keep`` — a community
    whose schedule was removed, maintenance switched off. Call after ``start`` (the store is open then)."""
    wanted = set(keep)
    removed = []
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
            scheduler.remove_job(job.id)
            removed.append(job.id)
    return removed


class Leadership:
    """The right to run the scheduler. On PostgreSQL: a session-level advisory lock on an open
    connection (kept for the process lifetime; ``release`` or the connection's end gives it up)."""

    def __init__(self, engine: sa.Engine | None = None, connection: sa.Connection | None = None):
        self._engine, self._connection = engine, connection

    def alive(self) -> bool:
        if self._connection is None:
            return True
        try:
            self._connection.execute(sa.text("SELECT 1"))
            self._connection.commit()
            return True
        except sa.exc.DBAPIError:
            return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK_KEY})
                self._connection.commit()
            except sa.exc.DBAPIError:
                pass  # the connection is gone, and the lock with it
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def try_become_leader(database_url: str) -> Leadership | None:
    """Leadership if this process may run the scheduler, else None. PostgreSQL: whoever gets
    ``pg_try_advisory_lock(LEADER_LOCK_KEY)``. SQLite: always (one process per SQLite database)."""
    if database_backend(database_url) != "postgresql":
        return Leadership()
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    connection = engine.connect()
    try:
        won = connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}).scalar()
        connection.commit()  # the lock is session-level: it outlives the transaction
    except BaseException:
        connection.close()
        engine.dispose()
        raise
    if not won:
        connection.close()
        engine.dispose()
        return None
    return Leadership(engine, connection)


async def run_scheduler(
    context: SchedulerContext,
    *,
    database_url: str,
    stop: asyncio.Event,
    close_every: timedelta = timedelta(minutes=1),
    maintenance_every: timedelta | None = None,
    digest: DigestSchedule | None = None,
    retry_leadership: timedelta = timedelta(seconds=30),
) -> None:
    """Run the scheduler until ``stop`` is set. Waits to become leader (PostgreSQL), then starts the
    jobs; if leadership is lost (the lock's connection dropped), stops them and waits again."""
    install_context(context)
    try:
        while not stop.is_set():
            leadership = await asyncio.to_thread(try_become_leader, database_url)
            if leadership is None:
                log.info("another process runs the scheduler; retrying in %s", retry_leadership)
                await _wait(stop, retry_leadership)
                continue
            try:
                await _lead(context, leadership, database_url=database_url, stop=stop, close_every=close_every,
                            maintenance_every=maintenance_every, digest=digest, check_every=retry_leadership)
            finally:
                await asyncio.to_thread(leadership.release)
    finally:
        install_context(None)


async def _wait(stop: asyncio.Event, delay: timedelta) -> None:
    try:
        await asyncio.wait_for(stop.wait(), delay.total_seconds())
    except TimeoutError:
        pass


async def _lead(context: SchedulerContext, leadership: Leadership, *, database_url: str, stop: asyncio.Event,
                close_every: timedelta, maintenance_every: timedelta | None, digest: DigestSchedule | None,
                check_every: timedelta) -> None:
    scheduler = build_scheduler(database_url=database_url, schedules=context.schedules, close_every=close_every,
                                maintenance_every=maintenance_every, digest=digest)
    keep = {s.job_id for s in context.schedules} | {CLOSE_POLLS_JOB_ID}
    if maintenance_every is not None:
        keep.add(MAINTENANCE_JOB_ID)
    if digest is not None:
        keep.add(DIGEST_JOB_ID)
    scheduler.start(paused=True)
    try:
        removed = prune_jobs(scheduler, keep)
        if removed:
            log.info("removed jobs no longer configured: %s", removed)
        scheduler.resume()
        log.info("scheduler running: %s", sorted(keep))
        while not stop.is_set():
            await _wait(stop, check_every)
            if not stop.is_set() and not await asyncio.to_thread(leadership.alive):
                log.warning("lost the scheduler leader lock; stopping the scheduler")
                break
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback


def scheduler_jobs(scheduler: AsyncIOScheduler) -> list[dict[str, Any]]:
    """The stored jobs, for logs and status commands."""
    return [{"id": j.id, "name": j.name, "next_run_time": j.next_run_time} for j in scheduler.get_jobs()]
