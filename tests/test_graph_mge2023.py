"""The paper-compatible algorithm ("mge-2023") on small graphs whose numbers are worked out by hand."""

from __future__ import annotations

import math

import pytest

from core.graph import GraphParams, Vote, build_moral_graph, rank_by_context
from core.graph.pagerank import pagerank_mge2023
from tests.graph_cases import VALUES, VOTES, vote

PAPER = GraphParams(algorithm="mge-2023")


def edges_by_pair(graph):
    return {(e.source_id, e.wiser_id): e for e in graph.edges}


def test_counts_forward_and_reverse_pass():
    graph = build_moral_graph(VALUES, VOTES, PAPER)
    edges = edges_by_pair(graph)
    assert set(edges) == {("A", "B"), ("B", "C")}

    ab = edges[("A", "B")]
    # Forward: votes 1-3 on A→B (2 upgrade, 1 not sure) → wiser 2, unsure 1, 3 impressions.
    # Reverse: vote 4 on B→A (no_upgrade) → 1 more impression, no lessWise.
    assert ab.counts == (2, 0, 0, 1, 4)  # wiser, notWiser, lessWise, unsure, impressions
    # total = 2 + 0 + 1 + 0 = 3; likelihood = (2 - 0) / 3
    assert ab.wiser_likelihood == pytest.approx(2 / 3)
    # Entropy over the five fields, impressions included: 2, 1, 4 out of 7.
    # -(2/7·log2(2/7) + 1/7·log2(1/7) + 4/7·log2(4/7)) = 0.516387 + 0.401051 + 0.461346 = 1.378783
    assert ab.entropy == pytest.approx(1.378783, abs=1e-6)
    # Contexts: forward pass sees c1, c1, c2; the reverse pass adds c2 again → [c1, c2].
    assert ab.contexts == ("c1", "c2")

    bc = edges[("B", "C")]
    assert bc.counts == (3, 1, 0, 0, 4)
    assert bc.wiser_likelihood == 0.75
    # 3, 1, 4 out of 8: 0.375·1.415037 + 0.125·3 + 0.5·1 = 1.405639
    assert bc.entropy == pytest.approx(1.405639, abs=1e-6)
    assert bc.contexts == ("c1",)


def test_reverse_pair_with_no_wiser_vote_is_not_an_edge():
    # (B, A) has markedWiser 0 (vote 4 was no_upgrade) and lessWise 2: never an edge.
    graph = build_moral_graph(VALUES, VOTES, PAPER)
    assert ("B", "A") not in edges_by_pair(graph)


def test_pagerank_sinks_leak_and_n_counts_every_value():
    graph = build_moral_graph(VALUES, VOTES, PAPER)
    # N = 5 (A..E, E has no votes); each source has one out-edge, so its whole share moves on.
    # A = 0.15/5 = 0.03 from the first iteration on; B = 0.03 + 0.85·0.03 = 0.0555;
    # C = 0.03 + 0.85·0.0555 = 0.077175; D = E = 0.03. C is a sink: its rank is not redistributed,
    # so the ranks sum to less than 1.
    expected = {"A": 0.03, "B": 0.0555, "C": 0.077175, "D": 0.03, "E": 0.03}
    assert graph.page_rank == pytest.approx(expected, abs=1e-15)
    assert sum(graph.page_rank.values()) < 1


def test_graph_values_mode_ranks_only_values_on_edges_like_the_reference():
    graph = build_moral_graph(VALUES, VOTES, GraphParams(algorithm="mge-2023", rank_nodes="graph_values"))
    # N = 3 (A, B, C): A = 0.15/3 = 0.05; B = 0.05 + 0.85·0.05 = 0.0925; C = 0.05 + 0.85·0.0925.
    assert graph.page_rank["A"] == pytest.approx(0.05)
    assert graph.page_rank["B"] == pytest.approx(0.0925)
    assert graph.page_rank["C"] == pytest.approx(0.128625)
    assert graph.page_rank["D"] is None and graph.page_rank["E"] is None


def test_per_context_rankings_use_only_that_contexts_votes():
    graph = build_moral_graph(VALUES, VOTES, PAPER)
    # c1 has votes 1, 2 (A→B upgrades) and 5-8 (B→C): both edges, same ranks as overall.
    c1 = graph.contexts["c1"]
    assert [r.id for r in c1.ranking] == ["C", "B", "A"]
    assert [r.score for r in c1.ranking] == pytest.approx([0.077175, 0.0555, 0.03])
    assert c1.winner is not None and c1.winner.id == "C" and c1.winner.title == "Value C"
    # In c1 alone, (A, B) has 2 wiser and 2 impressions: entropy over (2, 2) = 1 bit, likelihood 1.
    ab = {(e.source_id, e.wiser_id): e for e in c1.edges}[("A", "B")]
    assert ab.counts == (2, 0, 0, 0, 2) and ab.entropy == 1.0 and ab.wiser_likelihood == 1.0
    # c2 has only a not_sure and a no_upgrade: no edge, no ranking, no winner.
    assert graph.contexts["c2"].ranking == ()
    assert graph.winner("c2") is None
    assert rank_by_context(VALUES, VOTES, PAPER) == graph.rankings


def test_contexts_rank_differently():
    votes = [
        vote("u1", "A", "B", "grief", "upgrade"),
        vote("u2", "A", "B", "grief", "upgrade"),
        vote("u3", "B", "A", "work", "upgrade"),
        vote("u4", "B", "A", "work", "upgrade"),
    ]
    graph = build_moral_graph(VALUES, votes, PAPER)
    assert graph.winner("grief").id == "B"
    assert graph.winner("work").id == "A"
    # Over all contexts the pair is a draw: (A, B) has wiser 2 and lessWise 2 → likelihood 0.
    assert len(graph.edges) == 0


def test_thresholds_at_the_boundary_keep_the_edge():
    # markedWiser exactly 2, likelihood 2/6 = 0.333… ≥ 0.33.
    votes = [vote(f"u{i}", "A", "B", "c", "upgrade" if i < 2 else "no_upgrade") for i in range(6)]
    edge = next(iter(build_moral_graph(VALUES, votes, PAPER).edges))
    # Five-field entropy: 2, 4, 6 of 12 → 1/6·log2(6) + 1/3·log2(3) + 1/2 = 1.459148 ≤ 1.69.
    assert edge.counts == (2, 4, 0, 0, 6)
    assert edge.entropy == pytest.approx(1.459148, abs=1e-6)
    # One "wiser" vote fewer (1 of 3, still likelihood 1/3) is below min_wiser.
    assert len(build_moral_graph(VALUES, votes[1:4], PAPER).edges) == 0


def test_likelihood_exactly_033_is_kept_and_032_is_not():
    def votes(wiser: int) -> list[Vote]:
        return [vote(f"u{i}", "A", "B", "c", "upgrade" if i < wiser else "no_upgrade") for i in range(100)]

    kept = list(build_moral_graph(VALUES, votes(33), PAPER).edges)
    assert len(kept) == 1 and kept[0].wiser_likelihood == 0.33  # 33/100 is the float 0.33
    assert len(build_moral_graph(VALUES, votes(32), PAPER).edges) == 0


def test_entropy_threshold_is_inclusive():
    # 2 upgrades and 2 no_upgrade: five-field counts 2, 2, 0, 0, 4 (of 8):
    # 0.25·2 + 0.25·2 + 0.5·1 = 1.5 bits exactly.
    votes = [vote(f"u{i}", "A", "B", "c", "upgrade" if i < 2 else "no_upgrade") for i in range(4)]
    # likelihood 2/4 = 0.5 passes; the edge lives or dies by max_entropy alone.
    assert len(build_moral_graph(VALUES, votes, GraphParams(algorithm="mge-2023", max_entropy=1.5)).edges) == 1
    assert len(build_moral_graph(VALUES, votes, GraphParams(algorithm="mge-2023", max_entropy=1.49)).edges) == 0


def test_revote_replaces_the_earlier_vote_on_the_same_story():
    votes = [
        vote("u1", "A", "B", "c", "upgrade"),
        vote("u2", "A", "B", "c", "upgrade"),
        vote("u1", "A", "B", "c", "no_upgrade"),  # u1 changes their mind
    ]
    graph = build_moral_graph(VALUES, votes, PAPER)
    assert len(graph.edges) == 0  # only one "wiser" vote left
    assert (graph.votes_counted, graph.votes_replaced) == (2, 1)
    # The same voter on the same pair in another context is another story: both count.
    votes.append(vote("u1", "A", "B", "other", "upgrade"))
    edge = next(iter(build_moral_graph(VALUES, votes, PAPER).edges))
    assert edge.counts.marked_wiser == 2


def test_a_revote_counts_where_it_was_cast_for_context_order():
    votes = [
        vote("u1", "A", "B", "c1", "upgrade"),
        vote("u2", "A", "B", "c2", "upgrade"),
        vote("u1", "A", "B", "c1", "upgrade"),  # replaces the first vote, so c1 is first seen here
        vote("u3", "A", "B", "c1", "upgrade"),
    ]
    edge = next(iter(build_moral_graph(VALUES, votes, PAPER).edges))
    assert edge.contexts == ("c2", "c1")


def test_cycle_with_equal_ranks_and_tie_order():
    votes = [vote(u, a, b, "c", "upgrade") for a, b in ("AB", "BC", "CA") for u in ("u1", "u2")]
    graph = build_moral_graph(VALUES[:4], votes, PAPER)
    # N = 4. Start 0.25; each of A, B, C gets 0.0375 + 0.85·0.25 = 0.25 again: a fixed point.
    # D (no votes) gets 0.15/4 = 0.0375.
    assert graph.page_rank == pytest.approx({"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.0375})
    # A three-way tie is ordered by id.
    assert [r.id for r in graph.contexts["c"].ranking] == ["A", "B", "C"]
    assert graph.cycles == ()  # cycles are reported by the default algorithm only


def test_zero_likelihood_two_cycle_is_kept_but_passes_no_rank():
    # With min_likelihood 0 the paper's code keeps both halves of a draw (weight 0 each), and a
    # node whose out-weights sum to 0 gives nothing away.
    votes = [
        vote(u, a, b, "c", "upgrade")
        for a, b, u in [("A", "B", "u1"), ("A", "B", "u2"), ("B", "A", "u3"), ("B", "A", "u4")]
    ]
    graph = build_moral_graph(VALUES[:2], votes, GraphParams(algorithm="mge-2023", min_likelihood=0.0))
    assert {(e.source_id, e.wiser_id) for e in graph.edges} == {("A", "B"), ("B", "A")}
    assert graph.page_rank == pytest.approx({"A": 0.075, "B": 0.075})


def test_pagerank_runs_exactly_the_given_iterations():
    # A → B → C → D chain, N = 4, 2 iterations: start 0.25.
    # it 1: A .0375, B .0375+.85·.25=.25, C .25, D .25; it 2: A .0375, B .0375+.85·.0375=.069375, C .25, D .25
    ranks = pagerank_mge2023(4, [0, 1, 2], [1, 2, 3], [1.0, 1.0, 1.0], iterations=2)
    assert list(ranks) == pytest.approx([0.0375, 0.069375, 0.25, 0.25])


def test_weights_split_a_sources_rank_by_likelihood():
    # A → B (w 0.5) and A → C (w 1.0): B gets 1/3 of A's passed rank, C 2/3. N = 3.
    ranks = pagerank_mge2023(3, [0, 0], [1, 2], [0.5, 1.0])
    a = 0.05
    assert list(ranks) == pytest.approx([a, a + 0.85 * a / 3, a + 0.85 * a * 2 / 3])
    assert math.isclose(sum(ranks), 3 * a + 0.85 * a)
