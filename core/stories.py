"""Transition stories (docs/method.md §6): which value pairs are deepenings, and the story of each, in steps.

Pure. The schemas' validators carry the rules, so an LLM answer that breaks them is repaired once by
the adapter and otherwise rejected before anything is stored. Rules that depend on the call (which
value ids were offered, which policies A has) are bound per call by :func:`pair_schema` and
:func:`story_schema`, which return subclasses with the same name (so the same JSON schema name).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_MAX_PAIRS = 3
#: The most deepening pairs a context may be given (the setting ``MGE_STORY_PAIRS_PER_CONTEXT``).
MAX_PAIRS_LIMIT = 20

STORY_WORDS = (80, 250)

# A story is prose: a line that opens like a bullet or a numbered item makes it a list.
_LIST_LINE = re.compile(r"^\s*(?:[-*•–]|\d+[.)]|[a-z][.)])\s+", re.MULTILINE)
# Voters see the story, not our ids or labels: "value 12", "#12", "id: 3", "Value A".
_ID_MENTION = re.compile(r"(?:#\s*\d+|\bids?\b\s*:?\s*\d+|\bvalue\s+(?:\d+|[AB]\b)|\[\d+\])", re.IGNORECASE)


class StoryStatus(enum.StrEnum):
    """``transition_story.status``. A withdrawn story (its context was removed) is not put to a vote; its votes
    still count. A retracted story was withdrawn by a moderator as a bad story (``/mge stories withdraw``):
    not put to a vote, its open polls closed, and its votes kept but left out of the graph, since they
    judged a story the community's moderators disowned."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    RETRACTED = "retracted"


ChangeKind = Literal["partial_view_made_whole", "impure_motive_removed", "more_skilful_attention"]


@dataclass(frozen=True, slots=True)
class StoryValue:
    """A canonical value as the story prompts see it."""

    id: int
    title: str
    description: str
    policies: tuple[str, ...]


def value_as_text(value: StoryValue, *, label: str) -> str:
    lines = [f"{label}: {value.title}", value.description, "What it attends to:"]
    lines += [f"- {policy}" for policy in value.policies]
    return "\n".join(lines)


# --- (a) which pairs are deepenings -------------------------------------------------------------------


class DeepeningPair(BaseModel):
    model_config = ConfigDict(frozen=True)

    from_value_id: int = Field(description="The id of value A, the one a person moves away from.")
    to_value_id: int = Field(description="The id of value B: a clearer, more skilful version of what A was about.")
    reason: str = Field(description="One sentence: what A was really about, and why B is the fuller form of it.")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("each pair needs a reason")
        return value


class PairProposal(BaseModel):
    """Ordered pairs (A → B) in one context. Bind the candidates with :func:`pair_schema`."""

    candidate_ids: ClassVar[frozenset[int]] = frozenset()
    max_pairs: ClassVar[int] = DEFAULT_MAX_PAIRS

    pairs: list[DeepeningPair] = Field(
        description="Only real deepenings, best first; an empty list when no pair is one."
    )

    @model_validator(mode="after")
    def _pairs(self) -> PairProposal:
        if len(self.pairs) > self.max_pairs:
            raise ValueError(f"give at most {self.max_pairs} pairs, the clearest deepenings, got {len(self.pairs)}")
        seen: set[frozenset[int]] = set()
        for pair in self.pairs:
            a, b = pair.from_value_id, pair.to_value_id
            unknown = sorted({a, b} - self.candidate_ids)
            if unknown:
                raise ValueError(f"value ids {unknown} are not among the candidates {sorted(self.candidate_ids)}")
            if a == b:
                raise ValueError(f"a pair needs two different values, got {a} → {b}")
            # (A, B) and (B, A) are one pair to us: both directions get a story anyway.
            if frozenset((a, b)) in seen:
                raise ValueError(f"the pair {a}, {b} is listed twice (in either direction)")
            seen.add(frozenset((a, b)))
        return self


def pair_schema(candidate_ids: Sequence[int], max_pairs: int = DEFAULT_MAX_PAIRS) -> type[PairProposal]:
    namespace = {"candidate_ids": frozenset(candidate_ids), "max_pairs": max_pairs}
    return type("PairProposal", (PairProposal,), namespace)


# --- (b) the story, in steps --------------------------------------------------------------------------


class PolicyChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy: str = Field(description="One of A's policies, copied exactly.")
    kind: ChangeKind = Field(
        description=(
            "partial_view_made_whole (B sees the whole of what A saw part of), impure_motive_removed "
            "(B drops a self-serving or anxious motive mixed into A), or more_skilful_attention "
            "(B attends to the same thing more skilfully)."
        )
    )
    change: str = Field(description="One or two sentences: how attending to this changes under B.")

    @field_validator("change")
    @classmethod
    def _change(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("each policy change must say how the policy changes")
        return value


def _one_paragraph_field(value: str, name: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


class StoryDraft(BaseModel):
    """The story of one move A → B. Bind A's policies with :func:`story_schema`."""

    from_policies: ClassVar[tuple[str, ...]] = ()

    shared_meaning: str = Field(description="What both values were really about: the shared thing that matters.")
    clarification: str = Field(description="What became clear about A, once the shared thing is named.")
    policy_changes: list[PolicyChange] = Field(description="Exactly one entry for each of A's policies.")
    story: str = Field(
        description=(
            "80 to 250 words, first person, one concrete situation: what happened, how it felt, the "
            "problem discovered with A, and why B is what they cared about all along. Prose, no lists."
        )
    )

    @field_validator("shared_meaning")
    @classmethod
    def _shared_meaning(cls, value: str) -> str:
        return _one_paragraph_field(value, "shared_meaning")

    @field_validator("clarification")
    @classmethod
    def _clarification(cls, value: str) -> str:
        return _one_paragraph_field(value, "clarification")

    @field_validator("story")
    @classmethod
    def _story(cls, value: str) -> str:
        # Checked before spacing is tidied: tidying joins the lines a list is made of.
        if _LIST_LINE.search(value):
            raise ValueError("the story must be prose, not a list")
        value = "\n\n".join(" ".join(p.split()) for p in value.strip().split("\n\n") if p.strip())
        words = len(value.split())
        low, high = STORY_WORDS
        if not low <= words <= high:
            raise ValueError(f"the story must be {low}–{high} words, got {words}")
        if match := _ID_MENTION.search(value):
            raise ValueError(
                f"the story must not mention value ids or labels like {match[0]!r}: name what matters instead"
            )
        return value

    @model_validator(mode="after")
    def _every_policy_once(self) -> StoryDraft:
        expected = {_policy_key(p): p for p in self.from_policies}
        counts: dict[str, int] = {}
        for change in self.policy_changes:
            counts[_policy_key(change.policy)] = counts.get(_policy_key(change.policy), 0) + 1
        unknown = [c.policy for c in self.policy_changes if _policy_key(c.policy) not in expected]
        missing = [p for key, p in expected.items() if key not in counts]
        repeated = [expected[key] for key, n in counts.items() if n > 1 and key in expected]
        problems = []
        if unknown:
            problems.append(f"policy_changes names policies A doesn't have: {unknown!r}")
        if missing:
            problems.append(f"policy_changes misses A's policies: {missing!r}")
        if repeated:
            problems.append(f"policy_changes covers these more than once: {repeated!r}")
        if not self.policy_changes:
            problems.append("policy_changes must not be empty")
        if problems:
            raise ValueError("; ".join(problems) + " (one entry per policy of A, text copied exactly)")
        return self

    def steps(self) -> dict:
        """The generation steps as stored with the story (docs/method.md §6, steps 1–3)."""
        return {
            "shared_meaning": self.shared_meaning,
            "clarification": self.clarification,
            "policy_changes": [change.model_dump() for change in self.policy_changes],
        }


def _policy_key(policy: str) -> str:
    # "Exact text" up to spacing and a trailing full stop: the card validator strips those too.
    return " ".join(policy.split()).rstrip(".")


def story_schema(from_policies: Sequence[str]) -> type[StoryDraft]:
    return type("StoryDraft", (StoryDraft,), {"from_policies": tuple(from_policies)})


# --- (c) a moderator's correction -----------------------------------------------------------------------

#: A moderator may be brief, but not empty, and not longer than a poll can carry.
EDITED_STORY_WORDS = (1, 400)


class EditedStory(BaseModel):
    """A moderator's rewording of a story (``/mge stories edit``): prose, like the model's, with some slack
    on its length; it is shown instead of the model's text, which is kept beside it."""

    text: str

    @field_validator("text")
    @classmethod
    def _prose(cls, value: str) -> str:
        value = "\n\n".join(" ".join(p.split()) for p in value.strip().split("\n\n") if p.strip())
        words = len(value.split())
        low, high = EDITED_STORY_WORDS
        if not low <= words <= high:
            raise ValueError(f"a story must be {low}–{high} words, got {words}")
        return value
