"""`mge scenario` and `mge contexts`: the scenarios a community deliberates and their moral contexts, from
the terminal, on any community (named as in `mge communities list`).

Heavy modules (the database, the LLM client, rich) are imported inside commands so `mge --help` stays fast.
"""

from __future__ import annotations

import typer

from bot.cli.deliberation import community_id_named, echo_lines, run_on_database
from bot.cli.support import COMMUNITY_HELP, settings_or_exit
from core.clock import utcnow

scenario_app = typer.Typer(help="Scenarios your community deliberates.", no_args_is_help=True)
contexts_app = typer.Typer(help="Moral contexts ('When …') of each scenario.", no_args_is_help=True)


async def _scenario_community(database, wanted: str | None):
    """Where `mge scenario add` puts a scenario: the community named, or the only one. A name no community
    has (or none given on an empty database: "local") starts a console community, as `mge chat` does."""
    from bot.cli.support import CommunityNotFound, find_community
    from core.messages import CommunityRef

    try:
        row = await find_community(database, wanted)
    except CommunityNotFound:
        assert wanted is not None  # only a name no community has is "not found"
        return CommunityRef("console", wanted, wanted)
    except LookupError:
        if wanted is not None or await _has_communities(database):
            raise
        return CommunityRef("console", "local", "local")
    return CommunityRef(row.platform, row.external_id, row.name)


async def _has_communities(database) -> bool:
    from storage import communities_repo

    async with database.session() as session:
        return bool(await communities_repo.list_communities(session))


# --- mge scenario -----------------------------------------------------------------------------------------


@scenario_app.command("add")
def scenario_add(
    text: str = typer.Argument(..., help="The scenario, e.g. a question members will be interviewed about."),
    community: str | None = typer.Option(
        None, "--community", help=COMMUNITY_HELP + " A name no community has starts a console community."
    ),
    framing: str = typer.Option(
        "assistant",
        "--framing",
        help="Whose response members are asked about: assistant (the paper's: what should a good response "
        "consider?), community (what should we attend to when we decide this together?) or personal (what "
        "would you attend to facing this choice?).",
    ),
) -> None:
    """Add a scenario and generate its moral contexts (adding the same text again retries the contexts)."""
    from bot.stories.contexts import add_scenario
    from core.framing import FramingError, framing_line, parse_framing

    try:
        framed = parse_framing(framing)
    except FramingError as error:
        raise typer.BadParameter(str(error), param_hint="--framing") from None
    model = settings_or_exit().articulation_model

    async def work(database, llm):
        ref = await _scenario_community(database, community)
        return await add_scenario(
            database, llm=llm, model=model, community=ref, text=text, now=utcnow(), framing=framed
        )

    added = run_on_database(work, needs_llm=True)
    scenario = added.scenario
    echo_lines(f"scenario {scenario.id}: {scenario.text}", f"framing: {framing_line(scenario.framing)}", "contexts:")
    echo_lines(*(f"  {c.id}. {c.text}" for c in added.contexts))


@scenario_app.command("list")
def scenario_list(community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP)) -> None:
    """List the community's scenarios with their contexts."""
    from storage import stories_repo

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
        async with database.session() as session:
            rows = []
            for scenario in await stories_repo.scenarios_of_community(session, community_id=community_id):
                contexts = await stories_repo.contexts_of_scenario(session, scenario_id=scenario.id)
                rows.append((scenario, contexts))
            return rows

    rows = run_on_database(work)
    for scenario, contexts in rows:
        state = " (archived)" if scenario.archived_at else "" if scenario.is_open else " (closed)"
        framed = "" if scenario.framing == "assistant" else f" [{scenario.framing} framing]"
        echo_lines(f"{scenario.id}. {scenario.text}{state}{framed}")
        echo_lines(*(f"     [{c.id}] {c.text}" for c in contexts))
    if not rows:
        echo_lines("no scenarios yet")


# --- mge contexts -----------------------------------------------------------------------------------------


@contexts_app.command("list")
def contexts_list(
    scenario: int | None = typer.Option(None, "--scenario", help="Only this scenario's contexts."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """List moral contexts: id, text, source (llm or moderator)."""
    from storage import repositories as repo
    from storage import stories_repo

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
        async with database.session() as session:
            if scenario is None:
                return await stories_repo.live_contexts(session, community_id=community_id)
            if await repo.get_scenario(session, community_id=community_id, scenario_id=scenario) is None:
                raise LookupError(f"no scenario {scenario} in this community (see `mge scenario list`)")
            return await stories_repo.contexts_of_scenario(session, scenario_id=scenario)

    contexts = run_on_database(work)
    echo_lines(*(f"{c.id}. {c.text} ({c.source})" for c in contexts))
    if not contexts:
        echo_lines("no contexts yet")


@contexts_app.command("add")
def contexts_add(
    text: str = typer.Argument(..., help="'When …', e.g. 'When in distress'."),
    scenario: int = typer.Option(..., "--scenario", help="The scenario it belongs to."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Add a context to a scenario (an existing one with the same wording is reused)."""
    from bot.stories.contexts import add_context

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
        return await add_context(database, community_id=community_id, scenario_id=scenario, text=text, now=utcnow())

    context = run_on_database(work)
    echo_lines(f"context {context.id}: {context.text} (scenario {scenario})")


@contexts_app.command("edit")
def contexts_edit(
    context_id: int = typer.Argument(..., help="The context's id."),
    text: str = typer.Argument(..., help="The new wording, 'When …'."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Reword a context (its stories stay with it)."""
    from bot.stories.contexts import edit_context

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
        return await edit_context(database, community_id=community_id, context_id=context_id, text=text)

    context = run_on_database(work)
    echo_lines(f"context {context.id}: {context.text}")


@contexts_app.command("remove")
def contexts_remove(
    context_id: int = typer.Argument(..., help="The context's id."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Remove a context from every scenario. Its stories are withdrawn, their votes kept."""
    from bot.stories.contexts import remove_context

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
        return await remove_context(database, community_id=community_id, context_id=context_id)

    removed = run_on_database(work)
    note = f"; {removed.withdrawn_stories} stories withdrawn" if removed.withdrawn_stories else ""
    echo_lines(f"removed context {removed.context_id}: {removed.text}{note}")
