"""``mge dedup`` and ``mge values …`` through Typer's CliRunner, on a temporary SQLite file and the fake LLM."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.values import dedup_command, values_app
from storage.database import Database
from tests.dedup_support import (
    AUTONOMY,
    AUTONOMY_REWORDED,
    GENEROSITY,
    Embeddings,
    add_card,
    community,
    group,
    near,
    unit,
)
from tests.fakes.openai_server import FakeOpenAI

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def variant(card: dict, n: int) -> dict:
    return {**card, "policies": [*card["policies"][:-1], f"{card['policies'][-1]} {'again ' * n}".strip()]}


@pytest.fixture
def app() -> typer.Typer:
    cli = typer.Typer()
    cli.add_typer(values_app, name="values")
    cli.command("dedup")(dedup_command)
    return cli


@pytest.fixture
def fake():
    with FakeOpenAI.in_thread() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeOpenAI, monkeypatch, sqlite_url: str) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    url = sqlite_url
    return {
        "DATABASE_URL": url,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test",
        "MGE_LLM_MAX_RETRIES": "0",
        "MGE_LLM_TIMEOUT_SECONDS": "5",
        "MGE_ARTICULATION_MODEL": "judge-model",
        "MGE_EMBEDDING_MODEL": "embed-model",
    }


def seed(url: str, cards: list[tuple[str, dict]]) -> list[int]:
    async def main() -> list[int]:
        database = Database(url)
        try:
            ids = []
            for n, (name, card) in enumerate(cards):
                cid = await community(database, name, NOW)
                ids.append(await add_card(database, cid, card, NOW, member=f"m{n}"))
            return ids
        finally:
            await database.dispose()

    return asyncio.run(main())


def invoke(app, env, *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_dedup_then_inspect_merge_split_and_undo(app, env, fake):
    vectors = Embeddings()
    fake.embedding_fn = vectors
    cards = [variant(AUTONOMY, n) for n in range(3)] + [GENEROSITY, AUTONOMY_REWORDED]
    for n, card in enumerate(cards[:3]):
        vectors.set(card, near(unit(0), 0.01 * n, n + 1) if n else unit(0))
    vectors.set(GENEROSITY, unit(9))
    vectors.set(AUTONOMY_REWORDED, unit(12))
    ids = seed(env["DATABASE_URL"], [("guild", card) for card in cards] + [("other", AUTONOMY)])
    fake.script({"groups": [group(ids[:3], best=ids[1])]})

    result = invoke(app, env, "dedup", "--community", "guild")
    assert result.exit_code == 0, result.output
    assert "placed 5 of 5 cards" in result.output and "1 judged clusters" in result.output
    assert "tokens used:" in result.output and "0 in," not in result.output
    [judge] = fake.chat_requests
    assert judge["model"] == "judge-model" and {r["model"] for r in fake.embedding_requests} == {"embed-model"}
    assert "nothing to do" in invoke(app, env, "dedup", "--community", "guild").output

    listed = json.loads(invoke(app, env, "values", "list", "--community", "guild", "--format", "json").output)
    by_cards = {row["cards"]: row for row in listed}
    assert sorted(row["cards"] for row in listed) == [1, 1, 3] and by_cards[3]["source_card_id"] == ids[1]
    cluster_value = by_cards[3]["id"]
    table = invoke(app, env, "values", "list")
    assert table.exit_code == 0 and "Informed" in table.output

    shown = json.loads(invoke(app, env, "values", "show", str(cluster_value), "--format", "json").output)
    assert sorted(card["card_id"] for card in shown["cards"]) == ids[:3]
    assert all(card["history"][0]["decision"] == "cluster" for card in shown["cards"])
    assert "card " in invoke(app, env, "values", "show", str(cluster_value)).output

    others = [row["id"] for row in listed if row["id"] != cluster_value]
    merged = invoke(app, env, "values", "merge", str(cluster_value), str(others[0]))
    assert merged.exit_code == 0 and "1 card(s) moved" in merged.output
    split = invoke(app, env, "values", "split", str(ids[0]))
    assert split.exit_code == 0 and f"card {ids[0]} is now value" in split.output
    undone = invoke(app, env, "values", "undo", str(ids[0]))
    assert undone.exit_code == 0 and f"back in value {cluster_value}" in undone.output

    # The other community's card was not touched by a run scoped to "guild".
    everything = json.loads(invoke(app, env, "values", "list", "--format", "json", "--all").output)
    assert {row["community_id"] for row in everything} == {1}
    refused = invoke(app, env, "values", "merge", str(cluster_value), str(cluster_value))
    assert refused.exit_code == 2 and "into itself" in refused.output
    assert invoke(app, env, "values", "show", "999").exit_code == 2


def test_dedup_offline_lexical_embedder(app, env, fake):
    seed(env["DATABASE_URL"], [("guild", AUTONOMY), ("guild", GENEROSITY)])
    result = invoke(app, env, "dedup", "--lexical")
    assert result.exit_code == 0, result.output
    assert "placed 2 of 2 cards" in result.output and fake.embedding_requests == [] and fake.chat_requests == []


def test_dedup_reports_a_judge_failure(app, env, fake):
    vectors = Embeddings()
    fake.embedding_fn = vectors
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.03, 1))
    seed(env["DATABASE_URL"], [("guild", AUTONOMY), ("guild", AUTONOMY_REWORDED)])
    fake.script("not json at all", "still not json")
    result = invoke(app, env, "dedup")
    assert result.exit_code == 1 and "dedup stopped" in result.output and "run `mge dedup` again" in result.output


def _dump(url: str) -> list[str]:
    """Every row of every table, as SQL text (the SQLite file's whole content, row for row)."""
    import sqlite3

    from storage.database import sqlite_path

    with sqlite3.connect(sqlite_path(url)) as connection:
        return list(connection.iterdump())


def test_dedup_dry_run_changes_nothing_and_lists_groups_by_card_id(app, env, fake):
    vectors = Embeddings()
    fake.embedding_fn = vectors
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.15, 1))  # past the match radius, within the cluster radius
    vectors.set(GENEROSITY, unit(9))
    cards = [("guild", AUTONOMY), ("guild", AUTONOMY_REWORDED), ("guild", GENEROSITY)]
    first, reworded, far = seed(env["DATABASE_URL"], cards)
    env = {**env, "MGE_DEDUP_CLUSTER_EPS": "0.2"}
    # Placed as three values; the queue pass that follows has the judge keep the pair apart.
    fake.script({"groups": [group([first], best=first), group([reworded], best=reworded)]})
    placed = invoke(app, env, "dedup")
    assert placed.exit_code == 0 and "0 values merged" in placed.output, placed.output
    before = _dump(env["DATABASE_URL"])
    judged = len(fake.chat_requests)
    fake.script({"groups": [group([first, reworded], best=reworded)]})

    result = invoke(app, env, "dedup", "--dry-run", "--format", "json")

    assert result.exit_code == 0, result.output
    [found] = json.loads(result.output)
    [proposed] = found["groups"]
    assert proposed["card_ids"] == [first, reworded] and proposed["best_written_card_id"] == reworded
    assert proposed["distances"] == {str(first): pytest.approx(0.15, abs=1e-3), str(reworded): 0.0}
    assert "same attention" in proposed["reasons"] and far not in proposed["card_ids"]
    assert len(fake.chat_requests) == judged + 1
    assert _dump(env["DATABASE_URL"]) == before

    fake.script({"groups": [group([first, reworded], best=reworded)]})
    table = invoke(app, env, "dedup", "--dry-run")
    assert table.exit_code == 0 and f"cards [{first}, {reworded}]" in table.output and "nothing changed" in table.output
    assert _dump(env["DATABASE_URL"]) == before
