"""Storage helpers for a member's own data: reading everything stored about them in one community
(``/mge mydata``) and erasing it (``/mge forget``). Keyword-only functions; callers own the session and
commit, so an erasure lands as one transaction or not at all.

Which rows are a member's, table by table (``storage/models/``):

=====================  ==========================================================================
member                 the row itself: platform user id, display name, consent time
interview              ``member_id``; its turns (``interview_turn``) are the transcript
values_card            ``author_member_id``
value_assignment       the decisions about the member's cards, with their verdict (``member_agrees``)
vote                   ``member_id`` and ``voter_key`` (``member:<id>``), the optional ``why``
llm_call               through ``interview_id``: model, prompt hash, tokens, an error text
dm_route               ``(platform, platform_user_id)`` pointing at the community
reaction_event         ``(platform, community_external_id, user_id)``: the raw poll reactions
poll_reaction          ``voter_key``: which poll reactions the member has on each poll
inbound_event          no member column: a delivery is the member's when it was received at the
                       instant one of their turns or votes was written (the use cases claim the
                       event and write the row with the same ``now``)
embedding_cache        vectors of card texts, by text hash (global, a cache)
generalization_offer   ``member_id``: the values offered after a confirmed card; its
                       ``generalization_impression`` rows say what was shown and picked
ideology_rating        through ``interview_id``: the 1–5 rating of the opening answer, with a reason
vote_reason_ask        ``member_id``: the questions why they voted so (``storage.reasons_repo``);
vote_reason_opt_out    with their "Don't ask me again": both deleted on erasure
any text column        ``"<platform>:<user id>"`` actor strings (the audit log, moderator decisions)
=====================  ==========================================================================

Tables added later that point at ``member.id`` are found through the schema's foreign keys
(:func:`storage.privacy_links_repo.member_reference_columns`), so nothing that names a member by row id is missed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import values_repo
from storage.models import (
    CanonicalValue,
    Community,
    DmRoute,
    EmbeddingCache,
    GeneralizationImpression,
    GeneralizationOffer,
    IdeologyRating,
    InboundEvent,
    Interview,
    InterviewTurn,
    LLMCall,
    Member,
    MoralContext,
    Poll,
    PollReaction,
    ReactionEvent,
    Scenario,
    TransitionStory,
    ValueAssignment,
    ValuesCardRecord,
    Vote,
)
from storage.privacy_links_repo import member_reference_columns
from storage.sql import chunks, dialect_of

#: Inbound event ids of poll reactions are stored with this prefix (``bot.voting.polls.apply_reaction``).
VOTE_EVENT_PREFIX = "vote:"

# --- the community and the member ------------------------------------------------------------------


async def lock_for_erasure(session: AsyncSession, *, community_id: int) -> None:
    """Serialise erasures with other writers before anything is read. On SQLite a write that changes
    nothing takes the database's write lock at once (a transaction that reads first and writes later
    can fail with SQLITE_BUSY_SNAPSHOT instead of waiting); on PostgreSQL the member row is locked by
    :func:`find_member` with ``for_update``."""
    if dialect_of(session) == "sqlite":
        unchanged = sa.update(Community).where(col(Community.id) == community_id).values(name=col(Community.name))
        await session.exec(unchanged)


async def find_member(
    session: AsyncSession, *, community_id: int, platform_user_id: str, for_update: bool = False
) -> Member | None:
    """The member's row in the community; a forgotten member's row (a tombstone) is never found."""
    query = select(Member).where(
        Member.community_id == community_id,
        Member.platform_user_id == platform_user_id,
        col(Member.forgotten_at).is_(None),
    )
    if for_update and dialect_of(session) == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query.execution_options(populate_existing=True))).first()


# --- reading ----------------------------------------------------------------------------------------


async def interviews_of(session: AsyncSession, *, community_id: int, member_id: int) -> list[Interview]:
    query = (
        select(Interview)
        .where(Interview.community_id == community_id, Interview.member_id == member_id)
        .order_by(col(Interview.id))
    )
    return list((await session.exec(query)).all())


async def turns_of(session: AsyncSession, *, interview_ids: Sequence[int]) -> list[InterviewTurn]:
    found: list[InterviewTurn] = []
    for chunk in chunks(interview_ids):
        query = select(InterviewTurn).where(col(InterviewTurn.interview_id).in_(chunk))
        found += (await session.exec(query)).all()
    return sorted(found, key=lambda t: (t.interview_id, t.seq))


async def llm_calls_of(session: AsyncSession, *, interview_ids: Sequence[int]) -> list[LLMCall]:
    found: list[LLMCall] = []
    for chunk in chunks(interview_ids):
        found += (await session.exec(select(LLMCall).where(col(LLMCall.interview_id).in_(chunk)))).all()
    return sorted(found, key=lambda c: c.id or 0)


async def scenarios_by_id(session: AsyncSession, *, ids: Iterable[int | None]) -> dict[int, Scenario]:
    found: dict[int, Scenario] = {}
    for chunk in chunks(i for i in ids if i is not None):
        for scenario in (await session.exec(select(Scenario).where(col(Scenario.id).in_(chunk)))).all():
            found[scenario.id] = scenario
    return found


async def cards_of(session: AsyncSession, *, community_id: int, member_id: int) -> list[ValuesCardRecord]:
    query = (
        select(ValuesCardRecord)
        .where(ValuesCardRecord.community_id == community_id, ValuesCardRecord.author_member_id == member_id)
        .order_by(col(ValuesCardRecord.id))
    )
    return list((await session.exec(query)).all())


async def assignments_of_cards(session: AsyncSession, *, card_ids: Sequence[int]) -> list[ValueAssignment]:
    found: list[ValueAssignment] = []
    for chunk in chunks(card_ids):
        found += (await session.exec(select(ValueAssignment).where(col(ValueAssignment.card_id).in_(chunk)))).all()
    return sorted(found, key=lambda a: a.id or 0)


async def values_of_community(session: AsyncSession, *, community_id: int) -> dict[int, CanonicalValue]:
    values = await values_repo.all_values_of(session, community_id=community_id)
    return {row.id: row for row in values}


async def votes_of(
    session: AsyncSession, *, community_id: int, member_id: int
) -> list[tuple[Vote, Poll, TransitionStory, MoralContext]]:
    """The member's votes with the poll, story and context each was cast on, oldest first."""
    query = (
        select(Vote, Poll, TransitionStory, MoralContext)
        .join(Poll, col(Poll.id) == Vote.poll_id)
        .join(TransitionStory, col(TransitionStory.id) == Poll.story_id)
        .join(MoralContext, col(MoralContext.id) == TransitionStory.context_id)
        .where(Vote.community_id == community_id, Vote.member_id == member_id)
        .order_by(col(Vote.cast_at), col(Vote.id))
    )
    return [(vote, poll, story, context) for vote, poll, story, context in (await session.exec(query)).all()]


async def vote_rows_of(session: AsyncSession, *, community_id: int, member_id: int) -> list[Vote]:
    query = select(Vote).where(Vote.community_id == community_id, Vote.member_id == member_id).order_by(col(Vote.id))
    return list((await session.exec(query)).all())


async def generalization_offers_of(
    session: AsyncSession, *, community_id: int, member_id: int
) -> list[tuple[GeneralizationOffer, list[GeneralizationImpression]]]:
    """The values offered to the member after their confirmed cards, each with what was shown and picked."""
    offers = list(
        (
            await session.exec(
                select(GeneralizationOffer)
                .where(GeneralizationOffer.community_id == community_id, GeneralizationOffer.member_id == member_id)
                .order_by(col(GeneralizationOffer.id))
            )
        ).all()
    )
    shown: dict[int, list[GeneralizationImpression]] = {offer.id: [] for offer in offers}
    for chunk in chunks(shown):
        query = select(GeneralizationImpression).where(
            GeneralizationImpression.community_id == community_id, col(GeneralizationImpression.offer_id).in_(chunk)
        )
        for row in (await session.exec(query)).all():
            shown[row.offer_id].append(row)
    return [(offer, sorted(shown[offer.id], key=lambda i: i.position)) for offer in offers]


async def ideology_ratings_of(
    session: AsyncSession, *, community_id: int, interview_ids: Sequence[int]
) -> list[IdeologyRating]:
    found: list[IdeologyRating] = []
    for chunk in chunks(interview_ids):
        query = select(IdeologyRating).where(
            IdeologyRating.community_id == community_id, col(IdeologyRating.interview_id).in_(chunk)
        )
        found += (await session.exec(query)).all()
    return sorted(found, key=lambda r: r.id or 0)


async def dm_routes_to(
    session: AsyncSession, *, community_id: int, platform: str, platform_user_id: str
) -> list[DmRoute]:
    """The member's DM route, if it leads to this community (a route to another community is that one's)."""
    query = select(DmRoute).where(
        DmRoute.platform == platform, DmRoute.platform_user_id == platform_user_id, DmRoute.community_id == community_id
    )
    return list((await session.exec(query)).all())


async def inbound_events_at(
    session: AsyncSession,
    *,
    community_id: int,
    message_times: Iterable[datetime],
    vote_times: Iterable[datetime],
) -> list[InboundEvent]:
    """The community's delivery records received at the instants the member's turns and votes were
    written (see the module docstring): message events at turn times, ``vote:`` events at vote times."""
    found: dict[int, InboundEvent] = {}
    for times, is_vote in ((message_times, False), (vote_times, True)):
        for chunk in chunks(times):
            query = select(InboundEvent).where(
                InboundEvent.community_id == community_id, col(InboundEvent.received_at).in_(chunk)
            )
            prefixed = col(InboundEvent.event_id).startswith(VOTE_EVENT_PREFIX)
            query = query.where(prefixed if is_vote else sa.not_(prefixed))
            for row in (await session.exec(query)).all():
                found[row.id] = row
    return sorted(found.values(), key=lambda e: e.id or 0)


async def reaction_events_of(
    session: AsyncSession, *, platform: str, external_id: str, platform_user_id: str
) -> list[ReactionEvent]:
    query = (
        select(ReactionEvent)
        .where(
            ReactionEvent.platform == platform,
            ReactionEvent.community_external_id == external_id,
            ReactionEvent.user_id == platform_user_id,
        )
        .order_by(col(ReactionEvent.id))
    )
    return list((await session.exec(query)).all())


async def delete_reaction_records(
    session: AsyncSession, *, platform: str, external_id: str, platform_user_id: str, voter_key: str
) -> int:
    """Delete the member's recorded poll reactions and the reaction state their votes were derived from;
    the number of reaction events deleted. Pending events are applied before (``forget_member``)."""
    result = await session.exec(
        sa.delete(ReactionEvent).where(
            col(ReactionEvent.platform) == platform,
            col(ReactionEvent.community_external_id) == external_id,
            col(ReactionEvent.user_id) == platform_user_id,
        )
    )
    await session.exec(sa.delete(PollReaction).where(col(PollReaction.voter_key) == voter_key))
    return result.rowcount or 0


# --- erasing -----------------------------------------------------------------------------------------


async def delete_where_in(session: AsyncSession, table: type[SQLModel], column: Any, ids: Sequence[Any]) -> int:
    deleted = 0
    for chunk in chunks(ids):
        result = await session.exec(sa.delete(table).where(column.in_(chunk)))
        deleted += result.rowcount or 0
    return deleted


async def unlink_generalization_offers(session: AsyncSession, *, community_id: int, member_id: int) -> int:
    """Empty ``member_id`` on the member's generalization offers (their impressions and picks stay counted)."""
    statement = (
        sa.update(GeneralizationOffer)
        .where(col(GeneralizationOffer.community_id) == community_id, col(GeneralizationOffer.member_id) == member_id)
        .values(member_id=None)
    )
    result = await session.exec(statement)
    return result.rowcount or 0


async def delete_embeddings(session: AsyncSession, *, texts: Iterable[str]) -> int:
    """Cached vectors of these texts, for every model (the cache is keyed by the text's SHA-256)."""
    shas = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
    return await delete_where_in(session, EmbeddingCache, col(EmbeddingCache.text_sha), shas)


async def rows_bound_to_member(session: AsyncSession, *, member_id: int) -> dict[str, int]:
    """Rows of later tables whose required (non-null) column points at the member: they stay with the
    member's tombstone (e.g. the eligibility facts the graph reads for each vote's member)."""
    counts: dict[str, int] = {}
    for table, column in member_reference_columns():
        if column.nullable:
            continue
        query = sa.select(sa.func.count()).select_from(table).where(column == member_id)
        # A Core select: sqlmodel's exec() is typed for its own select() only, and runs this one the same way.
        result = await session.exec(query)  # type: ignore[call-overload]
        count = result.one()[0]
        if count:
            counts[f"{table.name}.{column.name}"] = count
    return counts


async def null_member_references(session: AsyncSession, *, member_id: int) -> dict[str, int]:
    """Unlink the member from tables added after this module (found by foreign key): a nullable column is
    emptied; a required one is left pointing at the member's row, which is erased to a tombstone."""
    counts: dict[str, int] = {}
    for table, column in member_reference_columns():
        if not column.nullable:
            continue
        query = sa.update(table).where(column == member_id).values({column.name: None})
        result = await session.exec(query)
        if result.rowcount:
            counts[f"{table.name}.{column.name}"] = result.rowcount
    return counts
