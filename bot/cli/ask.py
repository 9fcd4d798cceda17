"""`mge ask "<question>" [--community NAME]`: ask a community's moral graph from the terminal (docs/method.md §9).

Exit codes: 0 answered; 1 no answer (no graph yet, no context matches, the LLM failed: the reason is
printed); 2 the command was used wrong (empty question, unknown community, bad settings).
"""

from __future__ import annotations

import json
import sys

import typer

from bot.cli.support import COMMUNITY_HELP, fail, settings_or_exit

QUESTION_HELP = 'The question, e.g. "How do I support a friend who is grieving?" (up to 500 characters).'


def ask_command(
    question: str = typer.Argument(..., help=QUESTION_HELP),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the answer, its values and provenance as JSON."),
) -> None:
    """Ask the community's moral graph: the wisest values of the contexts your question touches guide the answer."""
    import asyncio

    from bot.ask.answer import ask_graph
    from bot.cli.support import choose_community, database_or_exit
    from bot.runtime.settings import SettingsError
    from bot.runtime.wiring import build_llm
    from core.ask import question_problem
    from core.clock import utcnow

    if (problem := question_problem(question)) is not None:
        raise fail(problem)
    settings = settings_or_exit()
    try:
        settings.require_llm()
    except SettingsError as error:
        raise fail(str(error)) from None
    database = database_or_exit(settings)

    async def main():
        llm = build_llm(settings)
        try:
            community_id = await choose_community(database, community)
            return await ask_graph(
                database,
                llm=llm,
                model=settings.articulation_model,
                community_id=community_id,
                question=question,
                now=utcnow(),
            )
        finally:
            await llm.aclose()
            await database.dispose()

    try:
        result = asyncio.run(main())
    except LookupError as error:
        raise fail(str(error.args[0]) if error.args else str(error)) from None
    if as_json:
        json.dump(result.as_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        typer.echo(result.formatted(bullet="-"))
    if not result.answered:
        raise typer.Exit(1)
