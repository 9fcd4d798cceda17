"""Weighted PageRank, both flavours, for many graphs at once.

The graph over all contexts and every per-context graph are ranked together: their nodes are stacked
into one block-diagonal sparse matrix, so one power iteration serves a hundred graphs and Python never
loops over contexts. Each graph ``g`` has ``n_g`` explicit nodes (values touching one of its edges)
and ``hidden[g]`` implicit ones (values with no edge in it, when ``rank_nodes="all_values"``). Hidden
nodes are all alike, so one number per graph stands for all of them.

* mge-2023 (the reference code): start 1/N, exactly ``iterations`` rounds of
  ``new[n] = (1 − d)/N + Σ_{s→n} d · pr[s] · w(s→n) / Σ_out w(s)``; a sink's rank leaks away.
* default (networkx's ``pagerank``): uniform start and teleport, a dangling node's rank is spread
  over all N nodes, stop when the L1 change is below N × tolerance, at most ``iterations`` rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True, eq=False)
class Ranks:
    #: Rank of each explicit node.
    node: np.ndarray
    #: Rank of each hidden node, per graph.
    hidden: np.ndarray
    #: Per graph: did the default flavour converge (always True for mge-2023)?
    converged: np.ndarray


def rank_graphs(
    node_graph: np.ndarray,
    hidden: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    *,
    paper_compatible: bool,
    damping: float = 0.85,
    iterations: int = 100,
    tolerance: float = 1e-6,
) -> Ranks:
    """PageRank of every graph. ``node_graph[k]`` is the graph of explicit node k; ``hidden[g]`` the
    number of hidden nodes of graph g; edges are (source, target, weight) over explicit nodes, each
    within one graph."""
    n_graphs = len(hidden)
    n_nodes = len(node_graph)
    size = np.bincount(node_graph, minlength=n_graphs) + hidden
    inv_size = np.divide(1.0, size, out=np.zeros(n_graphs), where=size > 0)

    out_weight = np.bincount(source, weights=weight, minlength=n_nodes)
    # A node whose out-weights sum to 0 passes nothing on: a sink in mge-2023, dangling in default.
    passes_on = out_weight > 0
    share = np.divide(weight, out_weight[source], out=np.zeros(len(weight)), where=passes_on[source])
    # Transposed transition matrix: row = receiving node, so one product gathers all incoming rank.
    incoming = sparse.csr_array((share, (target, source)), shape=(n_nodes, n_nodes))

    x = inv_size[node_graph]
    teleport = (1.0 - damping) * inv_size
    if paper_compatible:
        node_teleport = teleport[node_graph]
        for _ in range(iterations):
            x = node_teleport + damping * (incoming @ x)
        # Hidden nodes have no in-links: after one round they hold the teleport share only.
        return Ranks(x, teleport, np.ones(n_graphs, dtype=bool))

    y = inv_size.copy()
    dangling = ~passes_on
    active = size > 0
    for _ in range(iterations):
        dangling_mass = np.bincount(node_graph, weights=np.where(dangling, x, 0.0), minlength=n_graphs) + hidden * y
        y_new = damping * dangling_mass * inv_size + teleport
        x_new = damping * (incoming @ x) + y_new[node_graph]
        change = np.bincount(node_graph, weights=np.abs(x_new - x), minlength=n_graphs) + hidden * np.abs(y_new - y)
        # A graph that has converged keeps its ranks while the others go on, as if ranked alone.
        x = np.where(active[node_graph], x_new, x)
        y = np.where(active, y_new, y)
        active &= ~(change < size * tolerance)
        if not active.any():
            break
    return Ranks(x, y, ~active)


def pagerank_mge2023(
    n: int, source: np.ndarray, target: np.ndarray, weight: np.ndarray, *, damping: float = 0.85, iterations: int = 100
) -> np.ndarray:
    """The reference code's PageRank of one graph of ``n`` nodes (every node counted in N)."""
    return _rank_one_graph(
        n, source, target, weight, paper_compatible=True, damping=damping, iterations=iterations
    ).node


def pagerank_default(
    n: int,
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    *,
    damping: float = 0.85,
    iterations: int = 100,
    tolerance: float = 1e-6,
) -> tuple[np.ndarray, bool]:
    """networkx's ``pagerank`` of one graph of ``n`` nodes; also says whether it converged."""
    ranks = _rank_one_graph(
        n, source, target, weight, paper_compatible=False, damping=damping, iterations=iterations, tolerance=tolerance
    )
    return ranks.node, bool(ranks.converged[0])


def _rank_one_graph(n: int, source, target, weight, **options):
    """``rank_graphs`` for a single graph: every node in graph 0."""
    return rank_graphs(
        np.zeros(n, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.asarray(source, dtype=np.int64),
        np.asarray(target, dtype=np.int64),
        np.asarray(weight, dtype=np.float64),
        **options,
    )
