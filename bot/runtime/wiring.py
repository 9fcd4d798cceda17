"""The composition root: settings in, ready-to-use services out. The only place adapters are chosen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.interview.ports import InterviewConfig
from bot.runtime.settings import Settings
from core.llm import LLM
from storage.database import Database
from storage.migrate import ensure_schema

if TYPE_CHECKING:  # imported by the functions that build them, so `mge --help` and the listing commands start fast
    from bot.interview.service import InterviewService
    from bot.values.placement import DedupParams
    from core.embeddings import Embedder


def build_llm(settings: Settings) -> LLM:
    from adapters.llm_openai import OpenAILLM

    settings.require_llm()
    return OpenAILLM(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        timeout_seconds=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        structured_output=settings.structured_output,
    )


def open_database(settings: Settings) -> Database:
    """The database, migrated if it is fresh (an out-of-date one raises SchemaOutOfDate)."""
    ensure_schema(settings.resolved_database_url)
    return Database(settings.resolved_database_url)


def dedup_params(settings: Settings, *, embedding_model: str) -> DedupParams:
    """The thresholds of ``embedding_model``'s vector space (core.dedup_thresholds), unless settings override them."""
    from bot.values.placement import DedupParams
    from core.dedup_thresholds import thresholds_for

    defaults = thresholds_for(embedding_model)
    return DedupParams(
        match_distance=settings.dedup_match_distance or defaults.match_distance,
        cluster_eps=settings.dedup_cluster_eps or defaults.cluster_eps,
        cluster_min_points=settings.dedup_cluster_min_points,
    )


def build_dedup_embedder(settings: Settings, *, llm: LLM, lexical: bool = False) -> tuple[Embedder, DedupParams]:
    """The embedder that proposes dedup candidates (``MGE_EMBEDDER``; ``lexical``: the lexical one whatever the
    setting) and the thresholds that go with its model."""
    from adapters.embeddings import LexicalEmbedder, LLMEmbedder, WordLlamaEmbedder

    embedder: Embedder
    choice = "lexical" if lexical else settings.embedder
    if choice == "lexical":
        embedder = LexicalEmbedder()
    elif choice == "wordllama":
        embedder = WordLlamaEmbedder()
    else:
        embedder = LLMEmbedder(llm, settings.embedding_model)
    return embedder, dedup_params(settings, embedding_model=embedder.model)


def build_reconciler(settings: Settings, *, database: Database, llm: LLM):
    """Places each confirmed card among the community's values."""
    from bot.values.corrections import Reconciler

    embedder, params = build_dedup_embedder(settings, llm=llm)
    return Reconciler(database, llm, embedder, settings.judge_model, params)


def build_maintenance(settings: Settings, *, llm: LLM):
    """What the scheduler's maintenance job (dedup, convergence, story generation, the ideology screen) runs with."""
    from bot.runtime.maintenance import Maintenance

    embedder, params = build_dedup_embedder(settings, llm=llm)
    return Maintenance(
        llm=llm,
        embedder=embedder,
        judge_model=settings.judge_model,
        story_model=settings.articulation_model,
        dedup_params=params,
        recheck_every=timedelta(days=settings.dedup_recheck_days) if settings.dedup_recheck_days else None,
        story_pairs_per_context=settings.story_pairs_per_context,
    )


def build_generalizer(*, database: Database):
    """Offers other members' values to pick from after each confirmed card (docs/method.md §2)."""
    from bot.generalization.picks import GeneralizationOffers

    return GeneralizationOffers(database)


def interview_config(settings: Settings) -> InterviewConfig:
    return InterviewConfig(
        chat_model=settings.chat_model,
        articulation_model=settings.articulation_model,
        max_turns=settings.interview_max_turns,
        min_turns=settings.interview_min_turns,
        idle_timeout=timedelta(hours=settings.interview_idle_timeout_hours),
        community_language=settings.community_language,
    )


@dataclass
class App:
    settings: Settings
    database: Database
    llm: LLM
    interviews: InterviewService

    async def close(self) -> None:
        await self.llm.aclose()
        await self.database.dispose()


def member_leases(settings: Settings, *, database: Database):
    """Cross-process turns for members, on every backend: SQLite is shared by processes too (`mge chat`
    beside `mge run`, split roles on one machine), and two of them on one member's turn would collide on
    the turn numbers. On SQLite a lock file beside the database does it for a system call; a database
    in memory has one process; elsewhere (no open-file-description locks) the lease rows."""
    return member_locks_for(settings.resolved_database_url, database)


def member_locks_for(url: str, database: Database):
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from bot.runtime.leases import MemberFileLocks, MemberLeases
    from storage.database import database_backend

    if database_backend(url) == "sqlite":
        file = make_url(url).database
        if file in (None, "", ":memory:"):
            return None
        if MemberFileLocks.supported:
            path = Path(file).expanduser()
            return MemberFileLocks(path.with_name(path.name + ".members.lock"))
    return MemberLeases(database)


def build_app(settings: Settings) -> App:
    # The database first: a problem with it (the commonest at a first start) is reported before the LLM
    # client and the interview service are even loaded.
    database = open_database(settings)
    llm = build_llm(settings)
    from bot.interview.service import InterviewService

    interviews = InterviewService(
        database=database,
        llm=llm,
        config=interview_config(settings),
        reconciler=build_reconciler(settings, database=database, llm=llm),
        leases=member_leases(settings, database=database),
        generalizer=build_generalizer(database=database),
    )
    return App(settings, database, llm, interviews)
