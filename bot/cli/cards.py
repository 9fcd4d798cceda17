"""``mge cards list``: the values cards members confirmed (or proposed), as a table or JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from enum import StrEnum

import typer

from bot.cli.support import COMMUNITY_HELP_ALL, OutputFormat, operator_errors, settings_or_exit
from core.cards import CardStatus

cards_app = typer.Typer(help="Values cards members confirmed.", no_args_is_help=True)


class CardFilter(StrEnum):
    """Which cards ``--status`` lists: one of core.cards.CardStatus, or all of them."""

    confirmed = CardStatus.CONFIRMED.value
    proposed = CardStatus.PROPOSED.value
    all = "all"


@cards_app.command("list")
def cards_list(
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP_ALL),
    status: CardFilter = typer.Option(CardFilter.confirmed, "--status", help="confirmed, proposed or all."),
) -> None:
    """List saved values cards (id, title, description, policies, author, scenario, created)."""
    from bot.values.cards import card_rows

    settings = settings_or_exit()
    statuses = tuple(CardStatus) if status is CardFilter.all else (CardStatus(status.value),)
    with operator_errors(LookupError):
        rows = asyncio.run(card_rows(settings, community=community, statuses=statuses))
    if format is OutputFormat.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    _print_card_table(rows)


def _print_card_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    for column in ("id", "title", "description", "policies", "author", "scenario", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["title"],
            row["description"],
            "\n".join(row["policies"]),
            row["author"] or "",
            row["scenario"] or "",
            row["created"][:16],
        )
    Console(markup=False, highlight=False).print(table)
    if not rows:
        typer.echo("no cards yet")
