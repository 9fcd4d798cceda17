"""`mge scenario`, `mge contexts` and `mge stories`: a moderator's tools for scenarios, moral contexts and
transition stories, from the terminal, on any community (named as in `mge communities list`).

Heavy modules (the database, the LLM client, rich) are imported inside commands so `mge --help` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from bot.cli.support import COMMUNITY_HELP, OutputFormat, fail, operator_actor, operator_errors, settings_or_exit
from core.clock import utcnow

R = TypeVar("R")

scenario_app = typer.Typer(help="Scenarios your community deliberates.", no_args_is_help=True)
contexts_app = typer.Typer(help="Moral contexts ('When …') of each scenario.", no_args_is_help=True)
stories_app = typer.Typer(help="Transition stories between values, per moral context.", no_args_is_help=True)


def _run(work: Callable[[Any, Any], Awaitable[R]], *, needs_llm: bool = False) -> R:
    """Open the database (and the LLM client when needed), run ``work(database, llm)``, close both,
    and turn the errors an operator can fix into one-line messages."""
    from bot.runtime.settings import load_settings
    from bot.runtime.wiring import build_llm, open_database
    from bot.stories.contexts import ContextError
    from bot.stories.moderation import StoryActionError
    from core.llm import LLMError

    async def main() -> R:
        database = open_database(settings)
        llm = build_llm(settings) if needs_llm else None
        try:
            return await work(database, llm)
        finally:
            if llm is not None:
                await llm.aclose()
            await database.dispose()

    try:
        with operator_errors(ContextError, StoryActionError, LookupError):
            settings = load_settings()
            return asyncio.run(main())
    except LLMError as error:
        raise fail(f"{error.member_text} ({error.detail})", code=1) from None


async def _community_id(database, wanted: str | None) -> int:
    from bot.cli.support import choose_community

    return await choose_community(database, wanted)


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


def _print(*lines: str) -> None:
    for line in lines:
        typer.echo(line)


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

    added = _run(work, needs_llm=True)
    scenario = added.scenario
    _print(f"scenario {scenario.id}: {scenario.text}", f"framing: {framing_line(scenario.framing)}", "contexts:")
    _print(*(f"  {c.id}. {c.text}" for c in added.contexts))


@scenario_app.command("list")
def scenario_list(community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP)) -> None:
    """List the community's scenarios with their contexts."""
    from storage import stories_repo

    async def work(database, _llm):
        community_id = await _community_id(database, community)
        async with database.session() as session:
            rows = []
            for scenario in await stories_repo.scenarios_of_community(session, community_id=community_id):
                contexts = await stories_repo.contexts_of_scenario(session, scenario_id=scenario.id)
                rows.append((scenario, contexts))
            return rows

    rows = _run(work)
    for scenario, contexts in rows:
        state = " (archived)" if scenario.archived_at else "" if scenario.is_open else " (closed)"
        framed = "" if scenario.framing == "assistant" else f" [{scenario.framing} framing]"
        _print(f"{scenario.id}. {scenario.text}{state}{framed}")
        _print(*(f"     [{c.id}] {c.text}" for c in contexts))
    if not rows:
        _print("no scenarios yet")


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
        community_id = await _community_id(database, community)
        async with database.session() as session:
            if scenario is None:
                return await stories_repo.live_contexts(session, community_id=community_id)
            if await repo.get_scenario(session, community_id=community_id, scenario_id=scenario) is None:
                raise LookupError(f"no scenario {scenario} in this community (see `mge scenario list`)")
            return await stories_repo.contexts_of_scenario(session, scenario_id=scenario)

    contexts = _run(work)
    _print(*(f"{c.id}. {c.text} ({c.source})" for c in contexts))
    if not contexts:
        _print("no contexts yet")


@contexts_app.command("add")
def contexts_add(
    text: str = typer.Argument(..., help="'When …', e.g. 'When in distress'."),
    scenario: int = typer.Option(..., "--scenario", help="The scenario it belongs to."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Add a context to a scenario (an existing one with the same wording is reused)."""
    from bot.stories.contexts import add_context

    async def work(database, _llm):
        community_id = await _community_id(database, community)
        return await add_context(database, community_id=community_id, scenario_id=scenario, text=text, now=utcnow())

    context = _run(work)
    _print(f"context {context.id}: {context.text} (scenario {scenario})")


@contexts_app.command("edit")
def contexts_edit(
    context_id: int = typer.Argument(..., help="The context's id."),
    text: str = typer.Argument(..., help="The new wording, 'When …'."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Reword a context (its stories stay with it)."""
    from bot.stories.contexts import edit_context

    async def work(database, _llm):
        community_id = await _community_id(database, community)
        return await edit_context(database, community_id=community_id, context_id=context_id, text=text)

    context = _run(work)
    _print(f"context {context.id}: {context.text}")


@contexts_app.command("remove")
def contexts_remove(
    context_id: int = typer.Argument(..., help="The context's id."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Remove a context from every scenario. Its stories are withdrawn, their votes kept."""
    from bot.stories.contexts import remove_context

    async def work(database, _llm):
        community_id = await _community_id(database, community)
        return await remove_context(database, community_id=community_id, context_id=context_id)

    removed = _run(work)
    note = f"; {removed.withdrawn_stories} stories withdrawn" if removed.withdrawn_stories else ""
    _print(f"removed context {removed.context_id}: {removed.text}{note}")


# --- mge stories ------------------------------------------------------------------------------------------


@stories_app.command("generate")
def stories_generate(
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
    max_pairs: int | None = typer.Option(
        None,
        "--max-pairs",
        min=1,
        max=20,
        help="Deepening pairs per context in all [MGE_STORY_PAIRS_PER_CONTEXT, 3].",
    ),
) -> None:
    """Write transition stories (both directions of each deepening pair) for every context.
    Running it again with no new contexts or values does nothing, unless --max-pairs is larger than
    before: then only the extra pairs are written. After a failure it resumes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.stories.contexts import ensure_contexts
    from bot.stories.generate import generate_stories

    settings = settings_or_exit()
    model = settings.articulation_model
    pairs = max_pairs or settings.story_pairs_per_context
    console = Console(stderr=True, markup=False, highlight=False)

    async def work(database, llm):
        community_id = await _community_id(database, community)
        added = await ensure_contexts(database, llm=llm, model=model, community_id=community_id, now=utcnow())
        if added:
            _print(f"generated contexts for {added} scenario(s) that had cards but no contexts")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("contexts", total=None)

            def progress(done: int, total: int, text: str) -> None:
                bar.update(task, completed=done, total=total, description=text[:40])

            return await generate_stories(
                database,
                llm=llm,
                model=model,
                community_id=community_id,
                now=utcnow(),
                progress=progress,
                max_pairs_per_context=pairs,
            )

    report = _run(work, needs_llm=True)
    if report.already_done:
        _print(f"nothing new: stories for these {report.contexts} contexts and their values were already generated")
        return
    _print(
        f"run {report.run_id}: {report.contexts} contexts ({report.contexts_skipped} with fewer than 2 values, "
        f"{report.contexts_full} with {pairs} pairs already), "
        f"{report.pairs_proposed} pairs proposed, {report.pairs_skipped} already had stories, "
        f"{report.stories_written} stories written, {len(report.rejected)} rejected",
        f"tokens: {report.input_tokens:,} in, {report.output_tokens:,} out ({report.tokens:,} total)",
    )
    _print(*(f"rejected: {reason}" for reason in report.rejected))


@stories_app.command("list")
def stories_list(
    context: int | None = typer.Option(None, "--context", help="Only this context's stories."),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """List active transition stories (with their generation steps in JSON)."""
    from bot.stories.generate import story_rows

    async def work(database, _llm):
        community_id = await _community_id(database, community)
        return await story_rows(database, community_id=community_id, context_id=context)

    rows = _run(work)
    if format is OutputFormat.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    for column in ("id", "context", "from", "to", "story"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["context"],
            f"{row['from_value_id']}. {row['from_title']}",
            f"{row['to_value_id']}. {row['to_title']}",
            row["story"],
        )
    Console(markup=False, highlight=False).print(table)
    if not rows:
        _print("no stories yet")


@stories_app.command("pair")
def stories_pair(
    value_a: int = typer.Argument(..., help="A value's id (see `mge values list`)."),
    value_b: int = typer.Argument(..., help="The other value's id."),
    context: int | None = typer.Argument(None, help="The context's id; default: the one both are candidates in."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Write the stories of a pair of values you choose, both directions (kept ones are not rewritten)."""
    from bot.stories.moderation import write_pair_stories

    model = settings_or_exit().articulation_model

    async def work(database, llm):
        community_id = await _community_id(database, community)
        written = await write_pair_stories(
            database,
            llm=llm,
            model=model,
            community_id=community_id,
            from_value_id=value_a,
            to_value_id=value_b,
            context_id=context,
            actor=operator_actor(),
            now=utcnow(),
        )
        if written.written:
            await _audit(
                database,
                community_id,
                "stories.pair",
                f"values {value_a} and {value_b}",
                after={"context": written.context_id, "stories": list(written.written)},
            )
        return written

    written = _run(work, needs_llm=True)
    _print(f"context {written.context_id}: {written.context}")
    _print(*(f"  wrote story {i}" for i in written.written), *(f"  kept story {i}" for i in written.existing))


@stories_app.command("withdraw")
def stories_withdraw(
    story: int = typer.Argument(..., help="The story's id (see `mge stories list`)."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Withdraw a bad story: no more polls, open ones closed; its votes are kept but left out of the graph."""
    from bot.stories.moderation import withdraw_story

    async def work(database, _llm):
        community_id = await _community_id(database, community)
        withdrawn = await withdraw_story(database, community_id=community_id, story_id=story, now=utcnow())
        await _audit(
            database,
            community_id,
            "stories.withdraw",
            f"story {story}",
            before={"status": withdrawn.status_before},
            after={"status": "retracted", "polls_closed": list(withdrawn.polls_closed)},
        )
        return withdrawn

    withdrawn = _run(work)
    _print(f"story {story} withdrawn; {len(withdrawn.polls_closed)} open poll(s) closed")


@stories_app.command("edit")
def stories_edit(
    story: int = typer.Argument(..., help="The story's id (see `mge stories list`)."),
    text: str = typer.Argument(..., help="The story as it should read."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Correct a story's wording; the model's text is kept beside it, and the change is in the audit log."""
    from bot.stories.moderation import edit_story

    async def work(database, _llm):
        community_id = await _community_id(database, community)
        actor = operator_actor()
        edited = await edit_story(
            database, community_id=community_id, story_id=story, text=text, actor=actor, now=utcnow()
        )
        await _audit(
            database,
            community_id,
            "stories.edit",
            f"story {story}",
            before={"text": edited.before},
            after={"text": edited.after},
        )
        return edited

    _run(work)
    _print(f"story {story} edited")


async def _audit(database, community_id: int, action: str, target: str, **change) -> None:
    from bot.commands.base import record_moderator_action

    await record_moderator_action(
        database,
        community_id=community_id,
        actor=operator_actor(),
        action=action,
        now=utcnow(),
        target=target,
        **change,
    )
