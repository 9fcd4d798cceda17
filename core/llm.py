"""The LLM port: what core needs from a language model, independent of any vendor SDK.

Adapters (``adapters.llm_openai``) implement :class:`LLM`. Every call returns its token usage and
the model that answered, so use cases can store them beside what the call produced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

Role = Literal["system", "user", "assistant"]
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class Structured(Generic[T]):
    value: T
    model: str
    usage: Usage
    #: How many requests it took (1, or 2 when a repair retry was needed).
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: list[list[float]]
    model: str
    usage: Usage = field(default_factory=Usage)


class LLMErrorKind(enum.StrEnum):
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"  # 5xx, connection refused, DNS
    TIMEOUT = "timeout"
    INVALID_OUTPUT = "invalid_output"  # not JSON, or JSON that fails the schema even after repair
    REJECTED = "rejected"  # 4xx other than 429: bad key, unknown model, content filter
    CONFIGURATION = "configuration"


class LLMError(Exception):
    """A failed LLM call, after the adapter's own retries. ``kind`` decides what the member is told."""

    def __init__(self, kind: LLMErrorKind, detail: str, *, usage: Usage | None = None, model: str = ""):
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail
        #: Tokens spent before the failure (e.g. an invalid answer and its failed repair).
        self.usage = usage or Usage()
        self.model = model

    @property
    def member_text(self) -> str:
        """What a person is told, in English (an interview uses its own language's texts)."""
        from core.member_texts import english  # it imports this module

        return str(getattr(english().llm_errors, self.kind.value))


class LLM(Protocol):
    """Chat, structured output and embeddings from one OpenAI-compatible service."""

    async def complete(
        self, messages: list[ChatMessage], *, model: str, temperature: float = 0.7, max_tokens: int | None = None
    ) -> Completion: ...

    async def structured(
        self,
        messages: list[ChatMessage],
        schema: type[T],
        *,
        model: str,
        temperature: float = 0.2,
        max_tokens: int | None = None,
    ) -> Structured[T]:
        """Return ``schema`` validated from the model's JSON answer.

        Raises :class:`LLMError` with kind INVALID_OUTPUT when the answer is not valid JSON for the
        schema even after one repair request. Validation includes the model's own pydantic validators,
        so domain rules expressed there are enforced here too.
        """
        ...

    async def embed(self, texts: list[str], *, model: str) -> Embeddings: ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
