"""`--community` names a community the way an operator knows it, on every command that takes it, and
`mge communities list` shows those names: `mge` (two real processes, one that succeeds and one that fails;
the same app in this process for the rest, see tests/cli_support.py) on a database holding a Discord server,
Slack workspaces and a console community."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.communities import community_rows
from bot.cli.support import match_community
from core.messages import CommunityRef
from storage import communities_repo
from storage import repositories as repo
from storage.database import Database
from tests.cli_support import Ran, mge_in_process
from tests.dedup_support import add_card
from tests.fakes.openai_server import FakeOpenAI
from tests.test_contexts import SIX

# Slow: two `mge` processes.
pytestmark = pytest.mark.slow

GUILD = CommunityRef("discord", "1300000000000000002", "Makers Guild")
WORKSPACE = CommunityRef("slack", "T0ACME", "acme")  # a Slack workspace's name is its domain
LOCAL = CommunityRef("console", "local", "local")
BOOK_CLUBS = (CommunityRef("discord", "1300000000000000009", "Book Club"), CommunityRef("slack", "T0BOOK", "Book Club"))
ALL = (GUILD, WORKSPACE, LOCAL, *BOOK_CLUBS)
CARD = {"title": "Care", "description": "d", "policies": ["MOMENTS of care"]}

#: Every command with --community, with the rest of what it needs to get as far as naming the community.
COMMANDS = [
    ["stories", "generate"],
    ["stories", "list"],
    ["scenario", "list"],
    ["contexts", "list"],
    ["contexts", "add", "When unsure", "--scenario", "1"],
    ["contexts", "edit", "1", "When unsure"],
    ["contexts", "remove", "1"],
    ["values", "list"],
    ["dedup", "--lexical"],
    ["cards", "list"],
    ["export", "--format", "json", "--out", "-"],
    ["digest", "preview", "--out", "{tmp}/digest"],
    ["schedule", "show"],
    ["schedule", "polls", "--every", "1d"],
    ["schedule", "digest", "--pause"],
    ["audit"],
    ["ask", "How do I comfort a friend?"],
    ["ideology", "rate"],
    ["eval", "transcripts"],
]


async def seed(url: str) -> None:
    database = Database(url)
    try:
        async with database.session() as session:
            for ref in ALL:
                row = await communities_repo.get_or_create_community(
                    session, platform=ref.platform, external_id=ref.external_id, name=ref.name, now=_now()
                )
                await session.flush()
                await repo.find_or_add_scenario(
                    session, community_id=row.id, text=f"Question of {ref.external_id}?", now=_now()
                )
            await session.commit()
        async with database.session() as session:
            workspace = next(
                c for c in await communities_repo.list_communities(session) if c.external_id == WORKSPACE.external_id
            )
        for member in ("ana", "ben"):
            await add_card(database, workspace.id, CARD, _now(), member=member)
    finally:
        await database.dispose()


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def fake():
    with FakeOpenAI.in_thread() as server:
        yield server


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path, fake: FakeOpenAI) -> dict[str, str]:
    asyncio.run(seed(sqlite_url))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MGE_", "OPENAI_", "DATABASE_URL"))}
    environment.update(
        DATABASE_URL=sqlite_url,
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="test",
        MGE_LLM_MAX_RETRIES="0",
        MGE_DATA_DIR=str(tmp_path / "data"),
        HOME=str(tmp_path),
    )
    return environment


def mge(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=60, cwd=env["HOME"]
    )


@pytest.fixture
def mge_here(env):
    """``mge`` run in this process (the same typer app the entry point runs): a process per command would
    cost seconds each, and the resolution of ``--community`` is the same code either way (the
    process-level behaviour is covered by the tests that use :func:`mge`)."""

    def run(*args: str) -> Ran:
        return mge_in_process(*args, env=env, cwd=Path(env["HOME"]))  # HOME: no .env of the repository

    return run


def test_communities_list_shows_what_community_accepts(env, mge_here):
    listed = mge("communities", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["platform"], r["external_id"], r["name"]) for r in rows] == [
        (c.platform, c.external_id, c.name) for c in ALL
    ]
    assert [(r["members"], r["cards"]) for r in rows] == [(0, 0), (2, 2), (0, 0), (0, 0), (0, 0)]
    table = mge_here("communities", "list")
    assert table.returncode == 0 and "1300000000000000002" in table.stdout and "Makers Guild" in table.stdout


@pytest.mark.parametrize(
    ("wanted", "community"),
    [
        ("1300000000000000002", GUILD),
        ("Makers Guild", GUILD),
        ("makers guild", GUILD),
        ("discord:1300000000000000002", GUILD),
        ("T0ACME", WORKSPACE),
        ("acme", WORKSPACE),
        ("ACME", WORKSPACE),
        ("slack:T0ACME", WORKSPACE),
        ("local", LOCAL),
        ("slack:T0BOOK", BOOK_CLUBS[1]),
    ],
)
def test_a_community_is_named_by_its_id_name_or_domain(mge_here, wanted, community):
    shown = mge_here("scenario", "list", "--community", wanted)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"{ALL.index(community) + 1}. Question of {community.external_id}?"


def test_a_name_two_communities_share_lists_both_in_one_line(env):
    shown = mge("stories", "list", "--community", "Book Club", env=env)
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.count("\n") == 1 and "Traceback" not in shown.stderr
    assert shown.stderr.startswith(
        "error: 2 communities match 'Book Club'; use the platform and id, e.g. --community discord:1300000000000000009"
    )
    assert "(slack T0BOOK)" in shown.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_resolves_community_the_same_way(mge_here, tmp_path, command):
    args = [word.replace("{tmp}", str(tmp_path)) for word in command]
    unknown = mge_here(*args, "--community", "nowhere")
    assert unknown.returncode == 2, unknown.stderr
    assert (
        unknown.stderr.startswith(
            "error: no community named 'nowhere'; there are: Makers Guild (discord "
            "1300000000000000002), acme (slack T0ACME)"
        )
        and unknown.stderr.count("\n") == 1
    )
    found = mge_here(*args, "--community", "acme")
    assert "no community" not in found.stderr and "communities match" not in found.stderr
    assert "Traceback" not in found.stderr


def test_scenario_add_goes_to_the_named_workspace_or_starts_a_console_community(mge_here, fake):
    fake.script({"contexts": SIX}, {"groups": []}, {"contexts": SIX}, {"groups": []})
    added = mge_here("scenario", "add", "How can I help a grieving friend?", "--community", "acme")
    assert added.returncode == 0, added.stderr
    listed = mge_here("scenario", "list", "--community", "T0ACME")
    assert "How can I help a grieving friend?" in listed.stdout
    fresh = mge_here("scenario", "add", "What is a fair share?", "--community", "garden club")
    assert fresh.returncode == 0, fresh.stderr
    rows = json.loads(mge_here("communities", "list", "--format", "json").stdout)
    assert rows[-1]["platform"] == "console" and rows[-1]["name"] == "garden club"
    several = mge_here("scenario", "add", "Another question?")
    assert several.returncode == 2 and "choose one with --community" in several.stderr


async def test_rows_and_matching_on_both_databases(database):
    async with database.session() as session:
        for ref in ALL:
            await communities_repo.get_or_create_community(
                session, platform=ref.platform, external_id=ref.external_id, name=ref.name, now=_now()
            )
        await session.commit()
        communities = list(await communities_repo.list_communities(session))
    rows = await community_rows(database)
    assert [(r["external_id"], r["members"], r["cards"]) for r in rows] == [(c.external_id, 0, 0) for c in ALL]
    # An id beats a name: a server named like another community's id stays reachable by that id.
    assert match_community(communities, "local").platform == "console"
    # A server renamed since: the name it next arrives with replaces the stored one.
    async with database.session() as session:
        await communities_repo.get_or_create_community(
            session, platform=GUILD.platform, external_id=GUILD.external_id, name="Makers Hall", now=_now()
        )
        await session.commit()
    assert [r["name"] for r in await community_rows(database)] == ["Makers Hall", *(c.name for c in ALL[1:])]
