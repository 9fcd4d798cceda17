"""The embeddings port's helpers (cosine, nearest, DBSCAN), the lexical embedder, and the embedding cache."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import select

from adapters.embeddings import LexicalEmbedder, LLMEmbedder
from core.cards import ValuesCard
from core.dedup_judge import cluster_schema, match_schema
from core.embeddings import NOISE, clusters, cosine_distance, cosine_distances, dbscan, nearest, policies_text
from core.llm import LLMError
from storage import values_repo
from storage.models import EmbeddingCache
from tests.conftest import make_llm
from tests.dedup_support import AUTONOMY, AUTONOMY_REWORDED, CANDOUR_SAME_WORDS, GENEROSITY, SAME_REASONS


def test_policies_text_is_sorted_and_ignores_order_and_spacing():
    card = ValuesCard(**AUTONOMY)
    shuffled = ValuesCard(**{**AUTONOMY, "policies": list(reversed(AUTONOMY["policies"]))})
    assert policies_text(card) == policies_text(shuffled) == "\n".join(sorted(AUTONOMY["policies"]))
    assert card.title not in policies_text(card)


def test_cosine_and_nearest():
    assert cosine_distance([1, 0], [2, 0]) == pytest.approx(0)
    assert cosine_distance([1, 0], [0, 3]) == pytest.approx(1)
    assert cosine_distance([1, 0], [-1, 0]) == pytest.approx(2)
    assert cosine_distance([0, 0], [1, 0]) == pytest.approx(1)  # a zero vector is near nothing
    candidates = np.array([[0, 1], [1, 0.05], [1, 0], [-1, 0]], dtype=np.float32)
    assert [i for i, _ in nearest([1, 0], candidates, max_distance=0.1)] == [2, 1]
    assert [i for i, _ in nearest([1, 0], candidates, max_distance=0.1, limit=1)] == [2]
    assert nearest([1, 0], np.zeros((0, 2)), max_distance=1) == []
    assert cosine_distances(np.eye(3), np.eye(3)).diagonal().tolist() == [0, 0, 0]


def test_dbscan_finds_dense_groups_and_leaves_noise():
    rng = np.random.default_rng(7)
    centres = np.eye(8, dtype=np.float32)[:3]
    points = [c + rng.normal(0, 0.02, 8) for c in centres for _ in range(4)]
    points += [np.eye(8)[5], np.eye(8)[6] + np.eye(8)[7]]  # two loners
    points.append(np.eye(8)[7] * 1.0 + rng.normal(0, 0.02, 8))  # near the second loner? no: distance ~0.3
    labels = dbscan(np.array(points), eps=0.11, min_points=3)
    assert labels[:12].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert (labels[12:] == NOISE).all()
    assert clusters(labels) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    # A pair is not dense enough for min_points 3, but is for 2.
    pair = np.array([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    assert dbscan(pair, eps=0.11, min_points=3).tolist() == [NOISE] * 3
    assert dbscan(pair, eps=0.11, min_points=2).tolist() == [0, 0, NOISE]
    assert dbscan(np.zeros((0, 4)), eps=0.1, min_points=3).tolist() == []


def test_dbscan_scales_to_a_few_thousand_cards():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(3000, 64)).astype(np.float32)
    labels = dbscan(points, eps=0.11, min_points=3)  # random directions in 64-d: all noise
    assert labels.shape == (3000,) and (labels == NOISE).all()


async def test_lexical_embedder_is_deterministic_and_lexical():
    texts = [
        policies_text(ValuesCard(**card)) for card in (AUTONOMY, AUTONOMY_REWORDED, CANDOUR_SAME_WORDS, GENEROSITY)
    ]
    first = (await LexicalEmbedder().embed(texts)).vectors
    again = LexicalEmbedder().vectors(texts)
    assert first.dtype == np.float32 and first.shape == (4, 1024)
    assert np.array_equal(first, again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1)
    distances = cosine_distances(first, first)
    # Shared words bring cards closer, whatever the value: only the judge can tell them apart.
    assert distances[0, 2] < distances[0, 3] and distances[0, 1] < distances[0, 3]
    assert LexicalEmbedder().model == "lexical-hash-v1" and LexicalEmbedder(256).model == "lexical-hash-v1-256"
    assert not LexicalEmbedder().vectors(["the and of"]).any()  # only stopwords: the zero vector


async def test_lexical_vectors_are_cached(database, clock):
    embedder = LexicalEmbedder()
    calls: list[int] = []

    def counting(request):
        calls.append(1)
        return request

    texts = ["MOMENTS when the person decides", "SIGNS of trust", "MOMENTS when the person decides"]
    async with database.session() as session:
        first = await values_repo.embed_texts(session, embedder=embedder, texts=texts, now=clock(), wrap=counting)
        await session.commit()
    async with database.session() as session:
        second = await values_repo.embed_texts(session, embedder=embedder, texts=texts, now=clock(), wrap=counting)
        stored = (await session.exec(select(EmbeddingCache))).all()
    assert calls == [1] and np.array_equal(first, second) and first.shape == (3, 1024)
    assert np.array_equal(first[0], first[2])
    assert len(stored) == 2 and {row.model for row in stored} == {"lexical-hash-v1"}
    assert all(row.dimensions == 1024 and len(row.vector) == 4096 for row in stored)


async def test_llm_embedder_batches_and_caches_per_model(database, fake_openai, clock):
    llm = make_llm(fake_openai)
    try:
        async with database.session() as session:
            one = LLMEmbedder(llm, "embed-a")
            await values_repo.embed_texts(session, embedder=one, texts=["x", "y", "x"], now=clock())
            await values_repo.embed_texts(session, embedder=one, texts=["y", "x"], now=clock())
            await values_repo.embed_texts(session, embedder=LLMEmbedder(llm, "embed-b"), texts=["x"], now=clock())
            await session.commit()
        assert [(r["model"], r["input"]) for r in fake_openai.embedding_requests] == [
            ("embed-a", ["x", "y"]),
            ("embed-b", ["x"]),
        ]
        fake_openai.embedding_fn = lambda text: []
        with pytest.raises(LLMError):
            await LLMEmbedder(llm, "embed-c").embed(["z"])
    finally:
        await llm.aclose()


def test_judge_schemas_reject_unknown_ids_and_empty_reasons():
    schema = match_schema([4, 7])
    ok = schema.model_validate(
        {"reasons": SAME_REASONS, "same_value": True, "candidate_id": 7, "better_written": "new"}
    )
    assert ok.candidate_id == 7
    for bad in (
        {"reasons": SAME_REASONS, "same_value": True, "candidate_id": 5, "better_written": "new"},
        {"reasons": SAME_REASONS, "same_value": True, "candidate_id": None, "better_written": "new"},
        {
            "reasons": {**SAME_REASONS, "same_granularity": ""},
            "same_value": False,
            "candidate_id": None,
            "better_written": "existing",
        },
    ):
        with pytest.raises(ValueError):
            schema.model_validate(bad)
    apart = schema.model_validate(
        {"reasons": SAME_REASONS, "same_value": False, "candidate_id": 99, "better_written": "existing"}
    )
    assert not apart.same_value  # a stray id is harmless when nothing is merged

    groups = cluster_schema([1, 2, 3])

    def answer(*parts):
        return {
            "groups": [{"card_ids": ids, "best_written_card_id": best, "reasons": SAME_REASONS} for ids, best in parts]
        }

    assert len(groups.model_validate(answer(([1, 2], 2), ([3], 3))).groups) == 2
    for bad in (
        answer(([1, 2], 3), ([3], 3)),
        answer(([1, 2], 1)),
        answer(([1, 2, 3], 1), ([3], 3)),
        answer(([1, 2, 3, 4], 1)),
        answer(([1, 2, 3], 1), ([], 1)),
    ):
        with pytest.raises(ValueError):
            groups.model_validate(bad)
