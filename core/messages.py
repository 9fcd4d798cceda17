"""Platform-neutral messages: what adapters hand to use cases, and what use cases hand back.

Adapters translate a Discord, Slack or console event into an ``InboundMessage`` and render each
``Outbound`` item in their own way (an embed, Block Kit, numbered lines). Outbound text may echo
member words, so every adapter must send it with mentions disabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.cards import ValuesCard
from core.interview import Choice
from core.member_texts import english


@dataclass(frozen=True, slots=True)
class Person:
    """Who sent a message: the platform's user id and a display name."""

    platform_user_id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class CommunityRef:
    """A Discord guild, a Slack workspace or a console 'community'."""

    platform: str  # "discord" | "slack" | "console"
    external_id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    community: CommunityRef
    author: Person
    text: str
    #: The platform's id for this delivery (message id, event id); a repeated id is ignored.
    event_id: str
    received_at: datetime | None = None
    #: True when ``text`` is the key of a button the member pressed rather than words they typed: a
    #: button from an earlier message must not be read as an answer to the current question.
    is_choice: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    text: str


@dataclass(frozen=True, slots=True)
class ChoicePrompt:
    """A question with options; platforms show buttons, the console numbers them."""

    text: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class CardProposal:
    """A values card for the member to confirm or revise."""

    card: ValuesCard
    heading: str
    choices: tuple[Choice, ...] = field(default_factory=tuple)
    #: Above the card's policies, in the language of ``heading``.
    attention_heading: str = field(default_factory=lambda: english().attention_heading)


Outbound = Reply | ChoicePrompt | CardProposal
