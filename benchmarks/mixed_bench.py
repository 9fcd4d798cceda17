"""DM turns while a burst of votes arrives, in one process: does a member's interview wait behind votes?

``participants`` members interview (the scripted participant of ``interview_bench``, pausing ``think`` seconds
on average before each message: about 10 turns a second for 60 members, a busy community) while ``events``
reaction events (10% redelivered) arrive at ``rate`` a second, each handed to the vote inbox on its own, as a
request or gateway event would be; ``ack_ms`` is how long each waited to be recorded. Reported: each DM turn's
own time (``handle`` minus the time awaiting the model) and its reply time (all of ``handle``), for the turns
that started while the burst was still being recorded or applied, and the votes' end-to-end rate; the votes
stored must equal the unique votes.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from datetime import UTC, datetime
from typing import Any

import support  # noqa: F401 — puts the repository root on sys.path
from interview_bench import ANSWERS, CLOSING, OPENING, _message, build_service, interview, prepare, timed_handle
from vote_bench import CHANNEL, WORKSPACE, count_votes, make_events, setup_polls

from bot.runtime.heap import freeze_startup_heap
from bot.voting.inbox import Reaction, inbox_for
from core.messages import CommunityRef, Person
from storage.database import Database


async def measure_mixed(
    base_url: str,
    database_url: str,
    *,
    events: int,
    rate: float = 1_000.0,
    participants: int = 60,
    think: float = 5.0,
    polls: int = 40,
) -> dict[str, Any]:
    from support import percentile

    database = Database(database_url)
    community = CommunityRef("discord", "mixed", "Mixed guild")
    thresholds = gc.get_threshold()
    try:
        await prepare(database, community)
        await setup_polls(database, polls)
        service, llm = build_service(database, base_url)
        await interview(service, community, Person("warm-up", "Warm up"))
        stream, unique = make_events(events, polls)
        inbox = inbox_for(database)
        # As ``mge run`` does once started (bot.runtime.heap); the events stand for the network's, not the heap's.
        freeze_startup_heap()
        burst: dict[str, float] = {}

        async def votes() -> None:
            await asyncio.sleep(think)  # the interviews are under way when the burst starts
            now = datetime.now(UTC)
            loop = asyncio.get_running_loop()
            acks: list[float] = []

            async def deliver(event: dict) -> None:
                started = time.perf_counter()
                await inbox.record(
                    Reaction(
                        community=WORKSPACE,
                        platform="slack",
                        channel_id=CHANNEL,
                        message_id=event["message_id"],
                        person=Person(event["user"], event["user"]),
                        emoji=event["emoji"],
                        added=True,
                        event_id=event["event_id"],
                        now=now,
                    )
                )
                acks.append(time.perf_counter() - started)

            burst["start"] = time.perf_counter()
            # In flight only, as a server holds its open requests: a finished delivery is let go.
            deliveries: set[asyncio.Task] = set()
            for index, event in enumerate(stream):
                # Each reaction arrives on its own (as its own request would), ``rate`` a second.
                delay = burst["start"] + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = loop.create_task(deliver(event))
                deliveries.add(task)
                task.add_done_callback(deliveries.discard)
            while deliveries:
                await asyncio.gather(*deliveries)
            burst["recorded"] = time.perf_counter()
            await inbox.drain()
            burst["applied"] = time.perf_counter()
            burst["ack_ms"] = acks

        async def participant(index: int) -> list[tuple[float, float, Any]]:
            rng = random.Random(index)
            person = Person(f"mixed-{index}", f"Participant {index}")
            timed = []
            for text in (*OPENING, *ANSWERS, *CLOSING):
                await asyncio.sleep(rng.uniform(0, 2 * think))
                started = time.perf_counter()
                turn, _ = await timed_handle(service, _message(community, person, text))
                timed.append((started, time.perf_counter(), turn))
            return timed

        results = await asyncio.gather(votes(), *(participant(i) for i in range(participants)))
        await llm.aclose()
        stored = await count_votes(database)
    finally:
        gc.unfreeze()  # run.py's next sections start from an ordinary heap
        gc.set_threshold(*thresholds)
        await database.dispose()
    # The turns that overlapped the burst: from its first delivery until its last vote was applied.
    turns = [
        turn
        for per in results[1:]
        for began, ended, turn in per
        if ended >= burst["start"] and began <= burst["applied"]
    ]
    quiet = [
        turn for per in results[1:] for began, ended, turn in per if ended < burst["start"] or began > burst["applied"]
    ]
    own = [t.own * 1000 for t in turns]
    reply = [t.total * 1000 for t in turns]
    applied_s = burst["applied"] - burst["start"]
    return {
        "participants": participants,
        "think_s": think,
        "turns": len(turns),
        "turns_outside_burst": len(quiet),
        "own_ms_outside_burst": {
            "p50": percentile([t.own * 1000 for t in quiet], 50),
            "p99": percentile([t.own * 1000 for t in quiet], 99),
        }
        if quiet
        else None,
        "failed_turns": sum(1 for t in turns if not t.ok),
        "own_ms": {"p50": percentile(own, 50), "p99": percentile(own, 99), "max": max(own)},
        "reply_ms": {"p50": percentile(reply, 50), "p99": percentile(reply, 99), "max": max(reply)},
        "vote_events": len(stream),
        "votes_stored": stored,
        "unique_votes": unique,
        "burst_s": applied_s,
        "recorded_s": burst["recorded"] - burst["start"],
        "vote_events_per_s": len(stream) / applied_s,
        "arrival_rate": rate,
        "ack_ms": {
            "p50": percentile([a * 1000 for a in burst["ack_ms"]], 50),
            "p99": percentile([a * 1000 for a in burst["ack_ms"]], 99),
        },
        "ok": stored == unique,
    }
