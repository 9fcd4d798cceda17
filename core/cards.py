"""Values cards and the rules a card must follow (docs/method.md §2).

``ValuesCard`` is the schema the articulation call must fill: its validators enforce the card rules,
so an LLM answer that breaks them is rejected (and repaired once) by the LLM adapter before any use.
"""

from __future__ import annotations

import enum
import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator


class CardStatus(enum.StrEnum):
    """``values_card.status``: a proposed card is confirmed by its author, or superseded by a revision."""

    PROPOSED = "proposed"
    SUPERSEDED = "superseded"
    CONFIRMED = "confirmed"


class ValueStatus(enum.StrEnum):
    """``canonical_value.status``: only active values are in the graph and in new stories."""

    ACTIVE = "active"
    #: Hidden by a moderator.
    HIDDEN = "hidden"
    #: Merged into another value (``merged_into_id``), which its votes now count for.
    MERGED = "merged"
    #: Its last card left it.
    EMPTY = "empty"


TITLE_WORDS = (3, 6)
POLICY_COUNT = (3, 7)
MAX_DESCRIPTION_CHARS = 300
MAX_POLICY_CHARS = 200

# An attentional policy opens with an ALL-CAPS noun phrase ("MOMENTS", "CHANGES IN MOOD") and goes on
# in lower case with a qualifier ("when …", "for …", "that …").
_POLICY_HEAD = re.compile(r"^(?P<head>[A-Z][A-Z'’\-]+(?: [A-Z][A-Z'’\-]+)*) (?P<rest>[a-z(\"'‘“].*)$")
# Plural heads mostly end in S; these are common plurals that don't, and mass nouns that act as plurals.
_PLURAL_LIKE = frozenset(
    {"PEOPLE", "CHILDREN", "MEN", "WOMEN", "CRITERIA", "PHENOMENA", "DATA", "INFORMATION", "KNOWLEDGE", "EVIDENCE"}
)
# Filler words docs/method.md §2 forbids in policies: they make a policy sound weighty without saying what to attend to.
_FILLER = re.compile(r"\b(meaningful(ly)?|deep(ly|er|est)?)\b", re.IGNORECASE)
# Assistant wording a community or personal card must not carry ("the assistant", "an AI assistant", "chatbot").
ASSISTANT_WORDING = re.compile(r"\b(?:AI\s+)?(?:assistants?|chatbots?)\b", re.IGNORECASE)
# A sentence boundary inside the description: ". " followed by an upper-case letter.
_SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z]")


def _collapse_spaces(text: str) -> str:
    return " ".join(text.split())


class ValuesCard(BaseModel):
    """A value as the member will see it: a title, one sentence, and 3–7 attentional policies."""

    model_config = ConfigDict(frozen=True)

    #: False for a card in a language other than English: its policies keep the card's shape (an upper-case
    #: phrase, then a lower-case qualifier) without English plural and filler rules.
    english_policies: ClassVar[bool] = True
    #: True for a community or personal card (``core.framing.card_schema``): no "the assistant" in it.
    forbid_assistant: ClassVar[bool] = False

    title: str = Field(description="3 to 6 words naming the value, pithy, e.g. 'Informed Autonomy Under Pressure'.")
    description: str = Field(description="One sentence on how this value is acted on. No brand names.")
    policies: list[str] = Field(
        description=(
            "3 to 7 things the person attends to when choosing by this value. Each starts with an "
            "ALL-CAPS plural noun phrase then a lower-case qualifier, e.g. 'MOMENTS when the person's "
            "curiosity lights up'. General words ('the person'), no goals, no filler like 'meaningful'."
        )
    )

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = _collapse_spaces(value).strip(" .")
        words = len(value.split())
        low, high = TITLE_WORDS
        if not low <= words <= high:
            raise ValueError(f"title must be {low}–{high} words, got {words}: {value!r}")
        cls._check_framing(value)
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        value = _collapse_spaces(value)
        if not value:
            raise ValueError("description must not be empty")
        if len(value) > MAX_DESCRIPTION_CHARS:
            raise ValueError(f"description must be one sentence of at most {MAX_DESCRIPTION_CHARS} characters")
        if _SENTENCE_BREAK.search(value):
            raise ValueError(f"description must be a single sentence: {value!r}")
        if value[-1] not in ".!?":
            value += "."
        cls._check_framing(value)
        return value

    @field_validator("policies")
    @classmethod
    def _policies(cls, value: list[str]) -> list[str]:
        low, high = POLICY_COUNT
        cleaned = [_collapse_spaces(p).rstrip(".") for p in value]
        if not low <= len(cleaned) <= high:
            raise ValueError(f"a card needs {low}–{high} policies, got {len(cleaned)}")
        problems = [problem for policy in cleaned if (problem := policy_problem(policy, english=cls.english_policies))]
        if problems:
            raise ValueError("; ".join(problems))
        if len({p.casefold() for p in cleaned}) != len(cleaned):
            raise ValueError("policies must not repeat")
        for policy in cleaned:
            cls._check_framing(policy)
        return cleaned

    @classmethod
    def _check_framing(cls, text: str) -> None:
        if cls.forbid_assistant and (found := ASSISTANT_WORDING.search(text)):
            raise ValueError(
                f"this scenario is not about an assistant: write about the community or the person, not {found[0]!r}"
            )


def policy_problem(policy: str, *, english: bool = True) -> str | None:
    """Why ``policy`` breaks the attentional-policy format, or None when it is fine."""
    if len(policy) > MAX_POLICY_CHARS:
        return f"policy longer than {MAX_POLICY_CHARS} characters: {policy[:40]!r}…"
    if not english:
        return _any_language_problem(policy)
    match = _POLICY_HEAD.match(policy)
    if not match:
        return (
            f"policy must start with an ALL-CAPS plural noun phrase followed by a lower-case qualifier, "
            f"like 'MOMENTS when …': {policy!r}"
        )
    # The head noun may come first ("CHANGES IN MOOD") or last ("SUBTLE SIGNS"): one plural word suffices.
    words = [word.replace("’", "'").rstrip("'") for word in match["head"].split()]
    if not any(word.endswith("S") or word in _PLURAL_LIKE for word in words):
        return f"policy's ALL-CAPS phrase must be plural ({match['head']!r}): {policy!r}"
    if _FILLER.search(policy):
        return f"policy uses filler words like 'meaningful' or 'deep' instead of saying what to attend to: {policy!r}"
    return None


def _any_language_problem(policy: str) -> str | None:
    """The card's shape in any script with capitals: an upper-case phrase, then a lower-case qualifier.
    A script without capitals (Chinese, Arabic, …) has no such shape to keep."""
    if not any(c.isupper() or c.islower() for c in policy):
        return None
    words = policy.split()
    head = 0
    while head < len(words) and words[head].isupper():
        head += 1
    if head == 0 or head == len(words) or words[head][0].isupper():
        return (
            f"policy must start with an upper-case noun phrase followed by a lower-case qualifier, "
            f"like 'MOMENTOS en los que …': {policy!r}"
        )
    return None


def card_as_text(card: ValuesCard, *, attention_heading: str | None = None) -> str:
    """The card as plain text, for transcripts sent to the LLM and for the console (``attention_heading``
    in the card's language)."""
    from core.member_texts import english  # imports this module

    lines = [card.title, card.description, "", attention_heading or english().attention_heading]
    lines += [f"- {policy}" for policy in card.policies]
    return "\n".join(lines)
