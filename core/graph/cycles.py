"""Cycles among kept edges (default algorithm), reported without letting their number explode.

A graph over thousands of values can hold astronomically many simple cycles, most of them hundreds
of values long and of no use to a person. So we report short ones: taking the edges that lie inside
a strongly connected component in a fixed order (by source, then wiser value), for each edge not
already on a reported cycle we report the shortest cycle through it (a breadth-first search back
from its wiser end), until ``max_cycles`` cycles per graph. Every edge on a cycle is covered when
fewer than ``max_cycles`` are found; each cycle is simple; the same input gives the same cycles.

scipy does the components and searches on the whole stacked graph of all contexts at once, so no
networkx graph is built (networkx alone takes longer to import than this takes to run on a million
votes), and Python only loops over the reported cycles.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def find_cycles(
    node_graph: np.ndarray,
    node_value: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    max_cycles: int,
) -> dict[int, list[tuple[int, ...]]]:
    """Short simple cycles per graph, as tuples of value indices, at most ``max_cycles`` per graph.

    Nodes are explicit nodes of stacked graphs (``node_graph``, ``node_value``); edges are
    (source, target) node pairs. Each cycle starts at its smallest value index; a graph's cycles are
    sorted by length, then by values.
    """
    n_nodes = len(node_graph)
    if max_cycles == 0 or len(source) == 0:
        return {}
    from scipy.sparse import csgraph  # ~0.2 s to import (it pulls in scipy.sparse.linalg): only when needed

    adjacency = sparse.csr_array((np.ones(len(source)), (source, target)), shape=(n_nodes, n_nodes))
    _, component = csgraph.connected_components(adjacency, directed=True, connection="strong")
    on_cycle = (component[source] == component[target]) & (np.bincount(component)[component[source]] > 1)
    if not on_cycle.any():
        return {}

    cyclic_source, cyclic_target = source[on_cycle], target[on_cycle]
    # Only edges inside components matter, and every cycle stays inside one component.
    inner = sparse.csr_array((np.ones(len(cyclic_source)), (cyclic_source, cyclic_target)), shape=(n_nodes, n_nodes))
    # The search visits neighbours in index order (= value order), which decides between equally
    # short cycles; keep that explicit rather than relying on construction order.
    inner.sort_indices()
    order = np.lexsort((node_value[cyclic_target], node_value[cyclic_source], node_graph[cyclic_source]))
    found: dict[int, list[tuple[int, ...]]] = {}
    covered: set[tuple[int, int]] = set()
    for u, v in zip(cyclic_source[order].tolist(), cyclic_target[order].tolist()):
        graph = int(node_graph[u])
        cycles = found.setdefault(graph, [])
        if len(cycles) >= max_cycles or (u, v) in covered:
            continue
        cycle = _shortest_cycle_through(inner, u, v)
        covered.update(zip(cycle, cycle[1:] + cycle[:1]))
        cycles.append(_rotate_to_smallest([int(node_value[node]) for node in cycle]))
    return {graph: sorted(cycles, key=lambda c: (len(c), c)) for graph, cycles in found.items()}


def _shortest_cycle_through(adjacency: sparse.csr_array, u: int, v: int) -> list[int]:
    """Nodes of a shortest cycle using edge u→v, starting at v: a shortest path v ⇝ u, closed by u→v."""
    from scipy.sparse import csgraph

    _, predecessor = csgraph.breadth_first_order(adjacency, v, directed=True, return_predecessors=True)
    path = [u]
    while path[-1] != v:
        path.append(int(predecessor[path[-1]]))
    path.reverse()
    return path


def _rotate_to_smallest(cycle: list[int]) -> tuple[int, ...]:
    start = cycle.index(min(cycle))
    return tuple(cycle[start:] + cycle[:start])
