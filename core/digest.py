"""The weekly graph digest (read by everyone in a channel, weekly; docs/method.md §7).

Pure: a built :class:`~core.graph.MoralGraph` plus a few counts in, a :class:`Digest` and a small
JSON-able *snapshot* out. The snapshot is what the next digest compares against to say what changed
(new edges, rank moves, new values); the bot stores it in the digest's ``job_run.detail``.

Every text in a digest came from members or an LLM (value titles, policies, contexts, scenarios):
:func:`digest_markdown` escapes it, and each platform renderer escapes it its own way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.graph import ContextGraph, MoralGraph

#: Top values shown per context.
TOP_VALUES = 3
#: Cycles shown beside a top value (the shortest); the rest are counted.
CYCLES_PER_VALUE = 2
#: Rankings kept per context in a snapshot (enough to see a value climb into the top).
SNAPSHOT_RANKING = 10
SNAPSHOT_VERSION = 1


def digest_period(now: datetime) -> str:
    """The ISO week of ``now``, e.g. ``2026-W47``: the period a weekly digest job is claimed for."""
    year, week, _ = now.isocalendar()
    return f"{year}-W{week:02d}"


# --- what a digest says ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Beaten:
    """A value the winner was voted wiser than, in one context (an incoming edge)."""

    title: str
    wiser_votes: int
    #: Everyone who voted on the pair in the context (either direction): the edge's impressions.
    voters: int

    def line(self, esc: Callable[[str], str] = str) -> str:
        return f"wiser than {esc(self.title)} ({self.wiser_votes} of {self.voters} voters)"


@dataclass(frozen=True, slots=True)
class TopValue:
    value_id: str
    title: str
    policies: tuple[str, ...]
    score: float
    rank: int
    #: Incoming edges in the context, most "wiser" votes first.
    beaten: tuple[Beaten, ...] = ()
    #: The shortest cycles through the value in the context not already listed under a better top
    #: value, as titles from this value on, each voted wiser than the one before; how many more such
    #: cycles go through it; and the ranks of the better top values whose listed cycles it is on.
    cycles: tuple[tuple[str, ...], ...] = ()
    more_cycles: int = 0
    in_cycles_of: tuple[int, ...] = ()

    @property
    def how_it_won(self) -> str:
        """E.g. "wiser than Obedience (5 of 6 voters)"; "" when no value was voted less wise than it."""
        return self.how_it_won_escaped(str)

    def how_it_won_escaped(self, esc: Callable[[str], str]) -> str:
        """:attr:`how_it_won` with the losing value's title passed through ``esc``."""
        if not self.beaten:
            return ""
        first, rest = self.beaten[0], len(self.beaten) - 1
        return first.line(esc) + (f" and {rest} more" if rest else "")

    def cycle_lines(self, esc: Callable[[str], str] = str) -> list[str]:
        """One line per cycle through the value, e.g. "in a cycle: A → B → C → A, each voted wiser than the
        one before" (titles through ``esc``), and a last one counting the cycles not shown."""
        lines = [f"in the cycle shown under #{rank}" for rank in self.in_cycles_of]
        lines += [
            f"in a cycle: {' → '.join(esc(t) for t in (*cycle, cycle[0]))}, each voted wiser than the one before"
            for cycle in self.cycles
        ]
        if self.more_cycles:
            lines.append(f"and in {self.more_cycles} more {'cycle' if self.more_cycles == 1 else 'cycles'}")
        return lines


@dataclass(frozen=True, slots=True)
class ContextDigest:
    context: str
    top: tuple[TopValue, ...]
    ranked_values: int
    edges: int
    cycles: int = 0


@dataclass(frozen=True, slots=True)
class ScenarioDigest:
    #: The scenario's text; None for contexts no scenario lists.
    scenario: str | None
    contexts: tuple[ContextDigest, ...]


@dataclass(frozen=True, slots=True)
class EdgeChange:
    context: str
    source_title: str
    wiser_title: str


@dataclass(frozen=True, slots=True)
class RankMove:
    context: str
    title: str
    #: None: the value was not ranked in the context before.
    old_rank: int | None
    new_rank: int


@dataclass(frozen=True, slots=True)
class Changes:
    #: No earlier digest to compare with: everything is new, nothing is listed.
    first: bool = True
    previous_period: str | None = None
    new_edges: tuple[EdgeChange, ...] = ()
    rank_moves: tuple[RankMove, ...] = ()
    new_values: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.new_edges or self.rank_moves or self.new_values)


@dataclass(frozen=True, slots=True)
class Participation:
    interviews_this_period: int = 0
    interviews_total: int = 0
    votes_this_period: int = 0
    voters_this_period: int = 0
    voters_total: int = 0


@dataclass(frozen=True, slots=True)
class Digest:
    community: str
    period: str
    since: datetime
    until: datetime
    scenarios: tuple[ScenarioDigest, ...]
    changes: Changes = field(default_factory=Changes)
    participation: Participation = field(default_factory=Participation)
    values: int = 0
    edges: int = 0

    def contexts(self) -> list[tuple[str | None, ContextDigest]]:
        """(scenario, context) pairs in display order."""
        return [(s.scenario, c) for s in self.scenarios for c in s.contexts]


# --- building ----------------------------------------------------------------------------------------


def top_values(graph: MoralGraph, context: ContextGraph, *, limit: int = TOP_VALUES) -> tuple[TopValue, ...]:
    """The best ``limit`` values of ``context`` with how each won (its incoming edges in the context) and
    the cycles through each."""
    by_id = {v.id: v for v in graph.values}
    incoming: dict[str, list[Beaten]] = {}
    for edge in context.edges:
        source = by_id.get(edge.source_id)
        incoming.setdefault(edge.wiser_id, []).append(
            Beaten(source.title if source else edge.source_id, edge.counts.marked_wiser, edge.counts.impressions)
        )
    title = {v.id: v.title for v in graph.values}
    top = []
    #: (rank, cycle) of the cycles listed so far, so that a cycle through several top values is
    #: written out once, under the best of them.
    listed: list[tuple[int, tuple[str, ...]]] = []
    for rank, ranked in enumerate(context.ranking[:limit], start=1):
        value = by_id.get(ranked.id)
        beaten = sorted(incoming.get(ranked.id, []), key=lambda b: (-b.wiser_votes, -b.voters, b.title))
        shown = {cycle for _, cycle in listed}
        # Cycles come shortest first.
        new = [c for c in context.cycles if ranked.id in c and c not in shown]
        in_cycles_of = tuple(sorted({r for r, cycle in listed if ranked.id in cycle}))
        listed += [(rank, c) for c in new[:CYCLES_PER_VALUE]]
        # Each written from this value on.
        through = [c[c.index(ranked.id) :] + c[: c.index(ranked.id)] for c in new]
        top.append(
            TopValue(
                ranked.id,
                ranked.title,
                value.policies if value else (),
                ranked.score,
                rank,
                tuple(beaten),
                tuple(tuple(title.get(v, v) for v in c) for c in through[:CYCLES_PER_VALUE]),
                max(len(through) - CYCLES_PER_VALUE, 0),
                in_cycles_of,
            )
        )
    return tuple(top)


def snapshot(graph: MoralGraph, *, period: str) -> dict:
    """What the next digest compares with: value ids, per context its ranking (top
    ``SNAPSHOT_RANKING``) and its edges as ``"source>wiser"`` keys. JSON-able and small."""
    return {
        "version": SNAPSHOT_VERSION,
        "period": period,
        "values": [v.id for v in graph.values],
        "contexts": {
            name: {
                "ranking": [r.id for r in ctx.ranking[:SNAPSHOT_RANKING]],
                "edges": sorted(f"{s}>{w}" for s, w in ctx.edges.pairs()),
            }
            for name, ctx in graph.contexts.items()
        },
    }


def compare(graph: MoralGraph, previous: Mapping | None, *, limit: int = TOP_VALUES) -> Changes:
    """What changed since ``previous`` (a :func:`snapshot`): new edges per context, moves of values now
    in (or just out of) a context's top ``limit``, values that did not exist before."""
    if not previous or not isinstance(previous.get("contexts"), Mapping):
        return Changes(first=True)
    titles = {v.id: v.title for v in graph.values}
    old_contexts: Mapping = previous["contexts"]
    new_edges: list[EdgeChange] = []
    moves: list[RankMove] = []
    for name, ctx in graph.contexts.items():
        old = old_contexts.get(name) or {}
        old_edges = set(old.get("edges") or ())
        for s, w in ctx.edges.pairs():
            if f"{s}>{w}" not in old_edges:
                new_edges.append(EdgeChange(name, titles.get(s, s), titles.get(w, w)))
        old_rank = {vid: i for i, vid in enumerate(old.get("ranking") or (), start=1)}
        for rank, ranked in enumerate(ctx.ranking, start=1):
            before = old_rank.get(ranked.id)
            if before == rank:
                continue
            if rank <= limit or (before is not None and before <= limit):
                moves.append(RankMove(name, ranked.title, before, rank))
    old_values = set(previous.get("values") or ())
    new_values = tuple(v.title for v in graph.values if v.id not in old_values)
    return Changes(
        first=False,
        previous_period=previous.get("period"),
        new_edges=tuple(new_edges),
        rank_moves=tuple(moves),
        new_values=new_values,
    )


def build_digest_from_graph(
    graph: MoralGraph,
    *,
    community: str,
    period: str,
    since: datetime,
    until: datetime,
    scenarios: Sequence[tuple[str | None, Sequence[str]]] = (),
    previous: Mapping | None = None,
    participation: Participation = Participation(),
) -> tuple[Digest, dict]:
    """The digest of ``graph`` and the snapshot to store for the next one.

    ``scenarios`` lists (scenario text, its context texts) in display order; contexts of the graph no
    scenario lists are shown last under ``None``. Contexts without a kept edge are left out."""
    shown: set[str] = set()
    groups: list[ScenarioDigest] = []

    def context_digest(name: str) -> ContextDigest | None:
        ctx = graph.contexts.get(name)
        if ctx is None or not ctx.ranking:
            return None
        return ContextDigest(name, top_values(graph, ctx), len(ctx.ranking), len(ctx.edges), len(ctx.cycles))

    for scenario, names in scenarios:
        items = [d for d in (context_digest(n) for n in dict.fromkeys(names)) if d is not None]
        shown.update(d.context for d in items)
        if items:
            groups.append(ScenarioDigest(scenario, tuple(items)))
    rest = [d for d in (context_digest(n) for n in graph.contexts if n not in shown) if d is not None]
    if rest:
        groups.append(ScenarioDigest(None, tuple(rest)))
    digest = Digest(
        community=community,
        period=period,
        since=since,
        until=until,
        scenarios=tuple(groups),
        changes=compare(graph, previous),
        participation=participation,
        values=len(graph.values),
        edges=len(graph.edges),
    )
    return digest, snapshot(graph, period=period)


# --- markdown ----------------------------------------------------------------------------------------

ZWSP = "\u200b"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_AT_WORD = re.compile(r"@(?=\w)")


def escape_markdown(text: str) -> str:
    """Member text made inert for markdown (CommonMark, GitHub, Discord): one line, markdown
    punctuation backslash-escaped, ``<``/``>``/``&`` as entities (no HTML, no ``<!here>`` or ``<@id>``),
    and a zero-width space after ``@`` so ``@everyone`` or ``@name`` never pings or links."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _AT_WORD.sub("@" + ZWSP, text)


def _rank_move(move: RankMove) -> str:
    if move.old_rank is None:
        return f"new at #{move.new_rank}"
    arrow = "up" if move.new_rank < move.old_rank else "down"
    return f"{arrow} from #{move.old_rank} to #{move.new_rank}"


def change_lines(changes: Changes, esc=escape_markdown, *, limit: int = 10) -> list[str]:
    """The changes as short lines (texts escaped with ``esc``), at most ``limit`` of each kind."""
    if changes.first:
        return ["First digest: nothing to compare with yet."]
    if changes.empty:
        return ["No changes since the last digest."]
    lines: list[str] = []

    def capped(items: Sequence, render) -> None:
        lines.extend(render(item) for item in items[:limit])
        if len(items) > limit:
            lines.append(f"…and {len(items) - limit} more")

    capped(
        changes.new_edges,
        lambda e: f"New edge in {esc(e.context)}: {esc(e.wiser_title)} is wiser than {esc(e.source_title)}",
    )
    capped(changes.rank_moves, lambda m: f"{esc(m.title)} {_rank_move(m)} in {esc(m.context)}")
    capped(changes.new_values, lambda t: f"New value: {esc(t)}")
    return lines


def participation_line(p: Participation) -> str:
    return (
        f"{p.interviews_this_period} interviews completed this week ({p.interviews_total} in total), "
        f"{p.votes_this_period} votes by {p.voters_this_period} members this week "
        f"({p.voters_total} voters in total)"
    )


def digest_markdown(digest: Digest) -> str:
    """The whole digest as markdown, every member-provided text escaped."""
    esc = escape_markdown
    out = [
        f"# Moral graph digest — {esc(digest.community)}, {digest.period}",
        "",
        f"{digest.values} values, {digest.edges} wiser-than edges. "
        f"Week of {digest.since:%Y-%m-%d} to {digest.until:%Y-%m-%d}.",
        "",
        "## Participation",
        "",
        participation_line(digest.participation),
        "",
        "## What changed",
        "",
        *(f"- {line}" for line in change_lines(digest.changes)),
        "",
        "## The wisest values",
        "",
    ]
    if not digest.scenarios:
        out += ["No context has a ranking yet: polls need a few more votes.", ""]
    for group in digest.scenarios:
        out += [f"### {esc(group.scenario) if group.scenario is not None else 'Other contexts'}", ""]
        for ctx in group.contexts:
            out += [f"**{esc(ctx.context)}**", ""]
            for top in ctx.top:
                how = f" — {top.how_it_won_escaped(esc)}" if top.beaten else ""
                out.append(f"{top.rank}. **{esc(top.title)}** (score {top.score:.3f}){how}")
                out += [f"    - {line}" for line in top.cycle_lines(esc)]
                out += [f"    - {esc(p)}" for p in top.policies]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
