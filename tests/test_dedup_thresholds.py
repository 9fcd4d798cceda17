"""Dedup thresholds per embedding model: the documented defaults, picked by MGE_EMBEDDER and
MGE_EMBEDDING_MODEL, overridden by MGE_DEDUP_MATCH_DISTANCE / MGE_DEDUP_CLUSTER_EPS; and the offline semantic
embedder shipped in the wordllama wheel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters.embeddings import LexicalEmbedder, LLMEmbedder, WordLlamaEmbedder
from bot.runtime.settings import load_settings
from bot.runtime.wiring import build_dedup_embedder
from core.dedup_thresholds import DEFAULTS, PAPER
from core.embeddings import cosine_distances


@pytest.mark.parametrize(
    ("env", "kind", "match", "eps"),
    [
        ({}, LLMEmbedder, 0.10, 0.20),  # text-embedding-3-small
        ({"MGE_EMBEDDING_MODEL": "text-embedding-3-large"}, LLMEmbedder, 0.10, 0.20),
        ({"MGE_EMBEDDING_MODEL": "nomic-embed-text"}, LLMEmbedder, PAPER.match_distance, PAPER.cluster_eps),
        ({"MGE_EMBEDDER": "lexical"}, LexicalEmbedder, 0.85, 0.85),
        ({"MGE_EMBEDDER": "wordllama"}, WordLlamaEmbedder, 0.60, 0.60),
        ({"MGE_EMBEDDER": "wordllama", "MGE_DEDUP_MATCH_DISTANCE": "0.5"}, WordLlamaEmbedder, 0.5, 0.60),
        ({"MGE_DEDUP_MATCH_DISTANCE": "", "MGE_DEDUP_CLUSTER_EPS": "0.3"}, LLMEmbedder, 0.10, 0.3),
    ],
)
def test_defaults_per_model_and_overrides(env, kind, match, eps, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    embedder, params = build_dedup_embedder(load_settings(), llm=None)  # type: ignore[arg-type]  # not called here
    assert isinstance(embedder, kind)
    assert (params.match_distance, params.cluster_eps) == (match, eps)
    assert embedder.model in DEFAULTS or kind is LLMEmbedder


def test_lexical_flag_wins_over_the_setting(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MGE_EMBEDDER", "wordllama")
    embedder, params = build_dedup_embedder(load_settings(), llm=None, lexical=True)  # type: ignore[arg-type]
    assert isinstance(embedder, LexicalEmbedder) and params.match_distance == DEFAULTS[embedder.model].match_distance


async def test_the_offline_semantic_embedder_runs_from_its_wheel():
    embedder = WordLlamaEmbedder()  # no network here: the weights and tokenizer come from the package
    found = await embedder.embed(
        [
            "MOMENTS when the person tells the truth even when it is hard",
            "OCCASIONS where someone is honest although honesty costs them",
            "RECIPES for baking bread at home",
        ]
    )
    assert found.vectors.shape == (3, 256) and found.model == "wordllama-l2-supercat-256"
    assert np.allclose(np.linalg.norm(found.vectors, axis=1), 1.0, atol=1e-4)
    distances = cosine_distances(found.vectors, found.vectors)
    assert distances[0, 1] < distances[0, 2]
    assert (await embedder.embed([])).vectors.shape == (0, 256)


async def test_the_benchmark_measures_both_offline_embedders_and_backs_their_defaults():
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    import dedup_bench

    found = await dedup_bench.measure()
    assert found["pairs"] >= 40 and 0 < found["same"] < found["pairs"]
    assert set(found["embedders"]) == {"lexical-hash-v1", "wordllama-l2-supercat-256"}
    for model, measured in found["embedders"].items():
        recalls = [row["recall"] for row in measured["at_all_pairs"]]
        assert recalls == sorted(recalls) and recalls[-1] > 0  # a wider radius never loses a pair
        # The documented default is the radius the measurement suggests.
        assert DEFAULTS[model].match_distance == measured["suggested"]
    assert "| wordllama-l2-supercat-256 |" in dedup_bench.table(found)
