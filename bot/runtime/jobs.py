"""Batch jobs (dedup, story generation, poll rounds, digests): claimed once per period, with their
LLM calls and token usage recorded.

``claim_job`` inserts a ``job_run`` row for (job, community, period) unless one exists, so running a
job twice for the same period, after a crash or from a second process, does nothing the second time.
A job that failed may be claimed again (its row is taken over), and so may one still marked running
after ``STALE_RUN`` (its process died mid-run); one that is done may not.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from core.llm import LLMError, Usage
from storage import jobs_repo
from storage import repositories as repo
from storage.models import Interview, JobRun, JobStatus


class _Answer(Protocol):
    """What every answer of the LLM port (completion, structured output, embeddings) tells about itself."""

    @property
    def model(self) -> str: ...

    @property
    def usage(self) -> Usage: ...


R = TypeVar("R", bound=_Answer)

#: A run still "running" after this long is presumed dead (killed process) and may be taken over.
STALE_RUN = timedelta(hours=1)


async def claim_job(
    session: AsyncSession,
    *,
    job: str,
    community_id: int | None,
    period: str,
    now: datetime,
    stale_after: timedelta = STALE_RUN,
    retry_after: timedelta | None = None,
) -> JobRun | None:
    """The new run for (job, community, period), or None when that period was already run or is running.
    A failed run is taken over at once, or only ``retry_after`` after it failed when that is given (a
    job that fails for a lasting reason, such as a channel the bot may not post in, then does not
    retry on every tick)."""
    inserted = await jobs_repo.add_job_run(session, job=job, community_id=community_id, period=period, now=now)
    run = await jobs_repo.find_job_run(session, job=job, community_id=community_id, period=period)
    assert run is not None  # inserted above, or there before
    if inserted:
        return run
    if run.status == JobStatus.FAILED:  # a failed run may be retried: take its row over
        if retry_after is not None and run.finished_at is not None and now - run.finished_at < retry_after:
            return None
        run.status, run.started_at, run.finished_at, run.detail = JobStatus.RUNNING, now, None, ""
        return run
    if run.status == JobStatus.RUNNING and now - run.started_at >= stale_after:
        # Keep ``detail``: a resumable job records its progress there.
        run.started_at = now
        return run
    return None


def finish_job(run: JobRun, *, now: datetime, ok: bool = True, detail: str = "") -> None:
    run.status = JobStatus.DONE if ok else JobStatus.FAILED
    run.finished_at = now
    run.detail = detail[:4000]


@dataclass
class LLMRecorder:
    """Awaits LLM requests for one job or interview and records each in ``llm_call``, tokens summed
    onto the job run or interview — failures included, so cost is never under-reported. Commits the
    session before each request (see ``call``)."""

    session: AsyncSession
    community_id: int | None
    now: datetime
    run: JobRun | None = None
    interview: Interview | None = None
    #: The interview a call is about when its tokens are not the interview's own (the ideology screen).
    about_interview_id: int | None = None

    async def call(self, purpose: str, prompt_sha: str, model: str, request: Awaitable[R]) -> R:
        # Never wait for a model with a database connection held: it would hold a pool slot (at 15 calls in
        # flight the pool is empty and every other turn fails) and, on SQLite, possibly the one write lock.
        # Every caller's writes pending here are call records, token counts and caches, kept on their own;
        # what a model's answer leads to is written after it, in the caller's own transaction.
        await self.session.commit()
        started = time.perf_counter()
        try:
            result = await request
        except LLMError as error:
            await self._record(purpose, prompt_sha, error.model or model, error.usage, started, error=str(error))
            raise
        await self._record(purpose, prompt_sha, result.model, result.usage, started)
        return result

    async def _record(self, purpose, prompt_sha, model, usage, started, error: str | None = None) -> None:
        if self.run is not None:
            self.run.input_tokens += usage.input_tokens
            self.run.output_tokens += usage.output_tokens
        if self.interview is not None:
            await repo.add_interview_usage(
                self.session,
                interview=self.interview,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
            )
        await repo.add_llm_call(
            self.session,
            community_id=self.community_id,
            interview_id=self.interview.id if self.interview is not None else self.about_interview_id,
            purpose=purpose,
            model=model,
            prompt_sha=prompt_sha,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            ok=error is None,
            error=error[:500] if error else None,
            duration_ms=int((time.perf_counter() - started) * 1000),
            created_at=self.now,
        )
