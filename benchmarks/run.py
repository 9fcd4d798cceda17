"""The bot's benchmarks on this machine, against the fake OpenAI-compatible server with a fixed latency.

1. tokens per completed interview (a scripted 9-answer participant), against the paper's ~35k;
2. the bot's own latency per DM turn (``InterviewService.handle`` minus the time awaiting the LLM) with
   1, 100 and 500 interviews running at once, p50/p99, and turns per second — SQLite, and PostgreSQL
   when it is installed (a throwaway cluster, tests/postgres.py). Members answer as soon as they get a
   reply ("back to back": the most load that many interviews can make), plus one "paced" leg at 500
   where each member pauses 20 s on average before every message, as people do;
3. vote ingestion: reaction events, 10% of them redelivered, handed to the vote inbox by 1 and by 200
   concurrent deliveries (each waits until its event is recorded, as an adapter does before it
   acknowledges), until every vote is applied; the votes stored must equal the unique votes (the run
   exits 1 if not);
4. graph assembly (``mge graph build``) at 10k, 100k and 1M votes: time and peak memory
   (``graph_build.py``'s machinery);
5. memory (RSS) of a bot process holding 1,000 open interviews;
6. vote ingestion end to end through the real platform paths (``ingest_e2e.py``): 20,000 reaction events
   as signed Slack HTTP requests from a separate client process (10% redelivered) and as Discord gateway
   dispatches from a separate fake gateway, members changing their reactions; events per second until
   the last vote is applied, and the votes checked against a model of the platform (exit 1 if wrong);
7. the dedup candidate stage per offline embedder (``dedup_bench.py``): pairwise precision and recall at
   cosine-distance thresholds on hand-written paraphrases and look-alikes, and the radius it suggests.

    python benchmarks/run.py            # everything: long (80 minutes here, 55 of them vote ingestion)
    python benchmarks/run.py --quick    # a short version, what CI runs (about a minute)

Prints a table; writes JSON (``benchmarks/results/run-<timestamp>.json`` or ``--out``) and a markdown
table for the README (``benchmarks/results/README-table.md``, ``README-table-quick.md`` for a quick run, or
``--table``). The machine's load average is recorded too: other work running meanwhile skews every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import support  # noqa: E402  (also puts the repository root on sys.path)

RESULTS = HERE / "results"
PAPER_TOKENS = 35_000
TARGET_TOKENS = 15_000
TARGET_P99_MS = 50.0
SECTIONS = ("tokens", "latency", "votes", "mixed", "graph", "memory", "e2e", "dedup")


# --- settings per mode -----------------------------------------------------------------------------


def settings(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    return {
        "quick": quick,
        "llm_latency_s": args.llm_latency if args.llm_latency is not None else (0.05 if quick else 0.5),
        "concurrency": [int(c) for c in (args.concurrency or ("1,20" if quick else "1,100,500")).split(",")],
        # Interviews one after another at concurrency 1, so its percentiles rest on more than 12 turns.
        "single_rounds": 1 if quick else 5,
        # Legs at the largest concurrency with members pausing (mean this many seconds) before each
        # message, as people do: the load a community of that size really produces. 60 s is the pace of
        # the paper's participants (median 15–21 minutes for a dozen or so messages and the votes);
        # 20 s is a community of fast typists.
        "paced_think_s": _numbers(args.paced_think)
        if args.paced_think is not None
        else ([] if quick else [20.0, 60.0]),
        "vote_events": args.vote_events or (1_000 if quick else 100_000),
        "vote_legs": _vote_legs(
            args.vote_legs or ("sqlite:1,sqlite:200" if quick else "sqlite:1,sqlite:200,postgresql:200")
        ),
        # A busy community (60 members interviewing, ~10 turns/s) while reactions arrive at 1,000 a second.
        "mixed_events": 2_000 if quick else 20_000,
        "mixed_participants": 10 if quick else 60,
        "mixed_think_s": 0.4 if quick else 5.0,
        "mixed_rate": 1_000.0,
        "graph_sizes": ["10k"] if quick else ["10k", "100k", "1M"],
        "graph_repeat": 1 if quick else 3,
        "memory_interviews": args.memory_interviews or (50 if quick else 1_000),
        "e2e_events": args.e2e_events or (1_000 if quick else 20_000),
        "e2e_legs": _e2e_legs(
            args.e2e_legs
            or (
                "slack:sqlite,discord:sqlite"
                if quick
                else "slack:sqlite,discord:sqlite,slack:postgresql,discord:postgresql"
            )
        ),
        "postgres": not args.no_postgres,
    }


def _numbers(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip() and float(part) > 0]


def _vote_legs(text: str) -> list[tuple[str, int]]:
    legs = []
    for part in text.split(","):
        backend, _, workers = part.partition(":")
        legs.append((backend.strip(), int(workers or 1)))
    return legs


def _e2e_legs(text: str) -> list[tuple[str, str]]:
    legs = []
    for part in text.split(","):
        platform, _, backend = part.partition(":")
        legs.append((platform.strip(), backend.strip() or "sqlite"))
    return legs


# --- the sections ----------------------------------------------------------------------------------


def run_tokens(base_url: str, scratch: Path) -> dict[str, Any]:
    from interview_bench import measure_tokens

    return asyncio.run(measure_tokens(base_url, support.sqlite_url(scratch, "tokens")))


def run_latency(base_url: str, scratch: Path, config: dict[str, Any], postgres) -> dict[str, Any]:
    from interview_bench import measure_latency

    legs: dict[str, list[dict[str, Any]]] = {}
    backends = [("sqlite", lambda c: support.sqlite_url(scratch, f"latency-{c}"))]
    if postgres is not None:
        backends.append(("postgresql", lambda c: postgres.fresh_url()))
    plan = [(c, 0.0) for c in config["concurrency"]]
    plan += [(max(config["concurrency"]), think) for think in config["paced_think_s"]]
    for backend, make_url in backends:
        legs[backend] = []
        for concurrency, think in plan:
            rounds = config["single_rounds"] if concurrency == 1 else 1
            pacing = f", answering after ~{think:g} s" if think else ", back to back"
            print(f"  latency: {backend}, {concurrency} concurrent{pacing} ...", flush=True)
            result = asyncio.run(
                measure_latency(base_url, make_url(concurrency), concurrency=concurrency, rounds=rounds, think=think)
            )
            result["backend"] = backend
            legs[backend].append(result)
            own = result["own_ms"]
            print(
                f"    {result['turns']} turns, {result['turns_per_s']:.1f} turns/s, own p50 {own['p50']:.1f} ms, "
                f"p99 {own['p99']:.1f} ms, failed {result['failed_turns']}",
                flush=True,
            )
    return legs


def run_mixed(base_url: str, scratch: Path, config: dict[str, Any], postgres) -> list[dict[str, Any]]:
    from mixed_bench import measure_mixed

    legs = []
    for backend in ("sqlite", "postgresql"):
        if (url := _fresh_database(backend, postgres, scratch, "mixed")) is None:
            continue  # no PostgreSQL here: run.py says so in postgres_note
        print(
            f"  mixed: {config['mixed_participants']} interviews while {config['mixed_events']:,} reactions arrive at "
            f"{config['mixed_rate']:,.0f}/s, {backend} ...",
            flush=True,
        )
        result = asyncio.run(
            measure_mixed(
                base_url,
                url,
                events=config["mixed_events"],
                rate=config["mixed_rate"],
                participants=config["mixed_participants"],
                think=config["mixed_think_s"],
            )
        )
        result["backend"] = backend
        legs.append(result)
        print(
            f"    {result['turns']} turns during the burst: own p99 {result['own_ms']['p99']:.1f} ms, reply p99 "
            f"{result['reply_ms']['p99']:.0f} ms; votes {result['vote_events_per_s']:,.0f} events/s, "
            f"{result['votes_stored']:,} of {result['unique_votes']:,} stored",
            flush=True,
        )
    return legs


def _fresh_database(backend: str, postgres, scratch: Path, name: str) -> str | None:
    """A fresh migrated database for one leg; None when it is PostgreSQL's and there is none."""
    if backend == "postgresql":
        return postgres.fresh_url() if postgres is not None else None
    return support.sqlite_url(scratch, name)


def run_votes(scratch: Path, config: dict[str, Any], postgres) -> list[dict[str, Any]]:
    from vote_bench import measure_votes

    results = []
    for backend, workers in config["vote_legs"]:
        if (url := _fresh_database(backend, postgres, scratch, f"votes-{workers}")) is None:
            results.append({"backend": backend, "workers": workers, "skipped": "PostgreSQL is not available"})
            continue
        print(f"  votes: {config['vote_events']:,} events, {backend}, {workers} worker(s) ...", flush=True)
        # 200 polls (500 events each) at full size; fewer for a quick run, whose setup must stay short.
        polls = max(10, min(200, config["vote_events"] // 500))
        result = asyncio.run(measure_votes(url, events=config["vote_events"], polls=polls, workers=workers))
        result["backend"] = backend
        results.append(result)
        print(
            f"    {result['events_per_s']:.0f} events/s, {result['votes_stored']:,} votes stored of "
            f"{result['unique_votes']:,} unique, errors {result['errors'] or 'none'}",
            flush=True,
        )
    return results


def run_e2e(scratch: Path, config: dict[str, Any], postgres) -> list[dict[str, Any]]:
    import ingest_e2e

    results = []
    for platform, backend in config["e2e_legs"]:
        if (url := _fresh_database(backend, postgres, scratch, f"e2e-{platform}")) is None:
            results.append({"platform": platform, "backend": backend, "skipped": "PostgreSQL is not available"})
            continue
        print(f"  end to end: {config['e2e_events']:,} events, {platform}, {backend} ...", flush=True)
        result = ingest_e2e.measure(platform, url, events=config["e2e_events"])
        result["backend"] = backend
        result["load_average"] = support.load_average()
        results.append(result)
        print(f"    {ingest_e2e.summary(result)}", flush=True)
    return results


def run_graph(config: dict[str, Any]) -> list[dict[str, Any]]:
    import graph_build
    from graph_data import ensure_dataset

    cases = []
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "graph.json")
        for size in config["graph_sizes"]:
            n_votes = graph_build.SIZES[size]
            votes, values = ensure_dataset(n_votes)
            print(f"  graph build: {size} votes", flush=True)
            for algorithm in graph_build.ALGORITHMS:
                argv = [
                    sys.executable,
                    "-m",
                    "bot",
                    "graph",
                    "build",
                    "--votes",
                    str(votes),
                    "--values",
                    str(values),
                    "--algorithm",
                    algorithm,
                    "--out",
                    out,
                ]
                case = graph_build.run_case(f"build {algorithm}", argv, config["graph_repeat"])
                case.update(size=size, votes=n_votes, algorithm=algorithm)
                cases.append(case)
    return cases


def run_memory(base_url: str, scratch: Path, config: dict[str, Any]) -> dict[str, Any]:
    count = config["memory_interviews"]
    print(f"  memory: a bot process with {count:,} open interviews ...", flush=True)
    url = support.sqlite_url(scratch, "memory")
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "interview_bench.py"),
            "memory",
            "--base-url",
            base_url,
            "--database-url",
            url,
            "--interviews",
            str(count),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the memory child failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"    RSS {result['rss_mb']:.0f} MB ({result['rss_mb_before']:.0f} MB before opening them)", flush=True)
    return result


# --- the report ------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _latency_cell(leg: dict[str, Any]) -> str:
    own = leg["own_ms"]
    failed = f", {leg['failed_turns']} failed" if leg["failed_turns"] else ""
    cpu = f" · CPU {leg['cpu_ms_per_turn']:.0f} ms/turn" if leg.get("cpu_ms_per_turn") is not None else ""
    return f"p50 {_ms(own['p50'])} · p99 {_ms(own['p99'])} · {leg['turns_per_s']:.1f} turns/s{cpu}{failed}"


def run_dedup_candidates() -> dict[str, Any]:
    import dedup_bench

    return asyncio.run(dedup_bench.measure())


def _dedup_rows(found: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    rows = []
    for model, measured in (found or {}).get("embedders", {}).items():
        suggested = measured["suggested"]
        at = next((row for row in measured["at_all_pairs"] if row["threshold"] == suggested), None)
        result = "—" if at is None else f"recall {at['recall']:.2f}, precision {(at['precision'] or 0):.2f}"
        rows.append(
            (
                f"Dedup candidates, {model} ({found['pairs']} labelled pairs, all pairs of {found['cards']} cards)",
                f"radius {suggested}: {result}; AUC {measured['auc_all_pairs']:.2f} (labelled look-alikes "
                f"{measured['auc_labelled']:.2f})",
                "",
            )
        )
    return rows


def report_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, result, target) rows, shared by the terminal table and the README snippet."""
    rows: list[tuple[str, str, str]] = []
    if (tokens := results.get("tokens")) is not None:
        rows.append(_tokens_row(tokens))
    rows += _latency_rows(results)
    rows += _vote_rows(results.get("votes", []))
    for leg in results.get("mixed", []):
        rows.append(
            (
                f"DM turns while {leg['vote_events']:,} reactions arrive "
                f"at {leg['arrival_rate']:,.0f}/s, {leg['backend']}",
                f"{leg['turns']} turns during the burst: own p99 {leg['own_ms']['p99']:.1f} ms (outside it "
                f"{(leg['own_ms_outside_burst'] or {}).get('p99', 0):.1f} ms), "
                f"reply p99 {leg['reply_ms']['p99']:.0f} ms; "
                f"reactions recorded p99 {leg['ack_ms']['p99']:.0f} ms, {leg['votes_stored']:,} votes stored",
                f"own p99 < 50 ms, reply p99 < 1 s; = {leg['unique_votes']:,} "
                f"unique ({'ok' if leg['ok'] else 'WRONG'})",
            )
        )
    for case in results.get("graph", []):
        rows.append(
            (
                f"Graph build ({case['algorithm']}), {case['size']} votes",
                f"{case['median_s']:.2f} s, peak {case['peak_mb']:.0f} MB",
                "1M: < 5 s, < 600 MB" if case["size"] == "1M" else "",
            )
        )
    if (memory := results.get("memory")) is not None:
        rows.append(
            (
                f"Bot process RSS with {memory['interviews']:,} open interviews",
                f"{memory['rss_mb']:.0f} MB ({memory['rss_mb_before']:.0f} MB with one)",
                "",
            )
        )
    rows += _e2e_rows(results.get("e2e", []))
    rows += _dedup_rows(results.get("dedup"))
    return rows


def _tokens_row(tokens: dict[str, Any]) -> tuple[str, str, str]:
    verdict = "met" if tokens["total_tokens"] <= TARGET_TOKENS else "MISSED"
    return (
        f"Tokens per completed interview ({tokens['answers']} answers, {tokens['llm_calls']} LLM calls)",
        f"{tokens['total_tokens'] / 1000:.1f}k "
        f"({tokens['input_tokens'] / 1000:.1f}k in, {tokens['output_tokens'] / 1000:.1f}k out)",
        f"≤ {TARGET_TOKENS / 1000:.0f}k ({verdict}); paper ~{PAPER_TOKENS / 1000:.0f}k",
    )


def _latency_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    if "latency" not in results:
        return []
    rows: list[tuple[str, str, str]] = []
    largest = max(results["settings"]["concurrency"])
    for backend, legs in results["latency"].items():
        for leg in legs:
            target = ""
            pacing = f", answering after ~{leg['think_s']:g} s" if leg["think_s"] else ""
            if leg["concurrency"] == largest:
                met = leg["own_ms"]["p99"] < TARGET_P99_MS and not leg["failed_turns"]
                target = (
                    f"p99 < {TARGET_P99_MS:.0f} ms at 500 ({'met' if met else 'MISSED'})"
                    if largest == 500
                    else (f"p99 < {TARGET_P99_MS:.0f} ms at 500 (not run at 500)")
                )
            what = f"Bot's own latency per DM turn, {backend}, {leg['concurrency']} concurrent{pacing}"
            rows.append((what, _latency_cell(leg), target))
    if "postgresql" not in results["latency"]:
        rows.append(("Bot's own latency per DM turn, postgresql", f"not run: {results['postgres_note']}", ""))
    return rows


def _vote_rows(votes: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for leg in votes:
        what = f"Vote ingestion, {leg['backend']}, {leg['workers']} worker{'s' if leg['workers'] != 1 else ''}"
        if "skipped" in leg:
            rows.append((what, f"not run: {leg['skipped']}", ""))
            continue
        lost = f", {sum(leg['errors'].values())} errors" if leg["errors"] else ""
        rows.append(
            (
                what,
                f"{leg['events_per_s']:,.0f} events/s end to end (recorded at {leg.get('recorded_per_s', 0):,.0f}/s); "
                f"{leg['votes_stored']:,} votes stored from {leg['events']:,} events{lost}",
                f"= {leg['unique_votes']:,} unique ({'ok' if leg['ok'] else 'WRONG'})",
            )
        )
    return rows


def _e2e_rows(legs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    from ingest_e2e import TARGET_EVENTS_PER_S

    rows: list[tuple[str, str, str]] = []
    for leg in legs:
        if "skipped" in leg:
            rows.append(
                (f"End-to-end ingestion, {leg['platform']}, {leg['backend']}", f"not run: {leg['skipped']}", "")
            )
            continue
        what = f"End-to-end ingestion, {leg['platform']} {leg['path']}, {leg['backend']}, {leg['events']:,} events"
        response = (
            f"; HTTP p50 {_ms(leg['response_ms']['p50'])}, p99 {_ms(leg['response_ms']['p99'])}"
            if "response_ms" in leg
            else ""
        )
        redelivered = f" ({leg['redeliveries']:,} redelivered)" if leg["redeliveries"] else ""
        met = leg["events_per_s"] >= TARGET_EVENTS_PER_S and leg["ok"]
        rows.append(
            (
                what,
                f"{leg['events_per_s']:,.0f} events/s to the last vote applied{response}; "
                f"{leg['votes_stored']:,} votes "
                f"from {leg['events']:,} events{redelivered}, {'exact' if leg['ok'] else 'WRONG'}",
                f"≥ {TARGET_EVENTS_PER_S:,} events/s, exact counts ({'met' if met else 'MISSED'})",
            )
        )
    return rows


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpus']} × {machine['cpu_model']}, {machine['ram_gb']} GB RAM, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, PostgreSQL {machine['postgresql'] or 'not installed'}"
    )


def conditions_line(cfg: dict[str, Any]) -> str:
    return (
        f"fake LLM latency {cfg['llm_latency_s']:g} s per request; members answer as soon as they get a reply"
        + (" (paced rows: after a pause of that many seconds on average)" if cfg["paced_think_s"] else "")
        + f"; vote events: {cfg['vote_events']:,} with 10% redelivered"
        + f"; end to end: {cfg['e2e_events']:,} events"
        + ("; quick run" if cfg["quick"] else "")
    )


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    machine = Table(title="Machine", show_header=False)
    for key, value in results["machine"].items():
        machine.add_row(key, str(value))
    console.print(machine)
    table = Table(title=f"Moral Graph Bot benchmarks ({conditions_line(results['settings'])})", show_lines=False)
    table.add_column("What")
    table.add_column("Result")
    table.add_column("Target")
    for row in report_rows(results):
        table.add_row(*row)
    console.print(table)


def markdown_table(results: dict[str, Any]) -> str:
    lines = [
        f"Measured {results['started'][:10]} on {machine_line(results['machine'])}; "
        f"{conditions_line(results['settings'])}.",
        "",
        "| What | Result | Target |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {result} | {target} |" for what, result, target in report_rows(results)]
    return "\n".join(lines) + "\n"


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short version (CI): fewer interviews, events, sizes")
    parser.add_argument("--out", type=Path, help="the JSON file (default: benchmarks/results/run-<timestamp>.json)")
    parser.add_argument(
        "--table",
        type=Path,
        help="the markdown table (default: benchmarks/results/README-table.md; quick: README-table-quick.md)",
    )
    parser.add_argument(
        "--llm-latency", type=float, help="seconds the fake LLM waits before each answer (0.5; quick 0.05)"
    )
    parser.add_argument("--concurrency", help="comma-separated concurrent interviews (1,100,500; quick 1,20)")
    parser.add_argument(
        "--paced-think",
        help="mean seconds members pause in the paced legs at the largest concurrency, comma-separated "
        "(20,60; quick: no such legs; 0: none)",
    )
    parser.add_argument("--vote-events", type=int, help="reaction events (100000; quick 1000)")
    parser.add_argument(
        "--vote-legs", help="backend:workers,... (sqlite:1,sqlite:200,postgresql:200; quick sqlite:1,sqlite:200)"
    )
    parser.add_argument(
        "--memory-interviews", type=int, help="open interviews in the memory benchmark (1000; quick 50)"
    )
    parser.add_argument("--e2e-events", type=int, help="reaction events per end-to-end leg (20000; quick 1000)")
    parser.add_argument(
        "--e2e-legs",
        help=(
            "platform:backend,... (slack:sqlite,discord:sqlite,slack:postgresql,discord:postgresql; "
            "quick: the sqlite ones)"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"which sections to run, comma-separated (default: all of {','.join(SECTIONS)})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the bot's warnings (e.g. failed turns) are counted, not printed

    from fake_llm import fake_llm_process

    config = settings(args)
    config["sections"] = [name.strip() for name in args.sections.split(",") if name.strip()]
    if unknown := set(config["sections"]) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))} (choose from {', '.join(SECTIONS)})")
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    clock = time.perf_counter()
    results: dict[str, Any] = {"started": started, "machine": support.describe_machine(), "settings": config}
    print(f"machine: {machine_line(results['machine'])}", flush=True)
    sections: dict[str, dict[str, Any]] = {}
    results["sections"] = sections

    def section(name: str, title: str, run) -> None:
        if name not in config["sections"]:
            return
        print(title, flush=True)
        began = time.perf_counter()
        results[name] = run()
        sections[name] = {
            "seconds": round(time.perf_counter() - began, 1),
            "load_average_after": support.load_average(),
        }

    with (
        tempfile.TemporaryDirectory(prefix="mge-bench-") as scratch_dir,
        fake_llm_process(config["llm_latency_s"]) as base_url,
    ):
        scratch = Path(scratch_dir)
        section("tokens", "1. tokens per completed interview", lambda: run_tokens(base_url, scratch))
        if "tokens" in results:
            print(f"    {results['tokens']['total_tokens']:,} tokens", flush=True)
        with support.maybe_postgres(config["postgres"]) as (postgres, why_not):
            results["postgres_note"] = why_not
            section(
                "latency",
                "2. the bot's own latency per DM turn",
                lambda: run_latency(base_url, scratch, config, postgres),
            )
            section("votes", "3. vote ingestion", lambda: run_votes(scratch, config, postgres))
            section("mixed", "3b. DM turns during a vote burst", lambda: run_mixed(base_url, scratch, config, postgres))
            section("e2e", "6. vote ingestion end to end", lambda: run_e2e(scratch, config, postgres))
        section("graph", "4. graph assembly", lambda: run_graph(config))
        section("memory", "5. memory", lambda: run_memory(base_url, scratch, config))
        section("dedup", "7. dedup candidates per embedder", run_dedup_candidates)
    results["duration_s"] = time.perf_counter() - clock
    results["votes_ok"] = all(
        leg.get("ok", True) for leg in results.get("votes", []) + results.get("mixed", []) + results.get("e2e", [])
    )

    out = args.out or RESULTS / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = args.table or RESULTS / ("README-table-quick.md" if args.quick else "README-table.md")
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(markdown_table(results))
    print_table(results)
    print(f"results: {out}\nREADME table: {table}\ntook {results['duration_s']:.0f} s")
    if not results["votes_ok"]:
        for leg in results.get("e2e", []):
            if not leg.get("ok", True):
                print(
                    f"END-TO-END VOTES WRONG ({leg['platform']}, {leg['backend']}): {leg['votes_wrong']} wrong "
                    f"(e.g. {leg['wrong_examples']}); {leg['events_recorded']} events recorded; statuses "
                    f"{leg.get('statuses')}; outcomes {leg['outcomes']}",
                    file=sys.stderr,
                )
        wrong = [leg for leg in results.get("votes", []) if not leg.get("ok", True)]
        for leg in wrong:
            print(
                f"VOTES WRONG ({leg['backend']}, {leg['workers']} workers): {leg['votes_stored']} stored, "
                f"{leg['unique_votes']} unique; outcomes {leg['outcomes']}; errors {leg['errors']}",
                file=sys.stderr,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
