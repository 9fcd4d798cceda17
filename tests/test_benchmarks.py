"""The benchmark runner works: ``python benchmarks/run.py --quick`` exits 0 and writes every section with
sane numbers. How fast the bot is, is the benchmark's business, not this test's."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres import find_bin_dir

# Slow: the benchmark's quick run, a minute of processes (run once: tests/conftest.py's ONE_WORKER_MODULES).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("bench")
    out, table = folder / "run.json", folder / "table.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out), "--table", str(table)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads(out.read_text()), table.read_text(), done


def positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_the_machine_is_described(quick_run):
    results, table, done = quick_run
    machine = results["machine"]
    assert machine["cpus"] >= 1 and machine["cpu_model"] and machine["python"] and machine["sqlite"]
    assert positive(machine["ram_gb"])
    assert results["settings"]["quick"] is True
    assert "Machine" in done.stdout and "Tokens per completed interview" in done.stdout  # the rich table


def test_tokens_per_interview(quick_run):
    tokens = quick_run[0]["tokens"]
    assert tokens["answers"] == 9 and tokens["llm_calls"] == 11 == len(tokens["per_call"])
    assert [call["purpose"] for call in tokens["per_call"]] == ["interview"] * 9 + ["say_back", "articulate"]
    assert tokens["input_tokens"] > tokens["output_tokens"] > 0
    assert tokens["total_tokens"] == tokens["input_tokens"] + tokens["output_tokens"]
    assert tokens["input_tokens"] == sum(call["input"] for call in tokens["per_call"])
    # Each interviewer request carries the whole conversation so far: it grows every turn.
    inputs = [call["input"] for call in tokens["per_call"][:9]]
    assert inputs == sorted(inputs) and len(set(inputs)) == 9


def test_latency_per_turn_on_each_database(quick_run):
    results = quick_run[0]
    latency = results["latency"]
    backends = {"sqlite"} | ({"postgresql"} if find_bin_dir() is not None else set())
    if os.environ.get("CI"):
        assert find_bin_dir() is not None, "CI must run the PostgreSQL leg"
    assert set(latency) == backends, results.get("postgres_note")
    for backend, legs in latency.items():
        assert [leg["concurrency"] for leg in legs] == [1, 20], backend
        for leg in legs:
            assert leg["turns"] == 13 * leg["interviews"], leg
            # No failed turn, SQLite included: its writers of one process queue in order
            # (storage.database.SQLiteWriteQueue) instead of starving in SQLite's busy handler.
            assert leg["failed_turns"] == 0, leg
            assert positive(leg["cpu_ms_per_turn"])
            assert leg["llm_calls"] == 11 * leg["interviews"]
            own = leg["own_ms"]
            assert 0 < own["p50"] <= own["p90"] <= own["p99"] <= own["max"]
            assert own["p99"] <= leg["handle_ms"]["p99"]  # the bot's own time is part of the whole
            assert positive(leg["turns_per_s"]) and positive(leg["llm_wait_s_mean"])


def test_vote_ingestion_stores_each_unique_vote_once(quick_run):
    legs = quick_run[0]["votes"]
    assert [(leg["backend"], leg["workers"]) for leg in legs] == [("sqlite", 1), ("sqlite", 200)]
    for leg in legs:
        assert leg["ok"] and not leg["errors"]
        assert leg["events"] == 1000 and leg["duplicate_events"] == 100
        assert leg["votes_stored"] == leg["unique_votes"] == 900
        # Every unique event applied as a new vote; every redelivery refused when it was recorded.
        assert leg["outcomes"] == {"counted": 900, "redeliveries_refused": 100}
        assert positive(leg["events_per_s"]) and leg["recorded_per_s"] >= leg["events_per_s"]


def test_dm_turns_during_a_vote_burst(quick_run):
    results = quick_run[0]
    legs = results["mixed"]
    assert {leg["backend"] for leg in legs} == {"sqlite"} | ({"postgresql"} if find_bin_dir() is not None else set())
    for leg in legs:
        assert leg["ok"] and leg["votes_stored"] == leg["unique_votes"] == 1800
        assert leg["failed_turns"] == 0
        assert leg["turns"] > 0  # some turns overlapped the burst
        assert 0 < leg["own_ms"]["p50"] <= leg["own_ms"]["p99"] <= leg["reply_ms"]["p99"]


def test_end_to_end_ingestion_through_slack_http_and_the_discord_gateway(quick_run):
    legs = {leg["platform"]: leg for leg in quick_run[0]["e2e"]}
    assert set(legs) == {"slack", "discord"} and all(leg["backend"] == "sqlite" for leg in legs.values())
    slack, discord = legs["slack"], legs["discord"]
    assert slack["events"] == 1000 and slack["redeliveries"] == 100 and slack["statuses"] == {"200": 1000}
    assert slack["events_recorded"] == 900  # each redelivery recorded once, with its original
    assert 0 < slack["response_ms"]["p50"] <= slack["response_ms"]["p99"]
    assert discord["events"] == discord["events_recorded"] == 1000
    for leg in (slack, discord):
        assert leg["ok"] and leg["counts_exact"] and leg["votes_wrong"] == 0
        assert leg["votes_stored"] == leg["votes_expected"] > 0 and positive(leg["events_per_s"])
        # Members changed their minds: votes were replaced and retracted, not only counted.
        assert leg["outcomes"].get("replaced", 0) > 0 and leg["outcomes"].get("retracted", 0) > 0
    assert "End-to-end ingestion, slack" in quick_run[1] and "End-to-end ingestion, discord" in quick_run[1]


def test_graph_assembly(quick_run):
    cases = quick_run[0]["graph"]
    assert {(case["size"], case["algorithm"]) for case in cases} == {("10k", "default"), ("10k", "mge-2023")}
    for case in cases:
        assert positive(case["median_s"]) and positive(case["peak_mb"])
        assert "10000 values" in case["summary"]


def test_memory_with_open_interviews(quick_run):
    memory = quick_run[0]["memory"]
    assert memory["interviews"] == 50
    assert 10 < memory["rss_mb_before"] <= memory["peak_rss_mb"] and positive(memory["rss_mb"])


def test_the_readme_table(quick_run):
    results, table, _ = quick_run
    assert "| What | Result | Target |" in table and results["machine"]["cpu_model"] in table
    assert table.count("\n| ") >= 8  # header, separator and a row per measurement
