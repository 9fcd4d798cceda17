"""tests/cli_support.py's `mge` in the test's process is what a process gives: the same stderr, in the same
order, from the command's own logging setup; and one command leaves nothing behind for the next one in the
same worker (logging, environment, working directory, a .env)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_support import CONTROLLED, mge_in_process


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(CONTROLLED)}
    env.update(MGE_DATA_DIR=str(home / "data"), HOME=str(home), OPENAI_BASE_URL="http://127.0.0.1:9/v1", **extra)
    return env


def _logging_state(names: set[str] | None = None) -> dict[str, tuple]:
    """Each logger's level, handlers, propagation (of the loggers ``names``: a command's first imports
    add loggers of their own, as in a process)."""
    loggers = [logging.root, *(x for x in logging.root.manager.loggerDict.values() if isinstance(x, logging.Logger))]
    chosen = [x for x in loggers if names is None or x.name in names]
    return {x.name: (x.level, list(x.handlers), x.propagate, x.disabled) for x in chosen}


@pytest.mark.slow  # an `mge run` process
def test_stderr_in_the_process_is_a_process_stderr(tmp_path):
    """`mge run` configures logging itself: its lines and the error come in the order and the format a
    process prints them, and --log-level is obeyed."""
    here, there, quiet = tmp_path / "here", tmp_path / "there", tmp_path / "quiet"
    for home in (here, there, quiet):
        home.mkdir()
    process = subprocess.run(
        [sys.executable, "-m", "bot", "run"], env=_env(there), cwd=there, capture_output=True, text=True, timeout=60
    )
    in_process = mge_in_process("run", env=_env(here), cwd=here)

    def timeless(stderr: str) -> list[str]:
        return [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "", line) for line in stderr.splitlines()]

    assert (in_process.returncode, timeless(in_process.stderr)) == (process.returncode, timeless(process.stderr))
    assert "INFO mge.migrate: database schema migrated from empty" in process.stderr  # a log line was compared
    quieter = mge_in_process("run", "--log-level", "WARNING", env=_env(quiet), cwd=quiet)
    assert quieter.stderr.startswith("error: No chat platform is configured") and "INFO" not in quieter.stderr


def test_one_command_leaves_nothing_to_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("MGE_INTERVIEW_MAX_TURNS", "0")  # a developer's own setting: never seen by a command
    before = _logging_state(), dict(os.environ), Path.cwd()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (first / ".env").write_text("MGE_INTERVIEW_IDLE_TIMEOUT_HOURS=-1\n")

    # `mge run` sets up logging before it reads the settings, here from the .env of its folder.
    failed = mge_in_process("run", env=_env(first, MGE_LLM_MAX_RETRIES="lots"), cwd=first)
    assert failed.returncode == 2
    assert "MGE_INTERVIEW_IDLE_TIMEOUT_HOURS" in failed.stderr and "MGE_LLM_MAX_RETRIES" in failed.stderr
    assert "MGE_INTERVIEW_MAX_TURNS" not in failed.stderr

    upgraded = mge_in_process("db", "upgrade", env=_env(second), cwd=second)
    assert upgraded.returncode == 0, upgraded.stderr  # neither the .env nor the environment of the first
    status = mge_in_process("db", "status", env=_env(second), cwd=second)
    assert f"url: sqlite:///{second / 'data' / 'mge.sqlite3'}" in status.stdout and status.returncode == 0
    again = mge_in_process("db", "upgrade", env=_env(first, MGE_INTERVIEW_IDLE_TIMEOUT_HOURS="2"), cwd=first)
    assert again.returncode == 0, again.stderr  # the environment beats the .env, as in a process

    assert (_logging_state(set(before[0])), dict(os.environ), Path.cwd()) == before


async def test_an_async_test_is_told_to_be_synchronous(tmp_path):
    """The command runs its own event loop (asyncio.run), which cannot start inside the test's."""
    with pytest.raises(AssertionError, match="not async"):
        mge_in_process("db", "status", env=_env(tmp_path), cwd=tmp_path)
