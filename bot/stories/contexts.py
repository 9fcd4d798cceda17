"""Moral-context use cases (docs/method.md §5): generated per scenario when a moderator adds it, merged with
the community's existing contexts, and edited by moderators. Everything is scoped to one community.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder
from core.contexts import (
    MAX_MODERATOR_CONTEXT_WORDS,
    ContextProposal,
    context_key,
    context_problem,
    lexical_candidates,
    merge_contexts,
    normalise_context,
    synonym_schema,
)
from core.framing import DEFAULT_FRAMING, Framing
from core.llm import LLM, ChatMessage
from core.messages import CommunityRef
from core.prompts import load_prompt
from core.scenarios import MAX_SCENARIO_CHARS
from core.text import clean_member_text
from storage import communities_repo, stories_repo
from storage import repositories as repo
from storage.database import Database
from storage.models import MoralContext, Scenario

log = logging.getLogger("mge.contexts")

# Contexts are classification, not prose: keep the model close to deterministic.
TEMPERATURE = 0.2


class ContextError(ValueError):
    """A moderator request that can't be done (unknown id, bad wording, a clash); the text says why."""


@dataclass(frozen=True, slots=True)
class AddedScenario:
    scenario: Scenario
    contexts: list[MoralContext]


async def add_scenario(
    database: Database,
    *,
    llm: LLM,
    model: str,
    community: CommunityRef,
    text: str,
    now: datetime,
    framing: Framing = DEFAULT_FRAMING,
) -> AddedScenario:
    """Create (or reopen) the scenario, framed ``framing`` when new, then generate its contexts.

    The scenario is committed before the LLM is asked, so when generation fails the moderator can
    simply add the same scenario again: it is found, and only its contexts are generated.
    """
    cleaned = clean_member_text(text)
    if cleaned.problem or len(cleaned.text) > MAX_SCENARIO_CHARS:
        raise ContextError(f"a scenario must be 1–{MAX_SCENARIO_CHARS} characters of text")
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        scenario = await repo.find_or_add_scenario(
            session, community_id=row.id, text=cleaned.text, now=now, framing=framing
        )
        scenario_id = scenario.id
        await session.commit()
    contexts = await generate_contexts(database, llm=llm, model=model, scenario_id=scenario_id, now=now)
    return AddedScenario(scenario, contexts)


async def generate_contexts(
    database: Database, *, llm: LLM, model: str, scenario_id: int, now: datetime, force: bool = False
) -> list[MoralContext]:
    """Ask the LLM for the scenario's contexts, merge synonyms (within the batch and with the community's
    contexts), link them to the scenario. Returns the scenario's contexts.

    A scenario that already has contexts is left alone unless ``force``; then the generated set
    replaces the LLM-made links (moderators' contexts stay). Raises ``LLMError`` with nothing written
    but the LLM-call records when an answer stays invalid after the adapter's repair.
    """
    async with database.session() as session:
        scenario = await session.get(Scenario, scenario_id)
        if scenario is None:
            raise ContextError(f"no scenario {scenario_id}")
        current = await stories_repo.contexts_of_scenario(session, scenario_id=scenario_id)
        if current and not force:
            return current
        community_id = scenario.community_id
        recorder = LLMRecorder(session, community_id, now)
        try:
            merged, proposal_sha, answered_by = await _propose_and_merge(
                session, recorder, llm=llm, model=model, scenario=scenario
            )
        finally:
            # The calls' records (and their tokens) are kept even when the answer was unusable.
            await session.commit()

        chosen: list[MoralContext] = []
        for item in merged:
            context = await stories_repo.add_context(
                session,
                community_id=community_id,
                text=item.text,
                source="llm",
                now=now,
                prompt_sha=proposal_sha,
                model=answered_by,
            )
            await stories_repo.link_context(session, scenario_id=scenario_id, context_id=context.id)
            chosen.append(context)
        if force:
            keep = {c.id for c in chosen}
            for old in current:
                if old.id not in keep and old.source == "llm":
                    await _unlink(session, old, scenario_id=scenario_id)
        await session.commit()
        log.info("scenario %s: %d contexts (%s)", scenario_id, len(chosen), "; ".join(c.text for c in chosen))
        return await stories_repo.contexts_of_scenario(session, scenario_id=scenario_id)


async def _propose_and_merge(session: AsyncSession, recorder: LLMRecorder, *, llm: LLM, model: str, scenario: Scenario):
    proposal_prompt = load_prompt("contexts")
    messages = [
        ChatMessage("system", proposal_prompt.render(scenario=scenario.text)),
        ChatMessage("user", "Propose the moral contexts for this scenario."),
    ]
    answer = await recorder.call(
        "contexts",
        proposal_prompt.sha,
        model,
        llm.structured(messages, ContextProposal, model=model, temperature=TEMPERATURE),
    )
    proposed = answer.value.contexts
    existing = [c.text for c in await stories_repo.all_contexts(session, community_id=scenario.community_id)]
    groups: list[list[str]] = []
    candidates = lexical_candidates(proposed, existing)
    fresh = candidates[len(existing) :]
    # The LLM judges synonyms only when there is something to judge: two or more contexts, one of them new.
    if fresh and len(candidates) >= 2:
        synonyms_prompt = load_prompt("context_synonyms")
        system = synonyms_prompt.render(
            existing="\n".join(f"- {t}" for t in existing) or "(none yet)",
            proposed="\n".join(f"- {t}" for t in fresh),
        )
        messages = [ChatMessage("system", system), ChatMessage("user", "Which of these contexts are synonyms?")]
        judged = await recorder.call(
            "context_synonyms",
            synonyms_prompt.sha,
            model,
            llm.structured(messages, synonym_schema(candidates), model=model, temperature=TEMPERATURE),
        )
        groups = [group.contexts for group in judged.value.groups]
    merged = merge_contexts(proposed, existing, groups=groups)
    return merged, proposal_prompt.sha, answer.model


# --- moderator edits -------------------------------------------------------------------------------


def _moderator_text(text: str) -> str:
    cleaned = clean_member_text(text)
    if cleaned.problem:
        raise ContextError("a context needs some text, like 'When in distress'")
    normalised = normalise_context(cleaned.text.replace("\n", " "))
    if problem := context_problem(normalised, max_words=MAX_MODERATOR_CONTEXT_WORDS):
        raise ContextError(problem)
    return normalised


async def _scenario_of(session: AsyncSession, community_id: int, scenario_id: int) -> Scenario:
    scenario = await repo.get_scenario(session, community_id=community_id, scenario_id=scenario_id)
    if scenario is None:
        raise ContextError(f"no scenario {scenario_id} in this community")
    return scenario


async def _context_of(session: AsyncSession, community_id: int, context_id: int) -> MoralContext:
    context = await stories_repo.get_context(session, community_id=community_id, context_id=context_id)
    if context is None:
        raise ContextError(f"no context {context_id} in this community")
    return context


async def add_context(
    database: Database, *, community_id: int, scenario_id: int, text: str, now: datetime
) -> MoralContext:
    """Link a moderator's context to a scenario. The same wording (case and punctuation aside) reuses the
    community's existing context rather than making a twin."""
    normalised = _moderator_text(text)
    async with database.session() as session:
        await _scenario_of(session, community_id, scenario_id)
        same = [
            c
            for c in await stories_repo.all_contexts(session, community_id=community_id)
            if context_key(c.text) == context_key(normalised)
        ]
        context = (
            same[0]
            if same
            else await stories_repo.add_context(
                session, community_id=community_id, text=normalised, source="moderator", now=now
            )
        )
        await stories_repo.link_context(session, scenario_id=scenario_id, context_id=context.id)
        await session.commit()
        return context


async def edit_context(database: Database, *, community_id: int, context_id: int, text: str) -> MoralContext:
    """Reword a context. Its stories keep pointing at it (the situation is the same, only better named)."""
    normalised = _moderator_text(text)
    async with database.session() as session:
        context = await _context_of(session, community_id, context_id)
        clash = await stories_repo.find_context(session, community_id=community_id, text=normalised)
        if clash is not None and clash.id != context.id:
            raise ContextError(f"context {clash.id} already reads {normalised!r}")
        context.text = normalised
        context.source = "moderator"
        await session.commit()
        return context


@dataclass(frozen=True, slots=True)
class RemovedContext:
    context_id: int
    text: str
    #: Stories withdrawn because their context went away (their polls and votes are kept).
    withdrawn_stories: int
    #: False when stories still refer to the row: it stays, unlinked from every scenario.
    deleted: bool


async def remove_context(database: Database, *, community_id: int, context_id: int) -> RemovedContext:
    async with database.session() as session:
        context = await _context_of(session, community_id, context_id)
        text = context.text
        withdrawn, deleted = await _unlink(session, context)
        await session.commit()
        return RemovedContext(context_id, text, withdrawn, deleted)


async def _unlink(session: AsyncSession, context: MoralContext, *, scenario_id: int | None = None) -> tuple[int, bool]:
    """Unlink ``context`` from one scenario (or all). Once no scenario uses it, its stories are withdrawn
    and, if it has none, the row is deleted. Returns (stories withdrawn, row deleted)."""
    context_id = context.id
    await stories_repo.unlink_context(session, context_id=context_id, scenario_id=scenario_id)
    if await stories_repo.scenario_ids_of_context(session, context_id=context_id):
        return 0, False
    if await stories_repo.count_stories(session, context_id=context_id):
        return await stories_repo.withdraw_stories(session, context_id=context_id), False
    await stories_repo.delete_context(session, context_id=context_id)
    return 0, True


async def ensure_contexts(database: Database, *, llm: LLM, model: str, community_id: int, now: datetime) -> int:
    """Give contexts to every scenario that has confirmed cards but none yet (scenarios started from
    `mge chat --scenario` or the defaults never went through `mge scenario add`). Returns how many
    scenarios got contexts."""
    async with database.session() as session:
        waiting = await stories_repo.scenarios_without_contexts(session, community_id=community_id)
    for scenario_id in waiting:
        await generate_contexts(database, llm=llm, model=model, scenario_id=scenario_id, now=now)
    return len(waiting)
