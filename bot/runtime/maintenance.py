"""The maintenance job: dedup, convergence and the value checks it asks members, then story generation, then
the ideology screen of opening answers, for each community (docs/method.md §4, §6, §8)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.database import Database

if TYPE_CHECKING:
    from bot.legitimacy.checks import DirectMessenger
    from bot.values.placement import DedupParams
    from core.embeddings import Embedder
    from core.llm import LLM

log = logging.getLogger("mge.maintenance")


@dataclass
class Maintenance:
    """What the maintenance job (dedup, story generation, the ideology screen) needs."""

    llm: LLM
    embedder: Embedder
    judge_model: str
    story_model: str
    dedup_params: DedupParams | None = None
    #: The model that rates opening answers for the ideology screen (None: the judge model).
    ideology_model: str | None = None
    #: How often all active values are re-deduplicated with each other (None: never).
    recheck_every: timedelta | None = timedelta(days=7)
    #: Deepening pairs the model may give each context (``MGE_STORY_PAIRS_PER_CONTEXT``).
    story_pairs_per_context: int = 3


async def run_maintenance(
    database: Database,
    maintenance: Maintenance,
    *,
    community_ids: Iterable[int],
    now: datetime,
    messengers: Mapping[str, DirectMessenger] | None = None,
) -> dict[int, dict[str, str]]:
    """Dedup, then story generation, then the ideology screen (a metric: rating opening answers not
    rated yet), for each community. Each is idempotent per period (they claim their own job runs), so
    running this often is cheap when nothing changed. Returns a short outcome per community and step; an
    error in one community or step does not stop the others."""
    from bot.ideology.screen import rate_opening_messages
    from bot.stories.generate import generate_stories
    from bot.values.batch import run_dedup
    from bot.values.checks import send_value_checks
    from bot.values.converge import run_convergence
    from bot.values.placement import DedupParams

    outcomes: dict[int, dict[str, str]] = {}
    for community_id in community_ids:
        outcome = outcomes.setdefault(community_id, {})
        try:
            report = await run_dedup(
                database,
                llm=maintenance.llm,
                embedder=maintenance.embedder,
                judge_model=maintenance.judge_model,
                community_id=community_id,
                now=now,
                params=maintenance.dedup_params or DedupParams(),
            )
            outcome["dedup"] = f"ok: {report}"[:200]
        except Exception as error:
            log.exception("dedup for community %s failed", community_id)
            outcome["dedup"] = f"error: {error!r}"[:200]
        try:
            converged = await run_convergence(
                database,
                llm=maintenance.llm,
                embedder=maintenance.embedder,
                judge_model=maintenance.judge_model,
                community_id=community_id,
                now=now,
                params=maintenance.dedup_params or DedupParams(),
                recheck_every=maintenance.recheck_every,
            )
            outcome["converge"] = f"ok: {converged}"[:200]
        except Exception as error:
            log.exception("convergence for community %s failed", community_id)
            outcome["converge"] = f"error: {error!r}"[:200]
        if messengers:
            try:
                sent = await send_value_checks(database, messengers, community_id=community_id, now=now)
                outcome["value_checks"] = f"ok: {sent} sent"
            except Exception as error:
                log.exception("value checks for community %s failed", community_id)
                outcome["value_checks"] = f"error: {error!r}"[:200]
        try:
            stories = await generate_stories(
                database,
                llm=maintenance.llm,
                model=maintenance.story_model,
                community_id=community_id,
                now=now,
                max_pairs_per_context=maintenance.story_pairs_per_context,
            )
            outcome["stories"] = f"ok: {stories}"[:200]
        except Exception as error:
            log.exception("story generation for community %s failed", community_id)
            outcome["stories"] = f"error: {error!r}"[:200]
        try:
            rated = await rate_opening_messages(
                database,
                llm=maintenance.llm,
                model=maintenance.ideology_model or maintenance.judge_model,
                community_id=community_id,
                now=now,
            )
            outcome["ideology"] = f"ok: {rated.summary()}"[:200]
        except Exception as error:
            log.exception("the ideology screen for community %s failed", community_id)
            outcome["ideology"] = f"error: {error!r}"[:200]
    return outcomes
