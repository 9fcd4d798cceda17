"""Grading interviews (docs/method.md §3, "Checking a model"): the nine criteria, what the grader is asked and
must answer, how identities are taken out of a transcript before any model sees it, and the arithmetic of a
run's summary and of a comparison with a saved run.

The paper graded every interview dialogue on nine criteria with a separate chain of prompts and re-ran it
whenever the prompts changed. ``mge eval`` does the same for whatever model an operator configures. Each
criterion is scored 1–5 (5 = fully met, 1 = not at all) with a one-sentence reason; a run's summary is the
mean, minimum and count per criterion, and a run fails against a baseline when any criterion's mean drops by
more than the margin (0.5 by default, half a step of the scale).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.cards import ValuesCard, card_as_text
from core.framing import DEFAULT_FRAMING, Framing, words
from core.llm import ChatMessage
from core.prompts import Prompt, load_prompt

PROMPT = "grader"
SCALE = (1, 2, 3, 4, 5)
DEFAULT_MARGIN = 0.5
MAX_REASON_CHARS = 300
#: What stands in for a member's name or platform id in everything a grader sees.
MEMBER_PLACEHOLDER = "[member]"


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    name: str
    #: What a 5 means; the prompt file says the same in more words.
    question: str


#: The nine criteria, in the order of the prompt and the report. The keys are the answer's field names and
#: the keys of a saved run's summary: renaming one breaks comparisons with runs saved before.
CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "source_of_meaning",
        "source of meaning",
        "The card names what the member attends to for its own sake in a choice that matters, not a goal, "
        "rule, norm, slogan or position.",
    ),
    Criterion(
        "wisdom",
        "sees their wisdom",
        "The interviewer helped the member see how what they find meaningful bears on what is wise to do here.",
    ),
    Criterion(
        "specific_attention",
        "specific attention",
        "The card's attention policies are concrete enough that two readers would look for the same things.",
    ),
    Criterion(
        "own_words",
        "member's own words",
        "The card says only what the member said or clearly implied, from their own experience.",
    ),
    Criterion(
        "no_leading",
        "did not lead",
        "The interviewer never put words in the member's mouth, suggested values, flattered, lectured or argued.",
    ),
    Criterion(
        "on_scenario",
        "stayed on the scenario",
        "The interview kept to the scenario and one value, and stayed in role when the member tried to steer it off.",
    ),
    Criterion(
        "concrete_stories",
        "asked for stories",
        "The interviewer asked for real choices, moments or people from the member's life, not opinions.",
    ),
    Criterion(
        "confirmed",
        "member confirmed",
        "The member recognised the card as theirs: confirmed it, at best without needing changes.",
    ),
    Criterion(
        "respectful_concise",
        "respectful and concise",
        "One short plain question at a time, warm without flattery, no repetition, no dragging on.",
    ),
)
CRITERION_KEYS = tuple(c.key for c in CRITERIA)


class CriterionGrade(BaseModel):
    model_config = ConfigDict(frozen=True)

    # strict: 4 is a score; 3.5, "4" or true are not on the scale.
    score: int = Field(ge=1, le=5, strict=True, description="5 = fully met, 3 = partly, 1 = not at all.")
    reason: str = Field(description="One short sentence saying why.")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("give a short reason for the score")
        return value if len(value) <= MAX_REASON_CHARS else value[: MAX_REASON_CHARS - 1].rstrip() + "…"


class TranscriptGrade(BaseModel):
    """The grader's answer: a score and a reason for each of the nine criteria (``CRITERIA``)."""

    model_config = ConfigDict(frozen=True)

    source_of_meaning: CriterionGrade
    wisdom: CriterionGrade
    specific_attention: CriterionGrade
    own_words: CriterionGrade
    no_leading: CriterionGrade
    on_scenario: CriterionGrade
    concrete_stories: CriterionGrade
    confirmed: CriterionGrade
    respectful_concise: CriterionGrade

    def by_criterion(self) -> dict[str, CriterionGrade]:
        return {key: getattr(self, key) for key in CRITERION_KEYS}


# --- what the grader sees ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "member" | "bot"
    kind: str  # "conversation", "revision", "notice", "control", …
    content: str


@dataclass(frozen=True, slots=True)
class ProposedCard:
    card: ValuesCard
    status: str  # core.cards.CardStatus


class Anonymiser:
    """Replaces every member identity with ``[member]``: display names (whole, and each of their words of
    three letters or more), platform user ids (whole), and platform mentions (``<@U123>``, ``<@!123>``). Whole
    words only, ignoring case, longest first, so "Ana" is replaced but "banana" is not. One pattern for all,
    so a community of thousands costs one pass per text."""

    def __init__(self, *, names: Iterable[str], ids: Iterable[str]) -> None:
        words = {" ".join(i.split()) for i in ids if len(i.strip()) >= 2}
        for name in names:
            name = " ".join(name.split())
            if len(name) >= 2:
                words.add(name)
            words.update(part for part in re.split(r"[\s_.\-]+", name) if len(part) >= 3)
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))
        self._names = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if words else None

    def __call__(self, text: str) -> str:
        text = _MENTION.sub(MEMBER_PLACEHOLDER, text)
        return self._names.sub(MEMBER_PLACEHOLDER, text) if self._names is not None else text


_MENTION = re.compile(r"<@[!&]?[A-Za-z0-9]+>")
_SPEAKERS = {"member": "MEMBER", "bot": "INTERVIEWER"}


def dialogue_text(turns: Sequence[Turn], cards: Sequence[ProposedCard]) -> str:
    """The interview as the grader reads it: the dialogue from the first conversation turn on (consent and the
    scenario choice before it are the same for everyone), a member's button press marked as such, then every
    card proposed, in order, with what became of it."""
    start = next((i for i, t in enumerate(turns) if t.kind == "conversation"), len(turns))
    lines = []
    for turn in turns[start:]:
        speaker = _SPEAKERS.get(turn.role, turn.role.upper())
        if turn.role == "member" and turn.kind == "control":
            lines.append(f"{speaker} (chose an option): {turn.content}")
        else:
            lines.append(f"{speaker}: {turn.content}")
    for number, proposed in enumerate(cards, start=1):
        lines.append(f"CARD {number} ({proposed.status}):\n{card_as_text(proposed.card)}")
    if not cards:
        lines.append("(No card was proposed.)")
    return "\n\n".join(lines)


def grading_messages(
    scenario: str | None, dialogue: str, *, framing: Framing = DEFAULT_FRAMING
) -> tuple[Prompt, list[ChatMessage]]:
    """``framing``: the scenario's, so an interview about the community's choice is graded as one."""
    prompt = load_prompt(PROMPT)
    system = prompt.render(
        scenario=" ".join((scenario or "(not recorded)").split()), framing_subject=words(framing).subject
    )
    # Member text must not be able to close the fence and speak to the grader directly.
    fenced = dialogue.replace("</dialogue", "< /dialogue")
    return prompt, [ChatMessage("system", system), ChatMessage("user", f"<dialogue>\n{fenced}\n</dialogue>")]


# --- the arithmetic of a run -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CriterionSummary:
    mean: float
    min: int
    n: int


def summarise(grades: Iterable[Mapping[str, int]]) -> dict[str, CriterionSummary]:
    """Per criterion (in ``CRITERIA`` order), the mean, minimum and number of scores; a criterion nobody was
    scored on is left out."""
    scores: dict[str, list[int]] = {key: [] for key in CRITERION_KEYS}
    for grade in grades:
        for key, score in grade.items():
            scores.setdefault(key, []).append(score)
    return {
        key: CriterionSummary(round(statistics.fmean(values), 3), min(values), len(values))
        for key, values in scores.items()
        if values
    }


@dataclass(frozen=True, slots=True)
class Comparison:
    key: str
    baseline: float | None
    now: float | None
    #: True when the mean dropped by more than the margin.
    regressed: bool

    @property
    def change(self) -> float | None:
        return None if self.baseline is None or self.now is None else round(self.now - self.baseline, 3)


def compare(
    baseline: Mapping[str, float], current: Mapping[str, float], *, margin: float = DEFAULT_MARGIN
) -> list[Comparison]:
    """Each criterion's mean in a saved run beside this run's. A criterion regressed when its mean dropped by
    more than ``margin``; one only one of the runs has (a criterion added or renamed) is shown, never failed."""
    keys = [*CRITERION_KEYS, *sorted((baseline.keys() | current.keys()) - set(CRITERION_KEYS))]
    rows = []
    for key in keys:
        before, now = baseline.get(key), current.get(key)
        if before is None and now is None:
            continue
        dropped = before is not None and now is not None and before - now > margin + 1e-9
        rows.append(Comparison(key, before, now, dropped))
    return rows
