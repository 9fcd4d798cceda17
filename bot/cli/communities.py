"""``mge communities list``: the communities the bot knows, with the names and ids ``--community`` accepts."""

from __future__ import annotations

import typer

from bot.cli.support import OutputFormat, print_rows, run_with_database

communities_app = typer.Typer(
    help="Communities: Discord servers, Slack workspaces, console communities.", no_args_is_help=True
)


async def community_rows(database) -> list[dict]:
    """One dict per community: platform, external id, name, members (not erased) and confirmed cards."""
    from storage import communities_repo

    async with database.session() as session:
        return [
            {
                "platform": c.platform,
                "external_id": c.external_id,
                "name": c.name,
                "members": m,
                "cards": n,
                "created": c.created_at.isoformat(),
            }
            for c, m, n in await communities_repo.communities_with_counts(session)
        ]


@communities_app.command("list")
def communities_list(
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
) -> None:
    """List communities: platform, external id (Discord server id, Slack team id), name, members, cards.
    Any of the id, the name or ``platform:id`` names a community in ``--community``."""
    print_rows(
        output_format,
        run_with_database(community_rows),
        ("platform", "external id", "name", "members", "cards"),
        lambda r: (r["platform"], r["external_id"], r["name"], str(r["members"]), str(r["cards"])),
        empty="no communities yet",
    )
