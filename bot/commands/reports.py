"""Moderator actions that report: the audit log, participation stats, and the graph as a file."""

from __future__ import annotations

import io
import json
import statistics
import zipfile
from datetime import timedelta

from bot.commands.base import ActionError, ActionReply, ModeratorAction, ModeratorCall, Param, audit_action
from storage import reports_repo
from storage.governance_repo import list_actions

EXPORT_FORMATS = ("json", "graphml", "csv", "html")


async def audit(call: ModeratorCall) -> ActionReply:
    limit = call.int_arg("count") if call.arg("count") else 15
    if not 1 <= limit <= 50:
        raise ActionError("Show between 1 and 50 entries.")
    async with call.database.session() as session:
        entries = await list_actions(session, community_id=call.community_id, limit=limit)
    if not entries:
        return ActionReply("The audit log is empty: no moderator has changed anything yet.")
    lines = []
    for entry in entries:
        change = ""
        if entry.before is not None or entry.after is not None:
            change = f": {json.dumps(entry.before, ensure_ascii=False)} → {json.dumps(entry.after, ensure_ascii=False)}"
        lines.append(f"{entry.at:%Y-%m-%d %H:%M} UTC · {entry.actor} · {entry.action} {entry.target}{change}")
    return ActionReply("\n".join(lines))


async def stats(call: ModeratorCall) -> ActionReply:
    cid = call.community_id
    async with call.database.session() as session:
        started, members = await reports_repo.interview_counts(session, community_id=cid)
        completed = await reports_repo.confirmed_interview_tokens(session, community_id=cid)
        turns = {}
        if completed:
            turns = await reports_repo.member_turn_counts(session, interview_ids=[c[0] for c in completed])
        votes, voters = await reports_repo.vote_counts(session, community_id=cid)
        tokens = await reports_repo.llm_token_totals(session, community_id=cid)
    lines_votes = await _vote_health(call)
    from bot.legitimacy.checks import stats_lines as legitimacy_lines

    lines_legitimacy = await legitimacy_lines(call.database, community_id=cid)
    from bot.generalization.picks import stats_lines as generalization_lines
    from bot.ideology.screen import stats_lines as ideology_lines
    from bot.values.checks import stats_lines as value_check_lines
    from bot.voting.reasons import stats_lines as reason_lines

    lines_method = [
        *await reason_lines(call.database, community_id=cid),
        *await generalization_lines(call.database, community_id=cid),
        *await ideology_lines(call.database, community_id=cid),
        *await value_check_lines(call.database, community_id=cid),
    ]
    rate = f"{len(completed) / started:.0%}" if started else "—"
    median_turns = statistics.median([turns.get(c[0], 0) for c in completed]) if completed else None
    median_tokens = statistics.median([c[1] + c[2] for c in completed]) if completed else None
    lines = [
        f"Participants: {members} member(s) started {started} interview(s); {len(completed)} confirmed a card "
        f"(completion {rate}).",
        f"Per confirmed interview (median): {median_turns if median_turns is not None else '—'} member messages, "
        f"{int(median_tokens) if median_tokens is not None else '—'} tokens.",
        f"Votes: {votes} from {voters} voter(s).",
        *lines_votes,
        *lines_legitimacy,
        *lines_method,
        f"LLM tokens used in all: {tokens[0]:,} in, {tokens[1]:,} out (interviews, dedup, contexts, stories)"
        + _cost(tokens, call.services.token_prices)
        + ".",
    ]
    return ActionReply("\n".join(lines))


def _cost(tokens, prices: tuple[float, float]) -> str:
    """ ", about $1.23" from the operator's prices per million tokens; nothing when none are set."""
    if not any(prices):
        return ""
    cost = (tokens[0] * prices[0] + tokens[1] * prices[1]) / 1_000_000
    return f", about ${cost:,.2f} at the configured prices"


#: A vote this soon after the account was made, or after joining, is worth a moderator's look.
NEW_ACCOUNT = timedelta(days=7)
NEW_MEMBER = timedelta(days=2)
#: Voters whose every vote matches another voter's, over at least this many polls, are reported.
SAME_SEQUENCE_MIN = 3


async def _vote_health(call: ModeratorCall) -> list[str]:
    """Votes left out (by reason) and patterns a moderator may want to look at."""
    from bot.graph.build import load_community_graph_input
    from storage import eligibility_repo

    data = await load_community_graph_input(call.database, community_id=call.community_id)
    async with call.database.session() as session:
        facts = await eligibility_repo.facts_by_member(session, community_id=call.community_id)
        rows = await reports_repo.votes_of_community(session, community_id=call.community_id)
    lines = []
    if data.excluded_votes:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(data.excluded_votes.items()))
        lines.append(f"Votes left out of the graph: {sum(data.excluded_votes.values())} ({reasons}).")
    fresh = 0
    sequences: dict[str, set[tuple[int, str]]] = {}
    for member_id, voter_key, poll_id, choice, cast_at in rows:
        sequences.setdefault(voter_key, set()).add((poll_id, choice))
        known = facts.get(member_id) if member_id is not None else None
        if known is None:
            continue
        if (known.account_created_at and cast_at - known.account_created_at < NEW_ACCOUNT) or (
            known.joined_at and cast_at - known.joined_at < NEW_MEMBER
        ):
            fresh += 1
    if fresh:
        lines.append(
            f"Look at: {fresh} vote(s) cast within {NEW_ACCOUNT.days} days of the account's creation or "
            f"{NEW_MEMBER.days} days of joining."
        )
    by_sequence: dict[frozenset, int] = {}
    for votes in sequences.values():
        if len(votes) >= SAME_SEQUENCE_MIN:
            key = frozenset(votes)
            by_sequence[key] = by_sequence.get(key, 0) + 1
    twins = [n for n in by_sequence.values() if n > 1]
    if twins:
        lines.append(
            f"Look at: {sum(twins)} voters in {len(twins)} group(s) voted identically on every poll they "
            f"voted on (at least {SAME_SEQUENCE_MIN} polls)."
        )
    return lines


async def export(call: ModeratorCall) -> ActionReply:
    """The community's graph as a file: the same bytes as ``mge export`` (CSV as a zip of its folder)."""
    from bot.graph import export as exporting
    from bot.graph.build import load_community_graph_input
    from core.graph import GraphParams, build_moral_graph

    fmt = (call.arg("format") or "json").casefold()
    if fmt not in EXPORT_FORMATS:
        raise ActionError(f"Export as {', '.join(EXPORT_FORMATS)}, not {fmt!r}.")
    data = await load_community_graph_input(call.database, community_id=call.community_id)
    graph = build_moral_graph(data.values, data.votes, GraphParams())
    if fmt == "json":
        name, content = (
            "moral-graph.json",
            exporting.export_json(
                graph, community=data.community, stories=data.stories, votes=exporting.vote_records(data)
            ),
        )
    elif fmt == "graphml":
        name, content = "moral-graph.graphml", exporting.export_graphml(graph, community=data.community)
    elif fmt == "html":
        from bot.graph.explorer import render_explorer

        name, content = "moral-graph.html", render_explorer(graph, data)
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            files = exporting.export_csv_files(graph, data.votes, cast_at=data.vote_cast_at, reasons=data.vote_reasons)
            for file_name, file_bytes in files.items():
                archive.writestr(
                    zipfile.ZipInfo(f"moral-graph/{file_name}", date_time=(2020, 1, 1, 0, 0, 0)), file_bytes
                )
        name, content = "moral-graph-csv.zip", buffer.getvalue()
    await audit_action(call, "export", fmt)
    return ActionReply(
        f"The moral graph: {len(graph.values)} values, {len(graph.edges)} edges, "
        f"{len(data.votes)} votes. Voters appear only as anonymous numbers.",
        file=(name, content),
    )


ACTIONS = (
    ModeratorAction(
        "audit",
        "",
        "the latest moderator actions: who, when, what, before and after",
        audit,
        (Param("count", "how many (1-50, default 15)", kind="int", required=False),),
        read_only=True,
    ),
    ModeratorAction(
        "stats", "", "participation, completion, interview length and tokens, votes", stats, read_only=True
    ),
    ModeratorAction(
        "export",
        "",
        "the moral graph as a file: json, graphml, csv (zip) or html",
        export,
        (Param("format", "json, graphml, csv or html", required=False),),
        slow=True,
    ),
)
