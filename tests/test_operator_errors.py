"""Faults an operator meets at start-up, as they meet them: `mge` run with environment variables; each
fault is one line on stderr naming the cause and what to do, exit code 2, no traceback.

Most faults run the command in the test's process (tests/cli_support.py): the same app, the same message
and exit code, without a second of imports per command. The read-only faults need a process that drops
root's right to write anywhere, and one settings fault runs as a process too: together they show the
line and the exit code reach a real stderr and exit status through the entry point."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from storage.migrate import upgrade
from tests.cli_support import mge_in_process

#: Commands that open the database: the bot, the terminal interview, the migration and a read-only listing.
COMMANDS = [("run",), ("chat", "--yes"), ("db", "upgrade"), ("cards", "list")]
#: Settings are read by one function for every command: two commands show it.
SETTINGS_COMMANDS = [("run",), ("db", "upgrade")]

#: Root writes through file permissions; without CAP_DAC_OVERRIDE it meets them as any user does.
AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MGE_", "OPENAI_", "DATABASE_URL", "DISCORD_", "SLACK_"))
    }
    # Enough configuration for `mge run` and `mge chat` to reach the database (nothing is contacted before).
    environment.update(
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        DISCORD_TOKEN="not-a-token",
        MGE_DATA_DIR=str(tmp_path / "data"),
        HOME=str(tmp_path),
    )
    return environment


def _mge(args: tuple[str, ...], env: dict, cwd: Path, prefix: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_failure(env: dict, cwd: Path, *words: str, commands=COMMANDS, process: list[str] | None = None):
    """Each command fails with one line naming ``words``; in a process started with ``process`` (a prefix
    such as AS_A_USER, or []) when given, else in this one."""
    if process is None:
        results = [mge_in_process(*args, env=env, cwd=cwd) for args in commands]
    else:
        with ThreadPoolExecutor(len(commands)) as pool:
            results = list(pool.map(lambda args: _mge(args, env, cwd, process), commands))
    for args, result in zip(commands, results):
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        for word in words:
            assert word in lines[0], (args, word, lines[0])


@pytest.fixture
def database_file(migrated_sqlite, tmp_path: Path) -> Path:
    """The migrated SQLite file where MGE_DATA_DIR puts it."""
    path = tmp_path / "data" / "mge.sqlite3"
    migrated_sqlite(path)
    return path


@pytest.mark.slow  # `mge` processes
@pytest.mark.skipif(os.geteuid() == 0 and not Path("/usr/bin/setpriv").exists(), reason="needs setpriv as root")
def test_a_read_only_database_file(env, tmp_path, database_file):
    path = database_file
    path.chmod(0o444)
    assert_one_line_failure(env, tmp_path, f"the database file {path} is read-only", "writable", process=AS_A_USER)


@pytest.mark.slow  # `mge` processes
@pytest.mark.skipif(os.geteuid() == 0 and not Path("/usr/bin/setpriv").exists(), reason="needs setpriv as root")
def test_a_read_only_database_folder(env, tmp_path, database_file):
    path = database_file
    path.parent.chmod(0o555)
    try:
        assert_one_line_failure(
            env, tmp_path, f"the database folder {path.parent} is read-only", "writable", process=AS_A_USER
        )
    finally:
        path.parent.chmod(0o755)


def test_a_file_that_is_not_a_database(env, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 100)
    env["DATABASE_URL"] = f"sqlite:///{path}"
    assert_one_line_failure(env, tmp_path, f"{path} is not a SQLite database", "move this file aside")
    assert path.read_text() == "shopping list\n" * 100


def test_an_unreachable_postgresql(env, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env["DATABASE_URL"] = f"postgresql://mge:secret@127.0.0.1:{port}/mge"
    assert_one_line_failure(
        env, tmp_path, "cannot reach PostgreSQL at postgresql://mge:***@127.0.0.1", "refused", "start the server"
    )


def test_a_schema_newer_than_the_code(env, tmp_path, database_file):
    path = database_file
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")
    connection.close()
    assert_one_line_failure(env, tmp_path, "0999", "newer version of the bot", "restore a backup")
    result = mge_in_process("db", "upgrade", env=env, cwd=tmp_path)
    assert "mge db upgrade" not in result.stderr


def test_an_out_of_date_schema_asks_for_mge_db_upgrade(env, tmp_path):
    path = tmp_path / "data" / "mge.sqlite3"
    upgrade(f"sqlite:///{path}", "0005")
    assert_one_line_failure(env, tmp_path, "revision 0005", "mge db upgrade", commands=COMMANDS[:2] + COMMANDS[3:])


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_url_is_explained(env, tmp_path, url):
    env["DATABASE_URL"] = url
    assert_one_line_failure(env, tmp_path, "DATABASE_URL", "in-memory", "sqlite:////", commands=SETTINGS_COMMANDS)


@pytest.mark.parametrize("value", ["1e12", "nan", "0"])
def test_an_idle_timeout_out_of_range_is_explained(env, tmp_path, value):
    env["MGE_INTERVIEW_IDLE_TIMEOUT_HOURS"] = value
    assert_one_line_failure(
        env, tmp_path, "MGE_INTERVIEW_IDLE_TIMEOUT_HOURS", "at most 8760", commands=SETTINGS_COMMANDS
    )


def test_a_data_directory_under_a_regular_file(env, tmp_path):
    (tmp_path / "plain").write_text("not a folder")
    env["MGE_DATA_DIR"] = str(tmp_path / "plain" / "data")
    assert_one_line_failure(env, tmp_path, f"{tmp_path / 'plain'} is a file, not a folder", "MGE_DATA_DIR")


@pytest.mark.slow  # an `mge` process
def test_several_settings_problems_share_the_one_line(env, tmp_path):
    env.update(MGE_INTERVIEW_IDLE_TIMEOUT_HOURS="-1", MGE_LLM_MAX_RETRIES="lots")
    assert_one_line_failure(
        env, tmp_path, "MGE_INTERVIEW_IDLE_TIMEOUT_HOURS", "MGE_LLM_MAX_RETRIES", commands=COMMANDS[:1], process=[]
    )
