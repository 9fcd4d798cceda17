"""Simulated members (docs/method.md §3, "Checking a model"): personas written as data files
(``bot/eval/personas/*.toml``), each played by a model against the real interviewer.

The driver talks to the interview only through the entry points the terminal adapter uses
(``resume`` and ``handle``, see ``adapters.console.ConsoleChat``), so it does not depend on how the interview
works inside: it answers whatever the bot says, and when options are offered it presses one — *Revise* while
the persona still wants changes, otherwise the option that agrees (confirm, yes, accept, …), otherwise the
first. It stops when the interview has ended or after ``max_turns`` messages.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from bot.eval.grade import EvalError, GradedDialogue, grade_interviews
from bot.interview.scenarios import prepare_scenarios
from core.cards import card_as_text
from core.clock import utcnow
from core.interview import Choice
from core.llm import LLM, LLMError
from core.messages import CardProposal, ChoicePrompt, CommunityRef, InboundMessage, Outbound, Person, Reply
from core.scenarios import DEFAULT_SCENARIOS
from core.simulated_member import PersonaReply, persona_messages
from storage import communities_repo, eval_repo
from storage import repositories as repo
from storage.database import Database

#: The homework question: of the paper's three, the one an endpoint's content filter is least likely to refuse.
DEFAULT_SCENARIO = DEFAULT_SCENARIOS[2]
DEFAULT_MAX_TURNS = 30
TEMPERATURE = 0.7
#: Words of an option that agrees, in order of preference.
AGREEING = ("confirm", "yes", "accept", "agree", "same", "correct", "right", "continue", "done")
REVISING = ("revise", "change", "edit")


class MemberChat(Protocol):
    """The interview's entry points, as a chat adapter calls them (``bot.interview.service.InterviewService``)."""

    async def resume(
        self, community: CommunityRef, person: Person, *, scenario_id: int | None = None, consent: bool = False
    ) -> list[Outbound]: ...

    async def handle(self, message: InboundMessage) -> list[Outbound]: ...


@dataclass(frozen=True, slots=True)
class Persona:
    key: str
    name: str
    description: str
    #: How many times the member presses Revise before agreeing to a card.
    revisions: int = 0


def load_personas(keys: Sequence[str] | None = None) -> list[Persona]:
    """The personas shipped in ``bot/eval/personas/``, by file name; ``keys`` picks some (LookupError for an
    unknown one)."""
    folder = resources.files(__package__).joinpath("personas")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            key = entry.name.removesuffix(".toml")
            found[key] = Persona(key, data["name"], data["description"], int(data.get("revisions", 0)))
    if keys is None:
        return list(found.values())
    unknown = [k for k in keys if k not in found]
    if unknown:
        raise LookupError(f"no persona named {', '.join(unknown)}; there are: {', '.join(found)}")
    return [found[k] for k in keys]


@dataclass
class PersonaRun:
    persona: Persona
    community: CommunityRef
    #: Messages the simulated member sent (typed answers and pressed options).
    turns: int = 0
    persona_tokens: int = 0
    #: True when the interview ended before the turn cap.
    ended: bool = False


def pick_choice(choices: Sequence[Choice], *, revise: bool) -> Choice:
    """The option a simulated member presses: a revising one while it wants changes, else one that agrees,
    else the first."""
    words = [set(re.findall(r"\w+", f"{c.key} {c.label}".casefold())) for c in choices]
    if revise:
        for choice, said in zip(choices, words):
            if said & set(REVISING):
                return choice
    for word in AGREEING:
        for choice, said in zip(choices, words):
            if word in said:
                return choice
    return choices[0]


def shown_text(outbound: Sequence[Outbound]) -> tuple[str, tuple[Choice, ...]]:
    """What the bot said, as a member reads it, and the options of the last item that offered some."""
    parts: list[str] = []
    choices: tuple[Choice, ...] = ()
    for item in outbound:
        match item:
            case Reply(text=text):
                parts.append(text)
            case ChoicePrompt(text=text, choices=offered):
                parts.append(text)
                choices = offered or choices
            case CardProposal(card=card, heading=heading, choices=offered):
                parts += [heading, card_as_text(card)]
                choices = offered or choices
    if choices:
        parts.append("\n".join(f"{n}. {c.detail or c.label}" for n, c in enumerate(choices, start=1)))
    return "\n\n".join(parts), choices


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """Where simulated members play: the interview's entry points, its database, and who plays them on what."""

    chat: MemberChat
    database: Database
    llm: LLM
    persona_model: str
    scenario: str = DEFAULT_SCENARIO
    max_turns: int = DEFAULT_MAX_TURNS


async def play(persona: Persona, rehearsal: Rehearsal, *, run: int = 1) -> PersonaRun:
    """One interview of ``persona``, in a console community of its own (so runs never meet each other's values)."""
    community = CommunityRef("console", f"eval-{persona.key}-{run}", f"eval {persona.key} {run}")
    # No display name: the grader's anonymiser would take the persona's name words out of the dialogue.
    person = Person(f"persona-{persona.key}-{run}")
    result = PersonaRun(persona, community)
    chat, database, scenario = rehearsal.chat, rehearsal.database, rehearsal.scenario
    scenario_id = await prepare_scenarios(database, community, text=scenario, now=utcnow())
    outbound = await chat.resume(community, person, scenario_id=scenario_id, consent=True)
    exchange: list[tuple[str, str]] = []
    revisions_left = persona.revisions
    while result.turns < rehearsal.max_turns and outbound:
        if await _ended(database, community, person):
            result.ended = True
            break
        shown, choices = shown_text(outbound)
        exchange.append(("bot", shown))
        if choices:
            choice = pick_choice(choices, revise=revisions_left > 0)
            revisions_left -= int(set(re.findall(r"\w+", choice.key.casefold())) & set(REVISING) != set())
            exchange.append(("member", f"({choice.label})"))
            text, pressed = choice.key, True
        else:
            text = await _answer(persona, rehearsal, exchange, result=result)
            exchange.append(("member", text))
            pressed = False
        result.turns += 1
        message = InboundMessage(community, person, text, event_id=f"eval-{uuid.uuid4()}", is_choice=pressed)
        outbound = await chat.handle(message)
    result.ended = result.ended or await _ended(database, community, person)
    return result


async def _answer(
    persona: Persona, rehearsal: Rehearsal, exchange: list[tuple[str, str]], *, result: PersonaRun
) -> str:
    _, messages = persona_messages(rehearsal.scenario, persona.description, exchange)
    model = rehearsal.persona_model
    try:
        reply = await rehearsal.llm.structured(messages, PersonaReply, model=model, temperature=TEMPERATURE)
    except LLMError as error:
        raise EvalError(f"playing the persona {persona.key!r} failed: {error}") from error
    result.persona_tokens += reply.usage.total
    return reply.value.message


async def _ended(database: Database, community: CommunityRef, person: Person) -> bool:
    """True when the member has no interview under way (it was confirmed, cancelled or never began)."""
    async with database.session() as session:
        known = await communities_repo.find_member(
            session,
            platform=community.platform,
            external_id=community.external_id,
            platform_user_id=person.platform_user_id,
        )
        if known is None:
            return False
        _, member = known
        return await repo.active_interview(session, community_id=member.community_id, member_id=member.id) is None


@dataclass
class PlayedPersona:
    run: PersonaRun
    graded: list[GradedDialogue]

    @property
    def confirmed(self) -> bool:
        return any(item.dialogue.confirmed for item in self.graded)

    @property
    def interview_tokens(self) -> int:
        return sum(item.dialogue.interview_tokens for item in self.graded)


async def play_and_grade(
    personas: Sequence[Persona], rehearsal: Rehearsal, *, grader_model: str, runs: int = 1
) -> list[PlayedPersona]:
    """Every persona played ``runs`` times, then each interview it had graded (one at a time, like the
    members of a community would be)."""
    played = []
    for persona in personas:
        for n in range(1, runs + 1):
            run = await play(persona, rehearsal, run=n)
            community_id = await communities_repo.community_id_of(rehearsal.database, run.community)
            if community_id is None:  # prepare_scenarios made it; only a database swapped underneath loses it
                raise EvalError(f"the community of persona {persona.key!r} is gone")
            async with rehearsal.database.session() as session:
                ids = await eval_repo.gradable_interviews(session, community_ids=[community_id], with_card=False)
            graded = await grade_interviews(
                rehearsal.database, llm=rehearsal.llm, model=grader_model, interview_ids=ids
            )
            played.append(PlayedPersona(run, graded))
    return played


def persona_rates(played: Sequence[PlayedPersona]) -> dict[str, dict[str, float | int | str]]:
    """Per persona, and ``overall``: runs, the rate of confirmed cards, and the mean turns and tokens per run."""
    groups: dict[str, list[PlayedPersona]] = {}
    for item in played:
        groups.setdefault(item.run.persona.key, []).append(item)
    rates: dict[str, dict[str, float | int | str]] = {
        key: {"name": items[0].run.persona.name, **_rates(items)} for key, items in groups.items()
    }
    if played:
        rates["overall"] = {"name": "all personas", **_rates(played)}
    return rates


def _rates(items: Sequence[PlayedPersona]) -> dict[str, float | int]:
    n = len(items)
    return {
        "runs": n,
        "confirmed": sum(item.confirmed for item in items),
        "confirmed_rate": round(sum(item.confirmed for item in items) / n, 3),
        "turns_mean": round(sum(item.run.turns for item in items) / n, 1),
        "hit_turn_cap": sum(not item.run.ended for item in items),
        "interview_tokens_mean": round(sum(item.interview_tokens for item in items) / n),
        "persona_tokens": sum(item.run.persona_tokens for item in items),
    }
