"""Story polls: a transition story shown to the community with three reactions to vote with (docs/method.md §7).

Pure and platform-neutral: what a poll shows (:class:`StoryPoll`), which reaction means which choice on
each platform (:data:`REACTIONS`), and the question with its legend. Adapters decide how it looks.

Reactions rather than buttons or native polls: a reaction can be changed and taken back by the member
at any time, on Discord and Slack alike, and the bot reads it from raw events that survive restarts.
But everyone sees who reacted how while the poll is open, so a community may choose private polls
(:class:`PollMode`): three buttons whose presses only the voter sees answered, and the tally shown
when the poll closes (the paper's votes were private).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from core.graph.votes import CHOICES, Choice


class PollState(enum.StrEnum):
    """``poll.state``. An open poll past its ``closes_at`` takes no votes either; closing stores its tallies."""

    OPEN = "open"
    CLOSED = "closed"


class PollMode(enum.StrEnum):
    """How a community's polls take votes (``community_schedule.poll_mode``), stored on each poll
    when it is posted: a change applies to polls posted after it."""

    REACTIONS = "reactions"  # react under the message; everyone sees who reacted how
    PRIVATE = "private"  # press a button; only the voter sees their choice; the tally shows at close


QUESTION = "Did this person become wiser?"

#: What each choice means to a voter, in the order the reactions are offered.
CHOICE_LABELS: dict[Choice, str] = {
    "upgrade": "Yes, they became wiser",
    "no_upgrade": "No",
    "not_sure": "Not sure",
}

#: Per platform, the reaction for each choice in :data:`CHOICES` order: Discord sends unicode emoji,
#: Slack sends emoji names (without colons).
REACTIONS: dict[str, dict[str, Choice]] = {
    "discord": {"\u2705": "upgrade", "\u274c": "no_upgrade", "\U0001f914": "not_sure"},  # ✅ ❌ 🤔
    "slack": {"white_check_mark": "upgrade", "x": "no_upgrade", "thinking_face": "not_sure"},
}

_VARIATION_SELECTOR = "\ufe0f"


def poll_reactions(platform: str) -> tuple[str, ...]:
    """The reactions the bot adds under a poll, in :data:`CHOICES` order."""
    by_choice = {choice: emoji for emoji, choice in REACTIONS[platform].items()}
    return tuple(by_choice[choice] for choice in CHOICES)


def choice_for_reaction(platform: str, emoji: str | None) -> Choice | None:
    """The choice a reaction stands for; None for any other emoji (or an unknown platform).

    Tolerant of the spellings the same emoji arrives in: a trailing variation selector (some clients
    send "✅\\ufe0f"), Slack's ``name::skin-tone-N`` suffix and surrounding colons."""
    if not emoji:
        return None
    table = REACTIONS.get(platform, {})
    key = emoji.replace(_VARIATION_SELECTOR, "")
    if platform == "slack":
        key = key.strip(":").split("::", 1)[0]
    return table.get(key)


#: Private polls: the button for each choice, in :data:`CHOICES` order.
BUTTON_LABELS: dict[Choice, str] = {"upgrade": "Wiser", "no_upgrade": "Not wiser", "not_sure": "Not sure"}
#: A private poll's buttons carry the key ``poll:<choice>``; the poll is the message they are on.
POLL_KEY_PREFIX = "poll:"


def poll_button_key(choice: Choice) -> str:
    return POLL_KEY_PREFIX + choice


def is_poll_key(key: str) -> bool:
    return key.startswith(POLL_KEY_PREFIX)


def choice_of_poll_key(key: str) -> Choice | None:
    """The choice a private poll's button stands for; None for any other key."""
    choice = key.removeprefix(POLL_KEY_PREFIX) if is_poll_key(key) else ""
    return next((c for c in CHOICES if c == choice), None)


def display_emoji(platform: str, emoji: str) -> str:
    """How to write a reaction in message text: Slack uses ``:name:``, Discord the character itself."""
    return f":{emoji}:" if platform == "slack" else emoji


def legend_lines(platform: str) -> list[str]:
    """One line per reaction, e.g. "✅ Yes, they became wiser"."""
    return [
        f"{display_emoji(platform, emoji)} {CHOICE_LABELS[choice]}" for emoji, choice in REACTIONS[platform].items()
    ]


def how_to_vote(platform: str) -> str:
    """The legend and the rules of the poll, as plain text (no markup)."""
    return (
        "React to vote: " + " · ".join(legend_lines(platform)) + ".\n"
        "Your latest reaction is your vote; remove it to take your vote back."
    )


PRIVATE_VOTING = (
    "Vote with the buttons below: only you see what you chose, and pressing another changes it. "
    "The result is shown here when the poll closes."
)


def voting_rules(platform: str, mode: PollMode) -> str:
    """What the poll's footer says about voting, as plain text (no markup)."""
    return PRIVATE_VOTING if mode == PollMode.PRIVATE else how_to_vote(platform)


def tally_text(tallies: dict[str, int]) -> str:
    """A closed poll's result, e.g. "Poll closed. Wiser: 3 · Not wiser: 1 · Not sure: 0 (4 votes)"."""
    counts = " · ".join(f"{BUTTON_LABELS[choice]}: {tallies.get(choice, 0)}" for choice in CHOICES)
    total = sum(tallies.get(choice, 0) for choice in CHOICES)
    return f"Poll closed. {counts} ({total} vote{'' if total == 1 else 's'})"


@dataclass(frozen=True, slots=True)
class ValueSummary:
    """The part of a values card a voter needs: its title, one sentence, and what it attends to."""

    title: str
    description: str
    policies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoryPoll:
    """Everything a story poll shows. ``poll_id`` is None until the poll has been posted and recorded."""

    story_id: int
    context: str  # "When …"
    story: str
    from_value: ValueSummary
    to_value: ValueSummary
    poll_id: int | None = None
    mode: PollMode = PollMode.REACTIONS


class VoteOutcome(enum.StrEnum):
    """What a reaction did. The ``ignored_*`` values say why nothing changed."""

    COUNTED = "counted"  # a new vote
    REPLACED = "replaced"  # the member's vote now has another choice
    UNCHANGED = "unchanged"  # the reaction repeats the member's current choice
    RETRACTED = "retracted"  # the member's vote was deleted
    IGNORED_EMOJI = "ignored_emoji"
    IGNORED_UNKNOWN_POLL = "ignored_unknown_poll"
    IGNORED_OTHER_COMMUNITY = "ignored_other_community"
    IGNORED_CLOSED = "ignored_closed"
    IGNORED_DUPLICATE_EVENT = "ignored_duplicate_event"
    IGNORED_NOT_CURRENT = "ignored_not_current"  # removed a reaction that is not the member's vote
    IGNORED_OUT_OF_ORDER = "ignored_out_of_order"  # older than an event about the same reaction applied before
    IGNORED_BOT = "ignored_bot"  # the bot's own (or another bot's) reaction; decided by adapters
    IGNORED_OTHER_MODE = "ignored_other_mode"  # a reaction on a private poll, or a press on a reaction poll

    @property
    def changed_votes(self) -> bool:
        return self in (VoteOutcome.COUNTED, VoteOutcome.REPLACED, VoteOutcome.RETRACTED)
