"""Generalization picks (docs/method.md §2), the pure parts: which values to offer, the question, button keys.

A values card generalizes: in the case study members picked cards written for *other* scenarios as
relevant as often as cards of their own (38.3% vs 38.2%). After a member confirms a card, the bot shows
a few other canonical values of the community — some with cards from the member's scenario, some
only from other scenarios — and asks which would be wise to consider for the member's scenario. What
they pick, against what they were shown, is the measurement.

Texts here are plain: adapters escape them (value titles are member or LLM text, the scenario is a
moderator's).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from core.interview import Choice
from core.member_texts import InterviewTexts, built_in_languages, english, texts_for
from core.text import shorten

#: Button keys: ``general:<offer id>:<value id>`` to pick a value, ``general:<offer id>:done`` to finish.
KEY_PREFIX = "general:"
DONE = "done"
#: Values shown from each group (own scenario / other scenarios), and at most in all.
PER_GROUP = 3
MAX_SHOWN = 6
#: Discord shows 80 characters on a button; shorter keeps the buttons readable on Slack too.
MAX_LABEL = 70

PAPER_RATES = "paper: 38.2% vs 38.3%"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A value that may be offered: visible (active), not the member's own."""

    value_id: int
    title: str
    description: str
    #: True when the value has a card from the member's scenario.
    own_scenario: bool


@dataclass(frozen=True, slots=True)
class Shown:
    candidate: Candidate
    position: int  # 1-based


def choose(
    candidates: Sequence[Candidate], rng: random.Random, *, per_group: int = PER_GROUP, total: int = MAX_SHOWN
) -> list[Shown]:
    """Up to ``per_group`` values from the member's scenario and up to ``per_group`` from others, chosen
    at random; when one group is short, the other fills the free places (up to ``total``). The order is
    shuffled, so neither group always comes first. Candidates are sorted by id first, so one seed
    always gives one offer."""
    ordered = sorted(candidates, key=lambda c: c.value_id)
    own = [c for c in ordered if c.own_scenario]
    other = [c for c in ordered if not c.own_scenario]
    rng.shuffle(own)
    rng.shuffle(other)
    picked = own[:per_group] + other[:per_group]
    rest = own[per_group:] + other[per_group:]
    rng.shuffle(rest)
    picked += rest[: max(0, total - len(picked))]
    picked = picked[:total]
    rng.shuffle(picked)
    return [Shown(c, n) for n, c in enumerate(picked, start=1)]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def question_text(scenario: str | None, texts: InterviewTexts) -> str:
    """The question, in the interview's language (the scenario stays as the moderator wrote it)."""
    about = f"“{_one_line(scenario)}”" if scenario else texts.offer_this_question
    return texts.offer_question.format(about=about, done=texts.choices.done, none=texts.choices.none)


def done_label(none_label: str) -> str:
    """What the "None of these" button becomes after a pick, in the language of its label (adapters
    relabel it from the message alone, which says nothing else about the language)."""
    for language in built_in_languages():
        choices = texts_for(language).choices
        if choices.none == none_label:
            return choices.done
    return english().choices.done


def value_key(offer_id: int, value_id: int) -> str:
    return f"{KEY_PREFIX}{offer_id}:{value_id}"


def done_key(offer_id: int) -> str:
    return f"{KEY_PREFIX}{offer_id}:{DONE}"


def offer_choices(offer_id: int, shown: Sequence[Shown], texts: InterviewTexts) -> tuple[Choice, ...]:
    """One button per value (label: the title; detail: title and description, listed in full where the
    platform has room) and a last one for "None of these" (in the interview's language)."""
    choices = [
        Choice(
            value_key(offer_id, s.candidate.value_id),
            shorten(s.candidate.title, MAX_LABEL) or str(s.position),
            detail=f"{_one_line(s.candidate.title)}: {_one_line(s.candidate.description)}",
        )
        for s in shown
    ]
    return (*choices, Choice(done_key(offer_id), texts.choices.none))


@dataclass(frozen=True, slots=True)
class GeneralKey:
    offer_id: int
    #: None for "done".
    value_id: int | None

    @property
    def done(self) -> bool:
        return self.value_id is None


def parse_key(key: str) -> GeneralKey | None:
    """A pressed button's key, or None when it is not one of ours or malformed."""
    if not key.startswith(KEY_PREFIX):
        return None
    offer, sep, action = key.removeprefix(KEY_PREFIX).partition(":")
    if not sep or not offer.isascii() or not offer.isdigit() or len(offer) > 18:
        return None
    if action == DONE:
        return GeneralKey(int(offer), None)
    if action.isascii() and action.isdigit() and len(action) <= 18:
        return GeneralKey(int(offer), int(action))
    return None


def is_generalization_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX)
