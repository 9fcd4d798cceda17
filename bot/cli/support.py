"""What every `mge` command shares: readable failures, settings and the database, output formats.

Kept light (typer only at import) so `mge --help` stays fast; the rest is imported when called.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def print_rows(output_format: OutputFormat, rows: list[dict], headers: tuple[str, ...], cells, *, empty: str) -> None:
    """``rows`` as JSON, or as a table of ``headers`` with ``cells(row)`` in each line (``empty`` when none)."""
    import json

    if output_format is OutputFormat.json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers)
    for row in rows:
        table.add_row(*cells(row))
    # markup off: names and audit entries hold what people typed, brackets included.
    Console(markup=False, highlight=False).print(table if rows else empty)


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
    from bot.runtime.settings import SettingsError
    from storage.database import DatabaseUnavailable, DatabaseURLError

    errors: tuple[type[Exception], ...] = (SettingsError, DatabaseUnavailable, DatabaseURLError, *also)
    try:
        yield
    except errors as error:
        # args[0], not str(): str() of a KeyError adds quotes around the message.
        raise fail(str(error.args[0]) if error.args else str(error)) from None


def settings_or_exit():
    """The settings, or a one-line explanation of what is misconfigured and exit 2."""
    from bot.runtime.settings import load_settings

    with operator_errors():
        return load_settings()


def database_or_exit(settings):
    """The migrated database, or a one-line explanation (see operator_errors)."""
    from bot.runtime.wiring import open_database

    with operator_errors():
        return open_database(settings)


COMMUNITY_HELP = (
    "The community: its name, Discord server id, Slack team id or domain (see `mge communities list`); "
    "needed when there is more than one."
)
COMMUNITY_HELP_ALL = (
    "Only this community: its name, Discord server id, Slack team id or domain (see `mge communities list`); "
    "default: all."
)


def community_label(community: Any) -> str:
    return f"{community.name or community.external_id} ({community.platform} {community.external_id})"


class CommunityNotFound(LookupError):
    """No community has the name or id the operator gave (as opposed to several having it)."""


def match_community(communities: Sequence[Any], wanted: str) -> Any:
    """The one community ``wanted`` names, as an operator knows it: ``platform:id``, the platform's id
    (Discord guild id, Slack team id) or the name (a Slack workspace's is its domain), exact first and then
    ignoring case. Raises LookupError listing the candidates when none or several match."""
    wanted = wanted.strip()
    platform, _, external = wanted.partition(":")
    folded = wanted.casefold()
    # Ids beat names: a server named like another's id must still be reachable by that id.
    for test in (
        lambda c: (c.platform, c.external_id) == (platform, external),
        lambda c: c.external_id == wanted,
        lambda c: c.name == wanted,
        lambda c: c.name.casefold() == folded or c.external_id.casefold() == folded,
    ):
        found = [c for c in communities if test(c)]
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(community_label(c) for c in found)
            raise LookupError(
                f"{len(found)} communities match {wanted!r}; use the platform and id, e.g. "
                f"--community {found[0].platform}:{found[0].external_id}: {names}"
            )
    if not communities:
        raise CommunityNotFound(f"no community named {wanted!r}; there are no communities yet")
    names = ", ".join(community_label(c) for c in communities)
    raise CommunityNotFound(f"no community named {wanted!r}; there are: {names}")


async def find_community(database: Any, wanted: str | None) -> Any:
    """The stored community ``wanted`` names (see :func:`match_community`), or the only one. Raises LookupError."""
    from storage import communities_repo

    async with database.session() as session:
        communities = list(await communities_repo.list_communities(session))
    if wanted is not None:
        return match_community(communities, wanted)
    if not communities:
        raise LookupError("there are no communities yet")
    if len(communities) > 1:
        names = ", ".join(community_label(c) for c in communities)
        raise LookupError(f"there are {len(communities)} communities; choose one with --community: {names}")
    return communities[0]


async def choose_community(database: Any, wanted: str | None) -> int:
    """The id of the community ``wanted`` names, or of the only one. Raises LookupError."""
    return (await find_community(database, wanted)).id


async def community_ids(database: Any, wanted: str | None) -> list[int] | None:
    """``[id]`` of the community ``wanted`` names; None (every community) when nothing is named."""
    return None if wanted is None else [await choose_community(database, wanted)]


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


AS_OF_HELP = (
    "Rebuild the graph as it stood at this moment (ISO 8601, e.g. 2024-03-01 or 2024-03-01T12:00:00Z; UTC "
    "unless it says otherwise): leave out votes, values and stories created after it."
)


def parse_moment(text: str | None):
    """``--as-of``'s value as an aware datetime (UTC when no offset is given), or None."""
    from datetime import UTC, datetime

    import typer

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or time, e.g. 2024-03-01T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
