"""The check before the card (docs/method.md §3): the interviewer says back, in the member's own words, the
specific things it heard them attend to, and asks what is missing or wrong. The card is then written
from the list the member agreed to.

Pure: the schema the LLM must fill (3–7 short items), its messages, and the say-back message, which is
stored as the interview's turn and read back into the list (``items_in``) when the card is written.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from core.framing import FramedScenario, words
from core.interviewer import TranscriptLine, transcript_message
from core.languages import DEFAULT_LANGUAGE, language_name
from core.llm import ChatMessage
from core.member_texts import InterviewTexts
from core.prompts import Prompt, load_prompt

MIN_ITEMS = 3
MAX_ITEMS = 7
MAX_ITEM_CHARS = 200

_BULLET = "\u2022 "


class AttentionList(BaseModel):
    """What the member attends to, as short items in their own words."""

    items: list[str] = Field(
        description=f"{MIN_ITEMS} to {MAX_ITEMS} short phrases, each one specific thing the member pays attention to.",
        min_length=MIN_ITEMS,
        max_length=MAX_ITEMS,
    )

    @field_validator("items")
    @classmethod
    def _items(cls, items: list[str]) -> list[str]:
        cleaned = [" ".join(item.split()).removeprefix(_BULLET.strip()).strip() for item in items]
        if any(not item for item in cleaned):
            raise ValueError("every item must say something")
        if any(len(item) > MAX_ITEM_CHARS for item in cleaned):
            raise ValueError(f"each item must be under {MAX_ITEM_CHARS} characters: one short phrase")
        if len({item.casefold() for item in cleaned}) != len(cleaned):
            raise ValueError("items must not repeat")
        return cleaned


def say_back_messages(
    scenario: FramedScenario, transcript: list[TranscriptLine], *, language: str = DEFAULT_LANGUAGE
) -> tuple[list[ChatMessage], Prompt]:
    """Messages for the call that lists what the member attends to (again, after a correction), in
    ``language``, the interview's."""
    prompt = load_prompt("say_back")
    system = prompt.render(
        scenario=scenario.text, framing_subject=words(scenario.framing).subject, language=language_name(language)
    )
    return [ChatMessage("system", system), transcript_message(transcript)], prompt


def say_back_text(items: list[str], texts: InterviewTexts) -> str:
    """The message the member reads: the items as bullets between the opening and the question, in the
    interview's language."""
    bullets = "\n".join(_BULLET + item for item in items)
    return f"{texts.say_back_opening}\n\n{bullets}\n\n{texts.say_back_question}"


def items_in(text: str) -> list[str]:
    """The items of a message made by :func:`say_back_text` (items are single lines, so this is exact)."""
    return [line.removeprefix(_BULLET) for line in text.splitlines() if line.startswith(_BULLET)]
