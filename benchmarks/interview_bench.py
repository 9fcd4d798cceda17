"""Interview benchmarks: tokens per completed interview, the bot's own latency per DM turn under
concurrency, and the memory of a process holding many open interviews.

A scripted participant goes through ``bot.interview.service.InterviewService`` exactly as a DM does
(``handle`` per message, the real ``OpenAILLM`` client, the fake server of ``fake_llm.py``):

    "hi" → consent notice; "I agree" → the (only open) scenario opens; 9 answers, each answered by the
    interviewer, the 9th by the list of what the member attends to; "That's it" → the card; "confirm" →
    thanks.  13 DM turns, 11 LLM requests.

The LLM port is wrapped in :class:`TimedLLM`, which adds up the time each ``handle`` call spends
awaiting the model; the bot's own latency of a turn is its ``handle`` time minus that.

    python benchmarks/interview_bench.py memory --base-url URL --database-url URL --interviews N
        (the memory benchmark's child process: prints a JSON line with its RSS)
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import logging
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import support  # noqa: F401 — puts the repository root on sys.path

from adapters.llm_openai import OpenAILLM
from bot.interview.ports import InterviewConfig
from bot.interview.scenarios import prepare_scenarios
from bot.interview.service import InterviewService
from bot.runtime.wiring import member_locks_for
from core.messages import CommunityRef, InboundMessage, Person
from storage.database import Database

SCENARIO = (
    "A friend asks whether she should report a colleague who has been cutting corners on safety checks. "
    "She likes him and is afraid of what it would do to the team. What should I tell her?"
)
#: The participant's nine answers, of the length people really write (a few sentences each).
ANSWERS = (
    "I think a good answer would take her feelings seriously first. She is scared of damaging a friendship "
    "and the team, and that fear is real, so it shouldn't be brushed aside with 'just report it'.",
    "When I've been in that spot I noticed who could actually get hurt if nothing changed. Not in the "
    "abstract, but the particular people who rely on those checks being done properly every day.",
    "I suppose it protects trust. People on the team trust that everyone is doing their part, and the "
    "customers trust us too. Staying quiet quietly eats away at that, even if nobody finds out.",
    "A few years ago a colleague kept skipping a step in our release checklist. I talked to him first, "
    "privately, and told him I was worried. I noticed he was overloaded, not careless, which changed things.",
    "It felt right because I was being straight with him while still treating him as someone who could "
    "fix it himself. It wasn't about covering myself; I wanted us both to be people who do the work well.",
    "My first manager was like that. She would notice when someone was struggling before it became a "
    "problem, and she'd ask about it openly, without making anyone feel accused or small.",
    "She would notice the people downstream who'd bear the consequences, and also whether the colleague "
    "had a chance to make it right himself. And she'd notice her own reluctance and not let it decide.",
    "Probably the people who could get hurt. If I had to pick one thing, it's that: keeping them in view "
    "even when the social pressure pushes you to look away from them.",
    "I think she'd feel less alone with it, and clearer. Like someone helped her see what she actually "
    "cares about rather than telling her what to do or making her feel like a bad friend.",
)
OPENING = ("hi", "I agree")
CLOSING = ("That's it", "confirm")

#: [seconds awaiting the LLM, calls, failed calls] of the current ``handle`` call (see TimedLLM).
_LLM_SECONDS: contextvars.ContextVar[list | None] = contextvars.ContextVar("llm_seconds", default=None)


class TimedLLM:
    """The LLM port, passing every call through and adding its duration to the running handle's total."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def _timed(self, call):
        started = time.perf_counter()
        failed = True
        try:
            result = await call
            failed = False
            return result
        finally:
            spent = _LLM_SECONDS.get()
            if spent is not None:
                spent[0] += time.perf_counter() - started
                spent[1] += 1
                spent[2] += failed

    async def complete(self, messages, **kwargs):
        return await self._timed(self._inner.complete(messages, **kwargs))

    async def structured(self, messages, schema, **kwargs):
        return await self._timed(self._inner.structured(messages, schema, **kwargs))

    async def embed(self, texts, **kwargs):
        return await self._timed(self._inner.embed(texts, **kwargs))

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass(frozen=True, slots=True)
class Turn:
    """One handled DM: wall seconds in ``handle``, seconds of it awaiting the LLM, LLM calls made, and
    what went wrong (an exception's type, "LLMError" for a failed model call, "no reply"), if anything."""

    total: float
    llm: float
    llm_calls: int
    error: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def own(self) -> float:
        return self.total - self.llm


def build_service(database: Database, base_url: str, *, timeout: float = 60.0) -> tuple[InterviewService, OpenAILLM]:
    """The interview service as ``bot.runtime.wiring`` builds it (default settings), minus the reconciler:
    with the member locks ``wiring.member_leases`` gives it (a lock file on SQLite, leases on PostgreSQL)."""
    llm = OpenAILLM(
        base_url=base_url, api_key="bench", timeout_seconds=timeout, max_retries=0, structured_output="auto"
    )
    config = InterviewConfig(chat_model="bench-chat", articulation_model="bench-card", max_turns=12, min_turns=3)
    leases = member_locks_for(database.url, database)
    return InterviewService(database=database, llm=TimedLLM(llm), config=config, leases=leases), llm


async def timed_handle(service: InterviewService, message: InboundMessage) -> tuple[Turn, list]:
    """Handle one message; a raised exception is a failed turn (its type in ``Turn.error``), not a crash."""
    spent = [0.0, 0, 0]
    token = _LLM_SECONDS.set(spent)
    started = time.perf_counter()
    outbound: list = []
    error = detail = None
    try:
        outbound = await service.handle(message)
    except Exception as exc:  # noqa: BLE001 — what a member would see as no answer; counted, not fatal
        error, detail = type(exc).__name__, " ".join(str(exc).split())[:300]
    finally:
        total = time.perf_counter() - started
        _LLM_SECONDS.reset(token)
    if error is None and spent[2]:
        error = "LLMError"
    elif error is None and not outbound:
        error = "no reply"
    return Turn(total=total, llm=spent[0], llm_calls=int(spent[1]), error=error, detail=detail), outbound


def _message(community: CommunityRef, person: Person, text: str) -> InboundMessage:
    return InboundMessage(community=community, author=person, text=text, event_id=str(uuid.uuid4()))


async def interview(
    service: InterviewService,
    community: CommunityRef,
    person: Person,
    *,
    texts: tuple[str, ...] = (*OPENING, *ANSWERS, *CLOSING),
    think: float = 0.0,
    rng: random.Random | None = None,
) -> list[Turn]:
    """One participant's messages, each sent when the previous one was answered — at once, or with
    ``think`` > 0 after a pause drawn uniformly from [0, 2 × think] (the first one too, so that many
    participants started together soon stop moving in step)."""
    turns = []
    rng = rng or random.Random()
    for text in texts:
        if think:
            await asyncio.sleep(rng.uniform(0, 2 * think))
        turn, _ = await timed_handle(service, _message(community, person, text))
        turns.append(turn)
    return turns


async def prepare(database: Database, community: CommunityRef) -> int:
    from datetime import UTC, datetime

    scenario_id = await prepare_scenarios(database, community, text=SCENARIO, now=datetime.now(UTC))
    assert scenario_id is not None
    return scenario_id


# --- 1. tokens per completed interview --------------------------------------------------------------


async def measure_tokens(base_url: str, database_url: str) -> dict[str, Any]:
    """One scripted 9-answer interview to a confirmed card; tokens as the server counted them."""
    from sqlmodel import select

    from core.interview import InterviewState
    from storage.models import Interview, LLMCall

    database = Database(database_url)
    community = CommunityRef("discord", "tokens", "Token guild")
    try:
        await prepare(database, community)
        service, llm = build_service(database, base_url)
        try:
            await interview(service, community, Person("tokens-1", "Participant"))
        finally:
            await llm.aclose()
        async with database.session() as session:
            [row] = (await session.exec(select(Interview))).all()
            calls = (
                await session.exec(select(LLMCall).where(LLMCall.interview_id == row.id).order_by(LLMCall.id))
            ).all()
    finally:
        await database.dispose()
    if row.state != InterviewState.CONFIRMED:
        raise RuntimeError(f"the scripted interview ended in {row.state}, not confirmed")
    return {
        "answers": len(ANSWERS),
        "llm_calls": row.llm_calls,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "total_tokens": row.input_tokens + row.output_tokens,
        "per_call": [{"purpose": c.purpose, "input": c.input_tokens, "output": c.output_tokens} for c in calls],
        "paper_tokens": 35_000,
        "target_tokens": 15_000,
        "counted_by": "the fake server: characters of the messages / 4 (the response_format schema is not counted)",
    }


# --- 2. the bot's own latency per DM turn -----------------------------------------------------------


def summarise(turns: list[Turn], wall: float) -> dict[str, Any]:
    from support import percentile

    own = [t.own * 1000 for t in turns]
    total = [t.total * 1000 for t in turns]
    with_llm = [t.own * 1000 for t in turns if t.llm_calls]
    return {
        "turns": len(turns),
        "failed_turns": sum(1 for t in turns if not t.ok),
        "failures": dict(Counter(t.error for t in turns if t.error)),
        "failure_examples": sorted({t.detail for t in turns if t.detail})[:5],
        "wall_s": wall,
        "turns_per_s": len(turns) / wall if wall else None,
        "own_ms": {"p50": percentile(own, 50), "p90": percentile(own, 90), "p99": percentile(own, 99), "max": max(own)},
        "own_ms_llm_turns": {"p50": percentile(with_llm, 50), "p99": percentile(with_llm, 99)},
        "handle_ms": {"p50": percentile(total, 50), "p99": percentile(total, 99)},
        "llm_calls": sum(t.llm_calls for t in turns),
        "llm_wait_s_mean": sum(t.llm for t in turns if t.llm_calls) / max(1, sum(1 for t in turns if t.llm_calls)),
    }


async def measure_latency(
    base_url: str, database_url: str, *, concurrency: int, rounds: int = 1, think: float = 0.0
) -> dict[str, Any]:
    """``concurrency`` participants interviewing at once, ``rounds`` interviews each, one after another."""
    database = Database(database_url)
    community = CommunityRef("discord", f"latency-{concurrency}", "Latency guild")
    try:
        await prepare(database, community)
        service, llm = build_service(database, base_url)
        # Warm up (imports, prepared statements, connection pool) outside the measurement.
        await interview(service, community, Person("warm-up", "Warm up"))

        async def participant(index: int) -> list[Turn]:
            turns: list[Turn] = []
            rng = random.Random(index)
            for round_ in range(rounds):
                person = Person(f"p{index}-{round_}", f"Participant {index}")
                turns += await interview(service, community, person, think=think, rng=rng)
            return turns

        started, cpu_started = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(participant(i) for i in range(concurrency)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await llm.aclose()
    finally:
        await database.dispose()
    summary = summarise([turn for turns in results for turn in turns], wall)
    # CPU of this whole process (all its threads: aiosqlite runs SQLite in one) per turn: what caps the
    # turns per second one process can serve, whatever the pacing.
    summary.update(
        concurrency=concurrency,
        interviews=concurrency * rounds,
        think_s=think,
        cpu_ms_per_turn=cpu * 1000 / max(1, summary["turns"]),
    )
    return summary


# --- 5. memory with many open interviews (child process) --------------------------------------------


async def open_interviews(base_url: str, database_url: str, count: int, parallel: int = 50) -> dict[str, Any]:
    """Open ``count`` interviews (consent and two answers each) and report this process's RSS."""
    from support import rss_mb

    database = Database(database_url)
    community = CommunityRef("discord", "memory", "Memory guild")
    try:
        await prepare(database, community)
        service, llm = build_service(database, base_url)
        await interview(service, community, Person("warm-up", "Warm up"), texts=(*OPENING, *ANSWERS[:2]))
        baseline = rss_mb()
        gate = asyncio.Semaphore(parallel)

        async def one(index: int) -> None:
            async with gate:
                await interview(
                    service, community, Person(f"m{index}", f"Member {index}"), texts=(*OPENING, *ANSWERS[:2])
                )

        await asyncio.gather(*(one(i) for i in range(count)))
        import gc

        gc.collect()
        after = rss_mb()
        await llm.aclose()
    finally:
        await database.dispose()
    import resource

    return {
        "interviews": count,
        "rss_mb_before": baseline,
        "rss_mb": after,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "kb_per_interview": (after - baseline) * 1024 / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="interview benchmark child processes")
    sub = parser.add_subparsers(dest="command", required=True)
    memory = sub.add_parser("memory", help="open N interviews, print RSS as JSON")
    memory.add_argument("--base-url", required=True)
    memory.add_argument("--database-url", required=True)
    memory.add_argument("--interviews", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(open_interviews(args.base_url, args.database_url, args.interviews))))


if __name__ == "__main__":
    main()
