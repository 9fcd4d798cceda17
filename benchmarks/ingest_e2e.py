"""Vote ingestion end to end, through the real platform paths: reaction events in, votes stored.

Slack HTTP mode: the real Bolt app behind ``SlackHttpGate`` (``start_http``) on 127.0.0.1, against the
fake Slack Web API. A separate client process (its CPU is not the server's) sends signed Events API
requests with aiohttp, ``concurrency`` in flight: ``reaction_added`` / ``reaction_removed``, 10% of them
redelivered (same ``event_id``, ``X-Slack-Retry-Num``), several per member that contradict each other
(add ✅, add ❌, remove ❌ …, ``event_ts`` increasing) and, being in flight together, arrive out of order.

Discord: the fake Discord gateway, in a separate process, sends MESSAGE_REACTION_ADD / REMOVE dispatches
to a real ``discord.Client`` built as ``run_discord`` builds it (the project's handlers); a member's
changes in gateway order, which is the platform's order.

Both measure events per second from the first event sent to the last vote applied, and check the votes
stored against a model of the platform: per member, the poll reaction added last among those still on
the message (none: no vote), and every event recorded exactly once.

    python benchmarks/ingest_e2e.py slack --events 2000              # one leg on a fresh SQLite file
    python benchmarks/ingest_e2e.py discord --events 2000 --database-url postgresql+asyncpg://…

The ``slack-client`` and ``discord-gateway`` commands are the child processes the legs start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import support  # noqa: F401 — puts the repository root on sys.path

from core.graph.votes import CHOICES
from core.messages import CommunityRef
from core.polls import poll_reactions
from storage.database import Database

HERE = Path(__file__).resolve().parent
TARGET_EVENTS_PER_S = 1_000
REDELIVERED_SHARE = 0.10
#: Slack's event_ts of the first event, in microseconds; each later change is one microsecond later.
FIRST_EVENT_US = 1_700_000_000 * 1_000_000
#: Discord ids of the poll messages and members (snowflakes; only their uniqueness matters here).
DISCORD_MESSAGE_BASE = 1_400_000_000_000_000_000
DISCORD_USER_BASE = 1_200_000_000_000_000_000
#: Where the LLM would be: reactions never reach it, but the adapters are built with an interview service.
NO_LLM = "http://127.0.0.1:9/v1"

#: One reaction change, in the platform's order: (poll index, member index, choice index, added).
Change = tuple[int, int, int, bool]


# --- the workload and its model ----------------------------------------------------------------------


def member_changes(total: int, polls: int, seed: int = 11) -> list[Change]:
    """``total`` reaction changes, each member (on one poll) making 1–5 in a row that a real client
    could send: add a reaction not there yet, or remove one that is. Members spread over the polls."""
    rng = random.Random(seed)
    changes: list[Change] = []
    pair = 0
    while len(changes) < total:
        poll, member = pair % polls, pair // polls
        present: set[int] = set()
        for _ in range(min(rng.randint(1, 5), total - len(changes))):
            absent = [choice for choice in range(len(CHOICES)) if choice not in present]
            if present and (not absent or rng.random() < 0.4):
                choice, added = rng.choice(sorted(present)), False
                present.discard(choice)
            else:
                choice, added = rng.choice(absent), True
                present.add(choice)
            changes.append((poll, member, choice, added))
        pair += 1
    return changes


def expected_votes(changes: list[Change]) -> dict[tuple[int, int], str]:
    """(poll, member) → the choice they voted: the reaction added last among those still there."""
    added_at: dict[tuple[int, int], dict[int, int | None]] = {}
    for order, (poll, member, choice, added) in enumerate(changes):
        added_at.setdefault((poll, member), {})[choice] = order if added else None
    votes = {}
    for key, reactions in added_at.items():
        present = [(order, choice) for choice, order in reactions.items() if order is not None]
        if present:
            votes[key] = CHOICES[max(present)[1]]
    return votes


async def stored_votes(
    database: Database, poll_of: Callable[[str], int], member_of: Callable[[str], int]
) -> dict[tuple[int, int], str]:
    from sqlmodel import select

    from storage.models import Member, Poll, Vote

    query = (
        select(Poll.message_id, Member.platform_user_id, Vote.choice)
        .join(Poll, Poll.id == Vote.poll_id)
        .join(Member, Member.id == Vote.member_id)
    )
    async with database.session() as session:
        rows = (await session.exec(query)).all()
    return {(poll_of(message), member_of(user)): choice for message, user, choice in rows}


async def recorded_events(database: Database) -> int:
    from sqlmodel import func, select

    from storage.models import ReactionEvent

    async with database.session() as session:
        return (await session.exec(select(func.count()).select_from(ReactionEvent))).one()


async def check(
    database: Database, changes: list[Change], *, poll_of: Callable[[str], int], member_of: Callable[[str], int]
) -> dict[str, Any]:
    """The votes stored against the model, and every change recorded once and applied."""
    from vote_bench import applied_outcomes

    expected = expected_votes(changes)
    stored = await stored_votes(database, poll_of, member_of)
    outcomes = await applied_outcomes(database)
    recorded = await recorded_events(database)
    wrong = sorted(key for key in expected.keys() | stored.keys() if expected.get(key) != stored.get(key))
    return {
        "votes_expected": len(expected),
        "votes_stored": len(stored),
        "votes_wrong": len(wrong),
        "wrong_examples": [
            {"poll": p, "member": m, "expected": expected.get((p, m)), "stored": stored.get((p, m))}
            for p, m in wrong[:5]
        ],
        "events_recorded": recorded,
        "outcomes": dict(outcomes),
        "counts_exact": not wrong and recorded == len(changes) and "pending" not in outcomes,
    }


async def _service(database: Database):
    from interview_bench import build_service

    return build_service(database, NO_LLM)


def _latencies(values: list[float]) -> dict[str, float]:
    return {"p50": support.percentile(values, 50) * 1000, "p99": support.percentile(values, 99) * 1000}


# --- Slack HTTP mode ---------------------------------------------------------------------------------


def slack_stream(events: int, polls: int) -> tuple[list[dict[str, Any]], list[Change]]:
    """The Events API bodies in sending order (redeliveries included, marked ``retry``), and the changes."""
    from vote_bench import CHANNEL, WORKSPACE, slack_message_id, with_redeliveries

    from tests.fakes.slack_api import reaction_event

    redeliveries = int(events * REDELIVERED_SHARE)
    changes = member_changes(events - redeliveries, polls)
    names = poll_reactions("slack")
    bodies = []
    for index, (poll, member, choice, added) in enumerate(changes):
        body = reaction_event(
            names[choice],
            added=added,
            user=slack_user(member),
            channel=CHANNEL,
            ts=slack_message_id(poll),
            team=WORKSPACE.external_id,
            event_id=f"Ev{index:09d}",
        )
        at = FIRST_EVENT_US + index
        body["event"]["event_ts"] = f"{at // 1_000_000}.{at % 1_000_000:06d}"
        body["event_time"] = at // 1_000_000
        bodies.append({"body": json.dumps(body), "retry": 0})
    stream = with_redeliveries(bodies, redeliveries, random.Random(5))
    seen: set[str] = set()
    for item in stream:  # the copy that comes later in the stream is the redelivery
        if item["body"] in seen:
            item["retry"] = 1
        seen.add(item["body"])
    return stream, changes


def slack_user(member: int) -> str:
    return f"U{member:08d}"


async def slack_client(url: str, events: int, polls: int, concurrency: int) -> dict[str, Any]:
    """Send the stream with ``concurrency`` requests in flight; statuses, latencies, first and last times."""
    import aiohttp

    from tests.fakes.slack_api import signed_request

    stream, _ = slack_stream(events, polls)
    requests = []
    for item in stream:
        headers = signed_request(item["body"])
        if item["retry"]:
            headers |= {"X-Slack-Retry-Num": str(item["retry"]), "X-Slack-Retry-Reason": "http_timeout"}
        requests.append((item["body"].encode(), headers))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    pending = iter(requests)

    async def sender(http: aiohttp.ClientSession) -> None:
        for body, headers in pending:
            began = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] += 1
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.time()
        await asyncio.gather(*(sender(http) for _ in range(concurrency)))
        finished = time.time()
    return {
        "started": started,
        "finished": finished,
        "statuses": dict(statuses),
        "response_ms": _latencies(latencies),
        "requests": len(requests),
        "cpu_s": time.process_time(),
    }


async def measure_slack(database_url: str, *, events: int, polls: int, concurrency: int = 200) -> dict[str, Any]:
    """One Slack HTTP leg: the server here, the client a child process (``slack-client``)."""
    from vote_bench import setup_polls

    from adapters.slack.app import SlackConfig, build_slack_app, start_http
    from bot.voting.inbox import inbox_for
    from tests.fakes.slack_api import SIGNING_SECRET, FakeSlack

    database = Database(database_url)
    service, llm = await _service(database)
    try:
        await setup_polls(database, polls)
        async with FakeSlack() as fake:
            config = SlackConfig(bot_token="xoxb-bench", signing_secret=SIGNING_SECRET, api_url=fake.api_url)
            app, deps = build_slack_app(config, interviews=service, database=database)
            runner, port = await start_http(app, deps, host="127.0.0.1", port=0, signing_secret=SIGNING_SECRET)
            cpu = time.process_time()
            try:
                client = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "slack-client",
                    "--url",
                    f"http://127.0.0.1:{port}/slack/events",
                    "--events",
                    str(events),
                    "--polls",
                    str(polls),
                    "--concurrency",
                    str(concurrency),
                    stdout=asyncio.subprocess.PIPE,
                )
                # Its one line is written once the last response came back: every event is recorded.
                line = await client.stdout.readline()
                await inbox_for(database).drain()
                applied, cpu = time.time(), time.process_time() - cpu
                await client.wait()
                if client.returncode != 0 or not line:
                    raise RuntimeError(f"the Slack client process failed (exit {client.returncode})")
            finally:
                await runner.cleanup()
        sent = json.loads(line)
        _, changes = slack_stream(events, polls)
        result = await check(
            database, changes, poll_of=lambda ts: int(ts.partition(".")[2]), member_of=lambda user: int(user[1:])
        )
    finally:
        await llm.aclose()
        await database.dispose()
    wall = applied - sent["started"]
    ok_responses = sent["statuses"].get("200", 0) == sent["requests"]
    return result | {
        "platform": "slack",
        "path": "HTTP mode (Events API)",
        "events": sent["requests"],
        "redeliveries": sent["requests"] - len(changes),
        "polls": polls,
        "concurrency": concurrency,
        "wall_s": wall,
        "events_per_s": sent["requests"] / wall,
        "acknowledged_per_s": sent["requests"] / (sent["finished"] - sent["started"]),
        "statuses": sent["statuses"],
        "response_ms": sent["response_ms"],
        # Where the CPU went: the server (this process, Bolt app and inbox) and the client process (whole run).
        "server_cpu_s": cpu,
        "client_cpu_s": sent["cpu_s"],
        "ok": result["counts_exact"] and ok_responses,
    }


# --- Discord gateway ---------------------------------------------------------------------------------


def discord_user(member: int) -> int:
    return DISCORD_USER_BASE + member


async def discord_gateway(events: int, polls: int) -> None:
    """The fake Discord: serves the client; on "go" (stdin) sends the changes as gateway dispatches."""
    from tests.fakes.discord_server import FakeDiscord, FakeUser

    changes = member_changes(events, polls)
    names = poll_reactions("discord")
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Bench guild")
        print(
            json.dumps(
                {
                    "port": fake.port,
                    "token": fake.token,
                    "guild_id": guild.id,
                    "guild_name": guild.name,
                    "channel_id": guild.channel_id,
                }
            ),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
        author = {"id": str(fake.bot.id)}
        messages = [
            {
                "id": str(DISCORD_MESSAGE_BASE + poll),
                "channel_id": str(guild.channel_id),
                "guild_id": str(guild.id),
                "author": author,
            }
            for poll in range(polls)
        ]
        users: dict[int, FakeUser] = {}
        frames = []
        for poll, member, choice, added in changes:
            user = users.setdefault(member, FakeUser(discord_user(member), f"member{member}", f"Member {member}"))
            data = fake.reaction_payload(user, messages[poll], names[choice], added=added)
            frames.append(("MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE", data))
        started = time.time()
        for event, data in frames:
            await fake.dispatch(event, data)
        print(json.dumps({"started": started, "sent": time.time(), "events": len(frames)}), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # the bot is done with us


async def measure_discord(database_url: str, *, events: int, polls: int) -> dict[str, Any]:
    """One Discord leg: the bot here, the fake Discord a child process (``discord-gateway``)."""
    import discord
    import yarl
    from vote_bench import setup_polls

    from adapters.discord import DiscordConfig, build_client
    from adapters.discord.polls import HANDLED_EVENT
    from bot.interview.routing import DmRouter
    from bot.voting.inbox import inbox_for

    database = Database(database_url)
    service, llm = await _service(database)
    gateway = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "discord-gateway",
        "--events",
        str(events),
        "--polls",
        str(polls),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    try:
        fake = json.loads(await gateway.stdout.readline())
        # Discord has no API-base setting: the same two assignments the tests' fake makes in-process.
        discord.http.Route.BASE = f"http://127.0.0.1:{fake['port']}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{fake['port']}/gateway")
        community = CommunityRef("discord", str(fake["guild_id"]), fake["guild_name"])
        await setup_polls(
            database,
            polls,
            community=community,
            channel=str(fake["channel_id"]),
            message_id=lambda index: str(DISCORD_MESSAGE_BASE + index),
        )
        config = DiscordConfig(token=fake["token"], sync_commands=False, guild_ready_timeout=0.05)
        client = build_client(config, interviews=service, router=DmRouter(database), database=database)
        handled: Counter[str] = Counter()
        done = asyncio.Event()

        async def on_handled(payload, outcome) -> None:
            handled[outcome.value if outcome is not None else "failed"] += 1
            if handled.total() == events:
                done.set()

        setattr(client, f"on_{HANDLED_EVENT}", on_handled)
        running = asyncio.create_task(client.start(fake["token"]))
        try:
            await asyncio.wait_for(client.wait_until_ready(), 10)
            cpu = time.process_time()
            gateway.stdin.write(b"go\n")
            await gateway.stdin.drain()
            await asyncio.wait_for(done.wait(), max(60.0, events / 50))
            applied, cpu = time.time(), time.process_time() - cpu
            await inbox_for(database).drain()
            sent = json.loads(await gateway.stdout.readline())
        finally:
            await client.close()
            await running
        changes = member_changes(events, polls)
        result = await check(
            database,
            changes,
            poll_of=lambda message: int(message) - DISCORD_MESSAGE_BASE,
            member_of=lambda user: int(user) - DISCORD_USER_BASE,
        )
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
        if gateway.returncode is None:
            gateway.stdin.write(b"done\n")
            await gateway.stdin.drain()
        await gateway.wait()
        await llm.aclose()
        await database.dispose()
    wall = applied - sent["started"]
    return result | {
        "platform": "discord",
        "path": "gateway",
        "events": events,
        "redeliveries": 0,
        "polls": polls,
        "wall_s": wall,
        "events_per_s": events / wall,
        "handled": dict(handled),
        "server_cpu_s": cpu,
        "ok": result["counts_exact"] and "failed" not in handled,
    }


# --- running it --------------------------------------------------------------------------------------


def polls_for(events: int) -> int:
    """About 100 events per poll, as a busy community's polls get, and never fewer than 10 polls."""
    return max(10, min(200, events // 100))


def measure(platform: str, database_url: str, *, events: int, concurrency: int = 200) -> dict[str, Any]:
    polls = polls_for(events)
    if platform == "slack":
        return asyncio.run(measure_slack(database_url, events=events, polls=polls, concurrency=concurrency))
    return asyncio.run(measure_discord(database_url, events=events, polls=polls))


def summary(leg: dict[str, Any]) -> str:
    response = (
        f", HTTP p50 {leg['response_ms']['p50']:.0f} ms p99 {leg['response_ms']['p99']:.0f} ms"
        if "response_ms" in leg
        else ""
    )
    return (
        f"{leg['events_per_s']:,.0f} events/s to the last vote applied{response}; {leg['votes_stored']:,} votes "
        f"stored, {leg['votes_expected']:,} expected, {leg['votes_wrong']} wrong; {leg['events_recorded']:,} events "
        f"recorded of {leg['events'] - leg['redeliveries']:,} distinct — {'exact' if leg['ok'] else 'WRONG'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("slack", "discord", "slack-client", "discord-gateway"))
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--polls", type=int, help="(child processes) the polls the leg set up")
    parser.add_argument("--concurrency", type=int, default=200, help="Slack requests in flight (200)")
    parser.add_argument("--url", help="(slack-client) the server's events URL")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args(argv)
    polls = args.polls or polls_for(args.events)
    if args.command == "slack-client":
        print(json.dumps(asyncio.run(slack_client(args.url, args.events, polls, args.concurrency))), flush=True)
        return 0
    if args.command == "discord-gateway":
        asyncio.run(discord_gateway(args.events, polls))
        return 0
    with tempfile.TemporaryDirectory(prefix="mge-e2e-") as scratch:
        url = args.database_url or support.sqlite_url(Path(scratch), "e2e")
        leg = measure(args.command, url, events=args.events, concurrency=args.concurrency)
    print(json.dumps(leg, indent=2))
    print(summary(leg), f"(load average {support.load_average()})")
    return 0 if leg["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
