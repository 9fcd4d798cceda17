"""Small keyword-only functions over the tables. Callers own the session and decide when to commit."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import CardStatus, ValuesCard
from core.interview import InterviewState
from core.languages import CardTranslation
from storage.models import (
    Community,
    Interview,
    InterviewTurn,
    LLMCall,
    Member,
    Scenario,
    ValuesCardRecord,
    table_of,
)

if TYPE_CHECKING:
    pass

ACTIVE_STATES = tuple(state.value for state in InterviewState if state.is_active)


# --- scenarios -----------------------------------------------------------------------------------


async def open_scenarios(session: AsyncSession, *, community_id: int) -> Sequence[Scenario]:
    query = select(Scenario).where(Scenario.community_id == community_id, Scenario.is_open).order_by(col(Scenario.id))
    return (await session.exec(query)).all()


async def count_scenarios(session: AsyncSession, *, community_id: int) -> int:
    query = select(func.count()).select_from(Scenario).where(Scenario.community_id == community_id)
    return (await session.exec(query)).one()


async def get_scenario(session: AsyncSession, *, community_id: int, scenario_id: int) -> Scenario | None:
    scenario = await session.get(Scenario, scenario_id)
    return scenario if scenario and scenario.community_id == community_id else None


async def find_or_add_scenario(
    session: AsyncSession, *, community_id: int, text: str, now: datetime, framing: str = "assistant"
) -> Scenario:
    """The scenario with ``text``, reopened, or a new one framed ``framing`` (a scenario keeps the framing
    it was created with: its cards were asked for in it)."""
    query = select(Scenario).where(Scenario.community_id == community_id, Scenario.text == text)
    found = (await session.exec(query)).first()
    if found:
        found.is_open = True
        return found
    scenario = Scenario(community_id=community_id, text=text, is_open=True, created_at=now, framing=framing)
    session.add(scenario)
    await session.flush()
    return scenario


# --- interviews and transcripts ------------------------------------------------------------------


def _active_interview_query(*columns):
    return (
        select(Interview, *columns)
        .where(
            Interview.community_id == sa.bindparam("community_id"),
            Interview.member_id == sa.bindparam("member_id"),
            col(Interview.state).in_(ACTIVE_STATES),
        )
        .order_by(col(Interview.id).desc())
    )


_ACTIVE_INTERVIEW = _active_interview_query()


async def active_interview(session: AsyncSession, *, community_id: int, member_id: int) -> Interview | None:
    params = {"community_id": community_id, "member_id": member_id}
    return (await session.exec(_ACTIVE_INTERVIEW, params=params)).first()


def _last_role(interview_id, kinds: tuple[str, ...]):
    """Who spoke last among the turns of ``kinds`` of ``interview_id`` (a value or a column), as a scalar."""
    return (
        select(InterviewTurn.role)
        .where(InterviewTurn.interview_id == interview_id, col(InterviewTurn.kind).in_(kinds))
        .order_by(col(InterviewTurn.seq).desc())
        .limit(1)
        .scalar_subquery()
    )


def _top_seq(interview_id):
    """The highest turn number of ``interview_id`` (a value or a column), 0 without turns, as a scalar."""
    return (
        select(func.coalesce(func.max(InterviewTurn.seq), 0))
        .where(InterviewTurn.interview_id == interview_id)
        .scalar_subquery()
    )


@functools.cache
def _active_interview_and_last_turn_query(kinds: tuple[str, ...]):
    return _active_interview_query(_last_role(Interview.id, kinds), _top_seq(Interview.id))


async def active_interview_and_last_turn(
    session: AsyncSession, *, community_id: int, member_id: int, kinds: Sequence[str]
) -> tuple[Interview, str | None, int] | None:
    """The member's active interview with what ``last_role_and_seq`` tells of it, in one query (every
    DM turn asks both)."""
    query = _active_interview_and_last_turn_query(tuple(kinds))
    params = {"community_id": community_id, "member_id": member_id}
    found = (await session.exec(query, params=params)).first()
    return (found[0], found[1], int(found[2])) if found else None


async def add_interview(
    session: AsyncSession, *, community_id: int, member_id: int, state: str, scenario_id: int | None, now: datetime
) -> Interview:
    interview = Interview(
        community_id=community_id,
        member_id=member_id,
        scenario_id=scenario_id,
        state=state,
        created_at=now,
        last_activity_at=now,
    )
    session.add(interview)
    await session.flush()
    return interview


async def last_language(session: AsyncSession, *, member_id: int) -> str | None:
    """The language the member's latest interview was held in (None: never known)."""
    query = (
        select(Interview.language)
        .where(Interview.member_id == member_id, col(Interview.language).is_not(None))
        .order_by(col(Interview.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


_INTERVIEWS = table_of(Interview)
_TOUCH_INTERVIEW = (
    sa.update(_INTERVIEWS)
    .where(_INTERVIEWS.c.id == sa.bindparam("interview_id"))
    .values(last_activity_at=sa.bindparam("at", type_=_INTERVIEWS.c.last_activity_at.type))
)
_ADD_INTERVIEW_USAGE = (
    sa.update(_INTERVIEWS)
    .where(_INTERVIEWS.c.id == sa.bindparam("interview_id"))
    .values(
        input_tokens=_INTERVIEWS.c.input_tokens + sa.bindparam("add_input", type_=sa.Integer),
        output_tokens=_INTERVIEWS.c.output_tokens + sa.bindparam("add_output", type_=sa.Integer),
        llm_calls=_INTERVIEWS.c.llm_calls + 1,
    )
)


# Both run on every DM turn: a plain UPDATE costs a fraction of the ORM's flush of the changed row. The
# loaded row is kept in step without being marked changed (``set_committed_value``).
async def touch_interview(session: AsyncSession, *, interview: Interview, now: datetime) -> None:
    """Note the member's activity (the idle timeout counts from it)."""
    await session.exec(_TOUCH_INTERVIEW, params={"interview_id": interview.id, "at": now})
    set_committed_value(interview, "last_activity_at", now)


async def add_interview_usage(
    session: AsyncSession, *, interview: Interview, input_tokens: int, output_tokens: int
) -> None:
    """Add one LLM call's tokens to the interview's totals."""
    params = {"interview_id": interview.id, "add_input": input_tokens, "add_output": output_tokens}
    await session.exec(_ADD_INTERVIEW_USAGE, params=params)
    set_committed_value(interview, "input_tokens", interview.input_tokens + input_tokens)
    set_committed_value(interview, "output_tokens", interview.output_tokens + output_tokens)
    set_committed_value(interview, "llm_calls", interview.llm_calls + 1)


_NEXT_SEQ = select(_top_seq(sa.bindparam("interview_id")) + 1)
_INSERT_TURN = sa.insert(table_of(InterviewTurn))


async def add_turn(
    session: AsyncSession,
    *,
    interview_id: int,
    role: str,
    kind: str,
    content: str,
    now: datetime,
    prompt_sha: str | None = None,
    model: str | None = None,
    input_tokens: int = 0,
    output_tokens: int = 0,
    seq: int | None = None,
) -> int:
    """Append a turn; returns its number. ``seq``: that number when the caller knows it (the interview's
    only writer, which added the previous turn); otherwise the next after the highest stored.
    (interview, seq) is unique, so a wrong guess fails loudly instead of reordering a transcript.
    A plain INSERT, no ORM object: this runs twice on every DM turn."""
    if seq is None:
        seq = (await session.exec(_NEXT_SEQ, params={"interview_id": interview_id})).one()
    values = {
        "interview_id": interview_id,
        "seq": seq,
        "role": role,
        "kind": kind,
        "content": content,
        "prompt_sha": prompt_sha,
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "created_at": now,
    }
    await session.exec(_INSERT_TURN, params=values)
    return seq


@functools.cache
def _transcript_query(kinds: tuple[str, ...]):
    return (
        select(InterviewTurn.role, InterviewTurn.kind, InterviewTurn.content)
        .where(InterviewTurn.interview_id == sa.bindparam("interview_id"), col(InterviewTurn.kind).in_(kinds))
        .order_by(col(InterviewTurn.seq))
    )


async def transcript(session: AsyncSession, *, interview_id: int, kinds: Sequence[str]) -> list[tuple[str, str, str]]:
    """(role, kind, content) of the interview's turns of ``kinds``, in order: plain rows, no ORM objects
    (this runs on every DM turn)."""
    query = _transcript_query(tuple(kinds))
    return [tuple(row) for row in (await session.exec(query, params={"interview_id": interview_id})).all()]


@functools.cache
def _last_role_and_seq_query(kinds: tuple[str, ...]):
    interview_id: sa.BindParameter[int] = sa.bindparam("interview_id")
    return select(_last_role(interview_id, kinds), _top_seq(interview_id))


async def last_role_and_seq(
    session: AsyncSession, *, interview_id: int, kinds: Sequence[str]
) -> tuple[str | None, int]:
    """Who spoke last among turns of ``kinds`` (None: no such turn), and the highest turn number of any
    kind (0: none yet), in one query."""
    query = _last_role_and_seq_query(tuple(kinds))
    role, seq = (await session.exec(query, params={"interview_id": interview_id})).one()
    return role, int(seq)


async def last_turn(session: AsyncSession, *, interview_id: int, kinds: Sequence[str]) -> InterviewTurn | None:
    query = (
        select(InterviewTurn)
        .where(InterviewTurn.interview_id == interview_id, col(InterviewTurn.kind).in_(kinds))
        .order_by(col(InterviewTurn.seq).desc())
    )
    return (await session.exec(query)).first()


# --- cards ---------------------------------------------------------------------------------------


async def add_card(
    session: AsyncSession,
    *,
    interview: Interview,
    card: ValuesCard,
    prompt_sha: str,
    model: str,
    now: datetime,
    translation: CardTranslation | None = None,
) -> ValuesCardRecord:
    """Store a newly proposed card; the interview's earlier proposal, if any, is superseded. With a
    ``translation``, ``card`` is the member's and the translation is what the community reads."""
    previous = await proposed_card(session, interview_id=interview.id)
    if previous is not None:
        previous.status = CardStatus.SUPERSEDED
    shared = translation.card if translation else card
    record = ValuesCardRecord(
        community_id=interview.community_id,
        interview_id=interview.id,
        author_member_id=interview.member_id,
        scenario_id=interview.scenario_id,
        title=shared.title,
        description=shared.description,
        policies=list(shared.policies),
        status=CardStatus.PROPOSED,
        prompt_sha=prompt_sha,
        model=model,
        created_at=now,
    )
    if translation is not None:
        record.language = translation.member_language
        record.member_title = card.title
        record.member_description = card.description
        record.member_policies = list(card.policies)
        record.translation_prompt_sha = translation.prompt_sha
        record.translation_model = translation.model
    session.add(record)
    await session.flush()
    return record


def _card_with_status(status: str):
    return select(ValuesCardRecord).where(
        ValuesCardRecord.interview_id == sa.bindparam("interview_id"), ValuesCardRecord.status == status
    )


_PROPOSED_CARD = _card_with_status(CardStatus.PROPOSED)
_CONFIRMED_CARD = _card_with_status(CardStatus.CONFIRMED)


async def proposed_card(session: AsyncSession, *, interview_id: int) -> ValuesCardRecord | None:
    return (await session.exec(_PROPOSED_CARD, params={"interview_id": interview_id})).first()


async def confirmed_card(session: AsyncSession, *, interview_id: int) -> ValuesCardRecord | None:
    return (await session.exec(_CONFIRMED_CARD, params={"interview_id": interview_id})).first()


async def list_cards(
    session: AsyncSession,
    *,
    community_ids: Sequence[int] | None = None,
    statuses: Sequence[str] = (CardStatus.CONFIRMED,),
) -> Sequence[tuple[ValuesCardRecord, Member | None, Scenario | None, Community]]:
    query = (
        select(ValuesCardRecord, Member, Scenario, Community)
        .join(Community, col(Community.id) == ValuesCardRecord.community_id)
        .outerjoin(Member, col(Member.id) == ValuesCardRecord.author_member_id)
        .outerjoin(Scenario, col(Scenario.id) == ValuesCardRecord.scenario_id)
        .where(col(ValuesCardRecord.status).in_(statuses))
        .order_by(col(ValuesCardRecord.id))
    )
    if community_ids is not None:
        query = query.where(col(ValuesCardRecord.community_id).in_(community_ids))
    return (await session.exec(query)).all()


# --- LLM usage -----------------------------------------------------------------------------------


_INSERT_LLM_CALL = sa.insert(table_of(LLMCall))


async def add_llm_call(
    session: AsyncSession,
    *,
    community_id: int | None,
    interview_id: int | None,
    purpose: str,
    model: str,
    prompt_sha: str,
    input_tokens: int,
    output_tokens: int,
    ok: bool,
    error: str | None,
    duration_ms: int,
    created_at: datetime,
) -> None:
    """Record one LLM request (a plain INSERT: every DM turn that asks the model makes one)."""
    values = {
        "community_id": community_id,
        "interview_id": interview_id,
        "purpose": purpose,
        "model": model,
        "prompt_sha": prompt_sha,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "ok": ok,
        "error": error,
        "duration_ms": duration_ms,
        "created_at": created_at,
    }
    await session.exec(_INSERT_LLM_CALL, params=values)


async def cards_of_member(
    session: AsyncSession, *, platform: str, external_id: str, platform_user_id: str, statuses: Sequence[str]
) -> Sequence[tuple[ValuesCardRecord, Scenario | None]]:
    query = (
        select(ValuesCardRecord, Scenario)
        .join(Member, col(Member.id) == ValuesCardRecord.author_member_id)
        .join(Community, col(Community.id) == Member.community_id)
        .outerjoin(Scenario, col(Scenario.id) == ValuesCardRecord.scenario_id)
        .where(
            Community.platform == platform,
            Community.external_id == external_id,
            Member.platform_user_id == platform_user_id,
            col(ValuesCardRecord.status).in_(statuses),
        )
        .order_by(col(ValuesCardRecord.id))
    )
    return (await session.exec(query)).all()
