"""`/mge ask question:<text>`: ask the community's moral graph (docs/method.md §9). The answer is ephemeral.

In a server the community is that server; in the bot's DMs it is the member's community (as for the other
member commands: ``community.member_community``). The LLM takes a few seconds, so the command is deferred
(ephemeral, "thinking") before any work, and answered with follow-ups. Everything echoed (the answer, value
titles, contexts) is markdown-escaped, and ``answer`` defuses mentions and sends with mentions disabled.
"""

from __future__ import annotations

import discord
from discord import app_commands

from adapters.discord.commands import answer
from adapters.discord.community import member_community
from adapters.discord.config import BotContext
from adapters.discord.render import split_content
from bot.ask.answer import AskAnswer, ask_community
from core.ask import MAX_QUESTION_CHARS, question_problem


def escape(text: str) -> str:
    return discord.utils.escape_markdown(text)


def ask_text(result: AskAnswer) -> str:
    """The reply as Discord markdown: the answer, then the values that guided it in bold."""
    return result.formatted(esc=escape, strong=lambda text: f"**{text}**")


def ask_command(context: BotContext):
    """The `/mge ask` callback (installed from the member command table by ``member_commands``)."""

    async def ask(interaction: discord.Interaction, question: app_commands.Range[str, 1, MAX_QUESTION_CHARS]) -> None:
        # Discord enforces the length in its client; a request sent another way is checked here.
        if (problem := question_problem(question)) is not None:
            await answer(interaction, escape(problem))
            return
        community = await member_community(interaction, context)
        if community is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await ask_community(
            context.database,
            llm=context.interviews.llm,
            model=context.interviews.articulation_model,
            community=community,
            question=question,
            now=context.clock(),
        )
        for chunk in split_content(ask_text(result)):
            await answer(interaction, chunk)

    return ask
