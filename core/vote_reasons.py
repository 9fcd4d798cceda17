"""Votes with reasons and votes in a DM, the pure parts (docs/method.md §7): the question "what made you
choose …?", the buttons under it and under a story offered by `/mge vote`, their keys, and the order in
which `/mge vote` offers a member the stories that most need their vote.

Texts here are plain: a platform adapter escapes the whole message (stories and value titles are LLM or
member text) before sending it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from core.graph.votes import CHOICES, Choice
from core.legitimacy import Button
from core.member_texts import InterviewTexts
from core.polls import BUTTON_LABELS, QUESTION

#: ``vote.why``'s column length: a reason is a sentence or two; a longer one is cut.
MAX_REASON_CHARS = 1000
#: How much of a story the reason question quotes.
GIST_CHARS = 160

#: The buttons' words for each choice, in :data:`CHOICES` order.


class ReasonOutcome(enum.StrEnum):
    """How a reason question ended (``vote_reason_ask.outcome``)."""

    ANSWERED = "answered"  # the member's next message was stored as the vote's reason
    SKIPPED = "skipped"  # they pressed Skip
    OPTED_OUT = "opted_out"  # "Don't ask me again", on this question or an earlier one
    EXPIRED = "expired"  # not sent, or not answered, in time
    RETRACTED = "retracted"  # no vote left to explain when it was due, or it changed after the question
    UNDELIVERED = "undelivered"  # the DM could not be sent (DMs closed)
    BLOCKED = "blocked"  # a moderator blocked the member's votes: not asked


# --- keys --------------------------------------------------------------------------------------------

#: Reason question: ``why:<ask id>:skip|stop``. DM voting: ``dmvote:<poll id>:<choice>`` and ``dmvote:stop``.
REASON_KEY_PREFIX = "why:"
VOTE_KEY_PREFIX = "dmvote:"
SKIP, STOP = "skip", "stop"


@dataclass(frozen=True, slots=True)
class ReasonKey:
    ask_id: int
    action: str  # SKIP | STOP


@dataclass(frozen=True, slots=True)
class VoteKey:
    #: None: the member pressed Stop.
    poll_id: int | None
    choice: Choice | None


def is_reason_key(key: str) -> bool:
    return key.startswith(REASON_KEY_PREFIX)


def is_vote_key(key: str) -> bool:
    return key.startswith(VOTE_KEY_PREFIX)


def parse_reason_key(key: str) -> ReasonKey | None:
    ask, _, action = key.removeprefix(REASON_KEY_PREFIX).partition(":")
    if not is_reason_key(key) or not ask.isdigit() or action not in (SKIP, STOP):
        return None
    return ReasonKey(int(ask), action)


def parse_vote_key(key: str) -> VoteKey | None:
    rest = key.removeprefix(VOTE_KEY_PREFIX)
    if not is_vote_key(key):
        return None
    if rest == STOP:
        return VoteKey(None, None)
    poll, _, choice = rest.partition(":")
    chosen = next((c for c in CHOICES if c == choice), None)
    if not poll.isdigit() or chosen is None:
        return None
    return VoteKey(int(poll), chosen)


def reason_buttons(ask_id: int, texts: InterviewTexts) -> list[Button]:
    labels = texts.choices
    return [
        (f"{REASON_KEY_PREFIX}{ask_id}:{SKIP}", labels.skip),
        (f"{REASON_KEY_PREFIX}{ask_id}:{STOP}", labels.stop_asking),
    ]


def vote_buttons(poll_id: int) -> list[Button]:
    return [(f"{VOTE_KEY_PREFIX}{poll_id}:{choice}", BUTTON_LABELS[choice]) for choice in CHOICES] + [
        (f"{VOTE_KEY_PREFIX}{STOP}", "Stop")
    ]


# --- texts -------------------------------------------------------------------------------------------


def gist(story: str, limit: int = GIST_CHARS) -> str:
    """The story's opening, on one line, cut at a word within ``limit`` characters."""
    line = " ".join(story.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def reason_question_text(choice: str, story: str, texts: InterviewTexts) -> str:
    """The question in the member's language (``texts``); the choice as the poll showed it."""
    return texts.reason_question.format(choice=_label(choice), story=gist(story), skip=texts.choices.skip)


def clip_reason(text: str) -> str:
    """A member's reason as stored: one paragraph, at most :data:`MAX_REASON_CHARS` characters."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class StoryToVote:
    """A story in an open poll, as `/mge vote` shows it in a DM."""

    poll_id: int
    context: str
    story: str
    from_title: str
    to_title: str


def vote_prompt_text(story: StoryToVote, *, left: int) -> str:
    more = f"({left - 1} more after this one.)" if left > 1 else "(The last one for now.)"
    return f"{story.context}\n\n{story.story}\n\nFrom “{story.from_title}” to “{story.to_title}”. {QUESTION} {more}"


NOTHING_TO_VOTE_TEXT = "Nothing left to vote on: you have voted on every open story. Thank you!"
VOTING_STOPPED_TEXT = "Stopped. Run `/mge vote` any time to go on."
VOTE_CLOSED_TEXT = "That poll has closed, so it takes no more votes."


def vote_recorded_text(choice: str) -> str:
    return f"Recorded: “{_label(choice)}”."


# --- the per-voter draw ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open poll the member has not voted on, with what decides its place."""

    poll_id: int
    #: Votes on the poll's story so far, over all its polls.
    votes: int
    #: The story's context belongs to a scenario the member was interviewed on.
    from_own_scenario: bool


def draw_order(candidates: list[Candidate]) -> list[Candidate]:
    """The order `/mge vote` offers stories in: those from the member's own scenarios first (the paper's
    voters judged stories about the question they were interviewed on), then fewest votes, then oldest."""
    return sorted(candidates, key=lambda c: (not c.from_own_scenario, c.votes, c.poll_id))


def _label(choice: str) -> str:
    """The button word for a stored choice (the choice itself if an older version stored another)."""
    return BUTTON_LABELS.get(choice, choice)  # type: ignore[call-overload]  # stored choices are plain str
