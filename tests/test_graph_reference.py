"""The fast build agrees with the independent pure-Python reference (benchmarks/graph_reference.py)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from core.graph import GraphParams, Value, Vote, build_moral_graph, to_interchange

REFERENCE_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "graph_reference.py"


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("graph_reference", REFERENCE_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["graph_reference"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def random_votes(seed: int, n_values: int = 60, n_votes: int = 4000) -> tuple[list[Value], list[Vote]]:
    """Voters mostly agree with a hidden order that shifts per context, so edges pass, contexts
    differ and some cycles form; about 3% of votes are re-votes."""
    rng = random.Random(seed)
    values = [Value(str(i * 7 % 101), f"Value {i}") for i in range(n_values)]
    contexts = ["When in distress", "When deciding, alone", 'When "stuck"', "When grieving"]
    wisdom = {c: [rng.gauss(i / n_values, 0.3) for i in range(n_values)] for c in contexts}
    pairs = [(rng.randrange(n_values), rng.randrange(n_values), rng.choice(contexts)) for _ in range(400)]
    votes: list[Vote] = []
    for _ in range(n_votes):
        if votes and rng.random() < 0.03:
            old = rng.choice(votes)
            votes.append(
                Vote(
                    old.voter_id, old.from_value_id, old.to_value_id, old.context, rng.choice(["upgrade", "no_upgrade"])
                )
            )
            continue
        a, b, context = rng.choice(pairs)
        if a == b:
            continue
        wiser = wisdom[context][b] > wisdom[context][a]
        agree = rng.random() < 0.75
        choice = (
            rng.choice(["upgrade", "upgrade", "not_sure"]) if wiser == agree else rng.choice(["no_upgrade", "not_sure"])
        )
        votes.append(Vote(f"member {rng.randrange(300)}", values[a].id, values[b].id, context, choice))  # type: ignore[arg-type]
    # Exact draws (as many say A→B is wiser as say B→A), which only pass when min_likelihood is 0.
    values += [Value("draw-a", "Draw A"), Value("draw-b", "Draw B")]
    for voter in ("d1", "d2"):
        votes.append(Vote(voter, "draw-a", "draw-b", "When in distress", "upgrade"))
        votes.append(Vote(voter + "'", "draw-b", "draw-a", "When in distress", "upgrade"))
    return values, votes


CASES = [
    GraphParams(algorithm="default"),
    GraphParams(algorithm="mge-2023"),
    GraphParams(algorithm="default", rank_nodes="graph_values"),
    GraphParams(algorithm="mge-2023", rank_nodes="graph_values"),
    # Likelihood 0 lets draws through: exercises the 2-cycle drop and zero-weight edges.
    GraphParams(algorithm="default", min_likelihood=0.0, min_wiser=1, max_cycles=7),
    GraphParams(algorithm="mge-2023", min_likelihood=0.0, min_wiser=1, max_entropy=1.9),
]


@pytest.mark.parametrize("params", CASES, ids=lambda p: f"{p.algorithm}-{p.rank_nodes}-{p.min_likelihood}")
@pytest.mark.parametrize("seed", [1, 2])
def test_fast_build_matches_reference(reference: ModuleType, params: GraphParams, seed: int):
    values, votes = random_votes(seed)
    fast = to_interchange(build_moral_graph(values, votes, params))
    slow = reference.build(
        [{"id": v.id, "title": v.title, "description": v.description, "policies": list(v.policies)} for v in values],
        [(v.voter_id, v.from_value_id, v.to_value_id, v.context, v.choice) for v in votes],
        reference.Params(**{field: getattr(params, field) for field in reference.Params.__dataclass_fields__}),
    )
    assert len(fast["edges"]) > 20
    assert fast["parameters"] == slow["parameters"]
    assert_edges_equal(fast["edges"], slow["edges"])
    for mine, theirs in zip(fast["values"], slow["values"], strict=True):
        assert mine.keys() == theirs.keys()
        assert mine.get("pageRank", 0.0) == pytest.approx(theirs.get("pageRank", 0.0), abs=1e-9, rel=0)
    assert fast["rankings"].keys() == slow["rankings"].keys()
    for context, ranking in fast["rankings"].items():
        assert [r["id"] for r in ranking] == [r["id"] for r in slow["rankings"][context]], context
        assert [r["score"] for r in ranking] == pytest.approx([r["score"] for r in slow["rankings"][context]], abs=1e-9)
    if params.algorithm == "default":
        assert fast["cycles"] == slow["cycles"]
        assert fast["contextCycles"] == slow["contextCycles"]
        assert_edges_equal(fast["droppedEdges"], slow["droppedEdges"])
        assert fast["contextDroppedEdges"].keys() == slow["contextDroppedEdges"].keys()


def test_random_graphs_exercise_cycles_and_drops(reference: ModuleType):
    values, votes = random_votes(1)
    graph = build_moral_graph(values, votes, CASES[4])
    assert graph.cycles
    assert graph.dropped_edges is not None and len(graph.dropped_edges) == 2
    assert len(graph.contexts["When in distress"].dropped_edges or ()) == 2
    assert graph.votes_replaced > 0


def assert_edges_equal(fast: list[dict], slow: list[dict]) -> None:
    assert [(e["sourceValueId"], e["wiserValueId"], e["contexts"], e["counts"]) for e in fast] == [
        (e["sourceValueId"], e["wiserValueId"], e["contexts"], e["counts"]) for e in slow
    ]
    for mine, theirs in zip(fast, slow):
        assert mine["summary"]["wiserLikelihood"] == pytest.approx(theirs["summary"]["wiserLikelihood"], abs=1e-12)
        assert mine["summary"]["entropy"] == pytest.approx(theirs["summary"]["entropy"], abs=1e-12)
