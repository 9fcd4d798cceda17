"""`mge` run in the test's own process: the typer app the entry point runs, with the given environment and
working directory, its exit code, stdout and stderr. A process costs a second of imports; a command here
costs milliseconds. What only a process shows (the entry point, signals, a process's rights) stays with
the tests that start one.

stderr is what the process would print there, in its order: what the command writes, the log lines of the
command's own logging setup (`mge run` configures logging; the other commands leave it to Python's
last-resort handler, WARNING and up) and a traceback if an exception escapes. tests/test_cli_in_process.py
compares it with a real process and checks that nothing of one command reaches the next."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from bot.cli.app import app

#: The environment a test controls: a developer's own settings never reach the command.
CONTROLLED = ("MGE_", "OPENAI_", "DATABASE_URL", "DISCORD_", "SLACK_")


@dataclass
class Ran:
    """What a finished `mge` command left, as subprocess.CompletedProcess names it."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _logging_of_a_new_process() -> Iterator[None]:
    """Logging as a process starts with it — no handlers, WARNING at the root, so records reach Python's
    last-resort handler, which writes to sys.stderr (the command's here) — until the command configures its
    own; afterwards every logger is as before (pytest's capture handlers back, the command's gone)."""
    logging.getLogger("alembic")  # `mge run` sets its level: it must be among the loggers put back
    loggers = [logging.root, *(x for x in logging.root.manager.loggerDict.values() if isinstance(x, logging.Logger))]
    saved = [(logger, logger.level, list(logger.handlers), logger.propagate, logger.disabled) for logger in loggers]
    logging.root.handlers.clear()
    logging.root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level, handlers, propagate, disabled in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate, logger.disabled = propagate, disabled


def mge_in_process(*args: str, env: dict[str, str], cwd: Path, input: str | None = None) -> Ran:
    """Run ``mge *args`` here with exactly ``env``'s settings (see CONTROLLED) and ``cwd`` (its .env)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # none running: the command starts its own, as in a process
    else:
        raise AssertionError("mge_in_process runs the command's own event loop: call it from a test that is not async")
    left_out = {key: None for key in os.environ if key.startswith(CONTROLLED) and key not in env}
    with contextlib.chdir(cwd), _logging_of_a_new_process():
        result = CliRunner().invoke(app, list(args), input=input, env={**env, **left_out})
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)
