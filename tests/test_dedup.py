"""Reconciling one confirmed card, members' verdicts, and the moderator's merge / split / undo (docs/method.md §4),
against the fake OpenAI server and a real SQLite database."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from adapters.embeddings import LLMEmbedder
from bot.values.corrections import merge_values, record_member_verdict, split_card, undo_last
from bot.values.placement import reconcile_card
from bot.values.provenance import value_provenance
from core.llm import LLMError
from storage.models import CanonicalValue, EmbeddingCache, LLMCall, ValueAssignment
from tests.conftest import make_llm
from tests.dedup_support import (
    AUTONOMY,
    AUTONOMY_REWORDED,
    CANDOUR_SAME_WORDS,
    GENEROSITY,
    SAME_REASONS,
    Embeddings,
    add_card,
    community,
    different,
    near,
    same,
    unit,
)


@pytest.fixture
def vectors(fake_openai) -> Embeddings:
    embeddings = Embeddings()
    fake_openai.embedding_fn = embeddings
    return embeddings


@pytest.fixture
async def llm(fake_openai):
    client = make_llm(fake_openai)
    yield client
    await client.aclose()


@pytest.fixture
def reconcile(database, llm, clock):
    embedder = LLMEmbedder(llm, "embed-model")

    async def run(card_id: int):
        return await reconcile_card(
            database, llm=llm, embedder=embedder, judge_model="judge-model", card_id=card_id, now=clock()
        )

    return run


async def count(database, table, *where) -> int:
    async with database.session() as session:
        return (await session.exec(select(func.count()).select_from(table).where(*where))).one()


def judge_prompt(request) -> str:
    return "\n".join(message["content"] for message in request["messages"])


async def test_identical_cards_merge_when_the_judge_says_same(database, fake_openai, vectors, reconcile, clock):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    first = await add_card(database, cid, AUTONOMY, clock(), member="ana")
    second = await add_card(database, cid, AUTONOMY, clock(), member="ben")

    placed = await reconcile(first)
    assert placed.decision == "new_value" and not placed.ask_member
    assert fake_openai.chat_requests == []  # nothing to compare with: no judge

    fake_openai.script(same(placed.value_id))
    merged = await reconcile(second)
    assert merged.decision == "judged_same" and merged.value_id == placed.value_id and merged.ask_member
    assert merged.value_card.title == AUTONOMY["title"] and "MOMENTS when" in merged.value_text
    assert "same attention: Both attend" in merged.reason
    [request] = fake_openai.chat_requests
    assert request["model"] == "judge-model" and f"candidate id {placed.value_id}" in judge_prompt(request)
    assert await count(database, CanonicalValue) == 1

    # Idempotent: asking again returns the stored decision without any LLM call.
    again = await reconcile(second)
    assert again == merged and len(fake_openai.chat_requests) == 1


async def test_a_better_written_near_duplicate_becomes_the_values_text(
    database, fake_openai, vectors, reconcile, clock
):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.04, towards=1))
    first = await reconcile(await add_card(database, cid, AUTONOMY, clock()))
    fake_openai.script(same(first.value_id, better_written="new"))
    card = await add_card(database, cid, AUTONOMY_REWORDED, clock(), member="ben")

    merged = await reconcile(card)

    assert merged.decision == "judged_same" and merged.value_card.title == AUTONOMY_REWORDED["title"]
    async with database.session() as session:
        value = await session.get(CanonicalValue, first.value_id)
    assert value.source_card_id == card and value.policies == AUTONOMY_REWORDED["policies"]


async def test_close_embeddings_with_a_different_value_stay_apart(database, fake_openai, vectors, reconcile, clock):
    """Same vocabulary, different value: the embeddings propose, the judge's 'different' is honoured."""
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(CANDOUR_SAME_WORDS, near(unit(0), 0.03, towards=2))
    first = await reconcile(await add_card(database, cid, AUTONOMY, clock()))
    fake_openai.script(different())

    second = await reconcile(await add_card(database, cid, CANDOUR_SAME_WORDS, clock(), member="ben"))

    assert second.decision == "new_value" and second.value_id != first.value_id and not second.ask_member
    assert "judged a different value" in second.reason and "hard truths" in second.reason
    assert len(fake_openai.chat_requests) == 1 and await count(database, CanonicalValue) == 2


async def test_far_apart_cards_never_reach_the_judge(database, fake_openai, vectors, reconcile, clock):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(GENEROSITY, near(unit(0), 0.5, towards=3))
    await reconcile(await add_card(database, cid, AUTONOMY, clock()))
    placed = await reconcile(await add_card(database, cid, GENEROSITY, clock(), member="ben"))
    assert placed.decision == "new_value" and "no active value within cosine distance 0.1" in placed.reason
    assert fake_openai.chat_requests == []


async def test_values_never_match_across_communities(database, fake_openai, vectors, reconcile, clock):
    vectors.set(AUTONOMY, unit(0))
    one, two = await community(database, "one", clock()), await community(database, "two", clock())
    first = await reconcile(await add_card(database, one, AUTONOMY, clock()))
    other = await reconcile(await add_card(database, two, AUTONOMY, clock(), member="ben"))
    assert other.decision == "new_value" and other.value_id != first.value_id
    assert fake_openai.chat_requests == []
    async with database.session() as session:
        value = await session.get(CanonicalValue, other.value_id)
    assert value.community_id == two


async def test_member_verdicts(database, fake_openai, vectors, reconcile, clock):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.04, towards=1))
    first = await add_card(database, cid, AUTONOMY, clock())
    base = await reconcile(first)
    agreeing = await add_card(database, cid, AUTONOMY, clock(), member="ben")
    declining = await add_card(database, cid, AUTONOMY_REWORDED, clock(), member="cy")
    fake_openai.script(same(base.value_id), same(base.value_id, better_written="new"))
    await reconcile(agreeing)
    await reconcile(declining)

    agreed = await record_member_verdict(database, card_id=agreeing, agrees=True, now=clock())
    assert agreed.member_agrees is True and agreed.value_id == base.value_id and not agreed.ask_member

    clock.advance(minutes=1)
    declined = await record_member_verdict(database, card_id=declining, agrees=False, now=clock())
    assert declined.decision == "member_declined" and declined.value_id != base.value_id
    assert declined.value_card.title == AUTONOMY_REWORDED["title"]
    async with database.session() as session:
        old = await session.get(CanonicalValue, base.value_id)
        history = (
            await session.exec(
                select(ValueAssignment).where(ValueAssignment.card_id == declining).order_by(ValueAssignment.id)
            )
        ).all()
    # The declining card had become the value's text; the value shows a remaining member's card again.
    assert old.source_card_id == first and old.title == AUTONOMY["title"]
    assert [(a.decision, a.member_agrees, a.superseded_at is not None) for a in history] == [
        ("judged_same", False, True),
        ("member_declined", None, False),
    ]
    assert fake_openai.pending == 0 and len(fake_openai.chat_requests) == 2  # no judge call for verdicts


async def test_merge_split_undo_keep_provenance(database, fake_openai, vectors, reconcile, clock):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(GENEROSITY, unit(5))
    a = await reconcile(await add_card(database, cid, AUTONOMY, clock()))
    fake_openai.script(same(a.value_id))
    b = await reconcile(await add_card(database, cid, AUTONOMY, clock(), member="ben"))
    g = await reconcile(await add_card(database, cid, GENEROSITY, clock(), member="cy"))

    clock.advance(minutes=1)
    assert await merge_values(database, keep_id=a.value_id, merge_id=g.value_id, actor="mod:zoe", now=clock()) == 1
    kept = await value_provenance(database, a.value_id)
    assert sorted(card.card_id for card in kept.cards) == sorted([a.card_id, b.card_id, g.card_id])
    assert kept.merged_from == [g.value_id]
    moved = next(card for card in kept.cards if card.card_id == g.card_id)
    assert moved.decision == "manual_merge" and [step.decision for step in moved.history] == [
        "new_value",
        "manual_merge",
    ]
    assert moved.history[-1].actor == "mod:zoe" and moved.history[0].superseded_at is not None
    merged = await value_provenance(database, g.value_id)
    assert merged.status == "merged" and merged.merged_into_id == a.value_id and merged.cards == []

    # Undo the merge for the moved card: it returns to its value, which becomes active again.
    clock.advance(minutes=1)
    back = await undo_last(database, card_id=g.card_id, actor="mod:zoe", now=clock())
    assert back.value_id == g.value_id and back.decision == "new_value"
    restored = await value_provenance(database, g.value_id)
    assert (
        restored.status == "active"
        and restored.merged_into_id is None
        and [c.card_id for c in restored.cards] == [g.card_id]
    )
    assert [step.decision for step in restored.cards[0].history] == ["new_value", "manual_merge", "new_value"]

    # Split the judged card out, then undo the split.
    clock.advance(minutes=1)
    alone = await split_card(database, card_id=b.card_id, actor="mod:zoe", now=clock())
    assert alone.decision == "manual_split" and alone.value_id not in (a.value_id, g.value_id)
    assert [c.card_id for c in (await value_provenance(database, a.value_id)).cards] == [a.card_id]
    clock.advance(minutes=1)
    rejoined = await undo_last(database, card_id=b.card_id, actor="mod:zoe", now=clock())
    assert rejoined.value_id == a.value_id and rejoined.decision == "judged_same"
    assert (await value_provenance(database, alone.value_id)).status == "empty"
    assert sorted(c.card_id for c in (await value_provenance(database, a.value_id)).cards) == [a.card_id, b.card_id]

    # Every card is in exactly one value, and every active value lists its member cards.
    async with database.session() as session:
        current = (await session.exec(select(ValueAssignment).where(ValueAssignment.superseded_at == None))).all()  # noqa: E711
        active = (await session.exec(select(CanonicalValue).where(CanonicalValue.status == "active"))).all()
    assert sorted(x.card_id for x in current) == sorted([a.card_id, b.card_id, g.card_id])
    for value in active:
        assert (await value_provenance(database, value.id)).cards


async def test_moderator_tools_refuse_what_makes_no_sense(database, fake_openai, vectors, reconcile, clock):
    vectors.set(AUTONOMY, unit(0))
    one, two = await community(database, "one", clock()), await community(database, "two", clock())
    a = await reconcile(await add_card(database, one, AUTONOMY, clock()))
    b = await reconcile(await add_card(database, two, AUTONOMY, clock()))
    with pytest.raises(ValueError, match="different communities"):
        await merge_values(database, keep_id=a.value_id, merge_id=b.value_id, actor="mod", now=clock())
    with pytest.raises(ValueError, match="into itself"):
        await merge_values(database, keep_id=a.value_id, merge_id=a.value_id, actor="mod", now=clock())
    with pytest.raises(LookupError):
        await merge_values(
            database, keep_id=a.value_id, merge_id=b.value_id, actor="mod", now=clock(), community_id=one
        )
    with pytest.raises(ValueError, match="only card"):
        await split_card(database, card_id=a.card_id, actor="mod", now=clock())
    with pytest.raises(ValueError, match="no earlier decision"):
        await undo_last(database, card_id=a.card_id, actor="mod", now=clock())
    with pytest.raises(LookupError):
        await split_card(database, card_id=a.card_id, actor="mod", now=clock(), community_id=two)
    proposed = await add_card(database, one, GENEROSITY, clock(), status="proposed")
    with pytest.raises(ValueError, match="not confirmed"):
        await reconcile(proposed)
    assert await count(database, ValueAssignment) == 2


async def test_malformed_judge_output_is_rejected_with_no_partial_writes(
    database, fake_openai, vectors, reconcile, clock
):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    base = await reconcile(await add_card(database, cid, AUTONOMY, clock()))
    card = await add_card(database, cid, AUTONOMY, clock(), member="ben")
    values_before, assignments_before = await count(database, CanonicalValue), await count(database, ValueAssignment)
    # First an unknown candidate id, then (the repair) empty reasons: both fail validation.
    fake_openai.script(
        same(base.value_id + 99),
        {
            "reasons": {**SAME_REASONS, "fully_captured": "  "},
            "same_value": True,
            "candidate_id": base.value_id,
            "better_written": "new",
        },
    )

    with pytest.raises(LLMError) as raised:
        await reconcile(card)

    assert raised.value.kind == "invalid_output"
    repair = fake_openai.chat_requests[1]
    assert f"is not one of [{base.value_id}]" in judge_prompt(repair)
    assert await count(database, CanonicalValue) == values_before
    assert await count(database, ValueAssignment) == assignments_before
    async with database.session() as session:
        value = await session.get(CanonicalValue, base.value_id)
        calls = (await session.exec(select(LLMCall).where(LLMCall.purpose == "dedup_judge"))).all()
    assert value.source_card_id == base.card_id  # "better_written: new" was not applied
    assert [call.ok for call in calls] == [False] and calls[0].input_tokens > 0  # the cost is still recorded

    # The card stays unassigned; a later attempt with a valid answer places it.
    fake_openai.script(same(base.value_id))
    assert (await reconcile(card)).decision == "judged_same"


async def test_the_embedding_cache_avoids_re_embedding(database, fake_openai, vectors, reconcile, clock):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(GENEROSITY, unit(5))
    first = await reconcile(await add_card(database, cid, AUTONOMY, clock()))
    assert len(fake_openai.embedding_requests) == 1
    # The value's text is the first card's text: cached. Only the new card's policies are sent.
    await reconcile(await add_card(database, cid, GENEROSITY, clock(), member="ben"))
    assert [r["input"] for r in fake_openai.embedding_requests[1:]] == [["\n".join(sorted(GENEROSITY["policies"]))]]
    fake_openai.script(same(first.value_id))
    await reconcile(await add_card(database, cid, AUTONOMY, clock(), member="cy"))
    assert len(fake_openai.embedding_requests) == 2
    assert await count(database, EmbeddingCache) == 2
