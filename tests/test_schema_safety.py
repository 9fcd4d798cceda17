"""Schema changes are all-or-nothing: a first start or an upgrade killed at any moment leaves a database the
next start opens; processes starting together on a new database all succeed; leftovers of the old
half-created state and schemas from newer versions are handled, each as the operator would meet them."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)
from storage.database import sqlite_path, sync_url
from storage.migrate import (
    SchemaFromNewerVersion,
    SchemaHalfCreated,
    SchemaOutOfDate,
    current_revision,
    ensure_schema,
    head_revision,
    upgrade,
)
from tests.conftest import BACKENDS
from tests.postgres import ThrowawayPostgres

#: Milliseconds after a process (with everything imported) starts migrating. A first start takes about
#: 150 ms on an idle machine: most offsets land inside it, the last ones after it.
KILL_OFFSETS_MS = [2, 5, 10, 20, 30, 45, 60, 80, 100, 125, 160, 250]
OUR_TABLES = set(SQLModel.metadata.tables)

#: Imports once, then forks a process per database that runs ``function(url)``: with ``kill`` each is
#: SIGKILLed its offset after it starts; without, two start on each database at once. One line per process
#: tells how it ended ("finished", "failed", "killed").
FORKER = """
import os, signal, sys, time
from storage import migrate, models  # imported before forking, so the offsets count migration time
function, kill = getattr(migrate, sys.argv[1]), sys.argv[2] == "kill"

def start(url):
    pid = os.fork()
    if pid == 0:
        try:
            function(url)
        except BaseException as error:
            print(f"{url} failed: {error!r}", flush=True)
            os._exit(1)
        os._exit(0)
    return pid

def report(url, pid):
    status = os.waitpid(pid, 0)[1]
    ended = "killed" if os.WIFSIGNALED(status) else "finished" if os.WEXITSTATUS(status) == 0 else "failed"
    print(url, ended, flush=True)

for argument in sys.argv[3:]:
    url, offset_ms = argument.rsplit(" ", 1)
    if kill:
        pid = start(url)
        time.sleep(int(offset_ms) / 1000)
        os.kill(pid, signal.SIGKILL)
        report(url, pid)
    else:
        pids = [start(url), start(url)]
        for pid in pids:
            report(url, pid)
"""


def _forked(function: str, mode: str, urls: list[str], offsets: list[int]) -> list[str]:
    """How each forked process ended, in order."""
    result = subprocess.run(
        [sys.executable, "-c", FORKER, function, mode, *(f"{url} {offset}" for url, offset in zip(urls, offsets))],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    return [
        line.rsplit(" ", 1)[1]
        for line in result.stdout.splitlines()
        if line.rsplit(" ", 1)[1] in {"finished", "failed", "killed"}
    ] or [result.stdout]


def _offsets(url: str) -> list[int]:
    # PostgreSQL's leg checks the same property with every other offset, to keep the run short.
    return KILL_OFFSETS_MS if url.startswith("sqlite") else KILL_OFFSETS_MS[::2]


def _kill_at_offsets(function: str, urls: list[str]) -> list[str]:
    ended = _forked(function, "kill", urls, _offsets(urls[0]))
    assert "failed" not in ended, ended
    return ended


def _tables(url: str) -> set[str]:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return set()  # killed before it made the file: looking must not create it
    with _connected(url) as connection:
        return set(sa.inspect(connection).get_table_names()) & OUR_TABLES


@contextmanager
def _connected(url: str, *, begin: bool = False) -> Iterator[sa.Connection]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.begin() if begin else engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _assert_matches_models(url: str) -> None:
    with _connected(url) as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def _populate(url: str) -> None:
    """A community, a member, an interview and a values card, with the columns revision 0001 has (which
    later revisions keep)."""
    now = datetime(2026, 1, 2, tzinfo=UTC)
    with _connected(url, begin=True) as connection:
        meta = sa.MetaData()
        table = {
            name: sa.Table(name, meta, autoload_with=connection)
            for name in ("community", "member", "interview", "values_card")
        }
        connection.execute(
            table["community"].insert(),
            {"id": 1, "platform": "console", "external_id": "c", "name": "Here", "created_at": now},
        )
        connection.execute(
            table["member"].insert(),
            {"id": 1, "community_id": 1, "platform_user_id": "u1", "display_name": "Ada", "created_at": now},
        )
        connection.execute(
            table["interview"].insert(),
            {
                "id": 1,
                "community_id": 1,
                "member_id": 1,
                "state": "done",
                "input_tokens": 0,
                "output_tokens": 0,
                "llm_calls": 0,
                "created_at": now,
                "last_activity_at": now,
            },
        )
        connection.execute(
            table["values_card"].insert(),
            {
                "id": 1,
                "community_id": 1,
                "interview_id": 1,
                "author_member_id": 1,
                "title": "Candour",
                "description": "Saying what is so.",
                "policies": ["ASKING plainly"],
                "status": "confirmed",
                "prompt_sha": "x",
                "model": "m",
                "created_at": now,
            },
        )


def _populated_rows(url: str) -> tuple:
    with _connected(url) as connection:
        return (
            connection.execute(sa.text("SELECT name FROM community")).all(),
            connection.execute(sa.text("SELECT display_name FROM member")).all(),
            connection.execute(sa.text("SELECT title, author_member_id FROM values_card")).all(),
        )


POPULATED = ([("Here",)], [("Ada",)], [("Candour", 1)])


def _populated_at_0005(urls: list[str]) -> None:
    """Each database at revision 0005 with rows: copies of the first (faster to make)."""
    upgrade(urls[0], "0005")
    _populate(urls[0])
    for url in urls[1:]:
        if url.startswith("sqlite"):
            sqlite_path(url).parent.mkdir(parents=True)
            shutil.copy(sqlite_path(urls[0]), sqlite_path(url))  # no -wal left: the last connection closed
        else:
            ThrowawayPostgres.copy_database(urls[0], url)  # no connection left: upgrade and _populate dispose theirs


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path: Path):
    """A URL of a database with no schema: a SQLite file not yet created, or an empty PostgreSQL database."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        return server.empty_database
    counter = iter(range(1000))
    return lambda: f"sqlite:///{tmp_path / f'db{next(counter)}' / 'mge.sqlite3'}"


@pytest.mark.slow  # forked processes, killed
def test_a_first_start_killed_at_any_moment_leaves_a_database_the_next_start_opens(empty_url):
    head = head_revision("sqlite://")
    urls = [empty_url() for _ in _offsets(empty_url())]
    finished = _kill_at_offsets("ensure_schema", urls)
    interrupted = 0
    for url in urls:
        before = current_revision(url)
        # All or nothing: either the whole schema at head, or none of our tables (never tables without revision).
        assert (before, bool(_tables(url))) in {(head, True), (None, False)}, (url, before, _tables(url))
        interrupted += before is None
        ensure_schema(url)
        assert current_revision(url) == head and _tables(url) == OUR_TABLES
    _assert_matches_models(urls[0])
    assert interrupted > 0, f"no kill landed before the schema was committed ({finished})"


@pytest.mark.slow  # forked processes, killed
def test_an_upgrade_of_a_populated_database_killed_at_any_moment_keeps_the_data(empty_url):
    head = head_revision("sqlite://")
    urls = [empty_url() for _ in _offsets(empty_url())]
    _populated_at_0005(urls)
    _kill_at_offsets("upgrade", urls)
    interrupted = 0
    for url in urls:
        before = current_revision(url)
        assert before in {"0005", head}
        if before == "0005":
            interrupted += 1
            assert "legitimacy_opt_out" not in _tables(url)  # 0006's table: nothing of the killed upgrade stayed
            with pytest.raises(SchemaOutOfDate, match="mge db upgrade"):
                ensure_schema(url)
        assert _populated_rows(url) == POPULATED
        assert upgrade(url) == before
        assert current_revision(url) == head and _populated_rows(url) == POPULATED
        assert _tables(url) == OUR_TABLES
    _assert_matches_models(urls[0])
    assert interrupted > 0


@pytest.mark.slow  # forked processes, killed
def test_processes_starting_together_on_a_new_database_all_succeed(empty_url):
    head = head_revision("sqlite://")
    urls = [empty_url() for _ in range(3)]
    assert _forked("ensure_schema", "race", urls, [0] * len(urls)) == ["finished"] * 2 * len(urls)
    for url in urls:
        assert current_revision(url) == head and _tables(url) == OUR_TABLES
    _assert_matches_models(urls[0])


@pytest.mark.parametrize("start", ["0001", "0002", "0003", "0004", "0005", "0006", "0007"])
def test_every_revision_with_data_upgrades_to_head_in_one_transaction(empty_url, start):
    url = empty_url()
    upgrade(url, start)
    _populate(url)
    assert upgrade(url) == start
    assert current_revision(url) == head_revision(url)
    assert _populated_rows(url) == POPULATED
    _assert_matches_models(url)


def test_sqlite_migration_runs_as_one_transaction_with_foreign_keys_on(tmp_path):
    """What the kill tests rely on, seen directly: every statement of every revision between one BEGIN
    IMMEDIATE and one COMMIT."""
    url = f"sqlite:///{tmp_path / 'mge.sqlite3'}"
    statements = []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement.strip().split()[0].upper())  # noqa: E731
    sa.event.listen(sa.Engine, "before_cursor_execute", listener)
    try:
        ensure_schema(url)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", listener)
    writes = [i for i, word in enumerate(statements) if word in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE"}]
    begins = [i for i, word in enumerate(statements) if word == "BEGIN"]
    assert len(begins) == 1 and begins[0] < writes[0]
    assert len(writes) > 50
    with _connected(url) as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def _drop_revision(url: str) -> None:
    with _connected(url, begin=True) as connection:
        connection.execute(sa.text("DELETE FROM alembic_version"))


def test_empty_tables_left_without_a_revision_are_recreated(empty_url, caplog):
    url = empty_url()
    upgrade(url, "0003")  # what an interrupted first start of older versions left: tables, no revision
    _drop_revision(url)
    assert current_revision(url) is None and _tables(url)
    with caplog.at_level(logging.WARNING, logger="mge.migrate"):
        ensure_schema(url)
    assert "no schema revision" in caplog.text
    assert current_revision(url) == head_revision(url)
    _assert_matches_models(url)


def test_tables_with_rows_but_no_revision_are_refused_and_left_alone(empty_url):
    url = empty_url()
    upgrade(url, "0005")
    _populate(url)
    _drop_revision(url)
    for attempt in (ensure_schema, upgrade):
        with pytest.raises(SchemaHalfCreated, match="rows in community, member, interview, values_card") as raised:
            attempt(url)
        assert "\n" not in str(raised.value) and "restore a backup" in str(raised.value)
    assert current_revision(url) is None and _populated_rows(url) == POPULATED


def test_a_schema_from_a_newer_version_is_refused_by_start_and_upgrade(empty_url):
    url = empty_url()
    upgrade(url)
    with _connected(url, begin=True) as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    for attempt in (ensure_schema, upgrade):
        with pytest.raises(SchemaFromNewerVersion, match="newer version of the bot") as raised:
            attempt(url)
        assert "mge db upgrade" not in str(raised.value)
    assert current_revision(url) == "0099"
