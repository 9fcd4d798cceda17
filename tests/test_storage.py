"""Storage: migrations match the models, fresh databases migrate themselves, SQLite pragmas, routing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from bot.interview.routing import DmRouter
from bot.runtime.leases import MemberLeases
from bot.values.my_card import member_cards
from core.cards import ValuesCard
from core.messages import CommunityRef, Person
from storage import (
    communities_repo,
    models,  # noqa: F401
)
from storage import repositories as repo
from storage.database import Database, DatabaseURLError, IdleConnectionPing, async_url, sync_url
from storage.migrate import SchemaOutOfDate, current_revision, ensure_schema, head_revision


def test_migrations_create_exactly_the_models(database_url):
    engine = sa.create_engine(sync_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_fresh_database_is_migrated_automatically_and_old_one_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'db.sqlite3'}"
    assert current_revision(url) is None and not (tmp_path / "nested").exists()
    ensure_schema(url)
    assert current_revision(url) == head_revision(url)
    ensure_schema(url)  # idempotent
    engine = sa.create_engine(sync_url(url))
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0005'"))
    engine.dispose()
    with pytest.raises(SchemaOutOfDate, match="mge db upgrade"):
        ensure_schema(url)


async def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(sqlite_url):
    database = Database(sqlite_url)
    async with database.session() as session:
        pragmas = {
            name: (await session.exec(sa.text(f"PRAGMA {name}"))).scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    await database.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}


async def _backend_pid(database: Database) -> int:
    async with database.engine.connect() as connection:
        return (await connection.execute(sa.text("SELECT pg_backend_pid()"))).scalar()


async def test_a_postgresql_connection_that_died_while_idle_in_the_pool_is_replaced_before_use(postgres_server):
    url = postgres_server.fresh_database()
    checked, trusting, killer = Database(url, idle_ping_seconds=0), Database(url, idle_ping_seconds=3600), Database(url)
    try:
        killed = {}
        for name, database in (("checked", checked), ("trusting", trusting)):
            killed[name] = await _backend_pid(database)  # the pool keeps this connection
            async with killer.engine.connect() as connection:  # as a server restart would
                await connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": killed[name]})
        # Idle past the threshold: checked on checkout, found dead, replaced; the caller never sees it.
        assert await _backend_pid(checked) != killed["checked"]
        # Not idle long enough to be checked: the dead connection is handed out and its first statement fails.
        with pytest.raises(sa.exc.OperationalError):
            await _backend_pid(trusting)
        assert await _backend_pid(trusting) > 0  # and SQLAlchemy renewed the pool after that failure
    finally:
        for database in (checked, trusting, killer):
            await database.dispose()


async def test_postgresql_connections_in_steady_use_are_not_pinged(postgres_server, monkeypatch):
    pings = []
    monkeypatch.setattr(IdleConnectionPing, "_ping", lambda self, connection: pings.append(connection))
    database = Database(postgres_server.fresh_database())  # pings connections idle for 10 s or more
    try:
        for _ in range(20):
            async with database.session() as session:
                await session.exec(sa.text("SELECT 1"))
    finally:
        await database.dispose()
    assert pings == []


async def test_a_pinged_postgresql_connection_is_left_ready_for_any_use(postgres_server):
    """The check leaves no transaction open: a lease (autocommit) may take the connection next."""
    database = Database(postgres_server.fresh_database(), idle_ping_seconds=0)
    leases = MemberLeases(database)
    try:
        for _ in range(3):  # each checkout after the first is checked
            assert await leases.try_acquire("slack:T1:U1")
            async with database.session() as session:
                assert (await session.exec(sa.text("SELECT 1"))).scalar() == 1
    finally:
        await database.dispose()


def test_database_urls_pick_the_drivers():
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert sync_url("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(DatabaseURLError):
        Database("mysql://h/db")


async def test_dm_routes_remember_the_last_community(database, clock):
    router = DmRouter(database)
    assert await router.community_for(platform="discord", user_id="42") is None
    first, second = CommunityRef("discord", "g1", "One"), CommunityRef("discord", "g2", "Two")
    await router.remember(user_id="42", community=first, now=clock())
    assert await router.community_for(platform="discord", user_id="42") == first
    await router.remember(user_id="42", community=second, now=clock())
    assert await router.community_for(platform="discord", user_id="42") == second
    assert await router.community_for(platform="slack", user_id="42") is None


async def test_member_cards_are_scoped_to_the_member_and_community(database, clock):
    card = ValuesCard(
        title="Steady Honest Presence",
        description="The assistant stays honest and calm with the person.",
        policies=["MOMENTS when the truth is hard to hear", "SIGNS that the person feels safe", "WORDS that are plain"],
    )
    here, there = CommunityRef("slack", "T1", "Here"), CommunityRef("slack", "T2", "There")
    async with database.session() as session:
        for community in (here, there):
            row = await communities_repo.get_or_create_community(
                session, platform="slack", external_id=community.external_id, name="", now=clock()
            )
            member = await communities_repo.get_or_create_member(
                session, community_id=row.id, platform_user_id="U1", display_name="", now=clock()
            )
            interview = await repo.add_interview(
                session, community_id=row.id, member_id=member.id, state="card_proposed", scenario_id=None, now=clock()
            )
            await repo.add_card(session, interview=interview, card=card, prompt_sha="abc", model="m", now=clock())
        await session.commit()
    mine = await member_cards(database, here, Person("U1"))
    assert [(c.card.title, c.status) for c in mine] == [("Steady Honest Presence", "proposed")]
    assert await member_cards(database, here, Person("U2")) == []


async def test_values_taking_part_in_a_merge_are_found_on_both_sides(database, clock):
    # An erasure keeps the values a merge links; the single-column queries return plain ids, not rows.
    from storage import privacy_links_repo
    from storage.models import CanonicalValue

    async with database.session() as session:
        community = await communities_repo.get_or_create_community(
            session, platform="console", external_id="c", name="c", now=clock()
        )
        kept, merged, alone = (
            CanonicalValue(
                community_id=community.id,
                title=title,
                description="",
                policies=[],
                created_at=clock(),
                updated_at=clock(),
            )
            for title in ("Kept", "Merged", "Alone")
        )
        session.add_all([kept, merged, alone])
        await session.flush()
        merged.status, merged.merged_into_id = "merged", kept.id
        await session.commit()
        linked = await privacy_links_repo.values_in_stories_or_merges(session, value_ids=[kept.id, merged.id, alone.id])
    assert linked == {kept.id, merged.id}
