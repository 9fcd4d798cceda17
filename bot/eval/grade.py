"""Grading interviews on the nine criteria (docs/method.md §3, "Checking a model"): read an interview from the
database, take the members' identities out, ask the grader, validate its answer (``core.grading``).

Read-only: nothing is written to the community's database (no ``llm_call`` rows either; the run's tokens are
in the result). Any failed grading stops the run with an ``EvalError`` saying which interview and why, so a
caller never writes a run with some interviews silently left out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from core.cards import CardStatus, ValuesCard
from core.framing import DEFAULT_FRAMING, Framing
from core.grading import (
    Anonymiser,
    CriterionGrade,
    ProposedCard,
    TranscriptGrade,
    Turn,
    dialogue_text,
    grading_messages,
)
from core.llm import LLM, LLMError, Usage
from storage import eval_repo as repo
from storage.database import Database

TEMPERATURE = 0.0


class EvalError(Exception):
    """A run that cannot finish (a model call failed, its answer was invalid, a saved run is unreadable)."""


@dataclass(frozen=True, slots=True)
class Dialogue:
    interview_id: int
    scenario: str | None
    #: The transcript as the grader reads it, identities replaced.
    text: str
    confirmed: bool
    #: Member messages in the conversation, revisions and choices (after the opening question).
    member_turns: int
    #: What the interviewer spent on it (interviewer, articulation), from the interview row.
    interview_tokens: int
    #: Whose response the interview asked about: the grader judges "on the scenario" by it.
    framing: Framing = DEFAULT_FRAMING


@dataclass(frozen=True, slots=True)
class GradedDialogue:
    dialogue: Dialogue
    grades: dict[str, CriterionGrade]
    model: str
    prompt_sha: str
    usage: Usage


async def sample_interviews(
    database: Database, *, community_ids: Sequence[int] | None, sample: int, seed: int
) -> list[int]:
    """Up to ``sample`` of the interviews that reached a card, drawn with ``seed`` (the same seed and the same
    interviews give the same sample), in id order."""
    async with database.session() as session:
        ids = await repo.gradable_interviews(session, community_ids=community_ids, with_card=True)
    if len(ids) <= sample:
        return ids
    return sorted(random.Random(seed).sample(ids, sample))


async def read_dialogue(database: Database, *, interview_id: int) -> Dialogue:
    async with database.session() as session:
        found = await repo.interview_with_scenario(session, interview_id=interview_id)
        if found is None:
            raise EvalError(f"interview {interview_id} is gone")
        interview, scenario, framing = found
        rows = await repo.turns_of_interview(session, interview_id=interview_id)
        records = await repo.cards_of_interview(session, interview_id=interview_id)
        identities = await repo.member_identities(session, community_id=interview.community_id)
    hide = Anonymiser(names=[name for name, _ in identities], ids=[user_id for _, user_id in identities])
    turns = [Turn(role, kind, hide(content)) for role, kind, content in rows]
    cards = [
        ProposedCard(
            ValuesCard.model_construct(
                title=hide(r.title), description=hide(r.description), policies=[hide(p) for p in r.policies]
            ),
            r.status,
        )
        for r in records
    ]
    first = next((i for i, t in enumerate(turns) if t.kind == "conversation"), len(turns))
    return Dialogue(
        interview_id=interview_id,
        scenario=scenario,
        text=dialogue_text(turns, cards),
        confirmed=any(card.status == CardStatus.CONFIRMED for card in cards),
        member_turns=sum(1 for t in turns[first:] if t.role == "member"),
        interview_tokens=interview.input_tokens + interview.output_tokens,
        framing=Framing(framing or DEFAULT_FRAMING),
    )


async def grade_dialogue(dialogue: Dialogue, *, llm: LLM, model: str) -> GradedDialogue:
    prompt, messages = grading_messages(dialogue.scenario, dialogue.text, framing=dialogue.framing)
    try:
        result = await llm.structured(messages, TranscriptGrade, model=model, temperature=TEMPERATURE)
    except LLMError as error:
        raise EvalError(f"grading interview {dialogue.interview_id} failed: {error}") from error
    return GradedDialogue(dialogue, result.value.by_criterion(), result.model, prompt.sha, result.usage)


async def grade_interviews(
    database: Database, *, llm: LLM, model: str, interview_ids: Sequence[int]
) -> list[GradedDialogue]:
    """Grade each interview in turn (one request at a time: an eval is not in a hurry, and a rate-limited
    endpoint stays usable for the members)."""
    graded = []
    for interview_id in interview_ids:
        dialogue = await read_dialogue(database, interview_id=interview_id)
        graded.append(await grade_dialogue(dialogue, llm=llm, model=model))
    return graded
