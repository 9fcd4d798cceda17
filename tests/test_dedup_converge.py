"""Values that converge (docs/method.md §4): the queue pass, the re-dedup pass and undoing its merge, and the
thresholds each embedding model gets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.embeddings import LLMEmbedder
from bot.runtime.maintenance import Maintenance, run_maintenance
from bot.values.checks import record_check_answer, send_value_checks
from bot.values.converge import run_convergence
from bot.values.corrections import merge_into, undo_merge
from bot.values.placement import DedupParams, reconcile_card
from storage import dedup_repo
from storage.models import CanonicalValue, DedupQueueEntry, JobRun, ValueCheck
from tests.dedup_support import (
    AUTONOMY,
    AUTONOMY_REWORDED,
    GENEROSITY,
    add_card,
    community,
    group,
    near,
    unit,
)
from tests.test_dedup_batch import current, llm, vectors  # noqa: F401 (fixtures)

#: The direct match radius at confirmation, and the wider radius of the convergence passes.
PARAMS = DedupParams(match_distance=0.10, cluster_eps=0.20)


@pytest.fixture
def place(database, llm, clock):
    async def run(card_id: int):
        return await reconcile_card(
            database,
            llm=llm,
            embedder=LLMEmbedder(llm, "embed-model"),
            judge_model="judge-model",
            card_id=card_id,
            now=clock(),
            params=PARAMS,
        )

    return run


async def rows(database, table) -> list:
    async with database.session() as session:
        return list((await session.exec(select(table))).all())


async def test_a_card_just_past_the_match_radius_is_merged_by_the_next_maintenance_pass(
    database, fake_openai, vectors, llm, place, clock
):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.15, 1))  # past 0.10: no candidate at confirmation
    vectors.set(GENEROSITY, unit(9))
    first = await add_card(database, cid, AUTONOMY, clock(), member="ana")
    late = await add_card(database, cid, AUTONOMY_REWORDED, clock(), member="ben")
    other = await add_card(database, cid, GENEROSITY, clock(), member="cy")
    for card_id in (first, late, other):
        assert (await place(card_id)).decision == "new_value"
    assert fake_openai.chat_requests == []  # nothing was close enough to ask the judge
    assert {e.card_id for e in await rows(database, DedupQueueEntry)} == {first, late, other}

    # The judge sees the pair's cluster (generosity is far from both) and keeps the first card's text.
    fake_openai.script({"groups": [group([first, late], best=first)]})
    maintenance = Maintenance(
        llm=llm,
        embedder=LLMEmbedder(llm, "embed-model"),
        judge_model="judge-model",
        story_model="story-model",
        dedup_params=PARAMS,
        recheck_every=None,
    )
    outcome = await run_maintenance(database, maintenance, community_ids=[cid], now=clock())

    assert outcome[cid]["converge"].startswith("ok: 3 queued, 1 clusters judged, 1 values merged"), outcome
    placed = await current(database)
    assert placed[late] == (placed[first][0], "dedup_merge") and placed[other][1] == "new_value"
    judged = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert f"card id {first}" in judged and f"card id {late}" in judged and f"card id {other}" not in judged
    assert await rows(database, DedupQueueEntry) == []
    [check] = await rows(database, ValueCheck)
    assert (check.card_id, check.value_id, check.sent_at) == (late, placed[first][0], None)
    # The next run has nothing queued: no judge call.
    requests = len(fake_openai.chat_requests)
    clock.advance(minutes=5)
    await run_convergence(
        database,
        llm=llm,
        embedder=LLMEmbedder(llm, "embed-model"),
        judge_model="j",
        community_id=cid,
        now=clock(),
        params=PARAMS,
    )
    assert len(fake_openai.chat_requests) == requests


async def two_close_values(database, vectors, place, clock) -> tuple[int, int, int, int, int]:
    """A community with two cards past the match radius of each other but within the passes' cluster
    radius, each placed as a value of its own: (community id, card a, card b, value a, value b)."""
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.15, 1))
    a = await add_card(database, cid, AUTONOMY, clock(), member="ana")
    b = await add_card(database, cid, AUTONOMY_REWORDED, clock(), member="ben")
    return cid, a, b, (await place(a)).value_id, (await place(b)).value_id


async def recheck(database, llm, cid: int, now):
    """A re-dedup pass (weekly) at ``now``."""
    return await run_convergence(
        database,
        llm=llm,
        embedder=LLMEmbedder(llm, "embed-model"),
        judge_model="judge-model",
        community_id=cid,
        now=now,
        params=PARAMS,
        recheck_every=timedelta(days=7),
    )


async def test_the_re_dedup_pass_merges_two_values_and_undo_restores_both(
    database, fake_openai, vectors, llm, place, clock
):
    cid, a, b, value_a, value_b = await two_close_values(database, vectors, place, clock)
    async with database.session() as session:
        await dedup_repo.unqueue_cards(session, card_ids=[a, b])  # as if the queue pass had kept them apart
        await session.commit()

    fake_openai.script({"groups": [group([a, b], best=b)]})

    report = await recheck(database, llm, cid, clock())

    assert report.rechecked and [g.card_ids for g in report.merges] == [[a, b]]
    assert report.merges[0].distances[a] == pytest.approx(0.15, abs=1e-3)
    placed = await current(database)
    assert placed[a] == (value_b, "dedup_merge") and placed[b] == (value_b, "new_value")
    async with database.session() as session:
        merged = await session.get(CanonicalValue, value_a)
        assert (merged.status, merged.merged_into_id) == ("merged", value_b)
    # Once per period: a second pass in the same week judges nothing.
    assert (await recheck(database, llm, cid, clock())).merges == [] and len(fake_openai.chat_requests) == 1

    assert await undo_merge(database, value_id=value_a, actor="mod", now=clock()) == 1

    placed = await current(database)
    assert placed[a] == (value_a, "new_value") and placed[b] == (value_b, "new_value")
    async with database.session() as session:
        restored = await session.get(CanonicalValue, value_a)
        kept = await session.get(CanonicalValue, value_b)
        assert (restored.status, restored.merged_into_id, restored.title) == ("active", None, AUTONOMY["title"])
        assert (kept.status, kept.title) == ("active", AUTONOMY_REWORDED["title"])
        runs = (await session.exec(select(JobRun).where(JobRun.job == "dedup_recheck"))).all()
    assert [r.status for r in runs] == ["done"]
    with pytest.raises(ValueError, match="not merged"):
        await undo_merge(database, value_id=value_a, actor="mod", now=clock())


async def test_the_next_re_dedup_pass_leaves_apart_what_an_undo_or_a_member_separated(
    database, fake_openai, vectors, llm, place, clock
):
    cid, a, b, value_a, value_b = await two_close_values(database, vectors, place, clock)

    fake_openai.script({"groups": [group([a, b], best=b)]})
    assert [g.card_ids for g in (await recheck(database, llm, cid, clock())).merges] == [[a, b]]
    await undo_merge(database, value_id=value_a, actor="mod", now=clock())

    # A week later the judge would say the same again: the moderator's undo stands.
    clock.advance(days=7)
    fake_openai.script({"groups": [group([a, b], best=b)]})
    assert (await recheck(database, llm, cid, clock())).merges == []
    placed = await current(database)
    assert placed[a][0] == value_a and placed[b][0] == value_b


class RecordingMessenger:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list]] = []

    async def send(self, *, platform_user_id: str, text: str, buttons: list) -> None:
        self.sent.append((platform_user_id, buttons))


async def test_a_card_moved_twice_before_the_dms_go_out_is_asked_once_and_an_old_answer_splits_nothing(
    database, fake_openai, vectors, llm, place, clock
):
    cid = await community(database, "guild", clock())
    vectors.set(AUTONOMY, unit(0))
    vectors.set(AUTONOMY_REWORDED, near(unit(0), 0.15, 1))
    vectors.set(GENEROSITY, near(unit(0), 0.15, 2))
    a = await add_card(database, cid, AUTONOMY, clock(), member="ana")
    b = await add_card(database, cid, AUTONOMY_REWORDED, clock(), member="ben")
    c = await add_card(database, cid, GENEROSITY, clock(), member="cy")
    value_a, value_b, value_c = [(await place(card)).value_id for card in (a, b, c)]
    async with database.session() as session:
        await dedup_repo.unqueue_cards(session, card_ids=[a, b, c])
        await session.commit()
    # b joins a's value, then (another pass, before any DM went out) a's value joins c's.
    async with database.session() as session:
        keep, merge = await session.get(CanonicalValue, value_a), await session.get(CanonicalValue, value_b)
        await merge_into(session, keep, merge, decision="dedup_merge", actor="bot", reason="", now=clock())
        await session.commit()
    async with database.session() as session:
        keep, merge = await session.get(CanonicalValue, value_c), await session.get(CanonicalValue, value_a)
        await merge_into(session, keep, merge, decision="dedup_merge", actor="bot", reason="", now=clock())
        await session.commit()

    messenger = RecordingMessenger()
    assert await send_value_checks(database, {"console": messenger}, community_id=cid, now=clock()) == 2
    assert sorted(user for user, _ in messenger.sent) == ["ana", "ben"]
    assert {check.value_id for check in await rows(database, ValueCheck) if check.sent_at} == {value_c}

    # A check sent earlier, answered after the card moved on, is stored but splits nothing.
    [ben_check] = [check for check in await rows(database, ValueCheck) if check.card_id == b and check.sent_at]
    await undo_merge(database, value_id=value_a, actor="mod", now=clock())
    before = await current(database)
    replies = await record_check_answer(
        database, key=f"valuecheck:{ben_check.id}:separate", platform="console", platform_user_id="ben", now=clock()
    )
    assert await current(database) == before
    assert "moved" in replies[0].text


async def test_a_pass_that_fails_while_merging_keeps_nothing_of_it_and_is_retried_by_the_next_run(
    database, fake_openai, vectors, llm, place, clock, monkeypatch
):
    import bot.values.converge as converge

    cid, first, late, _, _ = await two_close_values(database, vectors, place, clock)
    placed_before = await current(database)
    real_apply = converge._apply

    async def merge_then_fail(session, groups, *, now):
        await real_apply(session, groups, now=now)  # the merge is written, then the pass breaks
        raise RuntimeError("the database went away")

    monkeypatch.setattr(converge, "_apply", merge_then_fail)
    fake_openai.script({"groups": [group([first, late], best=first)]})
    run = dict(llm=llm, embedder=LLMEmbedder(llm, "embed-model"), judge_model="j", community_id=cid, params=PARAMS)
    with pytest.raises(RuntimeError):
        await run_convergence(database, now=clock(), **run)
    [job] = await rows(database, JobRun)
    assert job.status == "failed" and "database went away" in job.detail
    assert await current(database) == placed_before  # the half-applied merge was rolled back
    assert {e.card_id for e in await rows(database, DedupQueueEntry)} == {first, late}  # still queued

    monkeypatch.setattr(converge, "_apply", real_apply)
    fake_openai.script({"groups": [group([first, late], best=first)]})
    clock.advance(minutes=1)
    report = await run_convergence(database, now=clock(), **run)  # the same pass, taken over at once
    assert report.merges and (await current(database))[late][1] == "dedup_merge"
    [job] = await rows(database, JobRun)
    assert job.status == "done"
