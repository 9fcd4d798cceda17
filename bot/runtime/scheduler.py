"""The scheduler: APScheduler 3 running our periodic jobs in the one process that leads.

The jobs are ticks: every minute they look at the database for what is due — each community's poll
round (``bot.voting.rounds``), polls to close (then survey offers to their voters), each community's weekly
digest (``bot.digest.posting``, then the legitimacy DMs), the questions why members voted as they did
(``bot.voting.reasons``) —
so a moderator's schedule change takes effect at the next tick without a restart. Maintenance (dedup,
then story generation) runs on its own interval when enabled.

The job store is a ``SQLAlchemyJobStore`` (table ``apscheduler_jobs``) in the bot's own database. It
pickles jobs, so each job is a module-level function without arguments; the live objects (database,
publishers, LLM) are found in the process-wide ``SchedulerContext`` installed by ``run_scheduler``.

Never twice, however many processes or restarts (docs/architecture.md, "Scheduled work runs once"; APScheduler 3):

1. **One scheduler.** On PostgreSQL only the process holding the session-level advisory lock
   ``pg_try_advisory_lock(LEADER_LOCK_KEY)`` runs the scheduler; it keeps that connection open for its
   lifetime, and the lock goes when the process (or its connection) does, so a standby takes over. On
   SQLite a single bot process is assumed (SQLite is the one-machine setup).
2. **One run per (job, community, period).** Every poll round and digest claims its period in
   ``job_run`` before posting (``bot.runtime.jobs.claim_job``), so a restart, a missed fire or a second
   scheduler posts nothing twice. Missed fires are coalesced: after downtime each tick runs once and
   finds only the latest window or weekly slot due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.digest.posting import DigestPublisher, run_due_digests
from bot.legitimacy.checks import DirectMessenger
from bot.runtime.jobs import STALE_RUN
from bot.runtime.maintenance import Maintenance, run_maintenance
from bot.voting.polls import PollPublisher
from bot.voting.reasons import send_reason_questions
from bot.voting.rounds import close_due_polls, run_due_poll_rounds
from core.clock import utcnow
from core.graph import GraphParams
from core.schedule import ANCHOR
from storage import communities_repo, leases_repo
from storage.database import Database, database_backend, install_sqlite_pragmas, sync_url

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("mge.scheduler")

#: APScheduler job ids. Every job of ours starts with JOB_PREFIX; others in the store are left alone.
JOB_PREFIX = "mge:"
POLL_TICK_JOB_ID = "mge:poll_rounds"
CLOSE_POLLS_JOB_ID = "mge:close_polls"
DIGEST_TICK_JOB_ID = "mge:digests"
MAINTENANCE_JOB_ID = "mge:maintenance"
REASONS_JOB_ID = "mge:vote_reasons"
JOBS_TABLE = "apscheduler_jobs"

#: How often the ticks look for due rounds, polls to close and digests.
TICK = timedelta(minutes=1)
#: A job that could not fire on time (process down, event loop busy) still runs within this grace.
MISFIRE_GRACE = timedelta(hours=6)
#: Arbitrary constant for ``pg_try_advisory_lock``: "mge" + "sched" in ASCII-ish hex. Same in every process.
LEADER_LOCK_KEY = 0x6D6765_5343


@dataclass
class SchedulerContext:
    """The live objects the pickled jobs find at run time (one per process)."""

    database: Database
    poll_publishers: Mapping[str, PollPublisher] = field(default_factory=dict)  # by platform
    digest_publishers: Mapping[str, DigestPublisher] = field(default_factory=dict)
    #: DMs for the legitimacy questions of docs/method.md §8, by platform: the fair-position question after a
    #: posted digest; the follow-up survey after a digest or when polls close.
    messengers: Mapping[str, DirectMessenger] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=utcnow)
    default_poll_duration: timedelta = timedelta(hours=72)
    graph_params: GraphParams = field(default_factory=GraphParams)
    maintenance: Maintenance | None = None
    #: When this process became the scheduler's leader: a run claimed before then and still "running"
    #: belonged to a scheduler that is gone (only one runs at a time), so it may be taken over at once.
    leader_since: datetime | None = None

    def stale_after(self, now: datetime) -> timedelta:
        if self.leader_since is None:
            return STALE_RUN
        return max(timedelta(0), min(STALE_RUN, now - self.leader_since))


_context: SchedulerContext | None = None
#: Job runs in progress in this process: stopping waits for them (cancelling one mid-way would only
#: leave its claim to be retried later, but a clean stop is quieter and quicker to resume).
_running: set[asyncio.Task] = set()
#: How long stopping waits for job runs in progress.
STOP_GRACE = timedelta(seconds=30)


def install_context(context: SchedulerContext | None) -> None:
    """Make ``context`` the one the jobs of this process use (None: uninstall)."""
    global _context
    _context = context


def current_context() -> SchedulerContext | None:
    return _context


# --- APScheduler entry points (module-level, no arguments: the job store pickles them) ---------------


def _require_context() -> SchedulerContext | None:
    if _context is None:
        log.warning("a scheduled job fired but no SchedulerContext is installed in this process")
        return None
    task = asyncio.current_task()
    if task is not None:
        _running.add(task)
        task.add_done_callback(_running.discard)
    return _context


async def poll_rounds_job() -> dict[int, list[int]]:
    context = _require_context()
    if context is None:
        return {}
    now = context.clock()
    return await run_due_poll_rounds(
        context.database,
        context.poll_publishers,
        now=now,
        default_duration=context.default_poll_duration,
        stale_after=context.stale_after(now),
    )


async def close_polls_job() -> list[int]:
    context = _require_context()
    if context is None:
        return []
    # With the messengers: polls closing is also when voters are offered the follow-up survey (once each);
    # with the publishers, closed private polls show their tallies.
    return await close_due_polls(
        context.database, now=context.clock(), messengers=context.messengers, publishers=context.poll_publishers
    )


async def digests_job() -> dict[int, str]:
    context = _require_context()
    if context is None:
        return {}
    now = context.clock()
    return await run_due_digests(
        context.database,
        context.digest_publishers,
        now=now,
        params=context.graph_params,
        messengers=context.messengers,
        stale_after=context.stale_after(now),
    )


async def vote_reasons_job() -> int:
    context = _require_context()
    if context is None:
        return 0
    # Queued by the vote applier, sent from here so that a burst of votes never waits on DMs.
    return await send_reason_questions(context.database, context.messengers, now=context.clock())


async def maintenance_job() -> dict[int, dict[str, str]]:
    context = _require_context()
    if context is None or context.maintenance is None:
        return {}
    async with context.database.session() as session:
        ids = [
            c.id
            for c in await communities_repo.list_communities(session)
            if c.id is not None and c.platform != "console"
        ]
    return await run_maintenance(
        context.database, context.maintenance, community_ids=ids, now=context.clock(), messengers=context.messengers
    )


# --- building and running the scheduler ---------------------------------------------------------------


def build_scheduler(
    *,
    database_url: str,
    tick: timedelta = TICK,
    maintenance_every: timedelta | None = None,
) -> AsyncIOScheduler:
    """An ``AsyncIOScheduler`` with its job store in ``database_url`` and our jobs added (pending until
    ``start``): the poll-round, poll-closing and digest ticks, and maintenance when ``maintenance_every``
    is given. Adding is idempotent (``replace_existing``); ``prune_jobs`` removes jobs no longer wanted."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
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

    for job_id, function, name in (
        (POLL_TICK_JOB_ID, "poll_rounds_job", "story poll rounds"),
        (CLOSE_POLLS_JOB_ID, "close_polls_job", "close due polls"),
        (DIGEST_TICK_JOB_ID, "digests_job", "weekly digests"),
        (REASONS_JOB_ID, "vote_reasons_job", "ask voters why"),
    ):
        scheduler.add_job(f"bot.runtime.scheduler:{function}", every(tick), id=job_id, name=name, replace_existing=True)
    if maintenance_every is not None:
        scheduler.add_job(
            "bot.runtime.scheduler:maintenance_job",
            every(maintenance_every),
            id=MAINTENANCE_JOB_ID,
            name="dedup and stories",
            replace_existing=True,
        )
    return scheduler


def wanted_jobs(*, maintenance_every: timedelta | None) -> set[str]:
    jobs = {POLL_TICK_JOB_ID, CLOSE_POLLS_JOB_ID, DIGEST_TICK_JOB_ID, REASONS_JOB_ID}
    if maintenance_every is not None:
        jobs.add(MAINTENANCE_JOB_ID)
    return jobs


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
            leases_repo.ping(self._connection)
            self._connection.commit()
            return True
        except sa.exc.DBAPIError:
            return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                leases_repo.advisory_unlock(self._connection, key=LEADER_LOCK_KEY)
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
        won = leases_repo.try_advisory_lock(connection, key=LEADER_LOCK_KEY)
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
    tick: timedelta = TICK,
    maintenance_every: timedelta | None = None,
    retry_leadership: timedelta = timedelta(seconds=5),
) -> None:
    """Run the scheduler until ``stop`` is set. Waits to become leader (PostgreSQL), then starts the
    jobs; if leadership is lost (the lock's connection dropped), stops them and waits again."""
    install_context(context)
    standing_by = False
    try:
        while not stop.is_set():
            leadership = await asyncio.to_thread(try_become_leader, database_url)
            if leadership is None:
                # Said once: a standby asks again every few seconds for as long as the leader lives.
                (log.debug if standing_by else log.info)(
                    "another process runs the scheduler; standing by (asking again every %s)", retry_leadership
                )
                standing_by = True
                await _wait(stop, retry_leadership)
                continue
            standing_by = False
            context.leader_since = context.clock()
            try:
                await _lead(
                    leadership,
                    database_url=database_url,
                    stop=stop,
                    tick=tick,
                    maintenance_every=maintenance_every,
                    check_every=retry_leadership,
                )
            finally:
                await asyncio.to_thread(leadership.release)
    finally:
        install_context(None)


async def _wait(stop: asyncio.Event, delay: timedelta) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay.total_seconds())


async def _lead(
    leadership: Leadership,
    *,
    database_url: str,
    stop: asyncio.Event,
    tick: timedelta,
    maintenance_every: timedelta | None,
    check_every: timedelta,
) -> None:
    scheduler = build_scheduler(database_url=database_url, tick=tick, maintenance_every=maintenance_every)
    keep = wanted_jobs(maintenance_every=maintenance_every)
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
        scheduler.pause()  # no new runs; let the ones in progress finish
        if _running:
            await asyncio.wait(set(_running), timeout=STOP_GRACE.total_seconds())
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback


def scheduler_jobs(scheduler: AsyncIOScheduler) -> list[dict[str, Any]]:
    """The stored jobs, for logs and status commands."""
    return [{"id": j.id, "name": j.name, "next_run_time": j.next_run_time} for j in scheduler.get_jobs()]
