"""What a moral-graph build produces: values, edges with their vote counts, ranks, cycles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from core.graph.params import GraphParams

#: Column order of :attr:`EdgeTable.counts`, the order of the interchange format's "counts".
COUNT_FIELDS = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions")
WISER, NOT_WISER, LESS_WISE, UNSURE, IMPRESSIONS = range(5)


@dataclass(frozen=True, slots=True)
class Value:
    """A canonical value as the graph needs it. Ids are text: ``1`` and ``"1"`` are the same value."""

    id: str
    title: str
    description: str = ""
    policies: tuple[str, ...] = ()


class EdgeCounts(NamedTuple):
    marked_wiser: int
    marked_not_wiser: int
    marked_less_wise: int
    marked_unsure: int
    impressions: int


@dataclass(frozen=True, slots=True)
class Edge:
    """``wiser_id`` was voted wiser than ``source_id``: moving from source to wiser is a gain."""

    source_id: str
    wiser_id: str
    contexts: tuple[str, ...]
    counts: EdgeCounts
    wiser_likelihood: float
    entropy: float


@dataclass(frozen=True, eq=False)
class EdgeTable:
    """Edges in columns (one row per edge) so a large graph never becomes a million small objects.

    ``source``/``wiser`` index :attr:`value_ids`; the contexts of edge ``i`` are
    ``context_names[c] for c in context_codes[context_offsets[i]:context_offsets[i + 1]]``, in the
    order they were first seen in the votes. Iterating yields :class:`Edge` records.
    """

    source: np.ndarray
    wiser: np.ndarray
    counts: np.ndarray  # shape (n, 5), columns in COUNT_FIELDS order
    wiser_likelihood: np.ndarray
    entropy: np.ndarray
    context_offsets: np.ndarray
    context_codes: np.ndarray
    value_ids: tuple[str, ...]
    context_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[Edge]:
        ids, names = self.value_ids, self.context_names
        offsets = self.context_offsets.tolist()
        codes = self.context_codes.tolist()
        for i, (s, w, counts, likelihood, entropy) in enumerate(
            zip(
                self.source.tolist(),
                self.wiser.tolist(),
                self.counts.tolist(),
                self.wiser_likelihood.tolist(),
                self.entropy.tolist(),
            )
        ):
            contexts = tuple(names[c] for c in codes[offsets[i] : offsets[i + 1]])
            yield Edge(ids[s], ids[w], contexts, EdgeCounts(*counts), likelihood, entropy)

    def pairs(self) -> list[tuple[str, str]]:
        """(source id, wiser id) of every edge."""
        ids = self.value_ids
        return [(ids[s], ids[w]) for s, w in zip(self.source.tolist(), self.wiser.tolist())]


class RankedValue(NamedTuple):
    id: str
    title: str
    score: float


@dataclass(frozen=True, eq=False)
class ContextGraph:
    """The graph of one moral context: built from the votes cast in that context only."""

    context: str
    #: Values touching a kept edge of this context, best first (see ``ranking.py`` for ties).
    ranking: tuple[RankedValue, ...]
    edges: EdgeTable
    #: Simple cycles among the kept edges, each a list of value ids (default algorithm only).
    cycles: tuple[tuple[str, ...], ...] = ()
    #: Edges that passed the thresholds but were dropped as half of a disagreeing 2-cycle.
    dropped_edges: EdgeTable | None = None

    @property
    def winner(self) -> RankedValue | None:
        """The value with the highest PageRank in this context, or None if no edge was kept."""
        return self.ranking[0] if self.ranking else None


@dataclass(frozen=True, eq=False)
class MoralGraph:
    params: GraphParams
    values: tuple[Value, ...]
    #: Kept edges of the graph over all contexts.
    edges: EdgeTable
    #: PageRank over the graph of all contexts, for every value (None: not ranked, see
    #: ``GraphParams.rank_nodes``).
    page_rank: Mapping[str, float | None]
    #: One graph per context, in the order contexts first appear in the votes.
    contexts: Mapping[str, ContextGraph]
    cycles: tuple[tuple[str, ...], ...] = ()
    dropped_edges: EdgeTable | None = None
    #: False if the default algorithm's PageRank hit ``params.max_iterations`` before converging in
    #: some graph (networkx would raise; we keep the last iterate and say so).
    converged: bool = True
    #: Votes that counted after re-votes replaced earlier ones.
    votes_counted: int = 0
    votes_replaced: int = 0

    @property
    def rankings(self) -> dict[str, tuple[RankedValue, ...]]:
        return {name: graph.ranking for name, graph in self.contexts.items()}

    def winner(self, context: str) -> RankedValue | None:
        graph = self.contexts.get(context)
        return graph.winner if graph else None
