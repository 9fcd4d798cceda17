"""How a scenario is framed: whose response the values are about (docs/method.md §3, §10).

The paper asks every member how *an assistant* should respond. A community deliberating its own
matters asks what *we* should attend to when we decide together; a member may also be asked what *they*
would attend to facing the choice. The framing is chosen when a scenario is added, and every prompt
that speaks about the values (interviewer, articulation, stories, `/mge ask`) takes its wording from
here, through placeholders, so the framing-specific words live in this one module.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from core.cards import ValuesCard


class Framing(enum.StrEnum):
    #: The paper's: what should a good response (an assistant's) consider?
    ASSISTANT = "assistant"
    #: What should we attend to when we decide this together?
    COMMUNITY = "community"
    #: What would you attend to facing this choice?
    PERSONAL = "personal"


DEFAULT_FRAMING = Framing.ASSISTANT
FRAMING_NAMES = tuple(framing.value for framing in Framing)


class FramingError(ValueError):
    pass


def parse_framing(text: str | None) -> Framing:
    """A moderator's word for a framing (None or empty: the paper's default)."""
    if not text or not text.strip():
        return DEFAULT_FRAMING
    try:
        return Framing(text.strip().casefold())
    except ValueError:
        raise FramingError(f"unknown framing {text!r}: use one of {', '.join(FRAMING_NAMES)}") from None


@dataclass(frozen=True, slots=True)
class FramingWords:
    """The phrases the prompts need, for one framing (the opening question is in core/member_texts)."""

    #: What the framing asks, for moderators ("what should a good response consider?").
    question: str
    #: interviewer.md: "The conversation is about {subject}:" (the scenario follows).
    subject: str
    #: interviewer.md: one rule keeping the interview on the scenario.
    relevance: str
    #: articulator.md: what the card's one-sentence description says.
    card_description: str
    #: transition_story.md, story_pairs.md, ask_*.md: what the community's values are answers to.
    values_origin: str


_WORDS = {
    Framing.ASSISTANT: FramingWords(
        question="what should a good response consider?",
        subject="how a good assistant should respond in this situation",
        relevance="Keep it relevant to how an assistant should respond to the scenario.",
        card_description=(
            'exactly one sentence on how the assistant should act on this value. Write about "the assistant", '
            "never a brand."
        ),
        values_origin="Members gave their values when asked what a good response to someone in such a situation "
        "should consider.",
    ),
    Framing.COMMUNITY: FramingWords(
        question="what should we attend to when we decide this together?",
        subject="what the community should attend to when its members decide this situation together",
        relevance="Keep it relevant to what the community should attend to when it decides this together.",
        card_description=(
            "exactly one sentence on how a community acts on this value when it decides together. Write about "
            '"the community" or "we", never a brand.'
        ),
        values_origin="Members gave their values when asked what their community should attend to when it "
        "decides such a situation together.",
    ),
    Framing.PERSONAL: FramingWords(
        question="what would you attend to facing this choice?",
        subject="what the member would attend to if they faced this choice themselves",
        relevance="Keep it relevant to what the member would attend to facing this choice themselves.",
        card_description=(
            "exactly one sentence on how a person acts on this value when they face such a choice. Write about "
            '"a person", never a brand.'
        ),
        values_origin="Members gave their values when asked what they would attend to if they faced such a "
        "choice themselves.",
    ),
}


def words(framing: Framing) -> FramingWords:
    return _WORDS[framing]


def framing_line(framing: Framing | str) -> str:
    """E.g. "community (what should we attend to when we decide this together?)"."""
    framing = Framing(framing)
    return f"{framing.value} ({words(framing).question})"


def framing_of(framings: Iterable[Framing | str]) -> Framing:
    """One framing for text that draws on several scenarios (a context linked to several, a question
    touching several contexts): the most common; a tie goes to the paper's default."""
    counts = Counter(Framing(f) for f in framings)
    if not counts:
        return DEFAULT_FRAMING
    top = max(counts.values())
    leaders = [f for f in Framing if counts[f] == top]
    return DEFAULT_FRAMING if DEFAULT_FRAMING in leaders else leaders[0]


@dataclass(frozen=True, slots=True)
class FramedScenario:
    """A scenario's text and how it is framed: what the interview and the card prompts need."""

    text: str
    framing: Framing = DEFAULT_FRAMING


@cache
def card_schema(framing: Framing, *, english: bool = True) -> type[ValuesCard]:
    """The schema an articulated (or translated) card must fill: a community or personal card may not speak
    of an assistant; a card in another language keeps the card's shape without English plural rules."""
    if framing is Framing.ASSISTANT and english:
        return ValuesCard
    name = f"{framing.value.capitalize()}{'' if english else 'AnyLanguage'}ValuesCard"
    namespace = {
        "__module__": __name__,
        "__doc__": ValuesCard.__doc__,
        "forbid_assistant": framing is not Framing.ASSISTANT,
        "english_policies": english,
    }
    return type(name, (ValuesCard,), namespace)
