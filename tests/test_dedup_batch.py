"""``run_dedup``: the batch job that places every unassigned card (clusters, direct matches, the rest)."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from adapters.embeddings import LLMEmbedder
from bot.values.batch import run_dedup
from bot.values.placement import DedupParams, reconcile_card
from bot.values.provenance import value_provenance
from core.llm import LLMError
from storage.models import CanonicalValue, EmbeddingCache, JobRun, LLMCall, ValueAssignment
from tests.conftest import make_llm
from tests.dedup_support import (
    AUTONOMY,
    AUTONOMY_REWORDED,
    CANDOUR_SAME_WORDS,
    GENEROSITY,
    Embeddings,
    add_card,
    community,
    group,
    near,
    same,
    unit,
)
from tests.fakes.openai_server import Error


def variant(card: dict, n: int) -> dict:
    """The same card with one policy reworded, so each has its own text (and vector)."""
    return {**card, "policies": [*card["policies"][:-1], f"{card['policies'][-1]} {'again ' * n}".strip()]}


@pytest.fixture
async def llm(fake_openai):
    client = make_llm(fake_openai)
    yield client
    await client.aclose()


@pytest.fixture
def vectors(fake_openai) -> Embeddings:
    embeddings = Embeddings()
    fake_openai.embedding_fn = embeddings
    return embeddings


@pytest.fixture
def dedup(database, llm, clock):
    async def run(community_id: int, **options):
        return await run_dedup(
            database,
            llm=llm,
            embedder=LLMEmbedder(llm, "embed-model"),
            judge_model="judge-model",
            community_id=community_id,
            now=clock(),
            **options,
        )

    return run


async def rows(database, table) -> int:
    async with database.session() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def current(database) -> dict[int, tuple[int, str]]:
    async with database.session() as session:
        found = (await session.exec(select(ValueAssignment).where(ValueAssignment.superseded_at == None))).all()  # noqa: E711
    return {a.card_id: (a.canonical_value_id, a.decision) for a in found}


async def test_a_cluster_is_confirmed_by_the_judge_and_the_rest_placed_one_by_one(
    database, fake_openai, vectors, dedup, clock
):
    cid = await community(database, "guild", clock())
    # Three wordings of one value and a same-vocabulary different value, all within DBSCAN's eps;
    # generosity far away.
    cards = [AUTONOMY, variant(AUTONOMY, 1), AUTONOMY_REWORDED, CANDOUR_SAME_WORDS, GENEROSITY]
    for card, vector in zip(
        cards, [unit(0), near(unit(0), 0.02, 1), near(unit(0), 0.03, 2), near(unit(0), 0.04, 3), unit(9)]
    ):
        vectors.set(card, vector)
    ids = [await add_card(database, cid, card, clock(), member=f"m{n}") for n, card in enumerate(cards)]
    a1, a2, a3, candour, generosity = ids
    # The judge keeps candour apart from the autonomy cards and picks the reworded card's text.
    fake_openai.script({"groups": [group([a1, a2, a3], best=a3), group([candour], best=candour)]})
    seen: list[tuple[int, int]] = []

    report = await dedup(cid, progress=lambda done, total: seen.append((done, total)))

    placed = await current(database)
    value = placed[a1][0]
    assert placed[a1] == placed[a2] == placed[a3] == (value, "cluster")
    assert placed[candour][1] == "new_value" and placed[generosity][1] == "new_value"
    assert len({placed[a1][0], placed[candour][0], placed[generosity][0]}) == 3
    # Candour was already kept apart from that cluster: it is not judged against its value again.
    assert len(fake_openai.chat_requests) == 1
    provenance = await value_provenance(database, value)
    assert provenance.source_card_id == a3 and provenance.title == AUTONOMY_REWORDED["title"]
    assert sorted(card.card_id for card in provenance.cards) == [a1, a2, a3]
    assert (report.cards, report.assigned, report.clusters_judged, report.clustered_cards, report.new_values) == (
        5,
        5,
        1,
        3,
        3,
    )
    assert seen[-1] == (5, 5) and [done for done, _ in seen] == sorted(done for done, _ in seen)
    async with database.session() as session:
        [run] = (await session.exec(select(JobRun))).all()
    assert run.status == "done" and run.job == "dedup" and run.input_tokens > 0
    assert (report.input_tokens, report.output_tokens) == (run.input_tokens, run.output_tokens)


async def test_pairs_and_direct_matches_are_judged_one_card_at_a_time(
    database, fake_openai, vectors, dedup, llm, clock
):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.05, 1))
    vectors.set(GENEROSITY, unit(7))
    vectors.set(variant(GENEROSITY, 1), near(unit(7), 0.02, 8))
    existing = await add_card(database, cid, AUTONOMY, clock())
    base = await reconcile_card(
        database, llm=llm, embedder=LLMEmbedder(llm, "embed-model"), judge_model="j", card_id=existing, now=clock()
    )
    direct = await add_card(database, cid, AUTONOMY_REWORDED, clock(), member="ben")
    g1 = await add_card(database, cid, GENEROSITY, clock(), member="cy")
    g2 = await add_card(database, cid, variant(GENEROSITY, 1), clock(), member="di")
    # In card order: the reworded card against the existing value, then g1 (nothing near: no judge),
    # then g2 against the value g1 just founded. A pair is too small for a DBSCAN cluster.
    fake_openai.script(
        same(base.value_id),
        # g1's value did not exist when the test was written: answer with the id the judge is shown.
        lambda body: same(int(body["messages"][0]["content"].split("[candidate id ")[1].split("]")[0])),
    )

    report = await dedup(cid)

    placed = await current(database)
    assert placed[direct] == (base.value_id, "judged_same")
    assert placed[g1][1] == "new_value" and placed[g2] == (placed[g1][0], "judged_same")
    assert report.clusters_judged == 0 and report.judged_same == 2 and report.judge_calls == 2


async def test_rerunning_with_nothing_new_is_a_no_op(database, fake_openai, vectors, dedup, clock):
    cid = await community(database, "guild", clock())
    for n, vector in enumerate([unit(0), near(unit(0), 0.02, 1), near(unit(0), 0.03, 2)]):
        vectors.set(variant(AUTONOMY, n), vector)
    ids = [await add_card(database, cid, variant(AUTONOMY, n), clock(), member=f"m{n}") for n in range(3)]
    fake_openai.script({"groups": [group(ids, best=ids[0])]})
    await dedup(cid)
    before = {
        table: await rows(database, table)
        for table in (CanonicalValue, ValueAssignment, JobRun, LLMCall, EmbeddingCache)
    }
    requests = len(fake_openai.requests)

    report = await dedup(cid)

    assert report.skipped == "nothing to do" and report.assigned == 0
    assert len(fake_openai.requests) == requests
    assert {table: await rows(database, table) for table in before} == before


async def test_a_failed_run_keeps_its_progress_and_the_next_run_continues(database, fake_openai, vectors, dedup, clock):
    cid = await community(database, "guild", clock())
    cluster = [variant(AUTONOMY, n) for n in range(3)]
    for n, card in enumerate(cluster):
        vectors.set(card, near(unit(0), 0.01 * n, 1 + n) if n else unit(0))
    vectors.set(GENEROSITY, unit(9))
    vectors.set(variant(GENEROSITY, 1), near(unit(9), 0.03, 8))
    ids = [await add_card(database, cid, card, clock(), member=f"m{n}") for n, card in enumerate(cluster)]
    g1 = await add_card(database, cid, GENEROSITY, clock(), member="g1")
    g2 = await add_card(database, cid, variant(GENEROSITY, 1), clock(), member="g2")
    # The cluster is judged; then the judge is down when g2 is compared with g1's new value.
    fake_openai.script({"groups": [group(ids, best=ids[1])]}, Error(503))

    with pytest.raises(LLMError):
        await dedup(cid)

    placed = await current(database)
    assert set(placed) == {*ids, g1} and g2 not in placed
    async with database.session() as session:
        [failed] = (await session.exec(select(JobRun))).all()
    assert failed.status == "failed" and "placed 4 of 5" in failed.detail

    fake_openai.script(same(placed[g1][0]))
    clock.advance(minutes=5)
    report = await dedup(cid)
    assert report.cards == 1 and report.assigned == 1 and report.judged_same == 1
    assert (await current(database))[g2] == (placed[g1][0], "judged_same")
    async with database.session() as session:
        runs = (await session.exec(select(JobRun).order_by(JobRun.id))).all()
    assert [r.status for r in runs] == ["failed", "done"]


async def test_malformed_cluster_verdicts_write_nothing(database, fake_openai, vectors, dedup, clock):
    cid = await community(database, "guild", clock())
    for n, vector in enumerate([unit(0), near(unit(0), 0.02, 1), near(unit(0), 0.03, 2)]):
        vectors.set(variant(AUTONOMY, n), vector)
    ids = [await add_card(database, cid, variant(AUTONOMY, n), clock(), member=f"m{n}") for n in range(3)]
    fake_openai.script(
        {"groups": [group(ids[:2], best=ids[0])]},  # a card left out
        {"groups": [group(ids, best=ids[0]), group([ids[2], 999], best=999)]},  # duplicated and unknown ids
    )
    with pytest.raises(LLMError):
        await dedup(cid)
    assert await rows(database, CanonicalValue) == 0 and await rows(database, ValueAssignment) == 0
    assert "in no group" in fake_openai.chat_requests[1]["messages"][-1]["content"]


async def test_dedup_params_are_honoured(database, fake_openai, vectors, dedup, clock):
    cid = await community(database, "guild", clock())
    for n, vector in enumerate([unit(0), near(unit(0), 0.02, 1), near(unit(0), 0.03, 2)]):
        vectors.set(variant(AUTONOMY, n), vector)
    for n in range(3):
        await add_card(database, cid, variant(AUTONOMY, n), clock(), member=f"m{n}")
    # A radius too small to cluster or match anything: every card is its own value, no judge.
    report = await dedup(cid, params=DedupParams(match_distance=0.001, cluster_eps=0.001))
    assert report.new_values == 3 and fake_openai.chat_requests == []
