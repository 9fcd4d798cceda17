"""Posting the weekly digest: on schedule (the scheduler's digest tick) or now (a moderator's post-now).

At most once per community and week, whatever restarts or second processes do. Each scheduled post
claims ``("digest", community, <ISO week of the slot>)`` in ``job_run`` and records its phase in the
run's detail before the platform call. A run found "posting" after its process died (taken over after
``jobs.STALE_RUN``) may or may not have reached the channel: it is closed without posting again — a
missing digest is better than a doubled one, and the next week's comes as usual. A post the platform
refused (a channel the bot may not post in) marks the run failed; it is tried again after
``RETRY_AFTER``, not on every tick.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from bot.digest.build import DIGEST_JOB, finish_digest_job, prepare_digest
from bot.legitimacy.checks import DirectMessenger, after_digest
from bot.runtime.jobs import STALE_RUN, claim_job, finish_job
from bot.runtime.schedules import digest_schedules
from core.digest import Digest
from core.graph import GraphParams
from core.schedule import DigestSchedule
from storage.database import Database
from storage.models import JobRun

log = logging.getLogger("mge.digest")

RETRY_AFTER = timedelta(minutes=30)
INTERRUPTED = "interrupted while posting: not posted again, so it is never posted twice"


class DigestPublisher(Protocol):
    """A platform's way to post a digest (text and picture) in a channel; returns the message's id."""

    async def publish_digest(self, *, channel_id: str, digest: Digest, png: bytes) -> str: ...


async def _set_phase(database: Database, run_id: int, phase: str) -> None:
    async with database.session() as session:
        run = await session.get(JobRun, run_id)
        assert run is not None
        run.detail = json.dumps({"phase": phase})
        session.add(run)
        await session.commit()


def _phase(detail: str) -> str | None:
    try:
        data = json.loads(detail or "null")
    except ValueError:
        return None
    return data.get("phase") if isinstance(data, dict) else None


async def post_scheduled_digest(
    database: Database,
    publisher: DigestPublisher,
    schedule: DigestSchedule,
    *,
    slot: datetime,
    now: datetime,
    params: GraphParams = GraphParams(),
    messenger: DirectMessenger | None = None,
    stale_after: timedelta = STALE_RUN,
) -> str | None:
    """Post the digest of ``slot``'s week unless it was posted (or is being posted). Returns the posted
    message's id, or None when nothing was posted by this call. With a ``messenger``, a posted digest is
    followed by the legitimacy DMs (``bot.legitimacy.checks.after_digest``; their failures are only logged)."""
    period = schedule.period(slot)
    async with database.session() as session:
        run = await claim_job(
            session,
            job=DIGEST_JOB,
            community_id=schedule.community_id,
            period=period,
            now=now,
            retry_after=RETRY_AFTER,
            stale_after=stale_after,
        )
        if run is None:
            return None
        if _phase(run.detail) == "posting":
            log.warning("digest %s of community %s: %s", period, schedule.community_id, INTERRUPTED)
            finish_job(run, now=now, ok=True, detail=json.dumps({"phase": "interrupted", "note": INTERRUPTED}))
            session.add(run)
            await session.commit()
            return None
        run.detail = json.dumps({"phase": "building"})
        session.add(run)
        await session.commit()
        run_id = run.id
    assert run_id is not None
    try:
        digest, snapshot, png = await prepare_digest(
            database, community_id=schedule.community_id, now=now, params=params, period=period
        )
        await _set_phase(database, run_id, "posting")
        message_id = await publisher.publish_digest(channel_id=schedule.channel_id, digest=digest, png=png)
    except Exception as error:
        log.exception("digest %s of community %s failed", period, schedule.community_id)
        async with database.session() as session:
            failed = await session.get(JobRun, run_id)
            assert failed is not None
            finish_job(failed, now=now, ok=False, detail=json.dumps({"error": repr(error)[:500]}))
            session.add(failed)
            await session.commit()
        raise
    async with database.session() as session:
        done = await session.get(JobRun, run_id)
        assert done is not None
        finish_digest_job(done, snapshot, now=now)
        session.add(done)
        await session.commit()
    log.info("digest %s of community %s posted as message %s", period, schedule.community_id, message_id)
    if messenger is not None:
        await after_digest(
            database, messenger, community_id=schedule.community_id, period=period, now=now, params=params
        )
    return message_id


async def run_due_digests(
    database: Database,
    publishers: Mapping[str, DigestPublisher],
    *,
    now: datetime,
    params: GraphParams = GraphParams(),
    messengers: Mapping[str, DirectMessenger] | None = None,
    stale_after: timedelta = STALE_RUN,
) -> dict[int, str]:
    """Every community's digest whose weekly slot has come and that was not posted yet: community id →
    message id. After downtime only the latest slot is due (missed weeks are coalesced into one post)."""
    posted: dict[int, str] = {}
    for schedule in await digest_schedules(database):
        slot = schedule.due_slot(now)
        publisher = publishers.get(schedule.platform)
        if slot is None or publisher is None:
            continue
        try:
            message_id = await post_scheduled_digest(
                database,
                publisher,
                schedule,
                slot=slot,
                now=now,
                params=params,
                messenger=(messengers or {}).get(schedule.platform),
                stale_after=stale_after,
            )
        except Exception:
            continue  # logged above; retried after RETRY_AFTER
        if message_id is not None:
            posted[schedule.community_id] = message_id
    return posted
