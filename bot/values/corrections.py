"""Corrections of where cards stand: a member's verdict on the value their card joined ("yes" / "no,
keep mine separate"), and a moderator's merge, split and undo. Each is a new ``ValueAssignment`` row;
nothing is rewritten (docs/method.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.values.placement import DedupParams, Reconciliation, reconcile_card, reconciliation_of
from core.cards import ValueStatus
from core.embeddings import Embedder
from core.llm import LLM
from storage import dedup_repo
from storage import values_repo as repo
from storage.database import Database
from storage.models import CanonicalValue, ValueAssignment, ValuesCardRecord


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
    session: AsyncSession,
    card: ValuesCardRecord,
    current: ValueAssignment,
    *,
    decision: str,
    reason: str,
    actor: str,
    now: datetime,
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
            others = [
                c
                for _, c in await repo.current_members(session, value_id=current.canonical_value_id)
                if c.id != card_id
            ]
            if others:  # alone already: the value is the member's own card, nothing to split
                result = await _move_to_own_value(
                    session,
                    card,
                    current,
                    decision="member_declined",
                    actor="member",
                    now=now,
                    reason=f"the member said value {current.canonical_value_id} does not represent them",
                )
        await session.commit()
        return await reconciliation_of(session, result)


async def merge_values(
    database: Database, *, keep_id: int, merge_id: int, actor: str, now: datetime, community_id: int | None = None
) -> int:
    """Move every card of ``merge_id`` into ``keep_id`` (manual_merge); ``merge_id`` becomes merged.
    Returns how many cards moved. Undo with :func:`undo_merge` (both values back) or per card with
    :func:`undo_last`."""
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
        moved = await merge_into(
            session,
            keep,
            merge,
            decision="manual_merge",
            actor=actor,
            reason=f"moderator merged value {merge_id} into {keep_id}",
            now=now,
        )
        await session.commit()
        return moved


#: Decisions that moved a card because its whole value was merged into another.
MERGE_DECISIONS = ("manual_merge", "dedup_merge")


async def merge_into(
    session: AsyncSession,
    keep: CanonicalValue,
    merge: CanonicalValue,
    *,
    decision: str,
    actor: str,
    reason: str,
    now: datetime,
    prompt_sha: str | None = None,
    model: str | None = None,
) -> int:
    """Move every current card of ``merge`` into ``keep`` (one new assignment each, so each can be undone);
    ``merge`` becomes merged into ``keep``. Each moved card's author is to be asked whether ``keep`` still
    represents them (a value check). Returns how many cards moved; the caller commits."""
    moved = 0
    for assignment, card in await repo.current_members(session, value_id=merge.id):
        repo.supersede(assignment, now=now)
        await session.flush()
        added = await repo.add_assignment(
            session,
            card=card,
            value_id=keep.id,
            decision=decision,
            now=now,
            actor=actor,
            reason=reason,
            prompt_sha=prompt_sha,
            model=model,
        )
        await dedup_repo.add_value_check(session, card=card, value_id=keep.id, change=f"moved:{added.id}", now=now)
        moved += 1
    merge.status, merge.merged_into_id, merge.updated_at = ValueStatus.MERGED, keep.id, now
    _card_joined(keep, now=now)
    return moved


async def undo_merge(
    database: Database, *, value_id: int, actor: str, now: datetime, community_id: int | None = None
) -> int:
    """Undo the merge of value ``value_id`` into another: every card the merge moved goes back (its decision
    before the merge is restored, as :func:`undo_last` does), so both values stand again. Returns how many
    cards went back."""
    async with database.session() as session:
        value = await repo.get_value(session, value_id=value_id, community_id=community_id)
        if value is None:
            raise LookupError(f"no value {value_id}")
        if value.status != ValueStatus.MERGED or value.merged_into_id is None:
            raise ValueError(f"value {value_id} is {value.status}, not merged into another value")
        back = 0
        for current, card in await repo.current_members(session, value_id=value.merged_into_id):
            if current.decision not in MERGE_DECISIONS:
                continue
            earlier = [a for a in await repo.assignment_history(session, card_id=card.id) if a.id < current.id]
            if earlier and earlier[-1].canonical_value_id == value_id:
                await _restore(session, card, current, earlier[-1], actor=actor, now=now)
                back += 1
        if not back:
            raise ValueError(f"no card of value {value.merged_into_id} came from value {value_id} by a merge")
        await session.commit()
        return back


async def split_card(
    database: Database, *, card_id: int, actor: str, now: datetime, community_id: int | None = None
) -> Reconciliation:
    """Take a card out of its value into a new value of its own (manual_split)."""
    async with database.session() as session:
        card, current = await _require_current(session, card_id)
        _check_community(card, community_id)
        others = [
            c for _, c in await repo.current_members(session, value_id=current.canonical_value_id) if c.id != card_id
        ]
        if not others:
            raise ValueError(f"card {card_id} is already the only card in value {current.canonical_value_id}")
        assignment = await _move_to_own_value(
            session,
            card,
            current,
            decision="manual_split",
            actor=actor,
            now=now,
            reason=f"moderator split the card out of value {current.canonical_value_id}",
        )
        await session.commit()
        return await reconciliation_of(session, assignment)


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
        restored = await _restore(session, card, current, earlier[-1], actor=actor, now=now)
        await session.commit()
        return await reconciliation_of(session, restored)


async def _restore(
    session: AsyncSession,
    card: ValuesCardRecord,
    current: ValueAssignment,
    previous: ValueAssignment,
    *,
    actor: str,
    now: datetime,
) -> ValueAssignment:
    """Supersede ``current`` and add ``previous`` again as a new row (its value becomes active again)."""
    target = await repo.get_value(session, value_id=previous.canonical_value_id)
    assert target is not None
    if target.status == ValueStatus.HIDDEN:
        raise ValueError(f"value {target.id} is hidden by a moderator; unhide it before moving cards back")
    repo.supersede(current, now=now)
    await session.flush()
    await dedup_repo.drop_unsent_value_checks(session, card_id=card.id)  # the move they were about is undone
    restored = await repo.add_assignment(
        session,
        card=card,
        value_id=previous.canonical_value_id,
        decision=previous.decision,
        now=now,
        reason=f"undo of decision {current.id} ({current.decision}) restored decision {previous.id}: {previous.reason}",
        prompt_sha=previous.prompt_sha,
        model=previous.model,
        actor=actor,
        member_agrees=previous.member_agrees,
    )
    _card_joined(target, now=now)
    left = await repo.get_value(session, value_id=current.canonical_value_id)
    if left is not None and left.id != target.id:
        await _card_left(session, left, card_id=card.id, now=now)
    return restored


def _check_community(card: ValuesCardRecord, community_id: int | None) -> None:
    if community_id is not None and card.community_id != community_id:
        raise LookupError(f"no values card {card.id} in this community")


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
            self.database,
            llm=self.llm,
            embedder=self.embedder,
            judge_model=self.judge_model,
            card_id=card_id,
            now=now,
            params=self.params,
        )

    async def record_verdict(self, *, card_id: int, agrees: bool, now: datetime) -> Reconciliation:
        return await record_member_verdict(self.database, card_id=card_id, agrees=agrees, now=now)
