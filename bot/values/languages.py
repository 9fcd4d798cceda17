"""A card in its author's language and in the community's (docs/method.md §10).

The card is articulated in the language the member wrote in; when that is not the community's
language (``MGE_COMMUNITY_LANGUAGE``), one more call translates it, and the record keeps both: the
community's text in ``title`` / ``description`` / ``policies`` (what dedup, stories, polls and the
digest read) and the member's in ``member_*`` (what the member is shown).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from core.cards import ValuesCard
from core.framing import Framing, card_schema
from core.languages import CardTranslation, is_english, same_language, translation_messages
from core.llm import LLM
from storage.models import ValuesCardRecord

#: A translation is not prose of its own: keep the model close to the original.
TRANSLATION_TEMPERATURE = 0.0

#: Awaits and records one LLM request: (purpose, prompt hash, model, request) → its result.
RecordedCall = Callable[[str, str, str, Awaitable[Any]], Awaitable[Any]]


def member_card(record: ValuesCardRecord) -> ValuesCard:
    """The card as its author wrote it and sees it: in their language when it was translated."""
    if record.member_title is not None and record.member_description is not None:
        return ValuesCard.model_construct(
            title=record.member_title,
            description=record.member_description,
            policies=list(record.member_policies or []),
        )
    return shared_card(record)


def shared_card(record: ValuesCardRecord) -> ValuesCard:
    """The card in the community's language, as everyone else reads it."""
    return ValuesCard.model_construct(
        title=record.title, description=record.description, policies=list(record.policies)
    )


def card_schema_for(framing: Framing, language: str) -> type[ValuesCard]:
    """What a card written in ``language`` for a scenario framed ``framing`` must satisfy."""
    return card_schema(framing, english=is_english(language))


async def translate_card(
    call: RecordedCall,
    *,
    llm: LLM,
    model: str,
    card: ValuesCard,
    framing: Framing,
    member_language: str,
    community_language: str,
) -> CardTranslation | None:
    """``card`` in the community's language, or None when the member wrote in it already."""
    if same_language(member_language, community_language):
        return None
    messages, prompt = translation_messages(card, source=member_language, target=community_language, framing=framing)
    schema = card_schema_for(framing, community_language)
    result = await call(
        "translate_card",
        prompt.sha,
        model,
        llm.structured(messages, schema, model=model, temperature=TRANSLATION_TEMPERATURE),
    )
    return CardTranslation(result.value, member_language, prompt.sha, result.model)
