"""``mge ideology rate``: the ideology screen of docs/method.md §8 run by hand (the scheduler's maintenance tick
runs it too). Database and LLM modules are imported inside the command so ``mge --help`` stays fast."""

from __future__ import annotations

import typer

from bot.cli.support import COMMUNITY_HELP_ALL, fail, match_community, run_with_database, settings_or_exit

ideology_app = typer.Typer(
    help="The ideology screen (docs/method.md §8): opening answers rated 1–5, a metric, never a gate.",
    no_args_is_help=True,
)


@ideology_app.command("rate")
def ideology_rate(
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP_ALL),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Opening answers rated per batch."),
) -> None:
    """Rate every opening answer not rated yet, then print each community's ideology stats.

    Scores run from 1 (not ideological) to 5 (slogans only); the stats give their distribution and
    Pearson's r with survey question 2 ("did your values express what you care about?")."""
    from bot.ideology.screen import rate_opening_messages, stats_lines
    from bot.runtime.settings import SettingsError
    from bot.runtime.wiring import build_llm
    from core.clock import utcnow
    from core.llm import LLMError
    from storage import communities_repo

    settings = settings_or_exit()
    try:
        llm = build_llm(settings)
    except SettingsError as error:
        raise fail(str(error)) from None

    async def rate_all(database) -> list[str]:
        lines: list[str] = []
        try:
            async with database.session() as session:
                communities = list(await communities_repo.list_communities(session))
            if community is not None:
                communities = [match_community(communities, community)]
            if not communities:
                raise LookupError("there are no communities yet")
            for row in communities:
                rated = rejected = tokens = 0
                while True:  # batches of ``limit`` until one rates nothing new
                    report = await rate_opening_messages(
                        database, llm=llm, model=settings.judge_model, community_id=row.id, now=utcnow(), limit=limit
                    )
                    rated, rejected = rated + report.rated, rejected + len(report.rejected)
                    tokens += report.input_tokens + report.output_tokens
                    if report.run_id is None or report.rated == 0:
                        break
                name = row.name or row.external_id
                lines.append(f"{name} ({row.platform}): {rated} rated now, {rejected} rejected, {tokens:,} tokens")
                lines += ["  " + line for line in await stats_lines(database, community_id=row.id)]
        finally:
            await llm.aclose()
        return lines

    try:
        lines = run_with_database(rate_all)
    except LLMError as error:
        raise fail(f"{error.member_text} ({error.detail})", code=1) from None
    for line in lines:
        typer.echo(line)
