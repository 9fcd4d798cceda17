"""The LLM port on any OpenAI-compatible chat/embeddings service (OpenAI, Ollama, vLLM, llama.cpp ...).

Retries and timeouts are the openai client's own (it backs off and honours ``retry-after``); this
adapter adds structured output with one repair request, a fallback from strict ``json_schema`` to
``json_object`` for servers without structured outputs, and maps every client error to
:class:`~core.llm.LLMError` — a response body that is not a JSON object too (cut off, an HTML
page, empty: what a flaky proxy in front of a local model sends with HTTP 200).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel

from adapters.openai_replies import (
    Reply,
    excerpt,
    is_embedding,
    parse_reply,
    repair_prompt,
    text_field,
    usage_of,
)
from adapters.openai_schema import schema_name, strict_json_schema, with_schema_instructions
from core.llm import (
    ChatMessage,
    Completion,
    Embeddings,
    LLMError,
    LLMErrorKind,
    Structured,
    T,
    Usage,
)

log = logging.getLogger("mge.llm")

StructuredOutputMode = Literal["auto", "json_schema", "json_object"]

# The openai client refuses to start without a key; local servers (Ollama, llama.cpp) ignore it.
_PLACEHOLDER_API_KEY = "not-needed"
# OpenAI accepts up to 2048 inputs per request, but local servers choke on far fewer.
EMBED_BATCH_SIZE = 256
_MAX_DETAIL_CHARS = 500
_SECRET_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{4,}")


class OpenAILLM:
    """:class:`core.llm.LLM` over ``openai.AsyncOpenAI``. Close it with :meth:`aclose`."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout_seconds: float,
        max_retries: int,
        structured_output: StructuredOutputMode = "auto",
    ) -> None:
        self._api_key = api_key or ""
        self._client = AsyncOpenAI(
            base_url=base_url or None,
            api_key=api_key or _PLACEHOLDER_API_KEY,
            timeout=timeout_seconds,
            max_retries=max_retries,
        )
        self._timeout_seconds = timeout_seconds
        self._structured_output: StructuredOutputMode = structured_output
        # Set in "auto" mode once the server has rejected json_schema and accepted json_object.
        self.json_schema_unsupported = False

    @property
    def structured_output_mode(self) -> Literal["json_schema", "json_object"]:
        """The response_format the next structured call will start with."""
        if self._structured_output == "json_object" or self.json_schema_unsupported:
            return "json_object"
        return "json_schema"

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> OpenAILLM:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- the LLM port -------------------------------------------------------------------------------

    async def complete(
        self, messages: list[ChatMessage], *, model: str, temperature: float = 0.7, max_tokens: int | None = None
    ) -> Completion:
        with self._translated_errors("chat", model):
            reply = await self._chat(_wire(messages), model=model, temperature=temperature, max_tokens=max_tokens)
        if not reply.content:
            why = f"refusal: {reply.refusal}" if reply.refusal else "the answer had no content"
            raise LLMError(LLMErrorKind.INVALID_OUTPUT, self._redact(why), usage=reply.usage, model=reply.model)
        return Completion(text=reply.content, model=reply.model, usage=reply.usage)

    async def structured(
        self,
        messages: list[ChatMessage],
        schema: type[T],
        *,
        model: str,
        temperature: float = 0.2,
        max_tokens: int | None = None,
    ) -> Structured[T]:
        with self._translated_errors("structured", model):
            first = await self._structured_request(messages, schema, model, temperature, max_tokens)
        value, problem = parse_reply(first, schema)
        if value is not None:
            return Structured(value=value, model=first.model, usage=first.usage, attempts=1)

        log.info("%s answer from %s unusable, asking for a repair: %s", schema.__name__, first.model, problem)
        repair = list(messages)
        if first.content:
            repair.append(ChatMessage("assistant", first.content))
        repair.append(ChatMessage("user", repair_prompt(problem)))
        try:
            with self._translated_errors("structured repair", model):
                second = await self._structured_request(repair, schema, model, temperature, max_tokens)
        except LLMError as error:
            # The first answer's tokens were spent too; callers record them.
            raise LLMError(
                error.kind, error.detail, usage=first.usage + error.usage, model=error.model or first.model
            ) from error

        usage = first.usage + second.usage
        value, problem = parse_reply(second, schema)
        if value is not None:
            return Structured(value=value, model=second.model, usage=usage, attempts=2)
        detail = self._redact(f"{schema.__name__} still invalid after a repair request: {problem}")
        raise LLMError(LLMErrorKind.INVALID_OUTPUT, detail, usage=usage, model=second.model)

    async def embed(self, texts: list[str], *, model: str) -> Embeddings:
        vectors: list[list[float]] = []
        usage = Usage()
        answered_by = model
        for start in range(0, len(texts), EMBED_BATCH_SIZE):
            batch = texts[start : start + EMBED_BATCH_SIZE]
            started = time.perf_counter()
            with self._translated_errors("embeddings", model):
                # "float" explicitly: base64 (the typed client's default) is not spoken by every server.
                response = await self._post(
                    "/embeddings", {"model": model, "input": batch, "encoding_format": "float"}, model
                )
            items = response.get("data")
            if not isinstance(items, list) or not all(is_embedding(item) for item in items):
                detail = f"the embeddings response has no list of embeddings: {excerpt(response)}"
                raise LLMError(LLMErrorKind.INVALID_OUTPUT, self._redact(detail), usage=usage, model=model)
            if len(items) != len(batch):
                detail = f"asked for {len(batch)} embeddings, got {len(items)}"
                raise LLMError(LLMErrorKind.INVALID_OUTPUT, detail, usage=usage, model=model)
            vectors.extend(item["embedding"] for item in sorted(items, key=lambda item: item.get("index", 0)))
            batch_usage = usage_of(response)
            usage += batch_usage
            answered_by = text_field(response, "model") or model
            log.debug(
                "llm embeddings model=%s inputs=%d duration=%.3fs input_tokens=%d",
                answered_by,
                len(batch),
                time.perf_counter() - started,
                batch_usage.input_tokens,
            )
        return Embeddings(vectors=vectors, model=answered_by, usage=usage)

    # --- requests -----------------------------------------------------------------------------------

    async def _chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str,
        temperature: float,
        max_tokens: int | None,
        response_format: dict[str, Any] | None = None,
    ) -> Reply:
        """One chat completion. openai exceptions propagate: callers decide how to translate them."""
        options: dict[str, Any] = {}
        # max_tokens rather than max_completion_tokens: it is what OpenAI-compatible servers understand.
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        if response_format is not None:
            options["response_format"] = response_format
        started = time.perf_counter()
        # The client's generic post (its documented way to send a body as is) rather than the typed
        # chat.completions.create, which walks every message and the whole JSON schema against its typed
        # parameters first: ~14 ms of CPU per request here, half the bot's own time per DM turn, to
        # re-check a body that is plain JSON already. Same retries, timeouts, auth and errors.
        body = {"model": model, "messages": messages, "temperature": temperature, **options}
        response = await self._post("/chat/completions", body, model)
        usage = usage_of(response)
        answered_by = text_field(response, "model") or model
        log.debug(
            "llm chat model=%s format=%s duration=%.3fs input_tokens=%d output_tokens=%d",
            answered_by,
            response_format["type"] if response_format else "text",
            time.perf_counter() - started,
            usage.input_tokens,
            usage.output_tokens,
        )
        choices = response.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        message = choice.get("message")
        message = message if isinstance(message, dict) else {}
        # Odd shapes read as an answer without content: the caller says so, or asks for a repair.
        return Reply(
            content=text_field(message, "content"),
            finish_reason=text_field(choice, "finish_reason"),
            model=answered_by,
            usage=usage,
            refusal=text_field(message, "refusal"),
        )

    async def _post(self, path: str, body: dict[str, Any], model: str) -> dict[str, Any]:
        """The JSON object the server answered ``body`` with. The client's generic post (its documented
        way to send a body as is) with ``cast_to=object``: the decoded JSON, checked here instead of being
        built into the SDK's response models (~14 ms of CPU per chat request for the typed call, which
        walks the whole request too, and no check of the answer's shape at all). Same retries, timeouts,
        auth and status errors.

        A body that is not a JSON object is an answer nobody can use, like invalid content; the client
        raises JSONDecodeError for a JSON content type and hands back the text for any other.
        """
        try:
            data = await self._client.post(path, body=body, cast_to=object)
        except json.JSONDecodeError as exc:
            data = exc.doc
        if isinstance(data, dict):
            return data
        detail = self._redact(f"the server's response to {path} was not a JSON object: {excerpt(data)}")
        log.info("llm %s model=%s failed: %s", path.strip("/"), model, detail)
        raise LLMError(LLMErrorKind.INVALID_OUTPUT, detail, model=model)

    async def _structured_request(
        self,
        messages: list[ChatMessage],
        schema: type[BaseModel],
        model: str,
        temperature: float,
        max_tokens: int | None,
    ) -> Reply:
        """One structured request, in json_schema mode when the server allows it, else json_object."""
        if self.structured_output_mode == "json_object":
            return await self._json_object_request(messages, schema, model, temperature, max_tokens)
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema_name(schema), "schema": strict_json_schema(schema), "strict": True},
        }
        try:
            return await self._chat(
                _wire(messages),
                model=model,
                temperature=temperature,
                max_tokens=max_tokens,
                response_format=response_format,
            )
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if self._structured_output != "auto":
                raise
            # Servers without strict structured outputs answer 400/422 with all sorts of messages, so
            # any of them earns one json_object attempt; only its success proves json_schema was the
            # problem, and only then is the switch remembered.
            log.debug("json_schema rejected (%s), trying json_object", _status_detail(exc))
            reply = await self._json_object_request(messages, schema, model, temperature, max_tokens)
            if not self.json_schema_unsupported:
                self.json_schema_unsupported = True
                log.warning(
                    "The LLM server rejected response_format json_schema (%s); using json_object with the "
                    "schema in the prompt from now on.",
                    self._redact(_status_detail(exc)),
                )
            return reply

    async def _json_object_request(
        self,
        messages: list[ChatMessage],
        schema: type[BaseModel],
        model: str,
        temperature: float,
        max_tokens: int | None,
    ) -> Reply:
        return await self._chat(
            _wire(with_schema_instructions(messages, schema)),
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            response_format={"type": "json_object"},
        )

    # --- errors -------------------------------------------------------------------------------------

    @contextmanager
    def _translated_errors(self, what: str, model: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except openai.OpenAIError as exc:
            error = self._to_llm_error(exc, model)
            log.info("llm %s model=%s failed after %.3fs: %s", what, model, time.perf_counter() - started, error)
            raise error from exc

    def _to_llm_error(self, exc: openai.OpenAIError, model: str) -> LLMError:
        kind = LLMErrorKind.UNAVAILABLE
        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError: it is a subclass
            kind, detail = LLMErrorKind.TIMEOUT, f"no answer within {self._timeout_seconds:g}s"
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            reason = f"{type(cause).__name__}: {cause}" if cause else exc.message
            detail = f"cannot connect to {self._client.base_url}: {reason}"
        elif isinstance(exc, openai.APIStatusError):
            detail = _status_detail(exc)
            if isinstance(exc, openai.RateLimitError):
                kind = LLMErrorKind.RATE_LIMITED
            elif exc.status_code == 408:
                kind = LLMErrorKind.TIMEOUT
            elif exc.status_code < 500:
                kind = LLMErrorKind.REJECTED
        elif isinstance(exc, openai.APIResponseValidationError):
            kind, detail = LLMErrorKind.INVALID_OUTPUT, f"unexpected response shape: {exc.message}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return LLMError(kind, self._redact(detail), model=model)

    def _redact(self, text: str) -> str:
        """Short enough for one log line, and never carrying the API key."""
        if len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        text = _SECRET_LIKE.sub("sk-***", text)
        return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 1] + "…"


def _status_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else body
    return f"HTTP {exc.status_code}: {message or exc.message}"


def _wire(messages: list[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": message.role, "content": message.content} for message in messages]
