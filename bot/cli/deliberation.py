"""What the deliberation commands (`mge scenario`, `mge contexts`, `mge stories`) share: running a piece of
work on the database (and the LLM client when needed) with one-line errors, and naming the community."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from bot.cli.support import fail, operator_errors

R = TypeVar("R")


def run_on_database(work: Callable[[Any, Any], Awaitable[R]], *, needs_llm: bool = False) -> R:
    """Open the database (and the LLM client when needed), run ``work(database, llm)``, close both,
    and turn the errors an operator can fix into one-line messages."""
    from bot.runtime.settings import load_settings
    from bot.runtime.wiring import build_llm, open_database
    from bot.stories.contexts import ContextError
    from bot.stories.moderation import StoryActionError
    from core.llm import LLMError

    async def main() -> R:
        database = open_database(settings)
        llm = build_llm(settings) if needs_llm else None
        try:
            return await work(database, llm)
        finally:
            if llm is not None:
                await llm.aclose()
            await database.dispose()

    try:
        with operator_errors(ContextError, StoryActionError, LookupError):
            settings = load_settings()
            return asyncio.run(main())
    except LLMError as error:
        raise fail(f"{error.member_text} ({error.detail})", code=1) from None


async def community_id_named(database, wanted: str | None) -> int:
    from bot.cli.support import choose_community

    return await choose_community(database, wanted)


def echo_lines(*lines: str) -> None:
    for line in lines:
        typer.echo(line)
