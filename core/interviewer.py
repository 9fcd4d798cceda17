"""What the interview sends to the LLM, built from the transcript (pure functions).

The system prompt is the only long text; it is sent once per request, and the transcript carries only
the conversation (control answers like "confirm" and bot notices stay out), to keep tokens per member
low (the paper's interviews took ~35k tokens each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field, field_validator

from core.cards import ValuesCard, card_as_text
from core.framing import FramedScenario, words
from core.languages import DEFAULT_LANGUAGE, language_name, language_tag
from core.llm import ChatMessage
from core.member_texts import InterviewTexts
from core.prompts import Prompt, load_prompt

MAX_QUESTION_CHARS = 1200
#: Where the checked list goes when an interview has none (it began before the check existed).
NO_CHECKED_LIST = "(none: write the card from the transcript)"


class InterviewerTurn(BaseModel):
    """The interviewer's structured answer: its next message, and whether a card could be written now."""

    message: str = Field(description="The next thing to say to the member: one short question.")
    ready_to_articulate: bool = Field(
        description="True only when 3-7 specific things the member attends to for one value are clear."
    )
    #: Optional so a model that leaves it out still interviews; the interview then keeps its language.
    language: str | None = Field(
        default=None, description="BCP-47 tag of the language the member writes in, e.g. 'en', 'es', 'pt-BR'."
    )

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return language_tag(value) if value else None

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("message must not be empty")
        if len(value) > MAX_QUESTION_CHARS:
            raise ValueError(f"message must be under {MAX_QUESTION_CHARS} characters: ask one short question")
        return value


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    role: str  # "member" | "bot"
    content: str


def opening_question(scenario: FramedScenario, texts: InterviewTexts) -> str:
    """The first bot message of a conversation: the scenario, and the question the paper opens with (in
    the scenario's framing and the interview's language)."""
    return f"{texts.situation}\n\n> {scenario.text}\n\n{texts.opening(scenario.framing.value)}"


def interviewer_messages(
    scenario: FramedScenario, transcript: list[TranscriptLine], *, language: str = DEFAULT_LANGUAGE
) -> tuple[list[ChatMessage], Prompt]:
    """``language``: the interview's language so far (the community's until the member has written)."""
    prompt = load_prompt("interviewer")
    framing = words(scenario.framing)
    system = prompt.render(
        scenario=scenario.text,
        framing_subject=framing.subject,
        framing_relevance=framing.relevance,
        language=language_name(language),
    )
    messages = [ChatMessage("system", system)]
    messages += [_as_chat(line) for line in transcript]
    return messages, prompt


def articulation_messages(
    scenario: FramedScenario,
    transcript: list[TranscriptLine],
    *,
    attention: Sequence[str] = (),
    previous_card: ValuesCard | None = None,
    feedback: str | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> tuple[list[ChatMessage], list[Prompt]]:
    """Messages for the low-temperature call that writes (or revises) the card in ``language``, from
    ``attention``: the list of what the member attends to that they checked (empty for an interview begun
    before the check)."""
    prompt = load_prompt("articulator")
    prompts = [prompt]
    checked = "\n".join(f"- {_unfenced(item)}" for item in attention) or NO_CHECKED_LIST
    system = prompt.render(
        scenario=scenario.text,
        attention=checked,
        card_description=words(scenario.framing).card_description,
        language=language_name(language),
    )
    if previous_card is not None:
        revision = load_prompt("revision")
        prompts.append(revision)
        system += "\n\n" + revision.render(card=card_as_text(previous_card), feedback=feedback or "")
    return [ChatMessage("system", system), transcript_message(transcript)], prompts


def transcript_message(transcript: list[TranscriptLine]) -> ChatMessage:
    """The conversation as one fenced user message, for the calls that read it as data."""
    conversation = "\n\n".join(
        f"{'MEMBER' if line.role == 'member' else 'INTERVIEWER'}: {_unfenced(line.content)}" for line in transcript
    )
    return ChatMessage("user", f"<transcript>\n{conversation}\n</transcript>")


def _as_chat(line: TranscriptLine) -> ChatMessage:
    return ChatMessage("user" if line.role == "member" else "assistant", line.content)


def _unfenced(text: str) -> str:
    # Member text must not be able to close the <transcript> fence and talk to the model directly.
    return text.replace("</transcript", "< /transcript")


# --- a question about the proposed card ----------------------------------------------------------

MAX_CARD_ANSWER_CHARS = 600


class CardAnswer(BaseModel):
    """A short answer to the member's question about their proposed card."""

    answer: str = Field(description=f"At most 3 sentences, under {MAX_CARD_ANSWER_CHARS} characters.")

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("answer must not be empty")
        if len(value) > MAX_CARD_ANSWER_CHARS:
            raise ValueError(f"answer must be under {MAX_CARD_ANSWER_CHARS} characters: answer in a few sentences")
        return value


def card_question_messages(
    card: ValuesCard, question: str, *, language: str = DEFAULT_LANGUAGE
) -> tuple[list[ChatMessage], Prompt]:
    """Messages for answering a question about the proposed card (the card stays as it is), in
    ``language``, the interview's."""
    prompt = load_prompt("card_question")
    system = prompt.render(card=card_as_text(card), language=language_name(language))
    return [ChatMessage("system", system), ChatMessage("user", question)], prompt
