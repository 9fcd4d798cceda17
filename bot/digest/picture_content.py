"""What the digest's picture shows: per context, its top values, the values each was voted wiser than,
and the cycles through the top values; and how much is left out, so the picture can say it in words.

A panel per context (the digest's order), at most ``MAX_PANELS``. A panel holds the context's top
``TOP_VALUES`` by its PageRank (the values the digest text lists), for each the ``MAX_BEATEN`` values
it was voted wiser than by the most votes, and the shortest cycle through each top value when it is
short enough to read. Arrows are the context's kept edges that touch a top value or go round one of
those cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.digest import TOP_VALUES
from core.graph import ContextGraph, Edge, MoralGraph

#: Contexts drawn; the rest are counted (the digest text lists them all).
MAX_PANELS = 6
#: Values drawn below each top value: those it was voted wiser than by the most votes.
MAX_BEATEN = 4
#: Longer cycles are only counted in the text: a ring of many values is no longer readable.
MAX_CYCLE_LENGTH = 5


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    title: str
    #: 1 for the context's best value, up to TOP_VALUES; None for the values drawn below them.
    rank: int | None


@dataclass(frozen=True, slots=True)
class Arrow:
    """``wiser`` was voted wiser than ``source`` in the panel's context."""

    source: str
    wiser: str
    wiser_votes: int
    #: Everyone who voted on the pair in the context (either direction): the votes behind the edge.
    votes: int


@dataclass(frozen=True, slots=True)
class Panel:
    context: str
    nodes: tuple[Node, ...]
    arrows: tuple[Arrow, ...]
    #: The context's ranked values, kept edges and the votes behind those edges (drawn or not).
    values: int
    edges: int
    votes: int

    @property
    def hidden_values(self) -> int:
        return self.values - len(self.nodes)

    @property
    def hidden_edges(self) -> int:
        return self.edges - len(self.arrows)

    @property
    def hidden_votes(self) -> int:
        return self.votes - sum(a.votes for a in self.arrows)


@dataclass(frozen=True, slots=True)
class PictureContent:
    panels: tuple[Panel, ...]
    #: Contexts with a ranking that got no panel, in the digest's order.
    contexts_left_out: tuple[str, ...]
    values: int
    #: Distinct values drawn in some panel.
    values_drawn: int
    #: Votes counted in the graph, and those behind a drawn arrow.
    votes: int
    votes_drawn: int


def picture_content(
    graph: MoralGraph, *, contexts: Sequence[str] | None = None, max_panels: int = MAX_PANELS
) -> PictureContent:
    """The panels of ``graph``'s picture. ``contexts`` gives the order (the digest's); contexts it
    leaves out follow in the graph's order. Contexts without a ranking are skipped, as in the digest."""
    order = list(dict.fromkeys([*(contexts or ()), *graph.contexts]))
    ranked = [graph.contexts[name] for name in order if name in graph.contexts and graph.contexts[name].ranking]
    titles = {v.id: v.title for v in graph.values}
    panels = tuple(_panel(context, titles) for context in ranked[:max_panels])
    return PictureContent(
        panels=panels,
        contexts_left_out=tuple(c.context for c in ranked[max_panels:]),
        values=len(graph.values),
        values_drawn=len({n.id for p in panels for n in p.nodes}),
        votes=graph.votes_counted,
        votes_drawn=sum(a.votes for p in panels for a in p.arrows),
    )


def _panel(context: ContextGraph, titles: dict[str, str]) -> Panel:
    edges = list(context.edges)
    beaten_by: dict[str, list[Edge]] = {}
    for edge in edges:
        beaten_by.setdefault(edge.wiser_id, []).append(edge)
    top = [r.id for r in context.ranking[:TOP_VALUES]]
    drawn: dict[str, int | None] = {value_id: rank for rank, value_id in enumerate(top, start=1)}
    for value_id in top:
        strongest = sorted(
            beaten_by.get(value_id, []),
            key=lambda e: (-e.counts.marked_wiser, -e.counts.impressions, titles.get(e.source_id, ""), e.source_id),
        )
        for edge in [e for e in strongest if e.source_id not in drawn][:MAX_BEATEN]:
            drawn[edge.source_id] = None
    on_cycles: set[tuple[str, str]] = set()
    for value_id in top:
        # Cycles come shortest first: the first one through a top value is the easiest to read.
        cycle = next((c for c in context.cycles if value_id in c), None)
        if cycle is not None and len(cycle) <= MAX_CYCLE_LENGTH:
            for member in cycle:
                drawn.setdefault(member, None)
            on_cycles.update(zip(cycle, cycle[1:] + cycle[:1]))
    # Arrows from and to the top values, and around their cycles: arrows between two of the values
    # below would only stack more layers of lesser values under the top ones.
    arrows = tuple(
        Arrow(e.source_id, e.wiser_id, e.counts.marked_wiser, e.counts.impressions)
        for e in edges
        if e.source_id in drawn
        and e.wiser_id in drawn
        and (drawn[e.source_id] or drawn[e.wiser_id] or (e.source_id, e.wiser_id) in on_cycles)
    )
    return Panel(
        context=context.context,
        nodes=tuple(Node(value_id, titles.get(value_id, value_id), rank) for value_id, rank in drawn.items()),
        arrows=arrows,
        values=len(context.ranking),
        edges=len(edges),
        votes=sum(e.counts.impressions for e in edges),
    )
