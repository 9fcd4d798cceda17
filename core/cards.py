"""Values cards and the rules a card must follow (docs/method.md §2).

``ValuesCard`` is the schema the articulation call must fill: its validators enforce the card rules,
so an LLM answer that breaks them is rejected (and repaired once) by the LLM adapter before any use.
"""

from __future__ import annotations

import enum
import re

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
# A sentence boundary inside the description: ". " followed by an upper-case letter.
_SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z]")


def _collapse_spaces(text: str) -> str:
    return " ".join(text.split())


class ValuesCard(BaseModel):
    """A value as the member will see it: a title, one sentence, and 3–7 attentional policies."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(description="3 to 6 words naming the value, pithy, e.g. 'Informed Autonomy Under Pressure'.")
    description: str = Field(
        description="One sentence on how the assistant (or a person) acts on this value. No brand names."
    )
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
        return value

    @field_validator("policies")
    @classmethod
    def _policies(cls, value: list[str]) -> list[str]:
        low, high = POLICY_COUNT
        cleaned = [_collapse_spaces(p).rstrip(".") for p in value]
        if not low <= len(cleaned) <= high:
            raise ValueError(f"a card needs {low}–{high} policies, got {len(cleaned)}")
        problems = [problem for policy in cleaned if (problem := policy_problem(policy))]
        if problems:
            raise ValueError("; ".join(problems))
        if len({p.casefold() for p in cleaned}) != len(cleaned):
            raise ValueError("policies must not repeat")
        return cleaned


def policy_problem(policy: str) -> str | None:
    """Why ``policy`` breaks the attentional-policy format, or None when it is fine."""
    if len(policy) > MAX_POLICY_CHARS:
        return f"policy longer than {MAX_POLICY_CHARS} characters: {policy[:40]!r}…"
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


def card_as_text(card: ValuesCard) -> str:
    """The card as plain text, for transcripts sent to the LLM and for the console."""
    lines = [card.title, card.description, "", "Where this value directs attention:"]
    lines += [f"- {policy}" for policy in card.policies]
    return "\n".join(lines)
