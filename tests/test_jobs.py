"""Job claims (one run per job, community and period) and LLM usage recorded per job."""

from __future__ import annotations

import contextlib

from sqlmodel import select

from bot.runtime.jobs import LLMRecorder, claim_job, finish_job
from core.llm import ChatMessage
from storage import communities_repo
from storage.models import JobRun, LLMCall
from tests.conftest import make_llm
from tests.fakes.openai_server import Error


async def community_id(session, clock) -> int:
    row = await communities_repo.get_or_create_community(
        session, platform="console", external_id="c", name="", now=clock()
    )
    return row.id


async def test_a_period_is_claimed_once_and_a_failed_run_can_be_retried(database, clock):
    async with database.session() as session:
        cid = await community_id(session, clock)
        run = await claim_job(session, job="dedup", community_id=cid, period="2026-W45", now=clock())
        assert run is not None and run.status == "running"
        assert await claim_job(session, job="dedup", community_id=cid, period="2026-W45", now=clock()) is None
        assert await claim_job(session, job="dedup", community_id=cid, period="2026-W46", now=clock()) is not None
        assert await claim_job(session, job="dedup", community_id=None, period="2026-W45", now=clock()) is not None
        assert await claim_job(session, job="dedup", community_id=None, period="2026-W45", now=clock()) is None
        finish_job(run, now=clock(), ok=False, detail="LLM down")
        await session.commit()
        again = await claim_job(session, job="dedup", community_id=cid, period="2026-W45", now=clock())
        assert again is not None and again.id == run.id and again.status == "running"
        finish_job(again, now=clock())
        await session.commit()
        assert await claim_job(session, job="dedup", community_id=cid, period="2026-W45", now=clock()) is None
        assert len((await session.exec(select(JobRun))).all()) == 3


async def test_recorder_sums_tokens_onto_the_run_including_failures(database, clock, fake_openai):
    llm = make_llm(fake_openai)
    async with database.session() as session:
        cid = await community_id(session, clock)
        run = await claim_job(session, job="stories", community_id=cid, period="p", now=clock())
        recorder = LLMRecorder(session, cid, clock(), run=run)
        fake_openai.script("fine", Error(400))
        done = await recorder.call("story", "sha1", "m", llm.complete([ChatMessage("user", "hello there")], model="m"))
        with contextlib.suppress(Exception):
            await recorder.call("story", "sha1", "m", llm.complete([ChatMessage("user", "again")], model="m"))
        await session.commit()
        calls = (await session.exec(select(LLMCall))).all()
    await llm.aclose()
    assert [c.ok for c in calls] == [True, False] and all(c.community_id == cid for c in calls)
    assert run.input_tokens == done.usage.input_tokens > 0 and run.output_tokens == done.usage.output_tokens
