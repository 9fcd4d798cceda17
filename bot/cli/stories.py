"""`mge stories`: transition stories between values, per moral context — generate, list, and a moderator's
hand on them (pair, withdraw, edit) — from the terminal, on any community (named as in `mge communities list`).

Heavy modules (the database, the LLM client, rich) are imported inside commands so `mge --help` stays fast.
"""

from __future__ import annotations

import json
import sys

import typer

from bot.cli.deliberation import community_id_named, echo_lines, run_on_database
from bot.cli.support import COMMUNITY_HELP, OutputFormat, operator_actor, settings_or_exit
from core.clock import utcnow

stories_app = typer.Typer(help="Transition stories between values, per moral context.", no_args_is_help=True)


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
        community_id = await community_id_named(database, community)
        added = await ensure_contexts(database, llm=llm, model=model, community_id=community_id, now=utcnow())
        if added:
            echo_lines(f"generated contexts for {added} scenario(s) that had cards but no contexts")
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

    report = run_on_database(work, needs_llm=True)
    if report.already_done:
        echo_lines(f"nothing new: stories for these {report.contexts} contexts and their values were already generated")
        return
    echo_lines(
        f"run {report.run_id}: {report.contexts} contexts ({report.contexts_skipped} with fewer than 2 values, "
        f"{report.contexts_full} with {pairs} pairs already), "
        f"{report.pairs_proposed} pairs proposed, {report.pairs_skipped} already had stories, "
        f"{report.stories_written} stories written, {len(report.rejected)} rejected",
        f"tokens: {report.input_tokens:,} in, {report.output_tokens:,} out ({report.tokens:,} total)",
    )
    echo_lines(*(f"rejected: {reason}" for reason in report.rejected))


@stories_app.command("list")
def stories_list(
    context: int | None = typer.Option(None, "--context", help="Only this context's stories."),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """List active transition stories (with their generation steps in JSON)."""
    from bot.stories.generate import story_rows

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
        return await story_rows(database, community_id=community_id, context_id=context)

    rows = run_on_database(work)
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
        echo_lines("no stories yet")


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
        community_id = await community_id_named(database, community)
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

    written = run_on_database(work, needs_llm=True)
    echo_lines(f"context {written.context_id}: {written.context}")
    echo_lines(*(f"  wrote story {i}" for i in written.written), *(f"  kept story {i}" for i in written.existing))


@stories_app.command("withdraw")
def stories_withdraw(
    story: int = typer.Argument(..., help="The story's id (see `mge stories list`)."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Withdraw a bad story: no more polls, open ones closed; its votes are kept but left out of the graph."""
    from bot.stories.moderation import withdraw_story

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
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

    withdrawn = run_on_database(work)
    echo_lines(f"story {story} withdrawn; {len(withdrawn.polls_closed)} open poll(s) closed")


@stories_app.command("edit")
def stories_edit(
    story: int = typer.Argument(..., help="The story's id (see `mge stories list`)."),
    text: str = typer.Argument(..., help="The story as it should read."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Correct a story's wording; the model's text is kept beside it, and the change is in the audit log."""
    from bot.stories.moderation import edit_story

    async def work(database, _llm):
        community_id = await community_id_named(database, community)
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

    run_on_database(work)
    echo_lines(f"story {story} edited")


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
