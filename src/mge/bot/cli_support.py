"""What every `mge` command shares: readable failures, settings and the database, output formats.

Kept light (typer only at import) so `mge --help` stays fast; the rest is imported when called.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def operator_actor() -> str:
    """Who acts from the terminal, for provenance and the audit log: ``cli:<login name>``."""
    import getpass

    return f"cli:{getpass.getuser()}"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` to stderr and return the Exit to raise (exit 2: the input was wrong)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def operator_errors(*also: type[Exception]) -> Iterator[None]:
    """What an operator can meet at start-up — settings that can't work, a database that can't be opened
    (read-only, not a database, server down, bad URL) or whose schema this version can't run on — and the
    ``also`` errors (things the operator named wrong) become ``error: <one line>`` and exit 2."""
    from mge.bot.settings import SettingsError
    from mge.storage.database import DatabaseUnavailable, DatabaseURLError

    try:
        yield
    except (SettingsError, DatabaseUnavailable, DatabaseURLError, *also) as error:
        # args[0], not str(): str() of a KeyError adds quotes around the message.
        raise fail(str(error.args[0]) if error.args else str(error)) from None


def settings_or_exit():
    """The settings, or a one-line explanation of what is misconfigured and exit 2."""
    from mge.bot.settings import load_settings

    with operator_errors():
        return load_settings()


def database_or_exit(settings):
    """The migrated database, or a one-line explanation (see operator_errors)."""
    from mge.bot.wiring import open_database

    with operator_errors():
        return open_database(settings)


async def choose_community(database: Any, wanted: str | None) -> int:
    """The community named ``wanted`` (name or platform id), or the only one. Raises LookupError."""
    from mge.storage import repositories as repo

    async with database.session() as session:
        communities = list(await repo.list_communities(session))

    def label(c: Any) -> str:
        return f"{c.name or c.external_id} ({c.platform} {c.external_id})"

    if not communities:
        raise LookupError("there are no communities yet")
    if wanted is None:
        if len(communities) == 1:
            return communities[0].id
        names = ", ".join(label(c) for c in communities)
        raise LookupError(f"there are {len(communities)} communities; choose one with --community: {names}")
    found = [c for c in communities if wanted in (c.name, c.external_id)]
    if not found:
        names = ", ".join(label(c) for c in communities)
        raise LookupError(f"no community named {wanted!r}; there are: {names}")
    if len(found) > 1:
        names = ", ".join(label(c) for c in found)
        raise LookupError(f"{len(found)} communities are named {wanted!r}; use the platform id: {names}")
    return found[0].id


def run_with_database(work, *, errors: tuple[type[Exception], ...] = (LookupError,)):
    """Open the database, run ``await work(database)``, dispose it; ``errors`` (things the operator
    named wrong) become ``error: …`` and exit 2."""
    import asyncio

    database = database_or_exit(settings_or_exit())

    async def main():
        try:
            return await work(database)
        finally:
            await database.dispose()

    with operator_errors(*errors):
        return asyncio.run(main())
