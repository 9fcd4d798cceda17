"""The ideology screen (docs/method.md §8): each interview's opening answer rated 1–5 by an LLM for echoing
slogans, aiming to persuade and strong value judgments, and its correlation with survey question 2
("Did the values you submitted and voted for express what you care about?").

A metric, never a gate: ratings are made by a batch job (the scheduler's maintenance tick, or
``mge ideology rate``), never on a member's reply path, and nothing reads them but the stats.

The opening answer is the interview's first ``interview_turn`` with role ``member`` and kind ``conversation``.
A run takes the community's unrated openings (at most ``limit``, oldest interview first) and claims the job
for that batch (``claim_job``; the period is a hash of the batch's interview ids, so the same batch is rated
once even with two processes, and a new interview makes a new batch). No database connection is held while the
model is asked (``LLMRecorder`` commits first); each rating is written and committed right after its call,
with the call's ``llm_call`` row (linked to the interview so `/mge mydata` shows it and `/mge forget` erases
its error text) and the run's tokens. An answer that fails the schema (``IdeologyScore``: a whole score 1–5
and a reason) is rejected and nothing is stored for it; the service failing (unreachable, rate limited) stops
the run, marked failed, to be taken up again on the next tick. A rating is stored only if the answer it rates
is still there (a member who erased their data meanwhile is not rated).
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder, claim_job, finish_job
from core.ideology import SCALE, IdeologyScore, correlation_text, ideology_messages
from core.llm import LLM, LLMError, LLMErrorKind
from storage import ideology_repo as repo
from storage.database import Database
from storage.models import JobRun

log = logging.getLogger("mge.ideology")

JOB = "ideology"
PURPOSE = "ideology"
#: Openings rated per run at most (the next run takes the rest).
DEFAULT_LIMIT = 50
TEMPERATURE = 0.0
#: Survey question 2: "Did the values you submitted and voted for express what you care about?"
EXPRESSED_QUESTION = 2


@dataclass(frozen=True, slots=True)
class Opening:
    interview_id: int
    seq: int
    text: str
    scenario: str | None


@dataclass
class IdeologyReport:
    run_id: int | None
    #: True when this batch was rated (or is being rated) already: nothing was done.
    already_done: bool = False
    pending: int = 0
    rated: int = 0
    #: Interview ids whose answer failed the schema, with why; nothing was stored for them.
    rejected: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0

    def summary(self) -> str:
        if self.already_done:
            return f"already done ({self.pending} pending)"
        return (
            f"{self.rated} rated of {self.pending}, {len(self.rejected)} rejected, "
            f"{self.input_tokens + self.output_tokens} tokens"
        )


async def unrated_openings(session: AsyncSession, *, community_id: int, limit: int = DEFAULT_LIMIT) -> list[Opening]:
    """The community's interviews with an opening answer and no rating, oldest first."""
    rows = await repo.unrated_openings(session, community_id=community_id, limit=limit)
    return [Opening(interview_id, seq, text, scenario) for interview_id, seq, text, scenario in rows]


def _period(openings: list[Opening]) -> str:
    ids = ",".join(str(o.interview_id) for o in openings)
    return "batch-" + hashlib.sha256(ids.encode()).hexdigest()[:16]


async def rate_opening_messages(
    database: Database, *, llm: LLM, model: str, community_id: int, now: datetime, limit: int = DEFAULT_LIMIT
) -> IdeologyReport:
    """Rate the community's unrated opening answers (at most ``limit``). Raises ``LLMError`` when the
    service itself fails; the run is then marked failed and the next call takes the batch up again."""
    async with database.session() as session:
        openings = await unrated_openings(session, community_id=community_id, limit=limit)
        if not openings:
            return IdeologyReport(run_id=None)
        run = await claim_job(session, job=JOB, community_id=community_id, period=_period(openings), now=now)
        if run is None:
            return IdeologyReport(run_id=None, already_done=True, pending=len(openings))
        await session.commit()
        run_id = run.id
    assert run_id is not None
    report = IdeologyReport(run_id=run_id, pending=len(openings))
    try:
        for opening in openings:
            await _rate_one(
                database,
                llm=llm,
                model=model,
                community_id=community_id,
                run_id=run_id,
                opening=opening,
                report=report,
                now=now,
            )
    except LLMError as error:
        await _finish(database, run_id, report, now=now, ok=False, error=str(error))
        raise
    await _finish(database, run_id, report, now=now, ok=True)
    return report


async def _rate_one(
    database: Database,
    *,
    llm: LLM,
    model: str,
    community_id: int,
    run_id: int,
    opening: Opening,
    report: IdeologyReport,
    now: datetime,
) -> None:
    prompt, messages = ideology_messages(opening.scenario, opening.text)
    async with database.session() as session:
        # The recorder commits before asking (no connection is held while the model thinks) and adds the
        # call's ``llm_call`` row, linked to the interview so `/mge mydata` shows it and forget erases it.
        run = await session.get(JobRun, run_id)
        recorder = LLMRecorder(session, community_id, now, run=run, about_interview_id=opening.interview_id)
        spent = (run.input_tokens, run.output_tokens) if run is not None else (0, 0)
        try:
            result = await recorder.call(
                PURPOSE,
                prompt.sha,
                model,
                llm.structured(messages, IdeologyScore, model=model, temperature=TEMPERATURE),
            )
        except LLMError as error:
            _count_tokens(report, run, spent)
            await session.commit()  # the call's record and tokens, nothing else
            if error.kind is not LLMErrorKind.INVALID_OUTPUT:
                raise
            log.warning("ideology rating of interview %s rejected: %s", opening.interview_id, error)
            report.rejected.append(f"interview {opening.interview_id}: {error}"[:300])
            return
        _count_tokens(report, run, spent)
        score = result.value
        # Rated only if the answer is still there: a member who erased their data meanwhile is not rated.
        if await repo.member_turn_exists(session, interview_id=opening.interview_id, seq=opening.seq):
            inserted = await repo.add_rating(
                session,
                community_id=community_id,
                interview_id=opening.interview_id,
                score=score.score,
                reason=score.reason,
                prompt_sha=prompt.sha,
                model=result.model[:200],
                run_id=run_id,
                now=now,
            )
            report.rated += int(inserted)
        await session.commit()


def _count_tokens(report: IdeologyReport, run: JobRun | None, before: tuple[int, int]) -> None:
    if run is not None:
        report.input_tokens += run.input_tokens - before[0]
        report.output_tokens += run.output_tokens - before[1]


async def _finish(
    database: Database, run_id: int, report: IdeologyReport, *, now: datetime, ok: bool, error: str | None = None
) -> None:
    async with database.session() as session:
        run = await session.get(JobRun, run_id)
        if run is None:
            return
        detail: dict[str, int | str] = {
            "rated": report.rated,
            "pending": report.pending,
            "rejected": len(report.rejected),
        }
        if error:
            detail["error"] = error
        finish_job(run, now=now, ok=ok, detail=json.dumps(detail))
        session.add(run)
        await session.commit()


# --- stats ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdeologyStats:
    #: Every rating's score.
    scores: list[int]
    #: (the member's mean opening score, their survey Q2 answer) for members with both.
    pairs: list[tuple[float, float]]


async def ideology_stats(database: Database, *, community_id: int) -> IdeologyStats:
    async with database.session() as session:
        rated = await repo.rated_scores(session, community_id=community_id)
        answers = await repo.survey_scores_of_question(session, community_id=community_id, question=EXPRESSED_QUESTION)
    by_member: dict[int, list[int]] = {}
    for score, member_id in rated:
        by_member.setdefault(member_id, []).append(score)
    pairs = [
        (statistics.fmean(scores), float(answers[member_id]))
        for member_id, scores in sorted(by_member.items())
        if member_id in answers
    ]
    return IdeologyStats([score for score, _ in rated], pairs)


async def stats_lines(database: Database, *, community_id: int) -> list[str]:
    """The moderators' stats line: how many openings were rated, their distribution and mean, and
    Pearson's r between a member's (mean) opening score and their survey Q2 answer."""
    s = await ideology_stats(database, community_id=community_id)
    if s.scores:
        counts = ", ".join(f"{n}: {s.scores.count(n)}" for n in SCALE)
        rated = f"{len(s.scores)} opening answer(s) rated, mean {statistics.fmean(s.scores):.1f} ({counts})"
    else:
        rated = "0 opening answers rated"
    return [
        f"Ideology screen (1 = not ideological, 5 = slogans only; a metric, never a gate): {rated}; "
        f"Pearson correlation with survey Q2 “expressed what you care about”: {correlation_text(s.pairs)}; "
        "paper: no correlation."
    ]
