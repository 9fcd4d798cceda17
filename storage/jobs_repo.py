"""Repository functions for batch job runs (``job_run``): one row per (job, scope, period), claimed by
``bot.runtime.jobs.claim_job``. Callers own the session and commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import JobRun, JobStatus, table_of
from storage.sql import insert_ignoring_conflict


def job_scope(community_id: int | None) -> str:
    """The ``scope`` of a community's runs, or of a run over all communities."""
    return "all" if community_id is None else f"community:{community_id}"


async def add_job_run(session: AsyncSession, *, job: str, community_id: int | None, period: str, now: datetime) -> bool:
    """Insert a running run for (job, community, period) unless one exists; True when it was inserted."""
    values = {
        "job": job,
        "community_id": community_id,
        "scope": job_scope(community_id),
        "period": period,
        "status": JobStatus.RUNNING,
        "input_tokens": 0,
        "output_tokens": 0,
        "detail": "",
        "started_at": now,
    }
    return await insert_ignoring_conflict(session, table_of(JobRun), values)


async def find_job_run(session: AsyncSession, *, job: str, community_id: int | None, period: str) -> JobRun | None:
    query = select(JobRun).where(JobRun.job == job, JobRun.scope == job_scope(community_id), JobRun.period == period)
    return (await session.exec(query)).first()


async def latest_done_runs(session: AsyncSession, *, job: str, community_id: int, limit: int) -> Sequence[JobRun]:
    """The community's last ``limit`` runs of ``job`` that were done, newest first."""
    return (
        await session.exec(
            select(JobRun)
            .where(JobRun.job == job, JobRun.community_id == community_id, JobRun.status == JobStatus.DONE)
            .order_by(col(JobRun.finished_at).desc(), col(JobRun.id).desc())
            .limit(limit)
        )
    ).all()
