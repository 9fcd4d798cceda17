"""A simulated member for ``mge eval personas`` (docs/method.md §3, "Checking a model"): a persona, played by a
model, answering the real interviewer. Pure: what the model is asked and what it must answer."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from core.llm import ChatMessage
from core.prompts import Prompt, load_prompt
from core.text import MAX_MESSAGE_CHARS

PROMPT = "persona"


class PersonaReply(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    # Within what the interview accepts from a member (core.text).
    message: str = Field(
        min_length=1,
        max_length=MAX_MESSAGE_CHARS,
        description="What the member types to the bot: one to four sentences.",
    )


def persona_messages(
    scenario: str, persona: str, exchange: Sequence[tuple[str, str]]
) -> tuple[Prompt, list[ChatMessage]]:
    """``exchange`` is the conversation so far as (speaker, text), speaker "bot" or "member": the bot's words
    are the user's turns here, the member's the assistant's."""
    prompt = load_prompt(PROMPT)
    messages = [ChatMessage("system", prompt.render(scenario=scenario, persona=persona.strip()))]
    messages += [ChatMessage("user" if who == "bot" else "assistant", text) for who, text in exchange]
    return prompt, messages
