"""The dedup batch job (``mge dedup`` and the maintenance tick): every confirmed card not yet in a value,
clustered and placed, claimed once per period (docs/method.md §4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder, claim_job, finish_job
from bot.values.placement import DedupParams, DedupReport, Progress, ValueIndex, embed_texts, reconcile_one, value_index
from core import dedup_judge
from core.embeddings import Embedder, clusters, dbscan, policies_text
from core.llm import LLM, LLMError
from storage import dedup_repo
from storage import values_repo as repo
from storage.database import Database
from storage.models import JobRun, ValuesCardRecord


def _period(cards: Sequence[ValuesCardRecord]) -> str:
    """The set of cards to place is the job's period: re-running with nothing new claims nothing."""
    digest = hashlib.sha256(",".join(str(c.id) for c in cards).encode()).hexdigest()
    return f"cards-{digest[:32]}"


async def run_dedup(
    database: Database,
    *,
    llm: LLM,
    embedder: Embedder,
    judge_model: str,
    community_id: int,
    now: datetime,
    progress: Progress | None = None,
    params: DedupParams = DedupParams(),
) -> DedupReport:
    """Place every confirmed card of the community that has no value yet.

    1. Cards with an existing value within ``match_distance`` are judged against it one by one (step 3).
    2. The others are clustered (DBSCAN); the judge splits each cluster into groups of cards that are
       one value and picks each group's best-written card as its text (decision ``cluster``).
    3. What is left (direct candidates, noise, cards the judge split off) is placed one card at a time
       like :func:`reconcile_card`, against all values including those step 2 created.

    Commits after every cluster and every card, so a crash loses at most one step and the next run
    continues with the cards still unassigned (that set is the job's period, so a run with nothing new
    is a no-op). An LLM failure ends the run as failed, keeping what was done.
    """
    report = DedupReport(community_id=community_id)
    async with database.session() as session:
        cards = await repo.unassigned_cards(session, community_id=community_id)
        report.cards = len(cards)
        if not cards:
            report.skipped = "nothing to do"
            return report
        run = await claim_job(session, job="dedup", community_id=community_id, period=_period(cards), now=now)
        if run is None:
            report.skipped = "already running or done"
            return report
        await session.commit()
        report.run_id = run_id = run.id
        recorder = LLMRecorder(session, community_id, now, run=run)

        def step_done(count: int) -> None:
            report.assigned += count
            if progress is not None:
                progress(report.assigned, report.cards)

        try:
            await _place_cards(
                session,
                cards,
                llm=llm,
                embedder=embedder,
                judge_model=judge_model,
                params=params,
                recorder=recorder,
                now=now,
                report=report,
                step_done=step_done,
            )
        except LLMError as error:
            # Pending are only the failed step's call records and token counts (writes follow validated answers).
            _tokens(report, run)
            finish_job(run, now=now, ok=False, detail=f"{error}; placed {report.assigned} of {report.cards}")
            await session.commit()
            raise
        except BaseException:
            await session.rollback()
            async with database.session() as cleanup:
                failed = await cleanup.get(JobRun, run_id)
                if failed is not None:
                    finish_job(failed, now=now, ok=False, detail=f"crashed after placing {report.assigned} cards")
                    await cleanup.commit()
            raise
        _tokens(report, run)
        finish_job(run, now=now, detail=_summary(report))
        await session.commit()
    return report


def _tokens(report: DedupReport, run: JobRun) -> None:
    report.input_tokens, report.output_tokens = run.input_tokens, run.output_tokens


def _summary(report: DedupReport) -> str:
    return (
        f"{report.assigned} cards placed: {report.clustered_cards} in {report.clusters_judged} judged clusters, "
        f"{report.judged_same} joined existing values, {report.new_values} new values"
    )


async def _place_cards(
    session: AsyncSession,
    cards: list[ValuesCardRecord],
    *,
    llm: LLM,
    embedder: Embedder,
    judge_model: str,
    params: DedupParams,
    recorder: LLMRecorder,
    now: datetime,
    report: DedupReport,
    step_done: Callable[[int], None],
) -> None:
    vectors = await embed_texts(session, embedder, [policies_text(c) for c in cards], now, recorder)
    index = await value_index(session, embedder=embedder, community_id=report.community_id, now=now, recorder=recorder)
    await session.commit()  # the cache and the embedding call records

    direct = [i for i in range(len(cards)) if index.candidates(vectors[i], params)]
    direct_set = set(direct)
    pool = [i for i in range(len(cards)) if i not in direct_set]
    leftover: list[int] = []
    #: Values a card must not be offered again: the judge already kept it apart from their cluster-mates.
    exclude: dict[int, set[int]] = {}

    labels: np.ndarray | list[int] = (
        dbscan(vectors[pool], eps=params.cluster_eps, min_points=params.cluster_min_points) if pool else []
    )
    in_cluster = set()
    for members in clusters(np.asarray(labels)):
        rows = [pool[m] for m in members]
        in_cluster.update(rows)
        for start in range(0, len(rows), params.max_cluster_size):
            chunk = rows[start : start + params.max_cluster_size]
            if len(chunk) < 2:
                leftover += chunk
                continue
            singles, created = await _place_cluster(
                session,
                [cards[i] for i in chunk],
                {cards[i].id: vectors[i] for i in chunk},
                index=index,
                llm=llm,
                judge_model=judge_model,
                params=params,
                recorder=recorder,
                now=now,
                report=report,
            )
            await session.commit()
            step_done(len(chunk) - len(singles))
            by_id = {cards[i].id: i for i in chunk}
            for card_id in singles:
                leftover.append(by_id[card_id])
                exclude[card_id] = set(created)
    leftover += [i for i in pool if i not in in_cluster]

    for i in sorted(direct + leftover, key=lambda i: cards[i].id):
        await reconcile_one(
            session,
            card=cards[i],
            vector=vectors[i],
            index=index,
            llm=llm,
            judge_model=judge_model,
            params=params,
            recorder=recorder,
            now=now,
            exclude=exclude.get(cards[i].id, set()),
            report=report,
            ask_by_dm=True,
        )
        await session.commit()
        step_done(1)


async def _place_cluster(
    session: AsyncSession,
    cards: list[ValuesCardRecord],
    vectors: dict[int, np.ndarray],
    *,
    index: ValueIndex,
    llm: LLM,
    judge_model: str,
    params: DedupParams,
    recorder: LLMRecorder,
    now: datetime,
    report: DedupReport,
) -> tuple[list[int], list[int]]:
    """Have the judge group one embedding cluster; found a value per group of two or more cards.
    Returns the ids of cards left on their own, and the ids of the values created."""
    prompt, messages = dedup_judge.cluster_messages([(card.id, card) for card in cards])
    schema = dedup_judge.cluster_schema(card.id for card in cards)
    request = llm.structured(messages, schema, model=judge_model, temperature=params.judge_temperature)
    answer = await recorder.call("dedup_cluster", prompt.sha, judge_model, request)
    report.judge_calls += 1
    report.clusters_judged += 1
    by_id = {card.id: card for card in cards}
    singles: list[int] = []
    created: list[int] = []
    for group in answer.value.groups:
        if len(group.card_ids) < 2:
            singles += group.card_ids
            continue
        best = by_id[group.best_written_card_id]
        value = await repo.create_value_from_card(session, card=best, now=now)
        index.set(value, vectors[best.id])
        created.append(value.id)
        report.new_values += 1
        for card_id in sorted(group.card_ids):
            assignment = await repo.add_assignment(
                session,
                card=by_id[card_id],
                value_id=value.id,
                decision="cluster",
                now=now,
                reason=f"judged one value with cards {sorted(group.card_ids)}: {group.reasons.as_text()}",
                prompt_sha=prompt.sha,
                model=answer.model,
            )
            if card_id != best.id:  # their value shows another member's card: ask them if it is theirs
                await dedup_repo.add_value_check(
                    session, card=by_id[card_id], value_id=value.id, change=f"moved:{assignment.id}", now=now
                )
            report.clustered_cards += 1
    return singles, created
