"""Deduplication use cases: members' confirmed cards → canonical values (docs/method.md §4).

Embeddings of the policies propose candidates (cosine distance, DBSCAN); an LLM judge with the paper's
four criteria decides, and its verdict is honoured whatever the distance said. Every decision is a
``ValueAssignment`` row: undoing one supersedes it and adds another, so history is never rewritten.

Writes of one decision happen only after its LLM calls have returned and validated, and are committed
together: a failed or rejected judge answer leaves no trace but the recorded LLM call itself.

Value statuses: ``active``; ``hidden`` (a moderator's choice, never changed here); ``merged`` (into
``merged_into_id``); ``empty`` — no member card is in the value any more (after a split, a member's
"no, keep mine" or an undo). An empty or merged value becomes active again when a card returns by undo.

This module: the value index and placing one card (at confirmation, or by the batch job), and the
reconciler the interview calls.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder
from core import dedup_judge
from core.cards import CardStatus, ValuesCard, ValueStatus, card_as_text
from core.embeddings import Embedder, nearest, policies_text
from core.llm import LLM, LLMError
from storage import dedup_repo
from storage import values_repo as repo
from storage.database import Database
from storage.models import CanonicalValue, JobRun, ValueAssignment, ValuesCardRecord

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DedupParams:
    """Thresholds from docs/method.md §4 (the authors' working values) and limits on what the judge sees."""

    #: A canonical value this close (cosine distance of the policies' embeddings) is a direct candidate.
    match_distance: float = 0.10
    #: DBSCAN radius and minimum neighbourhood (the point itself included) for seeding clusters.
    cluster_eps: float = 0.11
    cluster_min_points: int = 3
    #: At most this many candidate values are shown to the judge for one card, nearest first.
    max_candidates: int = 5
    #: Larger embedding clusters are judged in chunks of this many cards (prompt size, judge attention).
    max_cluster_size: int = 12
    judge_temperature: float = 0.0


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Where one card ended up."""

    card_id: int
    value_id: int
    #: new_value | judged_same | cluster | manual_merge | manual_split | member_declined
    decision: str
    #: The text the canonical value shows (may be another member's card).
    value_card: ValuesCard
    #: True when the member should be asked whether the value represents them (a judged merge they
    #: haven't answered yet).
    ask_member: bool
    reason: str = ""
    member_agrees: bool | None = None

    @property
    def value_text(self) -> str:
        return card_as_text(self.value_card)


@dataclass(slots=True)
class DedupReport:
    community_id: int
    #: Cards without a value when the run started.
    cards: int = 0
    assigned: int = 0
    clusters_judged: int = 0
    clustered_cards: int = 0
    judged_same: int = 0
    new_values: int = 0
    judge_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    run_id: int | None = None
    #: Why nothing was done: "nothing to do" or "already running or done".
    skipped: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# --- the value index: active values and their vectors, kept current during a run ------------------


@dataclass
class ValueIndex:
    values: dict[int, CanonicalValue] = field(default_factory=dict)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)

    def set(self, value: CanonicalValue, vector: np.ndarray) -> None:
        assert value.id is not None
        self.values[value.id] = value
        self.vectors[value.id] = vector

    def candidates(self, vector: np.ndarray, params: DedupParams, exclude: Collection[int] = frozenset()) -> list[int]:
        ids = [value_id for value_id in self.vectors if value_id not in exclude]
        if not ids:
            return []
        matrix = np.stack([self.vectors[value_id] for value_id in ids])
        hits = nearest(vector, matrix, max_distance=params.match_distance, limit=params.max_candidates)
        return [ids[index] for index, _ in hits]


async def value_index(
    session: AsyncSession, *, embedder: Embedder, community_id: int, now: datetime, recorder: LLMRecorder
) -> ValueIndex:
    values = await repo.list_values(session, community_id=community_id, statuses=(ValueStatus.ACTIVE,))
    index = ValueIndex()
    if values:
        vectors = await embed_texts(session, embedder, [policies_text(v) for v in values], now, recorder)
        for value, vector in zip(values, vectors):
            index.set(value, vector)
    return index


async def embed_texts(
    session: AsyncSession,
    embedder: Embedder,
    texts: Sequence[str],
    now: datetime,
    recorder: LLMRecorder,
    store: bool = True,
) -> np.ndarray:
    def wrap(request):
        return recorder.call("dedup_embed", "", embedder.model, request)

    return await repo.embed_texts(session, embedder=embedder, texts=texts, now=now, wrap=wrap, store=store)


# --- one card against the existing values ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Judged:
    verdict: dedup_judge.MatchVerdict
    prompt_sha: str
    model: str


async def _judge_match(
    card: ValuesCardRecord,
    candidates: list[CanonicalValue],
    *,
    llm: LLM,
    judge_model: str,
    params: DedupParams,
    recorder: LLMRecorder,
) -> _Judged:
    prompt, messages = dedup_judge.match_messages(card, [(value.id, value) for value in candidates])
    schema = dedup_judge.match_schema(value.id for value in candidates)
    request = llm.structured(messages, schema, model=judge_model, temperature=params.judge_temperature)
    answer = await recorder.call("dedup_judge", prompt.sha, judge_model, request)
    return _Judged(answer.value, prompt.sha, answer.model)


async def reconcile_one(
    session: AsyncSession,
    *,
    card: ValuesCardRecord,
    vector: np.ndarray,
    index: ValueIndex,
    llm: LLM,
    judge_model: str,
    params: DedupParams,
    recorder: LLMRecorder,
    now: datetime,
    exclude: Collection[int] = frozenset(),
    report: DedupReport | None = None,
    ask_by_dm: bool = False,
) -> ValueAssignment:
    """Judge the card against its nearest values, then write: join one, or found a new value (and queue
    the card for the next convergence pass). Nothing is written before the judge has answered validly.

    The other members of a value whose shown text the card replaces are to be asked by DM whether it still
    represents them (a value check); so is the card's own author with ``ask_by_dm`` (the batch job: no
    interview is there to ask them)."""
    candidate_ids = index.candidates(vector, params, exclude)
    judged: _Judged | None = None
    if candidate_ids:
        judged = await _judge_match(
            card,
            [index.values[i] for i in candidate_ids],
            llm=llm,
            judge_model=judge_model,
            params=params,
            recorder=recorder,
        )
        if report is not None:
            report.judge_calls += 1
    if judged is not None and judged.verdict.same_value:
        verdict = judged.verdict
        assert verdict.candidate_id is not None  # the verdict's validator requires one when same_value
        value = index.values[verdict.candidate_id]
        assignment = await repo.add_assignment(
            session,
            card=card,
            value_id=value.id,
            decision="judged_same",
            now=now,
            reason=verdict.reasons.as_text(),
            prompt_sha=judged.prompt_sha,
            model=judged.model,
        )
        if ask_by_dm:
            await dedup_repo.add_value_check(
                session, card=card, value_id=value.id, change=f"moved:{assignment.id}", now=now
            )
        if verdict.better_written == "new":
            repo.show_card_text(value, card, now=now)
            index.set(value, vector)
            await ask_members_after_text_change(session, value, change=f"text:{value.id}:{assignment.id}", now=now)
        if report is not None:
            report.judged_same += 1
        return assignment

    if judged is None:
        reason = f"no active value within cosine distance {params.match_distance:g}"
    else:
        reason = f"judged a different value from {candidate_ids}: {judged.verdict.reasons.as_text()}"
    value = await repo.create_value_from_card(session, card=card, now=now)
    index.set(value, vector)
    await dedup_repo.queue_card(session, card=card, now=now)
    if report is not None:
        report.new_values += 1
    return await repo.add_assignment(
        session,
        card=card,
        value_id=value.id,
        decision="new_value",
        now=now,
        reason=reason,
        prompt_sha=judged.prompt_sha if judged else None,
        model=judged.model if judged else None,
    )


async def ask_members_after_text_change(
    session: AsyncSession, value: CanonicalValue, *, change: str, now: datetime
) -> None:
    """A value check for every member of ``value`` but the one whose card it now shows."""
    for _, member_card in await repo.current_members(session, value_id=value.id):
        if member_card.id != value.source_card_id:
            await dedup_repo.add_value_check(session, card=member_card, value_id=value.id, change=change, now=now)


async def reconciliation_of(session: AsyncSession, assignment: ValueAssignment) -> Reconciliation:
    value = await repo.get_value(session, value_id=assignment.canonical_value_id)
    assert value is not None
    # Stored text was validated when written; model_construct keeps old cards readable if rules tighten.
    shown = ValuesCard.model_construct(title=value.title, description=value.description, policies=list(value.policies))
    return Reconciliation(
        card_id=assignment.card_id,
        value_id=value.id,
        decision=assignment.decision,
        value_card=shown,
        ask_member=assignment.decision == "judged_same" and assignment.member_agrees is None,
        reason=assignment.reason,
        member_agrees=assignment.member_agrees,
    )


async def reconcile_card(
    database: Database,
    *,
    llm: LLM,
    embedder: Embedder,
    judge_model: str,
    card_id: int,
    now: datetime,
    run: JobRun | None = None,
    params: DedupParams = DedupParams(),
) -> Reconciliation:
    """Place one newly confirmed card: join a value of the same community the judge finds it the same
    as, or found a new one. A card already placed is returned as it is (idempotent).

    Raises LookupError for an unknown card, ValueError for a card that isn't confirmed, and LLMError
    when embedding or judging fails — then nothing but the LLM call record is written, and the card
    stays unassigned for the next ``run_dedup``. ``run``: a job run (of this session's caller) to add
    the tokens to.
    """
    async with database.session() as session:
        card = await repo.get_card(session, card_id=card_id)
        if card is None:
            raise LookupError(f"no values card {card_id}")
        if (current := await repo.current_assignment(session, card_id=card_id)) is not None:
            return await reconciliation_of(session, current)
        if card.status != CardStatus.CONFIRMED:
            raise ValueError(f"card {card_id} is {card.status}, not confirmed")
        recorder = LLMRecorder(session, card.community_id, now, run=run)
        try:
            index = await value_index(
                session, embedder=embedder, community_id=card.community_id, now=now, recorder=recorder
            )
            vector = (await embed_texts(session, embedder, [policies_text(card)], now, recorder))[0]
            assignment = await reconcile_one(
                session,
                card=card,
                vector=vector,
                index=index,
                llm=llm,
                judge_model=judge_model,
                params=params,
                recorder=recorder,
                now=now,
            )
        except LLMError:
            # Only the call records and cached vectors are pending: keep them, the cost was real.
            await session.commit()
            raise
        await session.commit()
        return await reconciliation_of(session, assignment)
