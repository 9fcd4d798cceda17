"""What the interviewer says to a member in its own words (not the model's), in the interview's language:
the texts themselves are data (``core.member_texts``, one file per language); here are the few that are
put together from a card or a failed model step."""

from __future__ import annotations

from bot.values.languages import member_card
from core.interview import Effect
from core.llm import LLMError, LLMErrorKind
from core.member_texts import InterviewTexts
from core.text import MAX_MESSAGE_CHARS, CleanText
from storage.models import ValuesCardRecord


def welcome_back(texts: InterviewTexts, *, ask: bool = True) -> str:
    return f"{texts.welcome_back} {texts.continue_or_start_over}" if ask else texts.welcome_back


def saved_with_note(texts: InterviewTexts, card: ValuesCardRecord) -> str:
    """After a confirmed card: it is saved, and what the member finds meaningful is where they are likely
    wise (the paper's reading of a values card). A template, so it can never fail or drift from the card."""
    shown = member_card(card)  # the member's language, as the rest of what they are shown
    first = shown.policies[0] if shown.policies else shown.title
    return f"{texts.saved.format(title=shown.title)} {texts.closing_note.format(first=first)}"


def unreadable_text(texts: InterviewTexts, cleaned: CleanText) -> str:
    """Why a message cannot be read (nothing in it, or too long), in the interview's language."""
    if cleaned.too_long:
        length, limit = texts.number(cleaned.too_long), texts.number(MAX_MESSAGE_CHARS)
        return texts.message_too_long.format(length=length, limit=limit)
    return texts.empty_message


def llm_failure_text(texts: InterviewTexts, error: LLMError, effect: Effect) -> str:
    """What a member is told when a model step failed: what went wrong, and that nothing is lost."""
    problem = getattr(texts.llm_errors, error.kind.value)
    if error.kind is LLMErrorKind.INVALID_OUTPUT and effect in (Effect.PROPOSE_CARD, Effect.REVISE_CARD):
        problem = texts.invalid_card
    elif error.kind is LLMErrorKind.CONFIGURATION:
        return texts.tell_operator.format(problem=problem)
    return texts.nothing_lost.format(problem=problem)
