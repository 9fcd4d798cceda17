"""Votes on transition stories (docs/method.md §7) and their columnar form.

A real community casts a few thousand votes, but a benchmark or an import can bring a million, so the
assembly works on :class:`VoteTable` — integer codes in numpy arrays — rather than on a list of
:class:`Vote` objects. :meth:`VoteTable.from_votes` converts the friendly form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Choice = Literal["upgrade", "no_upgrade", "not_sure"]
#: Choice codes used in :attr:`VoteTable.choice` are positions in this tuple.
CHOICES: tuple[Choice, ...] = ("upgrade", "no_upgrade", "not_sure")
UPGRADE, NO_UPGRADE, NOT_SURE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Vote:
    """One member's answer to "is moving from value A to value B a gain in wisdom, in context C?"."""

    voter_id: str
    from_value_id: str
    to_value_id: str
    context: str
    choice: Choice


@dataclass(frozen=True, eq=False)
class VoteTable:
    """Votes as parallel integer arrays, in the order they were cast (input order matters: a later
    re-vote replaces an earlier one, and an edge lists its contexts in first-seen order).

    ``from_value``/``to_value`` index :attr:`value_ids`, ``context`` indexes :attr:`contexts`,
    ``choice`` indexes :data:`CHOICES`; ``voter`` codes only need to be equal for the same member.
    """

    voter: np.ndarray
    from_value: np.ndarray
    to_value: np.ndarray
    context: np.ndarray
    choice: np.ndarray
    value_ids: tuple[str, ...]
    contexts: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.voter)
        for name in ("from_value", "to_value", "context", "choice"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"VoteTable column {name!r} has {len(getattr(self, name))} rows, expected {n}")
        _check_codes(self.from_value, len(self.value_ids), "from_value")
        _check_codes(self.to_value, len(self.value_ids), "to_value")
        _check_codes(self.context, len(self.contexts), "context")
        _check_codes(self.choice, len(CHOICES), "choice")

    def __len__(self) -> int:
        return len(self.voter)

    @classmethod
    def from_votes(cls, votes: Iterable[Vote]) -> VoteTable:
        voters: dict[str, int] = {}
        value_ids: dict[str, int] = {}
        contexts: dict[str, int] = {}
        choice_code = {choice: code for code, choice in enumerate(CHOICES)}
        rows: list[tuple[int, int, int, int, int]] = []
        for vote in votes:
            if vote.choice not in choice_code:
                raise ValueError(f"unknown choice {vote.choice!r}; expected one of {', '.join(CHOICES)}")
            rows.append(
                (
                    voters.setdefault(str(vote.voter_id), len(voters)),
                    value_ids.setdefault(str(vote.from_value_id), len(value_ids)),
                    value_ids.setdefault(str(vote.to_value_id), len(value_ids)),
                    contexts.setdefault(vote.context, len(contexts)),
                    choice_code[vote.choice],
                )
            )
        voter, from_value, to_value, context, choice = np.array(rows, dtype=np.int64).reshape(-1, 5).T
        return cls(voter, from_value, to_value, context, choice, value_ids=tuple(value_ids), contexts=tuple(contexts))

    def to_votes(self) -> list[Vote]:
        """The friendly form, mostly for tests and debugging (voter ids become their codes)."""
        return [
            Vote(str(v), self.value_ids[a], self.value_ids[b], self.contexts[c], CHOICES[k])
            for v, a, b, c, k in zip(
                self.voter.tolist(),
                self.from_value.tolist(),
                self.to_value.tolist(),
                self.context.tolist(),
                self.choice.tolist(),
            )
        ]


def _check_codes(codes: np.ndarray, size: int, name: str) -> None:
    if len(codes) and (codes.min() < 0 or codes.max() >= size):
        raise ValueError(f"VoteTable column {name!r} has codes outside 0..{size - 1}")


def as_vote_table(votes: VoteTable | Iterable[Vote]) -> VoteTable:
    return votes if isinstance(votes, VoteTable) else VoteTable.from_votes(votes)
