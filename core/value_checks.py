"""Asking a member whether a value still represents them after dedup changed it (docs/method.md §4): the
DM's text and buttons, and their keys. Plain text: the platform adapter escapes the whole message."""

from __future__ import annotations

from dataclasses import dataclass

from core.cards import ValuesCard, card_as_text
from core.member_texts import InterviewTexts

#: Button keys: ``valuecheck:<check id>:same|separate``.
KEY_PREFIX = "valuecheck:"
SAME, SEPARATE = "same", "separate"
#: Stored as the answer when the platform refused the DM (closed DMs): the check is not asked again.
UNDELIVERED = "undelivered"

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


def check_text(value: ValuesCard, *, moved: bool, texts: InterviewTexts) -> str:
    """The question in the member's language (``texts``); the value as the community shares it."""
    why = texts.later_check_merged if moved else texts.later_check_restated
    shown = card_as_text(value, attention_heading=texts.attention_heading)
    return f"{why} {texts.later_check_reads_now}\n\n{shown}\n\n{texts.later_check_question}"


def check_buttons(check_id: int, texts: InterviewTexts) -> list[Button]:
    labels = texts.choices
    return [(f"{KEY_PREFIX}{check_id}:{SAME}", labels.yes), (f"{KEY_PREFIX}{check_id}:{SEPARATE}", labels.mine)]


def thanks_text(answer: str, texts: InterviewTexts) -> str:
    return texts.later_check_thanks_same if answer == SAME else texts.later_check_thanks_separate
