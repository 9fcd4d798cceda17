"""What the dedup judge is asked and what it must answer (docs/method.md §4).

The answer schemas are built per call with the ids the judge was shown, so an answer naming a card or
value that wasn't offered fails validation, goes through the LLM adapter's one repair request, and
otherwise raises — before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.llm import ChatMessage
from core.prompts import Prompt, load_prompt

MAX_REASON_CHARS = 600


class CardLike(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def policies(self) -> Sequence[str]: ...


class CriterionReasons(BaseModel):
    """One short sentence per criterion of docs/method.md §4; all four must hold for a merge."""

    model_config = ConfigDict(frozen=True)

    same_attention: str = Field(description="Would both attend to exactly the same things?")
    fully_captured: str = Field(description="Would each author feel the other card captures what they care about?")
    same_granularity: str = Field(description="Are they at the same level of detail and generality?")
    differences_are_oversights: str = Field(description="Would both authors call any difference an oversight?")

    @field_validator("*")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("every criterion needs a reason")
        return value[:MAX_REASON_CHARS]

    def as_text(self) -> str:
        return (
            f"same attention: {self.same_attention} | fully captured: {self.fully_captured} | "
            f"same granularity: {self.same_granularity} | differences are oversights: {self.differences_are_oversights}"
        )


class MatchVerdict(BaseModel):
    """The judge's answer for one new card against a few candidate values."""

    model_config = ConfigDict(frozen=True)
    #: The candidate ids shown to the judge; set on the per-call subclass.
    offered_ids: ClassVar[frozenset[int]] = frozenset()

    reasons: CriterionReasons
    same_value: bool
    candidate_id: int | None = Field(description="The matching candidate's id when same_value is true, else null.")
    better_written: Literal["new", "existing"] = Field(
        description="Which text states the shared value better: the new card or the candidate's current text."
    )

    @model_validator(mode="after")
    def _candidate_offered(self) -> MatchVerdict:
        if self.same_value:
            if self.candidate_id is None:
                raise ValueError("same_value is true, so candidate_id must name the matching candidate")
            if self.candidate_id not in self.offered_ids:
                raise ValueError(f"candidate_id {self.candidate_id} is not one of {sorted(self.offered_ids)}")
        return self


class ClusterGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    card_ids: list[int] = Field(description="Ids of the cards that are one value.")
    best_written_card_id: int = Field(description="The id, from card_ids, of the best-written card.")
    reasons: CriterionReasons


class ClusterVerdict(BaseModel):
    """The judge's partition of an embedding cluster into groups of cards that are one value."""

    model_config = ConfigDict(frozen=True)
    offered_ids: ClassVar[frozenset[int]] = frozenset()

    groups: list[ClusterGroup]

    @model_validator(mode="after")
    def _a_partition_of_the_offered_cards(self) -> ClusterVerdict:
        seen: list[int] = [card_id for group in self.groups for card_id in group.card_ids]
        duplicates = sorted({card_id for card_id in seen if seen.count(card_id) > 1})
        if duplicates:
            raise ValueError(f"cards {duplicates} are in more than one group")
        unknown = sorted(set(seen) - self.offered_ids)
        if unknown:
            raise ValueError(f"cards {unknown} were not offered; use only {sorted(self.offered_ids)}")
        missing = sorted(self.offered_ids - set(seen))
        if missing:
            raise ValueError(f"cards {missing} are in no group; put every card in exactly one group")
        for group in self.groups:
            if not group.card_ids:
                raise ValueError("a group must hold at least one card")
            if group.best_written_card_id not in group.card_ids:
                raise ValueError(
                    f"best_written_card_id {group.best_written_card_id} is not in its group {group.card_ids}"
                )
        return self


def match_schema(offered_ids: Iterable[int]) -> type[MatchVerdict]:
    """``MatchVerdict`` that accepts only these candidate ids."""
    ids = frozenset(offered_ids)  # a class body can't read a local that it also assigns

    class MatchVerdictForCall(MatchVerdict):
        offered_ids: ClassVar[frozenset[int]] = ids

    MatchVerdictForCall.__name__ = "MatchVerdict"  # the schema name the LLM sees
    return MatchVerdictForCall


def cluster_schema(offered_ids: Iterable[int]) -> type[ClusterVerdict]:
    ids = frozenset(offered_ids)

    class ClusterVerdictForCall(ClusterVerdict):
        offered_ids: ClassVar[frozenset[int]] = ids

    ClusterVerdictForCall.__name__ = "ClusterVerdict"
    return ClusterVerdictForCall


def card_block(label: str, card: CardLike) -> str:
    lines = [f"[{label}]", f"Title: {card.title}", f"Description: {card.description}", "Policies:"]
    lines += [f"- {policy}" for policy in card.policies]
    return "\n".join(lines)


def match_messages(new_card: CardLike, candidates: Sequence[tuple[int, CardLike]]) -> tuple[Prompt, list[ChatMessage]]:
    prompt = load_prompt("dedup_judge")
    text = prompt.render(
        new_card=card_block("new card", new_card),
        candidates="\n\n".join(card_block(f"candidate id {value_id}", value) for value_id, value in candidates),
    )
    return prompt, [ChatMessage("system", text)]


def cluster_messages(cards: Sequence[tuple[int, CardLike]]) -> tuple[Prompt, list[ChatMessage]]:
    prompt = load_prompt("dedup_cluster")
    text = prompt.render(cards="\n\n".join(card_block(f"card id {card_id}", card) for card_id, card in cards))
    return prompt, [ChatMessage("system", text)]
