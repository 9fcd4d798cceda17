"""Legitimacy checks of docs/method.md §8, the pure parts: which neighbours show a member where their value
ended up, the texts of the fair-position question and of the follow-up survey, and button keys.

Texts here are plain: a platform adapter escapes the whole message (value titles are member or LLM
text) before sending it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.graph import MoralGraph
from core.graph.model import Edge

FAIR_QUESTION = "Do you think your value ended up in a fair position?"

#: The follow-up survey, 1–5 scale, verbatim from docs/method.md §8 (question number = index + 1).
SURVEY_QUESTIONS: tuple[str, ...] = (
    "Did it help you clarify what was important to you?",
    "Did the values you submitted and voted for express what you care about?",
    "Do you believe your contributions will find their way to the appropriate place in the final output?",
    "Would you trust this process to create a wise version of an assistant, based on the collected values of "
    "a large population?",
    "Did you learn something about other people's values?",
    "Did you gain respect for the other participants?",
)
SURVEY_SCALE = (1, 2, 3, 4, 5)

#: Button keys. Fair position: ``fair:<ask id>:yes|no|stop``.
#: Survey: ``survey:<member id>:<question>:<1–5|skip|stop>``.
FAIR_KEY_PREFIX = "fair:"
SURVEY_KEY_PREFIX = "survey:"
YES, NO, STOP, SKIP = "yes", "no", "stop", "skip"

Button = tuple[str, str]  # (key, label)


@dataclass(frozen=True, slots=True)
class Neighbour:
    value_id: str
    title: str


@dataclass(frozen=True, slots=True)
class FairPositionView:
    """A member's value between one neighbour voted less wise and one voted wiser, in one context."""

    value_id: str
    title: str
    context: str
    less_wise: Neighbour | None
    wiser: Neighbour | None


def _strength(edge: Edge) -> tuple[float, int, float]:
    # The best-supported edge first: most likely wiser, then most "wiser" votes, then least disagreement.
    return (edge.wiser_likelihood, edge.counts.marked_wiser, -edge.entropy)


def fair_position_view(graph: MoralGraph, value_id: str) -> FairPositionView | None:
    """Where ``value_id`` sits: in the context with the most kept edges touching it (the first such
    context on a tie), the best-supported edge into it (its source: voted less wise) and out of it (its
    target: voted wiser). One side may be missing; None when no edge of any context touches the value."""
    titles = {v.id: v.title for v in graph.values}
    if value_id not in titles:
        return None
    best: tuple[int, str, list[Edge]] | None = None
    for name, context in graph.contexts.items():
        touching = [e for e in context.edges if value_id in (e.source_id, e.wiser_id)]
        if touching and (best is None or len(touching) > best[0]):
            best = (len(touching), name, touching)
    if best is None:
        return None
    _, context_name, edges = best
    into = sorted((e for e in edges if e.wiser_id == value_id), key=_strength, reverse=True)
    out = sorted((e for e in edges if e.source_id == value_id), key=_strength, reverse=True)
    less = Neighbour(into[0].source_id, titles.get(into[0].source_id, "")) if into else None
    wiser = Neighbour(out[0].wiser_id, titles.get(out[0].wiser_id, "")) if out else None
    return FairPositionView(value_id, titles[value_id], context_name, less, wiser)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def fair_position_text(view: FairPositionView) -> str:
    lines = [
        f"This week's moral graph is out. Here is where your value ended up, in the context "
        f"“{_one_line(view.context)}”:",
        "",
    ]
    if view.wiser is not None:
        lines.append(f"⬆ Voted wiser than yours: “{_one_line(view.wiser.title)}”")
    lines.append(f"● Your value: “{_one_line(view.title)}”")
    if view.less_wise is not None:
        lines.append(f"⬇ Voted less wise than yours: “{_one_line(view.less_wise.title)}”")
    lines += ["", FAIR_QUESTION]
    return "\n".join(lines)


def fair_position_buttons(ask_id: int) -> list[Button]:
    return [
        (f"{FAIR_KEY_PREFIX}{ask_id}:{YES}", "Yes"),
        (f"{FAIR_KEY_PREFIX}{ask_id}:{NO}", "No"),
        (f"{FAIR_KEY_PREFIX}{ask_id}:{STOP}", "Don't ask me again"),
    ]


FAIR_THANKS = {
    YES: "Thank you — noted that you find your value's position fair.",
    NO: "Thank you — noted that you don't find your value's position fair. Moderators see these answers.",
}
OPTED_OUT_TEXT = "Understood: I won't ask you about your value's position or send you the survey again."
ALREADY_ANSWERED_TEXT = "You already answered this one — thank you."

SURVEY_INTRO = (
    "A short survey about taking part (6 questions, 1 = not at all, 5 = very much). Answer, skip a question, "
    "or stop at any time."
)
SURVEY_DONE_TEXT = "That was the last question. Thank you for taking the survey!"
SURVEY_STOPPED_TEXT = "Survey stopped. Thank you for your answers so far."


def survey_question_text(question: int, *, intro: bool = False) -> str:
    text = f"Question {question} of {len(SURVEY_QUESTIONS)}: {SURVEY_QUESTIONS[question - 1]}"
    return f"{SURVEY_INTRO}\n\n{text}" if intro else text


def survey_buttons(member_id: int, question: int) -> list[Button]:
    base = f"{SURVEY_KEY_PREFIX}{member_id}:{question}:"
    return [(base + str(n), str(n)) for n in SURVEY_SCALE] + [(base + SKIP, "Skip"), (base + STOP, "Stop the survey")]


@dataclass(frozen=True, slots=True)
class FairKey:
    ask_id: int
    action: str  # yes | no | stop


@dataclass(frozen=True, slots=True)
class SurveyKey:
    member_id: int
    question: int
    action: str  # "1".."5" | skip | stop


def parse_key(key: str) -> FairKey | SurveyKey | None:
    """A pressed button's key, or None when it is not one of ours (or malformed)."""
    if key.startswith(FAIR_KEY_PREFIX):
        ask, _, action = key.removeprefix(FAIR_KEY_PREFIX).partition(":")
        if ask.isdigit() and action in (YES, NO, STOP):
            return FairKey(int(ask), action)
        return None
    if key.startswith(SURVEY_KEY_PREFIX):
        parts = key.removeprefix(SURVEY_KEY_PREFIX).split(":")
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            return None
        member, question, action = int(parts[0]), int(parts[1]), parts[2]
        if not 1 <= question <= len(SURVEY_QUESTIONS):
            return None
        if action in (SKIP, STOP) or action in {str(n) for n in SURVEY_SCALE}:
            return SurveyKey(member, question, action)
    return None


def is_legitimacy_key(key: str) -> bool:
    return key.startswith((FAIR_KEY_PREFIX, SURVEY_KEY_PREFIX))
