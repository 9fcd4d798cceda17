"""Votes → the moral graph (docs/method.md §7): the public entry points."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from core.graph.codes import pack
from core.graph.counts import ALL_CONTEXTS, PairRows, count_pairs, group_stories
from core.graph.cycles import find_cycles
from core.graph.edges import EdgeSelection, select_edges
from core.graph.model import ContextGraph, EdgeTable, MoralGraph, RankedValue, Value
from core.graph.pagerank import Ranks, rank_graphs
from core.graph.params import GraphParams
from core.graph.ranking import best_first, id_ranks
from core.graph.votes import Vote, VoteTable, as_vote_table


class UnknownValueError(ValueError):
    """A vote names a value id that is not among the values."""

    def __init__(self, value_id: str, vote_index: int) -> None:
        super().__init__(f"vote #{vote_index + 1} refers to unknown value id {value_id!r}")
        self.value_id = value_id
        self.vote_index = vote_index


def build_moral_graph(
    values: Sequence[Value], votes: VoteTable | Iterable[Vote], params: GraphParams | None = None
) -> MoralGraph:
    """The graph over all contexts, plus one graph and ranking per context.

    PageRank counts every value given in N (``params.rank_nodes="all_values"``), voted on or not; a
    member's later vote on the same story replaces the earlier one.
    """
    return _Assembly(values, votes, params or GraphParams(), all_contexts=True).graph()


def rank_by_context(
    values: Sequence[Value], votes: VoteTable | Iterable[Vote], params: GraphParams | None = None
) -> dict[str, tuple[RankedValue, ...]]:
    """Values ranked per context, best first — only the per-context graphs are built."""
    assembly = _Assembly(values, votes, params or GraphParams(), all_contexts=False)
    return {name: graph.ranking for name, graph in assembly.context_graphs().items()}


class _Assembly:
    """One build: counts, edges, ranks and cycles for every graph at once, then split per graph."""

    def __init__(
        self, values: Sequence[Value], votes: VoteTable | Iterable[Vote], params: GraphParams, *, all_contexts: bool
    ) -> None:
        self.params = params
        self.values = tuple(values)
        self.value_ids = tuple(value.id for value in self.values)
        if len(set(self.value_ids)) != len(self.value_ids):
            duplicate = next(i for i in self.value_ids if self.value_ids.count(i) > 1)
            raise ValueError(f"duplicate value id {duplicate!r}")
        table = as_vote_table(votes)
        self.context_names = table.contexts
        self.n_graphs = 1 + len(table.contexts)

        source, target = self._value_indices(table)
        stories = group_stories(table.voter, source, target, table.context, table.choice)
        self.votes_counted, self.votes_replaced = stories.votes_counted, stories.votes_replaced
        rows = count_pairs(stories, len(table), all_contexts=all_contexts)
        self.selection = select_edges(rows, params)
        self._rank()

    def _value_indices(self, table: VoteTable) -> tuple[np.ndarray, np.ndarray]:
        position = {value_id: i for i, value_id in enumerate(self.value_ids)}
        index = np.array([position.get(value_id, -1) for value_id in table.value_ids], dtype=np.int64)
        source, target = index[table.from_value], index[table.to_value]
        unknown = np.flatnonzero((source < 0) | (target < 0))
        if len(unknown):
            first = int(unknown[0])
            code = table.from_value[first] if source[first] < 0 else table.to_value[first]
            raise UnknownValueError(table.value_ids[code], first)
        return source, target

    def _rank(self) -> None:
        selection = self.selection
        self.kept = _Edges.of(selection, selection.kept)
        self.dropped = _Edges.of(selection, selection.dropped)
        kept = self.kept.rows
        # Explicit PageRank nodes: the (graph, value) pairs touching a kept edge, sorted by graph.
        endpoint_graph = np.concatenate([kept.graph, kept.graph])
        endpoint_value = np.concatenate([kept.source, kept.wiser])
        node_keys, node_of = np.unique(pack(endpoint_graph, endpoint_value), return_inverse=True)
        some_endpoint = _position_of_each(node_of, len(node_keys))
        self.node_graph = endpoint_graph[some_endpoint]
        self.node_value = endpoint_value[some_endpoint]
        edge_source, edge_target = node_of[: len(kept)], node_of[len(kept) :]

        nodes_per_graph = np.bincount(self.node_graph, minlength=self.n_graphs)
        if self.params.rank_nodes == "all_values":
            hidden = len(self.values) - nodes_per_graph
        else:
            hidden = np.zeros(self.n_graphs, dtype=np.int64)
        self.ranks: Ranks = rank_graphs(
            self.node_graph,
            hidden,
            edge_source,
            edge_target,
            self.kept.likelihood,
            paper_compatible=self.params.paper_compatible,
            damping=self.params.damping,
            iterations=self.params.iterations if self.params.paper_compatible else self.params.max_iterations,
            tolerance=self.params.tolerance,
        )
        self.cycles: dict[int, list[tuple[int, ...]]] = {}
        if not self.params.paper_compatible:
            self.cycles = find_cycles(
                self.node_graph, self.node_value, edge_source, edge_target, self.params.max_cycles
            )

    # -- splitting the stacked result into graphs ---------------------------------------------------

    def graph(self) -> MoralGraph:
        return MoralGraph(
            params=self.params,
            values=self.values,
            edges=self._edge_table(self.kept, ALL_CONTEXTS),
            page_rank=self._page_rank_all_contexts(),
            contexts=self.context_graphs(),
            cycles=self._cycle_ids(ALL_CONTEXTS),
            dropped_edges=self._dropped_edges(ALL_CONTEXTS),
            converged=bool(self.ranks.converged.all()),
            votes_counted=self.votes_counted,
            votes_replaced=self.votes_replaced,
        )

    def context_graphs(self) -> dict[str, ContextGraph]:
        order = best_first(self.node_graph, self.ranks.node, id_ranks(self.value_ids)[self.node_value])
        bounds = np.searchsorted(self.node_graph[order], np.arange(self.n_graphs + 1))
        ranked_values = self.node_value[order].tolist()
        ranked_scores = self.ranks.node[order].tolist()
        graphs = {}
        for code, name in enumerate(self.context_names):
            graph = 1 + code
            lo, hi = bounds[graph], bounds[graph + 1]
            ranking = tuple(
                RankedValue(self.value_ids[v], self.values[v].title, score)
                for v, score in zip(ranked_values[lo:hi], ranked_scores[lo:hi])
            )
            graphs[name] = ContextGraph(
                context=name,
                ranking=ranking,
                edges=self._edge_table(self.kept, graph),
                cycles=self._cycle_ids(graph),
                dropped_edges=self._dropped_edges(graph),
            )
        return graphs

    def _page_rank_all_contexts(self) -> dict[str, float | None]:
        hidden_rank = float(self.ranks.hidden[ALL_CONTEXTS]) if self.params.rank_nodes == "all_values" else None
        page_rank: dict[str, float | None] = dict.fromkeys(self.value_ids, hidden_rank)
        nodes = np.flatnonzero(self.node_graph == ALL_CONTEXTS)
        for value, score in zip(self.node_value[nodes].tolist(), self.ranks.node[nodes].tolist()):
            page_rank[self.value_ids[value]] = score
        return page_rank

    def _cycle_ids(self, graph: int) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(self.value_ids[v] for v in cycle) for cycle in self.cycles.get(graph, ()))

    def _dropped_edges(self, graph: int) -> EdgeTable | None:
        return None if self.params.paper_compatible else self._edge_table(self.dropped, graph)

    def _edge_table(self, edges: _Edges, graph: int) -> EdgeTable:
        which = edges.of_graph(graph)
        part = edges.rows.take(which)
        return EdgeTable(
            source=part.source,
            wiser=part.wiser,
            counts=part.counts,
            wiser_likelihood=edges.likelihood[which],
            entropy=edges.entropy[which],
            context_offsets=part.context_offsets,
            context_codes=part.context_codes,
            value_ids=self.value_ids,
            context_names=self.context_names,
        )


class _Edges:
    """Some rows of an EdgeSelection, with their summaries, indexable by graph."""

    def __init__(self, rows: PairRows, likelihood: np.ndarray, entropy: np.ndarray) -> None:
        self.rows, self.likelihood, self.entropy = rows, likelihood, entropy
        # Rows stay sorted by (source, wiser) within a graph: the stable sort keeps their order.
        self._by_graph = np.argsort(rows.graph, kind="stable")
        self._bounds = rows.graph[self._by_graph]

    @classmethod
    def of(cls, selection: EdgeSelection, mask: np.ndarray) -> _Edges:
        return cls(selection.rows.take(np.flatnonzero(mask)), selection.wiser_likelihood[mask], selection.entropy[mask])

    def of_graph(self, graph: int) -> np.ndarray:
        lo, hi = np.searchsorted(self._bounds, [graph, graph + 1])
        return self._by_graph[lo:hi]


def _position_of_each(inverse: np.ndarray, n: int) -> np.ndarray:
    """For each code 0..n-1, some position in ``inverse`` holding it."""
    position = np.empty(n, dtype=np.int64)
    position[inverse] = np.arange(len(inverse))
    return position
