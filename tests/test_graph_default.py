"""Our default algorithm: four-field entropy, networkx PageRank semantics, cycles, 2-cycle drops."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest

from core.graph import GraphParams, UnknownValueError, Value, Vote, VoteTable, build_moral_graph
from core.graph.pagerank import pagerank_default
from tests.graph_cases import VALUES, VOTES, vote

DEFAULT = GraphParams()


def upgrades(a: str, b: str, context: str = "c", voters: tuple[str, ...] = ("u1", "u2")) -> list[Vote]:
    return [vote(voter, a, b, context, "upgrade") for voter in voters]


def nx_pagerank(values: list[Value], edges, params: GraphParams = DEFAULT) -> dict[str, float]:
    graph = nx.DiGraph()
    graph.add_nodes_from(v.id for v in values)
    graph.add_weighted_edges_from((e.source_id, e.wiser_id, e.wiser_likelihood) for e in edges)
    return nx.pagerank(graph, weight="weight", tol=params.tolerance, max_iter=params.max_iterations)


def test_entropy_ignores_impressions():
    edges = {(e.source_id, e.wiser_id): e for e in build_moral_graph(VALUES, VOTES, DEFAULT).edges}
    # (A, B): wiser 2, unsure 1 of 3 votes → -(2/3·log2(2/3) + 1/3·log2(1/3)) = 0.918296
    assert edges[("A", "B")].entropy == pytest.approx(0.918296, abs=1e-6)
    # (B, C): wiser 3, notWiser 1 → -(0.75·log2(0.75) + 0.25·log2(0.25)) = 0.811278
    assert edges[("B", "C")].entropy == pytest.approx(0.811278, abs=1e-6)
    # Counts and likelihoods are the same as in mge-2023.
    assert edges[("A", "B")].counts == (2, 0, 0, 1, 4)
    assert edges[("A", "B")].wiser_likelihood == pytest.approx(2 / 3)


def test_pagerank_redistributes_dangling_rank():
    graph = build_moral_graph(VALUES, VOTES, DEFAULT)
    # Stationary ranks, N = 5, d = 0.85: A, D and E have no in-links and all get the same share s;
    # B = s + d·A = 1.85 s; C = s + d·B = 2.5725 s. Ranks sum to 1: 7.4225 s = 1.
    s = 1 / 7.4225
    exact = {"A": s, "B": 1.85 * s, "C": 2.5725 * s, "D": s, "E": s}
    assert graph.page_rank == pytest.approx(exact, abs=1e-9)  # networkx's rule stops near, not at, the limit
    assert sum(graph.page_rank.values()) == pytest.approx(1.0)
    assert graph.page_rank == pytest.approx(nx_pagerank(VALUES, graph.edges), abs=1e-12)


def test_context_ranking_is_networkx_pagerank_of_the_context_graph():
    graph = build_moral_graph(VALUES, VOTES, DEFAULT)
    c1 = graph.contexts["c1"]
    expected = nx_pagerank(VALUES, c1.edges)
    assert [r.id for r in c1.ranking] == ["C", "B", "A"]
    assert {r.id: r.score for r in c1.ranking} == pytest.approx({k: expected[k] for k in "ABC"}, abs=1e-12)


def test_cycle_is_reported_and_tied_values_are_ordered_by_id():
    votes = upgrades("A", "B") + upgrades("B", "C") + upgrades("C", "A")
    graph = build_moral_graph(VALUES[:4], votes, DEFAULT)
    assert graph.cycles == (("A", "B", "C"),)
    assert graph.contexts["c"].cycles == (("A", "B", "C"),)
    # D (no votes) is dangling: d = 0.0375 + 0.2125·d → d = 1/21; each cycle value a = (1 - d)/3 = 20/63.
    assert graph.page_rank == pytest.approx({"A": 20 / 63, "B": 20 / 63, "C": 20 / 63, "D": 1 / 21}, abs=1e-9)
    assert [r.id for r in graph.contexts["c"].ranking] == ["A", "B", "C"]


def test_ties_order_ids_as_text():
    values = [Value("9", "nine"), Value("10", "ten"), Value("X", "ex")]
    graph = build_moral_graph(values, upgrades("9", "X") + upgrades("10", "X"), DEFAULT)
    # "9" and "10" are in the same position (one edge each to X): a tie, and "10" < "9" as text.
    assert [r.id for r in graph.contexts["c"].ranking] == ["X", "10", "9"]
    scores = [r.score for r in graph.contexts["c"].ranking]
    assert scores[1] == scores[2]


def test_disagreeing_two_cycle_is_dropped_and_reported():
    # With min_likelihood 0 a draw (2 say A→B is wiser, 2 say B→A) passes the thresholds both ways.
    params = GraphParams(min_likelihood=0.0)
    votes = upgrades("A", "B", voters=("u1", "u2")) + upgrades("B", "A", voters=("u3", "u4")) + upgrades("C", "A")
    graph = build_moral_graph(VALUES[:3], votes, params)
    # (A, B) and (B, A): wiser 2, lessWise 2 → likelihood 0, entropy over (2, 2) = 1 bit: both pass.
    assert sorted(e[:2] for e in _pairs(graph.dropped_edges)) == [("A", "B"), ("B", "A")]
    assert [e[:2] for e in _pairs(graph.edges)] == [("C", "A")]
    assert [e[:2] for e in _pairs(graph.contexts["c"].dropped_edges)] == [("A", "B"), ("B", "A")]
    dropped = next(iter(graph.dropped_edges))
    assert dropped.wiser_likelihood == 0.0 and dropped.entropy == 1.0


def test_two_cycles_cannot_pass_a_positive_likelihood_threshold():
    # A→B and B→A have opposite likelihoods, so with min_likelihood > 0 at most one direction passes.
    votes = upgrades("A", "B", voters=("u1", "u2")) + upgrades("B", "A", voters=("u3", "u4"))
    graph = build_moral_graph(VALUES[:2], votes, DEFAULT)
    assert len(graph.edges) == 0 and len(graph.dropped_edges) == 0


def test_cycles_are_bounded_simple_and_canonical():
    # A tournament on 9 values has many cycles.
    ids = [str(i) for i in range(9)]
    values = [Value(i, i) for i in ids]
    votes = []
    for i in range(9):
        for j in range(i + 1, 9):
            a, b = (ids[i], ids[j]) if (i + j) % 3 else (ids[j], ids[i])
            votes += upgrades(a, b)
    graph = build_moral_graph(values, votes, GraphParams(max_cycles=5))
    edges = set((e.source_id, e.wiser_id) for e in graph.edges)
    assert len(graph.cycles) == 5
    for cycle in graph.cycles:
        assert len(set(cycle)) == len(cycle) >= 3
        assert all((a, b) in edges for a, b in zip(cycle, cycle[1:] + cycle[:1]))
        assert cycle[0] == min(cycle, key=ids.index)
    assert build_moral_graph(values, votes, GraphParams(max_cycles=5)).cycles == graph.cycles
    assert build_moral_graph(values, votes, GraphParams(max_cycles=0)).cycles == ()
    # Without a bound every edge on a cycle is covered by some reported cycle.
    everything = build_moral_graph(values, votes, GraphParams(max_cycles=10_000))
    covered = {(a, b) for c in everything.cycles for a, b in zip(c, c[1:] + c[:1])}
    assert covered == edges  # in this tournament every edge lies on a cycle


def test_pagerank_default_equals_networkx_on_random_weighted_graphs():
    rng = random.Random(7)
    for trial in range(20):
        n = rng.randint(1, 40)
        pairs = {(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, 3 * n))}
        pairs = sorted((a, b) for a, b in pairs if a != b)
        weights = [rng.uniform(0.33, 1.0) for _ in pairs]
        graph = nx.DiGraph()
        graph.add_nodes_from(range(n))
        graph.add_weighted_edges_from((a, b, w) for (a, b), w in zip(pairs, weights))
        expected = nx.pagerank(graph)
        ranks, converged = pagerank_default(n, [a for a, _ in pairs], [b for _, b in pairs], weights)
        assert converged
        assert list(ranks) == pytest.approx([expected[i] for i in range(n)], abs=1e-12), trial


def test_whole_build_matches_networkx_per_graph():
    rng = random.Random(3)
    values = [Value(f"v{i}", f"V{i}") for i in range(25)]
    votes = []
    for k in range(1500):
        a, b = rng.sample(range(25), 2)
        a, b = min(a, b), max(a, b)  # the higher index is usually wiser
        forward = rng.random() < 0.5
        agree = rng.random() < 0.8
        choice = "upgrade" if forward == agree else rng.choice(["no_upgrade", "not_sure"])
        src, dst = (a, b) if forward else (b, a)
        votes.append(vote(f"m{k % 200}", f"v{src}", f"v{dst}", rng.choice("xyz"), choice))
    graph = build_moral_graph(values, votes, DEFAULT)
    assert len(graph.edges) > 10
    assert graph.page_rank == pytest.approx(nx_pagerank(values, graph.edges), abs=1e-12)
    for context in graph.contexts.values():
        expected = nx_pagerank(values, context.edges)
        assert {r.id: r.score for r in context.ranking} == pytest.approx(
            {r.id: expected[r.id] for r in context.ranking}, abs=1e-12
        )
        assert {r.id for r in context.ranking} == {v for e in context.edges for v in (e.source_id, e.wiser_id)}


def test_networkx_default_tolerance_is_what_networkx_gives():
    loose = GraphParams(tolerance=1e-6, max_iterations=100)
    graph = build_moral_graph(VALUES, VOTES, loose)
    assert graph.page_rank == pytest.approx(nx_pagerank(VALUES, graph.edges, loose), abs=1e-12)
    assert graph.page_rank != pytest.approx(build_moral_graph(VALUES, VOTES, DEFAULT).page_rank, abs=1e-9)


def test_non_convergence_is_reported_not_raised():
    graph = build_moral_graph(VALUES, VOTES, GraphParams(max_iterations=1))
    assert graph.converged is False
    assert build_moral_graph(VALUES, VOTES, DEFAULT).converged is True


def test_vote_on_unknown_value_is_an_error():
    with pytest.raises(UnknownValueError, match="vote #2 refers to unknown value id 'Z'"):
        build_moral_graph(VALUES, [vote("u", "A", "B", "c", "upgrade"), vote("u", "A", "Z", "c", "upgrade")])


def test_duplicate_value_ids_are_an_error():
    with pytest.raises(ValueError, match="duplicate value id 'A'"):
        build_moral_graph([Value("A", "one"), Value("A", "two")], [])


def test_no_votes_gives_an_empty_graph():
    graph = build_moral_graph(VALUES, [], DEFAULT)
    assert len(graph.edges) == 0 and graph.contexts == {}
    assert graph.page_rank == pytest.approx(dict.fromkeys("ABCDE", 0.2))


def test_vote_table_round_trip_and_bad_choice():
    table = VoteTable.from_votes(VOTES)
    assert [(v.from_value_id, v.to_value_id, v.context, v.choice) for v in table.to_votes()] == [
        (v.from_value_id, v.to_value_id, v.context, v.choice) for v in VOTES
    ]
    assert table.contexts == ("c1", "c2")
    with pytest.raises(ValueError, match="unknown choice 'maybe'"):
        VoteTable.from_votes([vote("u", "A", "B", "c", "maybe")])
    with pytest.raises(ValueError, match="codes outside"):
        VoteTable(
            np.array([0]),
            np.array([0]),
            np.array([5]),
            np.array([0]),
            np.array([0]),
            value_ids=("A", "B"),
            contexts=("c",),
        )


@pytest.mark.parametrize(
    "settings",
    [
        {"algorithm": "pagerank"},
        {"min_wiser": 0},
        {"min_likelihood": -0.1},
        {"min_likelihood": 1.5},
        {"max_entropy": -1},
        {"damping": 1.0},
        {"iterations": 0},
        {"max_iterations": 0},
        {"tolerance": 0},
        {"max_cycles": -1},
        {"rank_nodes": "some"},
    ],
)
def test_params_are_validated(settings):
    with pytest.raises(ValueError):
        GraphParams(**settings)


def _pairs(edges):
    return [(e.source_id, e.wiser_id, e.counts) for e in edges]
