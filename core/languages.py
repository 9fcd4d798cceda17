"""The member's language and the community's (docs/method.md §10): BCP-47 tags, checked and normalised.

Members write in many languages. The interviewer model says, with each turn, which language the member
writes in (``core.interviewer.InterviewerTurn.language``); the card is written in it, and translated
into the community's language (``MGE_COMMUNITY_LANGUAGE``) for everything shared: dedup, stories,
polls, the digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.cards import ValuesCard
from core.framing import Framing, words
from core.llm import ChatMessage
from core.prompts import Prompt, load_prompt

DEFAULT_LANGUAGE = "en"

# language[-script][-region][-variant…]: "en", "es", "pt-BR", "zh-Hant-TW", "sr-Latn", "es-419".
_TAG = re.compile(r"^[a-zA-Z]{2,3}(?:-[a-zA-Z]{4})?(?:-(?:[a-zA-Z]{2}|[0-9]{3}))?(?:-[a-zA-Z0-9]{5,8})*$")

# Names the prompts use for the commonest tags (a model understands the bare tag too).
_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "zh": "Chinese",
}


def language_tag(text: str) -> str:
    """``text`` as a normalised BCP-47 tag ("PT-br" → "pt-BR"); ValueError when it isn't one."""
    tag = text.strip().replace("_", "-")
    if not _TAG.match(tag):
        raise ValueError(f"not a BCP-47 language tag (like 'en', 'es' or 'pt-BR'): {text!r}")
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())
        elif len(part) == 2 or part.isdigit():
            parts.append(part.upper())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def same_language(a: str, b: str) -> bool:
    """True when a card in ``a`` needs no translation for ``b``: the same primary language ("es-MX", "es")."""
    return a.split("-")[0].lower() == b.split("-")[0].lower()


def is_english(tag: str) -> bool:
    return same_language(tag, DEFAULT_LANGUAGE)


def language_name(tag: str) -> str:
    """What prompts call the language: "Spanish (es)", or the tag alone when it has no name here."""
    name = _NAMES.get(tag.split("-")[0].lower())
    return f"{name} ({tag})" if name else f"the language with BCP-47 tag {tag}"


@dataclass(frozen=True, slots=True)
class CardTranslation:
    """A member's card in the community's language, with the call that translated it."""

    card: ValuesCard
    member_language: str
    prompt_sha: str
    model: str


def translation_messages(
    card: ValuesCard, *, source: str, target: str, framing: Framing
) -> tuple[list[ChatMessage], Prompt]:
    """Messages for the call that puts a member's card into the community's language."""
    prompt = load_prompt("card_translation")
    system = prompt.render(
        source=language_name(source), target=language_name(target), card_description=words(framing).card_description
    )
    return [ChatMessage("system", system), ChatMessage("user", card.model_dump_json())], prompt
