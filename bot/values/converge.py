"""Values that converge (docs/method.md §4): the maintenance passes that look again at what placement left
apart, and ``mge dedup --dry-run``.

- The queue pass: cards that matched no value when they were placed were queued (``dedup_queue``); each
  maintenance run clusters their values together with every active value (embeddings of the shown texts,
  DBSCAN at ``cluster_eps`` with pairs allowed), has the judge partition each cluster that holds a queued
  value, and merges each group it finds into the value whose text the judge finds best written.
- The re-dedup pass: every ``recheck_every`` (a week by default) the same over all active values, as the
  paper re-deduplicated its values.

A merge is ``bot.values.corrections.merge_into`` with decision ``dedup_merge``: one new assignment per
moved card, the merged value marked merged, undone by ``undo_merge`` (both values stand again); every
moved card's author gets a value check DM. Each pass claims its period (``claim_job``), so it runs once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder, claim_job, finish_job
from bot.values.corrections import merge_into
from bot.values.placement import DedupParams, embed_texts
from core import dedup_judge
from core.cards import ValueStatus
from core.embeddings import Embedder, clusters, cosine_distances, dbscan, policies_text
from core.llm import LLM
from storage import dedup_repo
from storage import values_repo as repo
from storage.database import Database
from storage.models import CanonicalValue, ValuesCardRecord

#: A pair is enough to converge: a card just past the match radius and the value it duplicates.
CONVERGE_MIN_POINTS = 2


@dataclass(frozen=True, slots=True)
class _Item:
    """What the judge is shown: a value by its shown card, or (dry run) a card with no value yet."""

    card_id: int
    value: CanonicalValue | None
    text: dedup_judge.CardLike


@dataclass(slots=True)
class ProposedGroup:
    """Cards (each a value's shown card, or an unplaced card) the judge found to be one value."""

    card_ids: list[int]
    value_ids: list[int | None]
    best_written_card_id: int
    #: Cosine distance of each card to the best-written one, by card id.
    distances: dict[int, float]
    reasons: str
    prompt_sha: str = ""
    model: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class ConvergeReport:
    community_id: int
    queued: int = 0
    clusters_judged: int = 0
    merges: list[ProposedGroup] = field(default_factory=list)
    rechecked: bool = False

    def __str__(self) -> str:
        moved = sum(len(group.card_ids) - 1 for group in self.merges)
        return f"{self.queued} queued, {self.clusters_judged} clusters judged, {moved} values merged" + (
            " (re-dedup pass)" if self.rechecked else ""
        )


class _DryRecorder(LLMRecorder):
    """Awaits requests without committing or recording anything: the dry run leaves the database as it was.
    (Nor are vectors cached: a pending write would hold SQLite's one write lock while the judge thinks.)"""

    async def call(self, purpose, prompt_sha, model, request):
        return await request


async def propose_groups(
    session: AsyncSession,
    *,
    community_id: int,
    llm: LLM,
    embedder: Embedder,
    judge_model: str,
    params: DedupParams,
    recorder: LLMRecorder,
    focus_card_ids: Sequence[int] | None = None,
    unplaced: Sequence[ValuesCardRecord] = (),
) -> tuple[list[ProposedGroup], int]:
    """Cluster the active values (and ``unplaced`` cards) and have the judge partition each cluster; with
    ``focus_card_ids`` only clusters holding the value of one of those cards. Returns the groups of two or
    more and how many clusters were judged. Writes nothing but what ``recorder`` records."""
    values = await repo.list_values(session, community_id=community_id, statuses=(ValueStatus.ACTIVE,))
    items = [_Item(v.source_card_id, v, v) for v in values if v.source_card_id is not None]
    items += [_Item(card.id, None, card) for card in unplaced]
    if len(items) < 2:
        return [], 0
    focus: set[int] | None = None
    if focus_card_ids is not None:
        focus = set()
        for card_id in focus_card_ids:
            current = await repo.current_assignment(session, card_id=card_id)
            if current is not None:
                focus.add(current.canonical_value_id)
    texts = [policies_text(item.text) for item in items]
    dry = isinstance(recorder, _DryRecorder)
    vectors = await embed_texts(session, embedder, texts, recorder.now, recorder, store=not dry)
    labels = dbscan(vectors, eps=params.cluster_eps, min_points=CONVERGE_MIN_POINTS)
    groups: list[ProposedGroup] = []
    judged = 0
    for members in clusters(np.asarray(labels)):
        anchors = [m for m in members if focus is None or _value_id(items[m]) in focus]
        if not anchors:
            continue
        # Too large for one prompt: the nearest to the first anchor (the queued value) are judged.
        order = np.argsort(cosine_distances(vectors[anchors[0] : anchors[0] + 1], vectors[members])[0], kind="stable")
        chunk = [members[i] for i in order[: params.max_cluster_size]]
        prompt, messages = dedup_judge.cluster_messages([(items[i].card_id, items[i].text) for i in chunk])
        schema = dedup_judge.cluster_schema(items[i].card_id for i in chunk)
        request = llm.structured(messages, schema, model=judge_model, temperature=params.judge_temperature)
        answer = await recorder.call("dedup_converge", prompt.sha, judge_model, request)
        judged += 1
        by_card = {items[i].card_id: i for i in chunk}
        for group in answer.value.groups:
            if len(group.card_ids) < 2:
                continue
            best = by_card[group.best_written_card_id]
            found = cosine_distances(vectors[best : best + 1], vectors[[by_card[c] for c in group.card_ids]])[0]
            groups.append(
                ProposedGroup(
                    card_ids=sorted(group.card_ids),
                    value_ids=[_value_id(items[by_card[c]]) for c in sorted(group.card_ids)],
                    best_written_card_id=group.best_written_card_id,
                    distances={c: round(float(d), 4) for c, d in zip(group.card_ids, found)},
                    reasons=group.reasons.as_text(),
                    prompt_sha=prompt.sha,
                    model=answer.model,
                )
            )
    return groups, judged


def _value_id(item: _Item) -> int | None:
    return item.value.id if item.value is not None else None


async def _apply(session: AsyncSession, groups: list[ProposedGroup], *, now: datetime) -> list[ProposedGroup]:
    """Merge each group's values into the one showing the best-written card; the groups applied."""
    applied = []
    for group in groups:
        keep_id = group.value_ids[group.card_ids.index(group.best_written_card_id)]
        keep = await repo.get_value(session, value_id=keep_id) if keep_id is not None else None
        if keep is None or keep.status != ValueStatus.ACTIVE:
            continue
        merged = False
        for value_id in group.value_ids:
            other = await repo.get_value(session, value_id=value_id) if value_id is not None else None
            if other is None or other.id == keep.id or other.status != ValueStatus.ACTIVE:
                continue
            if await _kept_apart(session, keep.id, other.id):
                continue
            await merge_into(
                session,
                keep,
                other,
                decision="dedup_merge",
                actor="bot",
                reason=f"judged one value with values {[v for v in group.value_ids if v is not None]}: {group.reasons}",
                prompt_sha=group.prompt_sha,
                model=group.model,
                now=now,
            )
            merged = True
        if merged:
            applied.append(group)
    return applied


async def _kept_apart(session: AsyncSession, first_id: int, second_id: int) -> bool:
    """Whether a card of either value was once in the other: the passes only ever join, so it left by a
    member's "keep mine separate", a moderator's split or an undo of a merge — decisions a pass must not undo."""
    for value_id, other_id in ((first_id, second_id), (second_id, first_id)):
        for _, card in await repo.current_members(session, value_id=value_id):
            history = await repo.assignment_history(session, card_id=card.id)
            if any(assignment.canonical_value_id == other_id for assignment in history):
                return True
    return False


async def run_convergence(
    database: Database,
    *,
    llm: LLM,
    embedder: Embedder,
    judge_model: str,
    community_id: int,
    now: datetime,
    params: DedupParams = DedupParams(),
    recheck_every: timedelta | None = None,
) -> ConvergeReport:
    """The queue pass, then (once per ``recheck_every``) the re-dedup pass. An LLM failure raises with the
    pass's run marked failed; the queue stays for the next run."""
    report = ConvergeReport(community_id=community_id)
    async with database.session() as session:
        queued = await dedup_repo.queued_card_ids(session, community_id=community_id)
        report.queued = len(queued)
        passes: list[tuple[str, str, list[int] | None]] = []
        if queued:
            digest = hashlib.sha256(",".join(map(str, queued)).encode()).hexdigest()[:32]
            passes.append(("dedup_converge", f"queue-{digest}", queued))
        if recheck_every is not None:
            number = int((now - datetime(2024, 1, 1, tzinfo=now.tzinfo)) / recheck_every)
            passes.append(("dedup_recheck", f"every-{recheck_every.total_seconds():.0f}s-{number}", None))
        for job, period, focus in passes:
            run = await claim_job(session, job=job, community_id=community_id, period=period, now=now)
            if run is None:
                continue
            await session.commit()
            recorder = LLMRecorder(session, community_id, now, run=run)
            try:
                groups, judged = await propose_groups(
                    session,
                    community_id=community_id,
                    llm=llm,
                    embedder=embedder,
                    judge_model=judge_model,
                    params=params,
                    recorder=recorder,
                    focus_card_ids=focus,
                )
            except BaseException as error:
                finish_job(run, now=now, ok=False, detail=repr(error)[:200])
                await session.commit()
                raise
            await session.commit()  # the judge's call records and cached vectors, on their own
            try:
                applied = await _apply(session, groups, now=now)
                if focus is not None:
                    await dedup_repo.unqueue_cards(session, card_ids=focus)
            except BaseException as error:
                # Nothing of a half-applied pass stays; the run is marked failed, so the next maintenance
                # run takes the pass over at once instead of waiting for a stale 'running' row.
                await session.rollback()
                finish_job(run, now=now, ok=False, detail=repr(error)[:200])
                await session.commit()
                raise
            report.clusters_judged += judged
            report.merges += applied
            report.rechecked = report.rechecked or focus is None
            finish_job(run, now=now, detail=f"{judged} clusters judged, {len(applied)} groups merged")
            await session.commit()
    return report


async def dry_run(
    database: Database,
    *,
    llm: LLM,
    embedder: Embedder,
    judge_model: str,
    community_id: int,
    now: datetime,
    params: DedupParams = DedupParams(),
) -> list[ProposedGroup]:
    """What a re-dedup pass over every active value and every card not placed yet would merge, with the
    distances and the judge's reasons. Changes nothing: no call record, no cached vector, no merge."""
    async with database.session() as session:
        try:
            unplaced = await repo.unassigned_cards(session, community_id=community_id)
            groups, _ = await propose_groups(
                session,
                community_id=community_id,
                llm=llm,
                embedder=embedder,
                judge_model=judge_model,
                params=params,
                recorder=_DryRecorder(session, community_id, now),
                unplaced=unplaced,
            )
        finally:
            await session.rollback()
    return groups
