"""Asking a member whether a value still represents them after dedup changed it (docs/method.md §4): the
DM's text and buttons, and their keys. Plain text: the platform adapter escapes the whole message."""

from __future__ import annotations

from dataclasses import dataclass

from core.cards import ValuesCard, card_as_text

#: Button keys: ``valuecheck:<check id>:same|separate``.
KEY_PREFIX = "valuecheck:"
SAME, SEPARATE = "same", "separate"
QUESTION = "Is this still what you care about?"

Button = tuple[str, str]  # (key, label), as core.legitimacy's


@dataclass(frozen=True, slots=True)
class CheckKey:
    check_id: int
    answer: str


def is_value_check_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX)


def parse_key(key: str) -> CheckKey | None:
    parts = key.removeprefix(KEY_PREFIX).split(":")
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in (SAME, SEPARATE):
        return None
    return CheckKey(int(parts[0]), parts[1])


def check_text(value: ValuesCard, *, moved: bool) -> str:
    why = (
        "Your values card was merged with other members' cards that express the same value."
        if moved
        else "Another member's card now states the value your card is part of."
    )
    return f"{why} This is how the value reads now:\n\n{card_as_text(value)}\n\n{QUESTION}"


def check_buttons(check_id: int) -> list[Button]:
    return [(f"{KEY_PREFIX}{check_id}:{SAME}", "Yes"), (f"{KEY_PREFIX}{check_id}:{SEPARATE}", "No, keep mine separate")]


THANKS = {
    SAME: "Thank you — noted that this value still represents what you care about.",
    SEPARATE: "Done: your card is a value of its own again, in your own words.",
}
ALREADY_ANSWERED = "You already answered this one — thank you."
MOVED_SINCE = "Thank you — noted. Your card has moved since this question, so nothing was changed."
