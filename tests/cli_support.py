"""`mge` run in the test's own process: the typer app the entry point runs, with the given environment and
working directory, its exit code, stdout and stderr. A process costs a second of imports; a command here
costs milliseconds. What only a process shows (the entry point, signals, a process's rights) stays with
the tests that start one.

stderr is what the process would print there: what the command writes, a traceback if an exception escapes,
and the log records a process would show (`mge run` logs INFO and up to stderr, every other command only
what Python's last-resort handler prints, WARNING and up)."""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
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


class _Records(logging.Handler):
    def __init__(self, level: int):
        super().__init__(level)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}\n")


def mge_in_process(*args: str, env: dict[str, str], cwd: Path, input: str | None = None) -> Ran:
    """Run ``mge *args`` here with exactly ``env``'s settings (see CONTROLLED) and ``cwd`` (its .env)."""
    left_out = {key: None for key in os.environ if key.startswith(CONTROLLED) and key not in env}
    shown = logging.INFO if args[:1] == ("run",) else logging.WARNING
    records = _Records(shown)
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    saved = root.level, list(root.handlers), alembic.level
    root.setLevel(shown)
    root.addHandler(records)
    try:
        with contextlib.chdir(cwd):
            result = CliRunner().invoke(app, list(args), input=input, env={**env, **left_out})
    finally:
        # `mge run` configures logging for a process: none of it may outlive the command here.
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        alembic.setLevel(saved[2])
    stderr = result.stderr + "".join(records.lines)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)
