"""Shared fixtures: a fake OpenAI server on loopback, migrated SQLite and PostgreSQL databases, the
interview service.

A migrated database is a copy of a template migrated once per session (per xdist worker): a SQLite file
copied, a PostgreSQL database made with CREATE DATABASE … TEMPLATE. Tests that take ``database_url`` run
on both backends unless their module is marked ``sqlite_only`` (the database is incidental there: the
storage and use-case tests run the same SQL on PostgreSQL)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.llm_openai import OpenAILLM
from bot.interview.ports import InterviewConfig
from bot.interview.service import InterviewService
from storage.database import Database
from storage.migrate import upgrade
from tests.fakes.openai_server import FakeOpenAI
from tests.postgres import ThrowawayPostgres, find_bin_dir

# Keep a developer's own .env and environment out of the tests.
for _key in list(os.environ):
    if _key.startswith("MGE_") or _key in {"DATABASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY"}:
        del os.environ[_key]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL cluster for the session, started on first use."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql): skipping the PostgreSQL leg"
        if os.environ.get("CI"):
            pytest.fail(message.replace("skipping", "CI must run"))
        pytest.skip(message)
    server = ThrowawayPostgres(bin_dir)
    server.start()
    try:
        server.create_template()
        yield server
    finally:
        server.stop()


#: The backends of a database test; the PostgreSQL leg carries the ``postgres`` marker.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("database_url", BACKENDS[:1] if sqlite_only else BACKENDS, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_server" in item.fixturenames:
            item.add_marker(pytest.mark.postgres)


#: Modules whose tests share one expensive module-scoped fixture: all their tests go to one xdist worker.
ONE_WORKER_MODULES = {"tests/test_benchmarks.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's scheduler for every run with workers: each test is handed to the next free worker, except
    the tests of ONE_WORKER_MODULES, handed out together. (xdist's own ``xdist_group`` marks the node ids,
    which pytest 9.2 no longer lets it change: pytest-dev/pytest-xdist#1386.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return Scheduling(config, log)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the Alembic head, once per session: tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "mge.sqlite3"
    upgrade(f"sqlite:///{path}")
    # The migration's last connection has closed, so its WAL is checkpointed into the file and gone.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def migrated_sqlite(sqlite_template: Path) -> Callable[[Path], str]:
    """Puts a migrated, empty SQLite database at the given path (its folder made); returns its URL."""

    def copy(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"

    return copy


@pytest.fixture
def sqlite_url(migrated_sqlite: Callable[[Path], str], tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path / "mge.sqlite3")


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on the backend the test is parametrized with (see BACKENDS)."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_server").fresh_database()
    return request.getfixturevalue("sqlite_url")


@pytest.fixture
async def database(database_url: str):
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture(autouse=True)
def slack_answers_in_the_ack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack commands answer in the ack when their work ends within 2-2.5 s, else in a DM. On a loaded
    machine (parallel workers, a shared CI host) quick work can miss that and take the DM path, which the
    test did not ask for: here quick work always answers in the ack, and Bolt (which gives up on an ack
    after 3 s) waits as long. Tests of the DM path set 0; the deadline's own test sets the real values."""
    from slack_bolt.listener.async_listener import AsyncCustomListener

    monkeypatch.setattr("adapters.slack.commands.ACK_WITHIN", 30.0)
    monkeypatch.setattr("adapters.slack.moderator_actions.ANSWER_IN_ACK_WITHIN", 30.0)
    registered = AsyncCustomListener.__init__

    def patient(self, *args: Any, **kwargs: Any) -> None:
        registered(self, *args, **kwargs)
        self.ack_timeout = 30

    monkeypatch.setattr(AsyncCustomListener, "__init__", patient)


@pytest.fixture
async def fake_openai():
    async with FakeOpenAI() as fake:
        yield fake


def make_llm(fake: FakeOpenAI, **overrides) -> OpenAILLM:
    options = dict(base_url=fake.base_url, api_key="test", timeout_seconds=5, max_retries=0, structured_output="auto")
    options.update(overrides)
    return OpenAILLM(**options)


@pytest.fixture
def interview_config() -> InterviewConfig:
    return InterviewConfig(chat_model="chat-model", articulation_model="card-model", max_turns=12, min_turns=3)


@pytest.fixture
async def service(database: Database, fake_openai: FakeOpenAI, interview_config: InterviewConfig, clock: Clock):
    llm = make_llm(fake_openai)
    yield InterviewService(database=database, llm=llm, config=interview_config, clock=clock)
    await llm.aclose()
