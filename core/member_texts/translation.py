"""The interviewer's fixed texts for a language without a file here (docs/method.md §10): the English texts,
translated once by the configured model and stored, so that a member writing Italian or Japanese reads
the buttons, headings and notices in their language as well as the model's questions.

A translation must keep what the code and the member rely on: every ``{placeholder}`` of the English
text (``check_against_english``) and every `/mge …` command the English names (the consent notice tells
the member how to get and erase their data). :class:`TranslatedTexts` checks both, so the LLM adapter
asks for a repair when a model's answer breaks them, and a stored translation is checked again on read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import model_validator

from core.languages import language_name
from core.llm import ChatMessage
from core.member_texts import InterviewTexts, check_against_english, english
from core.prompts import Prompt, load_prompt

_COMMAND = re.compile(r"/mge [a-z]+")


class TranslatedTexts(InterviewTexts):
    """The fixed texts as a model writes them for another language: the English placeholders and
    `/mge …` commands kept."""

    @model_validator(mode="after")
    def _keeps_english_markers(self) -> TranslatedTexts:
        check_against_english(self)
        reference = english().model_dump(by_alias=True)
        dropped = [
            f"{key} must keep {command!r}"
            for key, text in reference.items()
            if isinstance(text, str)
            for command in _COMMAND.findall(text)
            if command not in getattr(self, key)
        ]
        if dropped:
            raise ValueError("; ".join(dropped))
        return self


def primary_language(tag: str) -> str:
    """What a translation is stored under: the tag's primary subtag ("it" serves "it-CH" too)."""
    return tag.split("-")[0].lower()


def texts_translation_messages(tag: str) -> tuple[list[ChatMessage], Prompt]:
    """Messages for the call that translates the English texts into ``tag``'s language."""
    prompt = load_prompt("member_texts_translation")
    language = primary_language(tag)
    system = prompt.render(target=language_name(language), tag=language)
    return [ChatMessage("system", system), ChatMessage("user", english().model_dump_json(by_alias=True))], prompt


def translated(texts: InterviewTexts, tag: str) -> InterviewTexts:
    """A model's translation, labelled with the language it was asked for (whatever tag it wrote)."""
    return stored_texts(texts.model_dump(by_alias=True, mode="json"), tag)


def stored_texts(data: Mapping[str, Any], tag: str) -> InterviewTexts:
    """Stored texts checked again (ValidationError when the English texts changed since, e.g. a new key)."""
    return TranslatedTexts.model_validate({**data, "language": primary_language(tag)})
