"""What every `mge` command shares: readable failures, settings and the database, output formats.

Kept light (typer only at import) so `mge --help` stays fast; the rest is imported when called.
"""

from __future__ import annotations

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


def settings_or_exit():
    """The settings, or a one-line explanation of what is misconfigured and exit 2."""
    from mge.bot.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as error:
        raise fail(str(error)) from None


def database_or_exit(settings):
    """The migrated database, or a one-line explanation (bad URL, schema needing `mge db upgrade`)."""
    from mge.bot.wiring import open_database
    from mge.storage.database import DatabaseURLError
    from mge.storage.migrate import SchemaOutOfDate

    try:
        return open_database(settings)
    except (SchemaOutOfDate, DatabaseURLError) as error:
        raise fail(str(error)) from None


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

    try:
        return asyncio.run(main())
    except errors as error:
        # args[0], not str(): str() of a KeyError adds quotes around the message.
        raise fail(str(error.args[0]) if error.args else str(error)) from None
