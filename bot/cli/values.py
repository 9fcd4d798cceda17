"""``mge values …`` (list, inspect, merge, split, undo canonical values) and ``mge dedup``.

Database, LLM and numpy-heavy modules are imported inside the commands so ``mge --help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import typer

from bot.cli.support import (
    COMMUNITY_HELP_ALL,
    OutputFormat,
    community_ids,
    fail,
    operator_actor,
    run_with_database,
    settings_or_exit,
)
from core.clock import utcnow

values_app = typer.Typer(
    help="Canonical values: the deduplicated values members' cards were merged into.", no_args_is_help=True
)


def _run_values(work):
    return run_with_database(work, errors=(LookupError, ValueError))


def _print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


@values_app.command("list")
def values_list(
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP_ALL),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
    all_statuses: bool = typer.Option(False, "--all", help="Also merged, hidden and empty values."),
) -> None:
    """List canonical values with how many member cards each holds."""
    from bot.values.provenance import value_rows

    async def rows(database):
        ids = await community_ids(database, community)
        return await value_rows(database, community_ids=ids, statuses=None if all_statuses else ("active",))

    found = _run_values(rows)
    if format is OutputFormat.json:
        _print_json(found)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    for column in ("id", "title", "description", "policies", "cards", "status"):
        table.add_column(column)
    for row in found:
        status = row["status"] + (f" → {row['merged_into_id']}" if row["merged_into_id"] else "")
        table.add_row(
            str(row["id"]), row["title"], row["description"], "\n".join(row["policies"]), str(row["cards"]), status
        )
    Console(markup=False, highlight=False).print(table)
    if not found:
        typer.echo("no values yet (run `mge dedup` after members confirm cards)")


@values_app.command("show")
def values_show(
    value_id: int = typer.Argument(..., help="The canonical value's id."),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
) -> None:
    """Show a value, every member card in it, and each card's decision history."""
    from bot.values.provenance import value_provenance

    provenance = _run_values(lambda database: value_provenance(database, value_id))
    if format is OutputFormat.json:
        _print_json(provenance.as_dict())
        return
    from rich.console import Console

    console = Console(markup=False, highlight=False)
    console.print(f"value {provenance.id} [{provenance.status}] {provenance.title}")
    console.print(provenance.description)
    for policy in provenance.policies:
        console.print(f"  - {policy}")
    if provenance.merged_into_id:
        console.print(f"merged into value {provenance.merged_into_id}")
    if provenance.merged_from:
        console.print(f"merged from values {', '.join(map(str, provenance.merged_from))}")
    console.print(f"\n{len(provenance.cards)} member card(s):")
    for card in provenance.cards:
        agrees = {None: "not asked", True: "member agrees", False: "member disagrees"}[card.member_agrees]
        source = " (shown text)" if card.card_id == provenance.source_card_id else ""
        console.print(f"\ncard {card.card_id}{source}: {card.title} — {card.decision}, {agrees}")
        for step in card.history:
            state = "current" if step.superseded_at is None else f"superseded {step.superseded_at[:16]}"
            console.print(f"  {step.created_at[:16]} {step.decision} → value {step.value_id} by {step.actor} ({state})")
            if step.reason:
                console.print(f"      {step.reason[:300]}")


@values_app.command("merge")
def values_merge(
    keep: int = typer.Argument(..., help="The value to keep."),
    merge: int = typer.Argument(..., help="The value whose cards move into KEEP."),
) -> None:
    """Merge value MERGE into value KEEP (reversible per card with `mge values undo CARD_ID`)."""
    from bot.values.corrections import merge_values

    moved = _run_values(
        lambda database: merge_values(database, keep_id=keep, merge_id=merge, actor=operator_actor(), now=utcnow())
    )
    typer.echo(f"merged value {merge} into {keep}: {moved} card(s) moved")


@values_app.command("split")
def values_split(card_id: int = typer.Argument(..., help="The member card to take out of its value.")) -> None:
    """Take a card out of its value into a new value of its own."""
    from bot.values.corrections import split_card

    result = _run_values(lambda database: split_card(database, card_id=card_id, actor=operator_actor(), now=utcnow()))
    typer.echo(f"card {card_id} is now value {result.value_id}: {result.value_card.title}")


@values_app.command("undo")
def values_undo(card_id: int = typer.Argument(..., help="The member card whose latest decision to revert.")) -> None:
    """Revert a card's latest dedup decision (restoring the one before it)."""
    from bot.values.corrections import undo_last

    result = _run_values(lambda database: undo_last(database, card_id=card_id, actor=operator_actor(), now=utcnow()))
    typer.echo(f"card {card_id} is back in value {result.value_id} ({result.decision}): {result.value_card.title}")


@values_app.command("unmerge")
def values_unmerge(value_id: int = typer.Argument(..., help="The value that was merged into another.")) -> None:
    """Undo a merge of two values (a moderator's or the dedup passes'): both values stand again."""
    from bot.values.corrections import undo_merge

    back = _run_values(lambda database: undo_merge(database, value_id=value_id, actor=operator_actor(), now=utcnow()))
    typer.echo(f"value {value_id} is back with its {back} card(s)")


def dedup_command(
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP_ALL),
    lexical: bool = typer.Option(
        False,
        "--lexical",
        help="Use the offline lexical embedder instead of the configured one (weaker candidates).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be merged (distances, the judge's reasons); change nothing."
    ),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table (with --dry-run)."),
) -> None:
    """Merge members' cards into canonical values (embeddings propose, the LLM judge decides).

    Then the values of cards no value matched are clustered with all the others, so near-duplicates converge.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.runtime.settings import SettingsError
    from bot.runtime.wiring import build_dedup_embedder, build_llm
    from bot.values.batch import run_dedup
    from bot.values.converge import run_convergence
    from core.llm import LLMError

    settings = settings_or_exit()
    try:
        llm = build_llm(settings)
    except SettingsError as error:
        raise fail(str(error)) from None
    embedder, params = build_dedup_embedder(settings, llm=llm, lexical=lexical)
    judge_model = settings.judge_model
    console = Console(stderr=True)
    if dry_run:
        _dedup_dry_run(llm, embedder, params, judge_model, community, format)
        return

    converged: list = []

    async def dedup_all(database):
        try:
            ids = await _all_community_ids(database, community)
            reports = []
            for community_id in ids:
                with Progress(
                    TextColumn(f"community {community_id}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                ) as bar:
                    task = bar.add_task("dedup", total=None)

                    def progress(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)  # noqa: B023 (called within this iteration)

                    reports.append(
                        await run_dedup(
                            database,
                            llm=llm,
                            embedder=embedder,
                            judge_model=judge_model,
                            community_id=community_id,
                            now=utcnow(),
                            progress=progress,
                            params=params,
                        )
                    )
                converged.append(
                    await run_convergence(
                        database,
                        llm=llm,
                        embedder=embedder,
                        judge_model=judge_model,
                        community_id=community_id,
                        now=utcnow(),
                        params=params,
                    )
                )
            return reports
        finally:
            await llm.aclose()

    try:
        reports = _run_values(dedup_all)
    except LLMError as error:
        raise fail(f"dedup stopped: {error}. What was placed is kept; run `mge dedup` again to continue.", 1) from None
    for report in reports:
        if report.skipped:
            typer.echo(f"community {report.community_id}: {report.skipped}")
            continue
        typer.echo(
            f"community {report.community_id}: placed {report.assigned} of {report.cards} cards — "
            f"{report.clustered_cards} in {report.clusters_judged} judged clusters, {report.judged_same} joined "
            f"existing values, {report.new_values} new values; {report.judge_calls} judge calls; tokens used: "
            f"{report.input_tokens} in, {report.output_tokens} out"
        )
    for report in converged:
        typer.echo(f"community {report.community_id}: converged: {report}")
    if not reports:
        typer.echo("no communities yet")


async def _all_community_ids(database, community: str | None) -> list[int]:
    from storage import communities_repo

    ids = await community_ids(database, community)
    if ids is None:
        async with database.session() as session:
            ids = [c.id for c in await communities_repo.list_communities(session)]
    return ids


def _dedup_dry_run(llm, embedder, params, judge_model: str, community: str | None, format: OutputFormat) -> None:
    """``mge dedup --dry-run``: the groups a re-dedup pass would merge, per community; nothing is written."""
    from bot.values.converge import dry_run
    from core.llm import LLMError

    async def propose(database):
        try:
            return {
                community_id: await dry_run(
                    database,
                    llm=llm,
                    embedder=embedder,
                    judge_model=judge_model,
                    community_id=community_id,
                    now=utcnow(),
                    params=params,
                )
                for community_id in await _all_community_ids(database, community)
            }
        finally:
            await llm.aclose()

    try:
        proposals = _run_values(propose)
    except LLMError as error:
        raise fail(f"dry run stopped: {error}. Nothing was changed.", 1) from None
    if format is OutputFormat.json:
        _print_json(
            [
                {"community_id": cid, "groups": [group.as_dict() for group in groups]}
                for cid, groups in proposals.items()
            ]
        )
        return
    for cid, groups in proposals.items():
        typer.echo(f"community {cid}: {len(groups)} group(s) would be merged (dry run: nothing changed)")
        for group in groups:
            typer.echo(
                f"  cards {group.card_ids} (values {group.value_ids}), text of card {group.best_written_card_id}"
            )
            for card_id, distance in sorted(group.distances.items()):
                typer.echo(f"    card {card_id}: cosine distance {distance:.3f} from the best-written card")
            typer.echo(f"    judge: {group.reasons[:600]}")
