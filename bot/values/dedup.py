"""Deduplication use cases: members' confirmed cards → canonical values (MGE.md §4).

Embeddings of the policies propose candidates (cosine distance, DBSCAN); an LLM judge with the paper's
four criteria decides, and its verdict is honoured whatever the distance said. Every decision is a
``ValueAssignment`` row: undoing one supersedes it and adds another, so history is never rewritten.

Writes of one decision happen only after its LLM calls have returned and validated, and are committed
together: a failed or rejected judge answer leaves no trace but the recorded LLM call itself.

Value statuses: ``active``; ``hidden`` (a moderator's choice, never changed here); ``merged`` (into
``merged_into_id``); ``empty`` — no member card is in the value any more (after a split, a member's
"no, keep mine" or an undo). An empty or merged value becomes active again when a card returns by undo.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder, claim_job, finish_job
from core import dedup_judge
from core.cards import CardStatus, ValueStatus, ValuesCard, card_as_text
from core.embeddings import Embedder, clusters, dbscan, nearest, policies_text
from core.llm import LLM, LLMError
from storage import values_repo as repo
from storage.database import Database
from storage.models import CanonicalValue, JobRun, ValueAssignment, ValuesCardRecord

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DedupParams:
    """Thresholds from MGE.md §4 (the authors' working values) and limits on what the judge sees."""

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
class _ValueIndex:
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


async def _value_index(
    session: AsyncSession, *, embedder: Embedder, community_id: int, now: datetime, recorder: LLMRecorder
) -> _ValueIndex:
    values = await repo.list_values(session, community_id=community_id, statuses=(ValueStatus.ACTIVE,))
    index = _ValueIndex()
    if values:
        vectors = await _embed(session, embedder, [policies_text(v) for v in values], now, recorder)
        for value, vector in zip(values, vectors):
            index.set(value, vector)
    return index


async def _embed(
    session: AsyncSession, embedder: Embedder, texts: Sequence[str], now: datetime, recorder: LLMRecorder
) -> np.ndarray:
    def wrap(request):
        return recorder.call("dedup_embed", "", embedder.model, request)

    return await repo.embed_texts(session, embedder=embedder, texts=texts, now=now, wrap=wrap)


# --- one card against the existing values ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Judged:
    verdict: dedup_judge.MatchVerdict
    prompt_sha: str
    model: str


async def _judge_match(
    card: ValuesCardRecord, candidates: list[CanonicalValue], *, llm: LLM, judge_model: str,
    params: DedupParams, recorder: LLMRecorder,
) -> _Judged:
    prompt, messages = dedup_judge.match_messages(card, [(value.id, value) for value in candidates])
    schema = dedup_judge.match_schema(value.id for value in candidates)
    request = llm.structured(messages, schema, model=judge_model, temperature=params.judge_temperature)
    answer = await recorder.call("dedup_judge", prompt.sha, judge_model, request)
    return _Judged(answer.value, prompt.sha, answer.model)


async def _reconcile_one(
    session: AsyncSession,
    *,
    card: ValuesCardRecord,
    vector: np.ndarray,
    index: _ValueIndex,
    llm: LLM,
    judge_model: str,
    params: DedupParams,
    recorder: LLMRecorder,
    now: datetime,
    exclude: Collection[int] = frozenset(),
    report: DedupReport | None = None,
) -> ValueAssignment:
    """Judge the card against its nearest values, then write: join one, or found a new value.
    Nothing is written before the judge has answered validly."""
    candidate_ids = index.candidates(vector, params, exclude)
    judged: _Judged | None = None
    if candidate_ids:
        judged = await _judge_match(
            card, [index.values[i] for i in candidate_ids], llm=llm, judge_model=judge_model, params=params,
            recorder=recorder,
        )
        if report is not None:
            report.judge_calls += 1
    if judged is not None and judged.verdict.same_value:
        verdict = judged.verdict
        assert verdict.candidate_id is not None  # the verdict's validator requires one when same_value
        value = index.values[verdict.candidate_id]
        assignment = await repo.add_assignment(
            session, card=card, value_id=value.id, decision="judged_same", now=now, reason=verdict.reasons.as_text(),
            prompt_sha=judged.prompt_sha, model=judged.model,
        )
        if verdict.better_written == "new":
            repo.show_card_text(value, card, now=now)
            index.set(value, vector)
        if report is not None:
            report.judged_same += 1
        return assignment

    if judged is None:
        reason = f"no active value within cosine distance {params.match_distance:g}"
    else:
        reason = f"judged a different value from {candidate_ids}: {judged.verdict.reasons.as_text()}"
    value = await repo.create_value_from_card(session, card=card, now=now)
    index.set(value, vector)
    if report is not None:
        report.new_values += 1
    return await repo.add_assignment(
        session, card=card, value_id=value.id, decision="new_value", now=now, reason=reason,
        prompt_sha=judged.prompt_sha if judged else None, model=judged.model if judged else None,
    )


async def _reconciliation(session: AsyncSession, assignment: ValueAssignment) -> Reconciliation:
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
            return await _reconciliation(session, current)
        if card.status != CardStatus.CONFIRMED:
            raise ValueError(f"card {card_id} is {card.status}, not confirmed")
        recorder = LLMRecorder(session, card.community_id, now, run=run)
        try:
            index = await _value_index(
                session, embedder=embedder, community_id=card.community_id, now=now, recorder=recorder
            )
            vector = (await _embed(session, embedder, [policies_text(card)], now, recorder))[0]
            assignment = await _reconcile_one(
                session, card=card, vector=vector, index=index, llm=llm, judge_model=judge_model, params=params,
                recorder=recorder, now=now,
            )
        except LLMError:
            # Only the call records and cached vectors are pending: keep them, the cost was real.
            await session.commit()
            raise
        await session.commit()
        return await _reconciliation(session, assignment)


# --- members and moderators --------------------------------------------------------------------------


async def _card_left(session: AsyncSession, value: CanonicalValue, *, card_id: int, now: datetime) -> None:
    """Keep a value honest after a card left it: show a remaining member's text, or mark it empty."""
    members = await repo.current_members(session, value_id=value.id)
    if not members:
        if value.status == ValueStatus.ACTIVE:
            value.status, value.updated_at = ValueStatus.EMPTY, now
    elif value.source_card_id == card_id:
        repo.show_card_text(value, members[0][1], now=now)


def _card_joined(value: CanonicalValue, *, now: datetime) -> None:
    if value.status in (ValueStatus.EMPTY, ValueStatus.MERGED):
        value.status, value.merged_into_id, value.updated_at = ValueStatus.ACTIVE, None, now


async def _require_current(session: AsyncSession, card_id: int) -> tuple[ValuesCardRecord, ValueAssignment]:
    card = await repo.get_card(session, card_id=card_id)
    if card is None:
        raise LookupError(f"no values card {card_id}")
    current = await repo.current_assignment(session, card_id=card_id)
    if current is None:
        raise LookupError(f"card {card_id} is not in any value yet (run `mge dedup`)")
    return card, current


async def _move_to_own_value(
    session: AsyncSession, card: ValuesCardRecord, current: ValueAssignment, *, decision: str, reason: str,
    actor: str, now: datetime,
) -> ValueAssignment:
    repo.supersede(current, now=now)
    await session.flush()
    old_value = await repo.get_value(session, value_id=current.canonical_value_id)
    value = await repo.create_value_from_card(session, card=card, now=now)
    assignment = await repo.add_assignment(
        session, card=card, value_id=value.id, decision=decision, now=now, reason=reason, actor=actor
    )
    if old_value is not None:
        await _card_left(session, old_value, card_id=card.id, now=now)
    return assignment


async def record_member_verdict(database: Database, *, card_id: int, agrees: bool, now: datetime) -> Reconciliation:
    """The member's answer to "does this value represent what you care about?". On "no, keep mine" the
    card leaves the value and becomes its own value (member_declined)."""
    async with database.session() as session:
        card, current = await _require_current(session, card_id)
        current.member_agrees = agrees
        result = current
        if not agrees:
            others = [c for _, c in await repo.current_members(session, value_id=current.canonical_value_id)
                      if c.id != card_id]
            if others:  # alone already: the value is the member's own card, nothing to split
                result = await _move_to_own_value(
                    session, card, current, decision="member_declined", actor="member", now=now,
                    reason=f"the member said value {current.canonical_value_id} does not represent them",
                )
        await session.commit()
        return await _reconciliation(session, result)


async def merge_values(
    database: Database, *, keep_id: int, merge_id: int, actor: str, now: datetime, community_id: int | None = None
) -> int:
    """Move every card of ``merge_id`` into ``keep_id`` (manual_merge); ``merge_id`` becomes merged.
    Returns how many cards moved. Each card's move can be undone with :func:`undo_last`."""
    if keep_id == merge_id:
        raise ValueError("cannot merge a value into itself")
    async with database.session() as session:
        keep = await repo.get_value(session, value_id=keep_id, community_id=community_id)
        merge = await repo.get_value(session, value_id=merge_id, community_id=community_id)
        if keep is None or merge is None:
            missing = keep_id if keep is None else merge_id
            raise LookupError(f"no value {missing}" + (" in this community" if community_id is not None else ""))
        if keep.community_id != merge.community_id:
            raise ValueError(f"values {keep_id} and {merge_id} belong to different communities; refusing to merge")
        if keep.status == ValueStatus.MERGED:
            raise ValueError(f"value {keep_id} was merged into {keep.merged_into_id}; merge into that one instead")
        if merge.status == ValueStatus.MERGED:
            raise ValueError(f"value {merge_id} is already merged into {merge.merged_into_id}")
        moved = 0
        for assignment, card in await repo.current_members(session, value_id=merge_id):
            repo.supersede(assignment, now=now)
            await repo.add_assignment(
                session, card=card, value_id=keep_id, decision="manual_merge", now=now, actor=actor,
                reason=f"moderator merged value {merge_id} into {keep_id}",
            )
            moved += 1
        merge.status, merge.merged_into_id, merge.updated_at = ValueStatus.MERGED, keep_id, now
        _card_joined(keep, now=now)
        await session.commit()
        return moved


async def split_card(
    database: Database, *, card_id: int, actor: str, now: datetime, community_id: int | None = None
) -> Reconciliation:
    """Take a card out of its value into a new value of its own (manual_split)."""
    async with database.session() as session:
        card, current = await _require_current(session, card_id)
        _check_community(card, community_id)
        others = [c for _, c in await repo.current_members(session, value_id=current.canonical_value_id)
                  if c.id != card_id]
        if not others:
            raise ValueError(f"card {card_id} is already the only card in value {current.canonical_value_id}")
        assignment = await _move_to_own_value(
            session, card, current, decision="manual_split", actor=actor, now=now,
            reason=f"moderator split the card out of value {current.canonical_value_id}",
        )
        await session.commit()
        return await _reconciliation(session, assignment)


async def undo_last(
    database: Database, *, card_id: int, actor: str, now: datetime, community_id: int | None = None
) -> Reconciliation:
    """Revert the card's latest decision: supersede it and restore the one before as a new row.
    (Undoing twice restores the undone decision again.)"""
    async with database.session() as session:
        card, current = await _require_current(session, card_id)
        _check_community(card, community_id)
        earlier = [a for a in await repo.assignment_history(session, card_id=card_id) if a.id < current.id]
        if not earlier:
            raise ValueError(f"card {card_id} has no earlier decision to go back to")
        previous = earlier[-1]
        target = await repo.get_value(session, value_id=previous.canonical_value_id)
        assert target is not None
        if target.status == ValueStatus.HIDDEN:
            raise ValueError(f"value {target.id} is hidden by a moderator; unhide it before moving cards back")
        repo.supersede(current, now=now)
        await session.flush()
        restored = await repo.add_assignment(
            session, card=card, value_id=previous.canonical_value_id, decision=previous.decision, now=now,
            reason=(
                f"undo of decision {current.id} ({current.decision}) "
                f"restored decision {previous.id}: {previous.reason}"
            ),
            prompt_sha=previous.prompt_sha, model=previous.model, actor=actor, member_agrees=previous.member_agrees,
        )
        _card_joined(target, now=now)
        left = await repo.get_value(session, value_id=current.canonical_value_id)
        if left is not None and left.id != target.id:
            await _card_left(session, left, card_id=card_id, now=now)
        await session.commit()
        return await _reconciliation(session, restored)


def _check_community(card: ValuesCardRecord, community_id: int | None) -> None:
    if community_id is not None and card.community_id != community_id:
        raise LookupError(f"no values card {card.id} in this community")


# --- provenance ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    value_id: int
    decision: str
    reason: str
    actor: str
    prompt_sha: str | None
    model: str | None
    member_agrees: bool | None
    created_at: str
    superseded_at: str | None


@dataclass(frozen=True, slots=True)
class MemberCard:
    card_id: int
    title: str
    description: str
    policies: list[str]
    author_member_id: int | None
    decision: str
    member_agrees: bool | None
    history: list[Decision]


@dataclass(frozen=True, slots=True)
class ValueProvenance:
    id: int
    community_id: int
    title: str
    description: str
    policies: list[str]
    status: str
    source_card_id: int | None
    merged_into_id: int | None
    merged_from: list[int]
    cards: list[MemberCard]

    def as_dict(self) -> dict:
        return asdict(self)


def _decision(a: ValueAssignment) -> Decision:
    return Decision(
        id=a.id, value_id=a.canonical_value_id, decision=a.decision, reason=a.reason, actor=a.actor,
        prompt_sha=a.prompt_sha, model=a.model, member_agrees=a.member_agrees, created_at=a.created_at.isoformat(),
        superseded_at=a.superseded_at.isoformat() if a.superseded_at else None,
    )


async def value_provenance(database: Database, value_id: int, *, community_id: int | None = None) -> ValueProvenance:
    """The value, every member card currently in it, and each card's full decision history."""
    async with database.session() as session:
        value = await repo.get_value(session, value_id=value_id, community_id=community_id)
        if value is None:
            raise LookupError(f"no value {value_id}")
        cards = []
        for assignment, card in await repo.current_members(session, value_id=value_id):
            history = [_decision(a) for a in await repo.assignment_history(session, card_id=card.id)]
            cards.append(MemberCard(
                card_id=card.id, title=card.title, description=card.description, policies=list(card.policies),
                author_member_id=card.author_member_id, decision=assignment.decision,
                member_agrees=assignment.member_agrees, history=history,
            ))
        merged_from = [v.id for v in await repo.values_merged_into(session, value_id=value_id)]
        return ValueProvenance(
            id=value.id, community_id=value.community_id, title=value.title, description=value.description,
            policies=list(value.policies), status=value.status, source_card_id=value.source_card_id,
            merged_into_id=value.merged_into_id, merged_from=merged_from, cards=cards,
        )


async def value_rows(database: Database, *, community_ids: Sequence[int] | None, statuses: Sequence[str] | None) -> list[dict]:
    """Values with their member counts, for listings."""
    async with database.session() as session:
        values = await repo.list_values(session, statuses=statuses)
        if community_ids is not None:
            values = [v for v in values if v.community_id in set(community_ids)]
        counts: dict[int, int] = {}
        for cid in {v.community_id for v in values}:
            counts.update(await repo.member_counts(session, community_id=cid))
        return [
            {"id": v.id, "community_id": v.community_id, "title": v.title, "description": v.description,
             "policies": list(v.policies), "status": v.status, "cards": counts.get(v.id, 0),
             "source_card_id": v.source_card_id, "merged_into_id": v.merged_into_id,
             "updated": v.updated_at.isoformat()}
            for v in values
        ]


# --- the batch job --------------------------------------------------------------------------------------


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
            await _place_cards(session, cards, llm=llm, embedder=embedder, judge_model=judge_model, params=params,
                               recorder=recorder, now=now, report=report, step_done=step_done)
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
    return (f"{report.assigned} cards placed: {report.clustered_cards} in {report.clusters_judged} judged clusters, "
            f"{report.judged_same} joined existing values, {report.new_values} new values")


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
    vectors = await _embed(session, embedder, [policies_text(c) for c in cards], now, recorder)
    index = await _value_index(session, embedder=embedder, community_id=report.community_id, now=now, recorder=recorder)
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
                session, [cards[i] for i in chunk], {cards[i].id: vectors[i] for i in chunk}, index=index, llm=llm,
                judge_model=judge_model, params=params, recorder=recorder, now=now, report=report,
            )
            await session.commit()
            step_done(len(chunk) - len(singles))
            by_id = {cards[i].id: i for i in chunk}
            for card_id in singles:
                leftover.append(by_id[card_id])
                exclude[card_id] = set(created)
    leftover += [i for i in pool if i not in in_cluster]

    for i in sorted(direct + leftover, key=lambda i: cards[i].id):
        await _reconcile_one(
            session, card=cards[i], vector=vectors[i], index=index, llm=llm, judge_model=judge_model, params=params,
            recorder=recorder, now=now, exclude=exclude.get(cards[i].id, set()), report=report,
        )
        await session.commit()
        step_done(1)


async def _place_cluster(
    session: AsyncSession,
    cards: list[ValuesCardRecord],
    vectors: dict[int, np.ndarray],
    *,
    index: _ValueIndex,
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
            await repo.add_assignment(
                session, card=by_id[card_id], value_id=value.id, decision="cluster", now=now,
                reason=f"judged one value with cards {sorted(group.card_ids)}: {group.reasons.as_text()}",
                prompt_sha=prompt.sha, model=answer.model,
            )
            report.clustered_cards += 1
    return singles, created


@dataclass(frozen=True)
class Reconciler:
    """``reconcile_card`` and ``record_member_verdict`` with their collaborators bound, for the
    interview to place a card the moment it is confirmed (``bot.interview.service.CardReconciler``)."""

    database: Database
    llm: LLM
    embedder: Embedder
    judge_model: str
    params: DedupParams = DedupParams()

    async def __call__(self, *, card_id: int, now: datetime) -> Reconciliation:
        return await reconcile_card(
            self.database, llm=self.llm, embedder=self.embedder, judge_model=self.judge_model, card_id=card_id,
            now=now, params=self.params,
        )

    async def record_verdict(self, *, card_id: int, agrees: bool, now: datetime) -> Reconciliation:
        return await record_member_verdict(self.database, card_id=card_id, agrees=agrees, now=now)
