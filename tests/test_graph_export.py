"""The interchange JSON: shape, canonical bytes and hash, and round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.graph.files import read_values
from core.graph import (
    GraphParams,
    Value,
    Vote,
    build_moral_graph,
    content_hash,
    dump_json,
    to_interchange,
)
from core.graph.export import canonical_json
from core.graph.pagerank import pagerank_default, pagerank_mge2023

VALUES = [
    Value("1", "Honest care", "Caring enough to say it.", ("MOMENTS when truth helps",)),
    Value("2", "Grounded presence", "Staying with someone.", ("FEELINGS that need room", 'WORDS with "quotes"')),
    Value("3", "Ünïcode ✓", "", ()),
    Value("4", "Never voted", "", ()),
]


def v(voter: str, a: str, b: str, context: str, choice: str = "upgrade") -> Vote:
    return Vote(voter, a, b, context, choice)  # type: ignore[arg-type]


VOTES = [
    v("u1", "1", "2", "When in distress"),
    v("u2", "1", "2", "When in distress"),
    v("u3", "1", "2", "When grieving, or afraid"),
    v("u1", "2", "3", "When grieving, or afraid"),
    v("u2", "2", "3", "When grieving, or afraid"),
    v("u3", "3", "1", "When grieving, or afraid"),
    v("u4", "3", "1", "When grieving, or afraid"),
    v("u4", "2", "1", "When in distress", "no_upgrade"),
]


@pytest.fixture(params=["default", "mge-2023"])
def params(request) -> GraphParams:
    return GraphParams(algorithm=request.param)


def test_document_shape(params):
    doc = json.loads(dump_json(build_moral_graph(VALUES, VOTES, params)))
    expected_keys = {"values", "edges", "rankings", "parameters", "hash"}
    if params.algorithm == "default":
        expected_keys |= {"cycles", "droppedEdges", "contextCycles", "contextDroppedEdges"}
    assert set(doc) == expected_keys
    assert [value["id"] for value in doc["values"]] == ["1", "2", "3", "4"]
    for value in doc["values"]:
        assert set(value) == {"id", "title", "description", "policies", "pageRank"}
        assert isinstance(value["pageRank"], float)
    assert doc["values"][1]["policies"] == ["FEELINGS that need room", 'WORDS with "quotes"']
    assert doc["edges"], "the votes above make edges"
    for edge in doc["edges"]:
        assert set(edge) == {"sourceValueId", "wiserValueId", "contexts", "counts", "summary"}
        assert set(edge["counts"]) == {"markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions"}
        assert set(edge["summary"]) == {"wiserLikelihood", "entropy"}
    first = doc["edges"][0]
    assert (first["sourceValueId"], first["wiserValueId"]) == ("1", "2")
    assert first["contexts"] == ["When in distress", "When grieving, or afraid"]
    assert first["counts"] == {
        "markedWiser": 3,
        "markedNotWiser": 0,
        "markedLessWise": 0,
        "markedUnsure": 0,
        "impressions": 4,
    }
    assert set(doc["rankings"]) == {"When in distress", "When grieving, or afraid"}
    for ranking in doc["rankings"].values():
        assert all(set(entry) == {"id", "title", "score"} for entry in ranking)
        scores = [entry["score"] for entry in ranking]
        assert scores == sorted(scores, reverse=True)
    assert doc["parameters"]["algorithm"] == params.algorithm
    assert doc["parameters"]["minWiser"] == 2


def test_default_reports_cycles(params):
    doc = json.loads(dump_json(build_moral_graph(VALUES, VOTES, params)))
    if params.algorithm == "default":
        # 1→2 (3 wiser), 2→3 (2), 3→1 (2): one cycle overall, and in the grieving context alone
        # 1→2 has one wiser vote, so no cycle there.
        assert doc["cycles"] == [["1", "2", "3"]]
        assert doc["contextCycles"] == {}
        assert doc["droppedEdges"] == []


def test_bytes_are_the_canonical_json_and_the_hash_checks(params):
    graph = build_moral_graph(VALUES, VOTES, params)
    data = dump_json(graph)
    assert data.endswith(b"}\n")
    doc = json.loads(data)
    assert doc["hash"] == content_hash(doc)
    body = canonical_json(to_interchange(graph))
    assert data == body[:-1] + b',"hash":"' + doc["hash"].encode() + b'"}\n'
    # Check the way a reader would: drop the hash, serialise canonically, hash.
    again = dict(doc)
    again.pop("hash")
    assert canonical_json(again) == body


def test_same_input_same_bytes_and_any_change_changes_the_hash(params):
    first = dump_json(build_moral_graph(VALUES, VOTES, params))
    assert dump_json(build_moral_graph(list(VALUES), list(VOTES), params)) == first
    changed = dump_json(build_moral_graph(VALUES, VOTES[:-1], params))
    assert json.loads(changed)["hash"] != json.loads(first)["hash"]


def test_graph_values_mode_omits_page_rank_of_unranked_values():
    graph = build_moral_graph(VALUES, VOTES, GraphParams(algorithm="mge-2023", rank_nodes="graph_values"))
    doc = json.loads(dump_json(graph))
    assert "pageRank" not in doc["values"][3]
    assert doc["parameters"]["rankNodes"] == "graph_values"


def test_exported_values_build_the_same_graph(tmp_path: Path, params):
    graph = build_moral_graph(VALUES, VOTES, params)
    export = tmp_path / "graph.json"
    export.write_bytes(dump_json(graph))
    again = build_moral_graph(read_values(export), VOTES, params)
    assert again.page_rank == graph.page_rank
    assert again.rankings == graph.rankings
    assert dump_json(again) == dump_json(graph)


def test_ranks_can_be_recomputed_from_the_exported_edges(params):
    """A tool that only reads the export gets our pageRank back from the edges and their weights."""
    doc = json.loads(dump_json(build_moral_graph(VALUES, VOTES, params)))
    index = {value["id"]: i for i, value in enumerate(doc["values"])}
    source = [index[e["sourceValueId"]] for e in doc["edges"]]
    target = [index[e["wiserValueId"]] for e in doc["edges"]]
    weight = [e["summary"]["wiserLikelihood"] for e in doc["edges"]]
    if params.algorithm == "mge-2023":
        ranks = pagerank_mge2023(len(index), source, target, weight)
    else:
        ranks, _ = pagerank_default(len(index), source, target, weight, tolerance=1e-10, iterations=1000)
    assert list(ranks) == pytest.approx([value["pageRank"] for value in doc["values"]], abs=1e-15)


def test_non_ascii_is_written_as_utf8():
    data = dump_json(build_moral_graph(VALUES, VOTES))
    assert "Ünïcode ✓".encode() in data


def test_large_random_graph_writer_matches_dict_form():
    rng = np.random.default_rng(5)
    values = [Value(f"id-{i}", f"T{i}", "d", ("p",)) for i in range(60)]
    votes = [
        v(
            f"m{rng.integers(50)}",
            f"id-{a}",
            f"id-{b}",
            f"ctx {rng.integers(4)}",
            ["upgrade", "no_upgrade", "not_sure"][c],
        )
        for a, b, c in zip(
            rng.integers(0, 30, 3000), rng.integers(30, 60, 3000), rng.choice(3, 3000, p=[0.7, 0.2, 0.1])
        )
    ]
    for algorithm in ("default", "mge-2023"):
        graph = build_moral_graph(values, votes, GraphParams(algorithm=algorithm, min_likelihood=0.0))
        data = dump_json(graph)
        assert data.startswith(canonical_json(to_interchange(graph))[:-1])
