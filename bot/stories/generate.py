"""Transition-story generation (docs/method.md §6), as a job run once per state of the community's contexts
and values.

For each live context: its candidate values are the canonical values of its scenarios; an LLM picks
deepening pairs (A → B); for each pair the story is written in both directions (A → B and B → A), so
voters judge the direction instead of being told it. Invalid answers are logged and skipped, never
stored. Both directions of a pair are committed together or not at all, and a pair whose stories
exist is never asked about again, so a crashed run can simply be run again.

A context gets at most ``max_pairs_per_context`` pairs from the model in all (``MGE_STORY_PAIRS_PER_CONTEXT``),
counted over its current candidates; a run asks only for the room left, so raising the cap on an unchanged
state writes the extra pairs only. Pairs a moderator asked for (``bot.stories.moderation``) don't count.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder, claim_job, finish_job
from core.framing import DEFAULT_FRAMING, Framing, framing_of, words
from core.llm import LLM, ChatMessage, LLMError, LLMErrorKind
from core.prompts import combined_sha, load_prompt
from core.stories import (
    DEFAULT_MAX_PAIRS,
    DeepeningPair,
    StoryDraft,
    StoryValue,
    pair_schema,
    story_schema,
    value_as_text,
)
from storage import jobs_repo, stories_repo
from storage.database import Database
from storage.models import CanonicalValue, JobRun, JobStatus

log = logging.getLogger("mge.stories")

JOB = "stories"
#: The key of ``steps`` naming the moderator who asked for a pair (absent on the model's own pairs).
MODERATOR_PAIR = "chosen_by"
PAIR_TEMPERATURE = 0.2
# A little room for the story's wording; the steps are still held to the schema.
STORY_TEMPERATURE = 0.4

#: Called after each context: (contexts done, contexts in total, the context's text).
Progress = Callable[[int, int, str], None]


@dataclass
class StoryReport:
    run_id: int | None
    #: True when this state of contexts and values was already handled: nothing was done.
    already_done: bool = False
    contexts: int = 0
    contexts_skipped: int = 0  # fewer than two candidate values
    contexts_full: int = 0  # already had as many pairs as the cap allows
    pairs_proposed: int = 0
    pairs_skipped: int = 0  # both directions already had stories
    stories_written: int = 0
    #: What was rejected and why (invalid LLM answers); nothing of it was stored.
    rejected: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class _ContextPlan:
    context_id: int
    text: str
    values: tuple[StoryValue, ...]
    #: How the context's scenarios were framed: the stories speak of the values the same way.
    framing: Framing = DEFAULT_FRAMING


async def generate_stories(
    database: Database,
    *,
    llm: LLM,
    model: str,
    community_id: int,
    now: datetime,
    progress: Progress | None = None,
    max_pairs_per_context: int = DEFAULT_MAX_PAIRS,
) -> StoryReport:
    """Write the stories the community's contexts and values call for. Raises ``LLMError`` when the
    service itself fails (unreachable, rate limited, refused): the run is marked failed and the next
    call resumes it; invalid answers are not failures, just rejections in the report."""
    async with database.session() as session:
        plans = await _plan(session, community_id)
        period = _period(plans, max_pairs_per_context)
        resumed_contexts = await _progress_of_unfinished_run(session, community_id, period)
        run = await claim_job(session, job=JOB, community_id=community_id, period=period, now=now)
        if run is None:
            return StoryReport(run_id=None, already_done=True, contexts=len(plans))
        await session.commit()
        run_id = run.id
        report = StoryReport(run_id=run_id, contexts=len(plans))
        done: list[int] = list(resumed_contexts)
        recorder = LLMRecorder(session, community_id, now, run=run)
        try:
            for index, plan in enumerate(plans, start=1):
                if plan.context_id not in resumed_contexts:
                    await _stories_for_context(
                        session,
                        recorder,
                        llm=llm,
                        model=model,
                        community_id=community_id,
                        run_id=run_id,
                        plan=plan,
                        report=report,
                        max_pairs=max_pairs_per_context,
                        now=now,
                    )
                    done.append(plan.context_id)
                    # Progress is saved in the run so a resumed run doesn't ask about this context again.
                    run.detail = json.dumps({"contexts_done": done})
                    await session.commit()
                if progress is not None:
                    progress(index, len(plans), plan.text)
        except LLMError as error:
            _add_tokens(report, run)
            finish_job(run, now=now, ok=False, detail=json.dumps({"contexts_done": done, "error": str(error)}))
            await session.commit()
            raise
        _add_tokens(report, run)
        finish_job(run, now=now, detail=json.dumps({"contexts_done": done, "summary": _summary(report)}))
        await session.commit()
        return report


def _add_tokens(report: StoryReport, run: JobRun) -> None:
    report.input_tokens, report.output_tokens = run.input_tokens, run.output_tokens


def _summary(report: StoryReport) -> dict:
    return {
        "stories_written": report.stories_written,
        "pairs_proposed": report.pairs_proposed,
        "pairs_skipped": report.pairs_skipped,
        "rejected": len(report.rejected),
    }


async def _plan(session: AsyncSession, community_id: int) -> list[_ContextPlan]:
    plans = []
    framings = await stories_repo.framings_of_contexts(session, community_id=community_id)
    for context in await stories_repo.live_contexts(session, community_id=community_id):
        values = await stories_repo.values_of_context(session, community_id=community_id, context_id=context.id)
        framing = framing_of(framings.get(context.id, ()))
        plans.append(_ContextPlan(context.id, context.text, tuple(story_value(v) for v in values), framing))
    return plans


def story_value(value: CanonicalValue) -> StoryValue:
    return StoryValue(value.id, value.title, value.description, tuple(value.policies))


def _period(plans: list[_ContextPlan], max_pairs: int) -> str:
    """The job's period: a hash of the contexts and their candidates, so nothing new means nothing to do.
    Values' texts are in it too: a value rewritten by dedup may now pair differently. The cap is too: a
    larger one on the same state has pairs left to write."""
    state = [[p.context_id, p.text, [[v.id, v.title, list(v.policies)] for v in p.values]] for p in plans]
    digest = hashlib.sha256(json.dumps([max_pairs, state], sort_keys=True).encode()).hexdigest()
    return f"state:{digest[:32]}"


async def _existing_run(session: AsyncSession, community_id: int, period: str) -> JobRun | None:
    return await jobs_repo.find_job_run(session, job=JOB, community_id=community_id, period=period)


async def _progress_of_unfinished_run(session: AsyncSession, community_id: int, period: str) -> set[int]:
    """Contexts an earlier, failed or crashed run of the same period finished (read before the claim,
    which clears the run's detail)."""
    run = await _existing_run(session, community_id, period)
    if run is None or run.status == JobStatus.DONE:
        return set()
    try:
        return set(json.loads(run.detail or "{}").get("contexts_done", []))
    except (ValueError, AttributeError):
        return set()


async def _stories_for_context(
    session: AsyncSession,
    recorder: LLMRecorder,
    *,
    llm: LLM,
    model: str,
    community_id: int,
    run_id: int,
    plan: _ContextPlan,
    report: StoryReport,
    max_pairs: int,
    now: datetime,
) -> None:
    if len(plan.values) < 2:
        report.contexts_skipped += 1
        return
    told = await stories_repo.story_keys(session, context_id=plan.context_id)
    room = max_pairs - await _model_pairs_of(session, plan)
    if room <= 0:
        report.contexts_full += 1
        return
    try:
        pairs = await _find_pairs(recorder, llm=llm, model=model, plan=plan, max_pairs=room, told=told)
    except LLMError as error:
        if error.kind is not LLMErrorKind.INVALID_OUTPUT:
            raise
        _reject(report, f"context {plan.context_id} ({plan.text}): pairs rejected: {error.detail}")
        return
    report.pairs_proposed += len(pairs)
    by_id = {v.id: v for v in plan.values}
    for pair in pairs:
        existing = await stories_repo.story_keys(session, context_id=plan.context_id)
        a, b = by_id[pair.from_value_id], by_id[pair.to_value_id]
        wanted = [(x, y) for x, y in ((a, b), (b, a)) if (x.id, y.id) not in existing]
        if not wanted:
            report.pairs_skipped += 1
            continue
        drafts: list[Draft] = []
        try:
            for x, y in wanted:
                draft, answered_by = await write_story(
                    recorder, llm=llm, model=model, context=plan.text, framing=plan.framing, a=x, b=y
                )
                drafts.append((x, y, draft, answered_by))
        except LLMError as error:
            if error.kind is not LLMErrorKind.INVALID_OUTPUT:
                raise
            # Neither direction is stored: voters must always be able to see both.
            _reject(report, f"context {plan.context_id}: story {a.id} ↔ {b.id} rejected: {error.detail}")
            await session.commit()  # the calls' records only
            continue
        sha = combined_sha(load_prompt("story_pairs"), load_prompt("transition_story"))
        await store_drafts(
            session,
            community_id=community_id,
            context_id=plan.context_id,
            forward=(a.id, b.id),
            drafts=drafts,
            pair_steps={"pair_reason": pair.reason},
            prompt_sha=sha,
            run_id=run_id,
            now=now,
        )
        report.stories_written += len(drafts)
        await session.commit()  # one pair, both directions, at once


#: A story the model wrote: (from, to, the validated draft, the model that answered).
Draft = tuple[StoryValue, StoryValue, StoryDraft, str]


async def store_drafts(
    session: AsyncSession,
    *,
    community_id: int,
    context_id: int,
    forward: tuple[int, int],
    drafts: list[Draft],
    pair_steps: dict,
    prompt_sha: str,
    run_id: int | None,
    now: datetime,
) -> None:
    """Add the validated stories of one pair (the caller commits them together)."""
    for x, y, draft, answered_by in drafts:
        steps = {"direction": "forward" if (x.id, y.id) == forward else "reverse", **pair_steps, **draft.steps()}
        await stories_repo.add_story(
            session,
            community_id=community_id,
            context_id=context_id,
            from_value_id=x.id,
            to_value_id=y.id,
            story=draft.story,
            steps=steps,
            prompt_sha=prompt_sha,
            model=answered_by,
            run_id=run_id,
            now=now,
        )


async def _model_pairs_of(session: AsyncSession, plan: _ContextPlan) -> int:
    """How many pairs of the context's current candidates the model has already written stories for."""
    ids = {v.id for v in plan.values}
    pairs = {
        frozenset((s.from_value_id, s.to_value_id))
        for s in await stories_repo.stories_of_context(session, context_id=plan.context_id)
        if {s.from_value_id, s.to_value_id} <= ids and MODERATOR_PAIR not in s.steps
    }
    return len(pairs)


def _reject(report: StoryReport, reason: str) -> None:
    log.warning("%s", reason)
    report.rejected.append(reason)


async def _find_pairs(
    recorder: LLMRecorder, *, llm: LLM, model: str, plan: _ContextPlan, max_pairs: int, told: set[tuple[int, int]]
) -> list[DeepeningPair]:
    prompt = load_prompt("story_pairs")
    values = "\n\n".join(value_as_text(v, label=f"id {v.id}") for v in plan.values)
    # Pairs that have stories already: named so the model spends its few pairs on new ones (newly
    # merged values would otherwise never get a look-in).
    ids = {v.id for v in plan.values}
    done = sorted({tuple(sorted(k)) for k in told if set(k) <= ids})
    told_text = ", ".join(f"{a} and {b}" for a, b in done) or "none"
    system = prompt.render(
        context=plan.text,
        values=values,
        max_pairs=str(max_pairs),
        told=told_text,
        values_origin=words(plan.framing).values_origin,
    )
    messages = [ChatMessage("system", system), ChatMessage("user", "Which pairs are deepenings in this context?")]
    schema = pair_schema([v.id for v in plan.values], max_pairs)
    answer = await recorder.call(
        "story_pairs", prompt.sha, model, llm.structured(messages, schema, model=model, temperature=PAIR_TEMPERATURE)
    )
    return list(answer.value.pairs)


async def write_story(
    recorder: LLMRecorder, *, llm: LLM, model: str, context: str, framing: Framing, a: StoryValue, b: StoryValue
) -> tuple[StoryDraft, str]:
    prompt = load_prompt("transition_story")
    system = prompt.render(
        context=context,
        value_a=value_as_text(a, label="Value A"),
        value_b=value_as_text(b, label="Value B"),
        values_origin=words(framing).values_origin,
    )
    messages = [ChatMessage("system", system), ChatMessage("user", "Write the transition story from A to B.")]
    answer = await recorder.call(
        "transition_story",
        prompt.sha,
        model,
        llm.structured(messages, story_schema(a.policies), model=model, temperature=STORY_TEMPERATURE),
    )
    return answer.value, answer.model


# --- reading -----------------------------------------------------------------------------------------


async def story_rows(database: Database, *, community_id: int, context_id: int | None = None) -> list[dict]:
    """Active stories as plain dicts (for `mge stories list`)."""
    async with database.session() as session:
        stories = await stories_repo.list_stories(session, community_id=community_id, context_id=context_id)
        contexts = {c.id: c.text for c in await stories_repo.all_contexts(session, community_id=community_id)}
        titles: dict[int, str] = {}
        for story in stories:
            for value_id in (story.from_value_id, story.to_value_id):
                if value_id not in titles:
                    value = await session.get(CanonicalValue, value_id)
                    titles[value_id] = value.title if value else ""
        return [
            {
                "id": s.id,
                "context_id": s.context_id,
                "context": contexts.get(s.context_id, ""),
                "from_value_id": s.from_value_id,
                "from_title": titles[s.from_value_id],
                "to_value_id": s.to_value_id,
                "to_title": titles[s.to_value_id],
                "story": s.shown_story,
                "model_story": s.story,
                "edited_by": s.edited_by,
                "edited_at": s.edited_at.isoformat() if s.edited_at else None,
                "steps": s.steps,
                "status": s.status,
                "prompt_sha": s.prompt_sha,
                "model": s.model,
                "run_id": s.run_id,
                "created": s.created_at.isoformat(),
            }
            for s in stories
        ]
