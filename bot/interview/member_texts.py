"""The interviewer's fixed texts for the interview's language (docs/method.md §10): the hand-written file
when there is one (no query), else the English texts as the configured model translated them, once per
language: stored with the prompt's hash and the model, checked again whenever read, and English when
the translation fails (tried again after an hour, so a broken model costs no call per message)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.interview.turns import TurnContext
from bot.values.languages import TRANSLATION_TEMPERATURE, RecordedCall
from core.llm import LLM, LLMError
from core.member_texts import InterviewTexts, built_in, english
from core.member_texts.translation import (
    TranslatedTexts,
    primary_language,
    stored_texts,
    texts_translation_messages,
    translated,
)
from storage import member_texts_repo
from storage import repositories as interviews_repo

log = logging.getLogger("mge.interviews")

#: After a failed translation, the language's members read English this long before the next attempt.
RETRY_AFTER = timedelta(hours=1)


async def stored_or_written(session: AsyncSession, tag: str | None) -> InterviewTexts:
    """The texts for ``tag``'s language without asking the model: the file, the stored translation, or
    English (for what follows an interview, when its language's texts were resolved already)."""
    if not tag:
        return english()
    if (written := built_in(tag)) is not None:
        return written
    return await _stored(session, primary_language(tag)) or english()


async def _stored(session: AsyncSession, language: str, *, drop_unfit: bool = False) -> InterviewTexts | None:
    """The stored translation for ``language``, checked again; None when there is none or it no longer
    fits the English texts (a new key, a new placeholder), which ``drop_unfit`` deletes so that it is
    translated again."""
    row = await member_texts_repo.stored_translation(session, language=language)
    if row is None:
        return None
    try:
        return stored_texts(row.texts, language)
    except ValidationError as error:
        log.info("stored interviewer texts for %r no longer fit the English ones: %s", language, error)
        if drop_unfit:
            await member_texts_repo.drop_translation(session, language=language)
        return None


async def member_texts(session: AsyncSession, *, member_id: int) -> InterviewTexts:
    """The texts for a DM to a member outside an interview (a value check, a reason question): in the
    language of their last interview, as stored; English when they had none."""
    return await stored_or_written(session, await interviews_repo.last_language(session, member_id=member_id))


class MemberTexts:
    """One process's view of the fixed texts per language: what it read or translated, and when a
    translation last failed."""

    def __init__(self, *, llm: LLM, model: str):
        self._llm = llm
        self._model = model
        #: Checked texts by primary subtag: a language is read from the database once per process.
        self._known: dict[str, InterviewTexts] = {}
        self._failed_at: dict[str, datetime] = {}
        # Two members starting in the same new language at once: one translation, the other waits for it.
        self._locks: dict[str, asyncio.Lock] = {}

    async def prepare(self, ctx: TurnContext, *, translate: bool = True) -> None:
        """Have ``ctx.texts`` in the interview's language. ``translate=False``: only what is stored (the
        member's words are not saved yet, and a model call would commit the handler's work before them)."""
        language = ctx.language
        if built_in(language) is not None or language in ctx.resolved:
            return
        texts = await self.texts(ctx.session, language, now=ctx.now, call=ctx.call_llm, translate=translate)
        if texts is not None:
            ctx.resolved[language] = texts

    async def texts(
        self, session: AsyncSession, tag: str, *, now: datetime, call: RecordedCall, translate: bool = True
    ) -> InterviewTexts | None:
        """The texts for ``tag``'s language; None when there are none but English (or, without
        ``translate``, none stored yet)."""
        if (written := built_in(tag)) is not None:
            return written
        language = primary_language(tag)
        if language in self._known:
            return self._known[language]
        async with self._locks.setdefault(language, asyncio.Lock()):
            if language not in self._known:
                found = await _stored(session, language, drop_unfit=True)
                if found is None and translate and self._may_try(language, now):
                    found = await self._translate(session, language, now=now, call=call)
                if found is None:
                    return None
                self._known[language] = found
        return self._known[language]

    def _may_try(self, language: str, now: datetime) -> bool:
        failed = self._failed_at.get(language)
        return failed is None or now - failed >= RETRY_AFTER

    async def _translate(
        self, session: AsyncSession, language: str, *, now: datetime, call: RecordedCall
    ) -> InterviewTexts | None:
        messages, prompt = texts_translation_messages(language)
        request = self._llm.structured(
            messages, TranslatedTexts, model=self._model, temperature=TRANSLATION_TEMPERATURE
        )
        try:
            result = await call("translate_texts", prompt.sha, self._model, request)
        except LLMError as error:
            # The call's record is all that is pending (the recorder committed before the call): keep it
            # whatever the caller does next.
            await session.commit()
            self._failed_at[language] = now
            log.warning(
                "translating the interviewer's texts into %r failed, English until %s: %s",
                language,
                (now + RETRY_AFTER).isoformat(timespec="minutes"),
                error,
            )
            return None
        texts = translated(result.value, language)
        stored = await member_texts_repo.add_translation(
            session,
            language=language,
            texts=texts.model_dump(by_alias=True, mode="json"),
            prompt_sha=prompt.sha,
            model=result.model,
            now=now,
        )
        if not stored:  # another process was first: everyone reads its texts
            texts = await _stored(session, language, drop_unfit=True) or texts
        await session.commit()  # the texts and the call's record, on their own
        return texts
