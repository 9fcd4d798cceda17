"""Where a member reaches beyond their own rows: the columns the schema says point at a member, card or
value (found through foreign keys, so tables added later are not missed), and ``"<platform>:<user id>"``
strings in any text column. ``/mge forget`` uses these to decide what to keep, delete or pseudonymise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CanonicalValue, TransitionStory, ValueAssignment
from storage.sql import chunks

#: (table, column) pairs pointing at member.id that the privacy use case handles by name.
KNOWN_MEMBER_REFERENCES = {
    ("interview", "member_id"),
    ("values_card", "author_member_id"),
    ("vote", "member_id"),
    ("generalization_offer", "member_id"),
}
#: (table, column) pairs pointing at values_card.id / canonical_value.id / interview.id that are handled by name.
KNOWN_CARD_REFERENCES = {("value_assignment", "card_id"), ("canonical_value", "source_card_id")}
KNOWN_VALUE_REFERENCES = {
    ("value_assignment", "canonical_value_id"),
    ("canonical_value", "merged_into_id"),
    ("transition_story", "from_value_id"),
    ("transition_story", "to_value_id"),
}


# --- references the schema knows about ----------------------------------------------------------------


def referencing_columns(table: str) -> list[tuple[sa.Table, sa.Column]]:
    """Every (table, column) with a foreign key to ``<table>.id``, across all tables of the schema."""
    found = []
    for other in SQLModel.metadata.sorted_tables:
        for column in other.columns:
            if any(fk.column.table.name == table and fk.column.name == "id" for fk in column.foreign_keys):
                found.append((other, column))
    return found


def member_reference_columns() -> list[tuple[sa.Table, sa.Column]]:
    """Columns pointing at member.id that :data:`KNOWN_MEMBER_REFERENCES` doesn't name (tables added later)."""
    return [(t, c) for t, c in referencing_columns("member") if (t.name, c.name) not in KNOWN_MEMBER_REFERENCES]


async def rows_referencing(session: AsyncSession, table: sa.Table, column: sa.Column, ids: Sequence[int]) -> list[dict]:
    rows: list[dict] = []
    for chunk in chunks(ids):
        # A Core select: sqlmodel's exec() is typed for its own select() only, and runs this one the same way.
        result = await session.exec(sa.select(table).where(column.in_(chunk)))  # type: ignore[call-overload]
        rows += [dict(row._mapping) for row in result.all()]
    return rows


async def referenced_elsewhere(
    session: AsyncSession, *, table: str, ids: Sequence[int], known: set[tuple[str, str]]
) -> set[int]:
    """Which of ``ids`` (rows of ``table``) a table not in ``known`` points at: those must not be deleted."""
    used: set[int] = set()
    for other, column in referencing_columns(table):
        if (other.name, column.name) in known:
            continue
        for chunk in chunks(ids):
            query = sa.select(column).where(column.in_(chunk)).distinct()
            # A Core select: sqlmodel's exec() is typed for its own select() only, and runs this one the same way.
            result = await session.exec(query)  # type: ignore[call-overload]
            used.update(value for (value,) in result.all())
    return used


async def other_cards_in_values(
    session: AsyncSession, *, value_ids: Sequence[int], card_ids: Sequence[int]
) -> set[int]:
    """Values among ``value_ids`` that a card not in ``card_ids`` is (or ever was) assigned to, or shows."""
    shared: set[int] = set()
    mine = set(card_ids)
    for chunk in chunks(value_ids):
        assigned = await session.exec(
            select(ValueAssignment.canonical_value_id, ValueAssignment.card_id).where(
                col(ValueAssignment.canonical_value_id).in_(chunk)
            )
        )
        shared.update(value_id for value_id, card_id in assigned.all() if card_id not in mine)
        shown = await session.exec(
            select(CanonicalValue.id, CanonicalValue.source_card_id).where(col(CanonicalValue.id).in_(chunk))
        )
        shared.update(value_id for value_id, card_id in shown.all() if card_id is not None and card_id not in mine)
    return shared


async def values_in_stories_or_merges(session: AsyncSession, *, value_ids: Sequence[int]) -> set[int]:
    """Values among ``value_ids`` that a transition story names, or that take part in a merge."""
    linked: set[int] = set()
    for chunk in chunks(value_ids):
        stories = await session.exec(
            select(TransitionStory.from_value_id, TransitionStory.to_value_id).where(
                sa.or_(col(TransitionStory.from_value_id).in_(chunk), col(TransitionStory.to_value_id).in_(chunk))
            )
        )
        for pair in stories.all():
            linked.update(v for v in pair if v in chunk)
        merged_into = await session.exec(
            select(CanonicalValue.merged_into_id).where(col(CanonicalValue.merged_into_id).in_(chunk))
        )
        linked.update(v for v in merged_into.all() if v is not None)
        merging = await session.exec(
            select(CanonicalValue.id).where(
                col(CanonicalValue.id).in_(chunk), col(CanonicalValue.merged_into_id).is_not(None)
            )
        )
        linked.update(merging.all())
    return linked


# --- identity strings in text columns ------------------------------------------------------------------


def _base_type(type_: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """The storage type under type decorators (sqlmodel's AutoString is a String underneath)."""
    while isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    return type_


def community_text_columns() -> list[tuple[sa.Table, sa.Column, bool]]:
    """(table, column, is_json) for every text-like column of a table scoped by ``community_id``."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if "community_id" not in table.columns or table.name in {"member", "dm_route"}:
            continue
        for column in table.columns:
            base = _base_type(column.type)
            if isinstance(base, sa.JSON):
                found.append((table, column, True))
            elif isinstance(base, sa.String) and not column.foreign_keys and not column.primary_key:
                found.append((table, column, False))
    return found


def _replace_in(value: Any, tokens: Sequence[str], exact: Sequence[str], pseudonym: str) -> Any:
    if isinstance(value, str):
        if value in exact:
            return pseudonym
        for token in tokens:
            value = value.replace(token, pseudonym)
        return value
    if isinstance(value, list):
        return [_replace_in(item, tokens, exact, pseudonym) for item in value]
    if isinstance(value, dict):
        return {
            _replace_in(k, tokens, exact, pseudonym): _replace_in(v, tokens, exact, pseudonym) for k, v in value.items()
        }
    return value


async def rows_naming(
    session: AsyncSession, *, community_id: int, tokens: Sequence[str], exact: Sequence[str]
) -> list[tuple[sa.Table, sa.Column, bool, dict]]:
    """Rows of the community whose text columns contain one of ``tokens`` (anywhere) or equal one of
    ``exact``: e.g. ``discord:<user id>`` as the actor of a moderator action, or in its target."""
    found = []
    for table, column, is_json in community_text_columns():
        text = sa.cast(column, sa.Text) if is_json else column
        matches = [text.contains(token, autoescape=True) for token in tokens]
        if is_json:
            # A JSON string equal to the user id is stored quoted.
            matches += [text.contains(f'"{value}"', autoescape=True) for value in exact]
        else:
            matches += [column == value for value in exact]
        query = sa.select(table).where(table.c.community_id == community_id, sa.or_(*matches))
        # A Core select: sqlmodel's exec() is typed for its own select() only, and runs this one the same way.
        for row in (await session.exec(query)).all():  # type: ignore[call-overload]
            found.append((table, column, is_json, dict(row._mapping)))
    return found


async def pseudonymise(
    session: AsyncSession, *, community_id: int, tokens: Sequence[str], exact: Sequence[str], pseudonym: str
) -> dict[str, int]:
    """Replace the member's identity strings in the community's text columns with ``pseudonym``.
    Returns how many rows changed per ``table.column``."""
    counts: dict[str, int] = {}
    found = await rows_naming(session, community_id=community_id, tokens=tokens, exact=exact)
    for table, column, _is_json, row in found:
        before = row[column.name]
        after = _replace_in(before, tokens, exact, pseudonym)
        if after == before:
            continue
        length = getattr(_base_type(column.type), "length", None)
        if isinstance(after, str) and length and len(after) > length:
            after = after[:length]
        keys = [table.c[c.name] == row[c.name] for c in table.primary_key.columns]
        await session.exec(sa.update(table).where(*keys).values({column.name: after}))
        name = f"{table.name}.{column.name}"
        counts[name] = counts.get(name, 0) + 1
    return counts
