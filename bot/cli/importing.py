"""``mge import``: bring in a deliberation made elsewhere (``bot.importing``) as a community of its own.

The database is imported inside the command so ``mge --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli.support import fail, run_with_database


def import_command(
    path: Path = typer.Argument(
        ...,
        help="A folder of the MGE reference app's tables (case.json, context.json, contextsOnCases.json, "
        "canonicalValuesCard.json, edge.json), a published moral graph (JSON with values and edges), or a "
        "file from `mge export --format json`.",
    ),
    community: str = typer.Option(..., "--community", help="The community to import into (made if new)."),
) -> None:
    """Bring in a deliberation made elsewhere: values, contexts, stories and votes.

    Voters stay anonymous and times are kept; all or nothing; importing the same source again adds nothing.
    """
    from bot.importing.sources import ImportFileError, read_deliberation
    from bot.importing.store import import_deliberation
    from core.clock import utcnow

    try:
        deliberation = read_deliberation(path)
    except ImportFileError as error:
        raise fail(str(error)) from None
    source = path.resolve().name

    async def work(database):
        return await import_deliberation(database, deliberation, community=community, source=source, now=utcnow())

    report = run_with_database(work)
    typer.echo(
        f"{report.source} ({report.kind}) → community {community}: {report.values_added} values, "
        f"{report.stories_added} stories and {report.votes_added} of {report.votes_in_source} votes added; "
        f"{report.contexts} contexts"
    )
