"""OpenAILLM against a fake OpenAI-compatible server: the real openai client, retries and all."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import BaseModel, Field, field_validator

from adapters.llm_openai import OpenAILLM
from adapters.openai_schema import strict_json_schema
from core.llm import ChatMessage, LLMError, LLMErrorKind, Usage
from tests.fakes.openai_server import VALUES_CARD, Body, Delay, Error, FakeOpenAI, Raw, RecordedRequest

MODEL = "fake-chat"
MESSAGES = [ChatMessage("system", "You name values."), ChatMessage("user", "Name one value of mine.")]


class Verdict(BaseModel):
    """A small schema with a nested model, a default and a validator (validators must trigger repair)."""

    class Reason(BaseModel):
        text: str = Field(description="Why.")

    label: str = Field(description="One word.")
    confident: bool = False
    reasons: list[Reason]

    @field_validator("label")
    @classmethod
    def _not_forbidden(cls, value: str) -> str:
        if value == "forbidden":
            raise ValueError("label must not be 'forbidden'")
        return value


GOOD = {"label": "honesty", "confident": True, "reasons": [{"text": "it came up twice"}]}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def make_llm(fake: FakeOpenAI) -> AsyncIterator[Callable[..., OpenAILLM]]:
    made: list[OpenAILLM] = []

    def make(**overrides: Any) -> OpenAILLM:
        options = {"base_url": fake.base_url, "api_key": "sk-test-key", "timeout_seconds": 5.0, "max_retries": 0}
        made.append(OpenAILLM(**(options | overrides)))
        return made[-1]

    yield make
    for llm in made:
        await llm.aclose()


async def test_complete_returns_text_model_and_usage(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script("Honesty, mostly.")

    completion = await make_llm().complete(MESSAGES, model=MODEL, temperature=0.3, max_tokens=50)

    assert completion.text == "Honesty, mostly."
    assert completion.model == MODEL
    prompt_chars = sum(len(m.content) for m in MESSAGES)
    assert completion.usage == Usage(prompt_chars // 4, len("Honesty, mostly.") // 4)
    sent = fake.chat_requests[0]
    assert sent["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert (sent["temperature"], sent["max_tokens"]) == (0.3, 50)
    assert sent.headers["Authorization"] == "Bearer sk-test-key"


async def test_missing_api_key_sends_a_placeholder(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    await make_llm(api_key=None).complete(MESSAGES, model=MODEL)

    assert fake.chat_requests[0].headers["Authorization"] == "Bearer not-needed"


async def test_null_content_is_invalid_output(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Raw(None))

    with pytest.raises(LLMError) as caught:
        await make_llm().complete(MESSAGES, model=MODEL)

    assert caught.value.kind is LLMErrorKind.INVALID_OUTPUT
    assert caught.value.usage.input_tokens > 0


async def test_structured_sends_a_strict_json_schema(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(GOOD)

    result = await make_llm().structured(MESSAGES, Verdict, model=MODEL)

    assert result.value == Verdict.model_validate(GOOD)
    assert result.attempts == 1 and result.model == MODEL and result.usage.total > 0
    response_format = fake.chat_requests[0]["response_format"]
    assert response_format["type"] == "json_schema"
    spec = response_format["json_schema"]
    assert spec["name"] == "verdict" and spec["strict"] is True
    schema = spec["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["label", "confident", "reasons"]  # including the defaulted field
    assert "default" not in schema["properties"]["confident"]
    reason = schema["$defs"]["Reason"]
    assert reason["additionalProperties"] is False and reason["required"] == ["text"]
    assert reason["properties"]["text"]["description"] == "Why."


def test_strict_schema_inlines_refs_that_carry_siblings() -> None:
    class Inner(BaseModel):
        x: int

    class Outer(BaseModel):
        inner: Inner = Field(description="Strict mode rejects keywords next to $ref.")

    inner = strict_json_schema(Outer)["properties"]["inner"]

    assert "$ref" not in inner
    assert inner["properties"] == {"x": {"title": "X", "type": "integer"}}
    assert inner["additionalProperties"] is False and inner["description"].startswith("Strict")


async def test_fenced_json_is_accepted(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script('```json\n{"label": "care", "reasons": []}\n```')

    result = await make_llm().structured(MESSAGES, Verdict, model=MODEL)

    assert result.value.label == "care" and result.attempts == 1


async def test_auto_falls_back_to_json_object_and_remembers(
    fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM], caplog: pytest.LogCaptureFixture
) -> None:
    fake.reject_json_schema = True
    fake.script(GOOD, GOOD)
    llm = make_llm()

    with caplog.at_level(logging.WARNING, logger="mge.llm"):
        first = await llm.structured(MESSAGES, Verdict, model=MODEL)
        second = await llm.structured(MESSAGES, Verdict, model=MODEL)

    assert first.value.label == second.value.label == "honesty"
    assert [r.response_format_type for r in fake.chat_requests] == ["json_schema", "json_object", "json_object"]
    # json_object only promises JSON: the schema travels in the (single, leading) system message.
    fallback_messages = fake.chat_requests[1]["messages"]
    assert [m["role"] for m in fallback_messages] == ["system", "user"]
    assert fallback_messages[0]["content"].startswith("You name values.")
    assert '"reasons"' in fallback_messages[0]["content"]
    assert len([r for r in caplog.records if "json_schema" in r.getMessage()]) == 1
    assert llm.structured_output_mode == "json_object"


async def test_json_schema_mode_does_not_fall_back(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.reject_json_schema = True

    with pytest.raises(LLMError) as caught:
        await make_llm(structured_output="json_schema").structured(MESSAGES, Verdict, model=MODEL)

    assert caught.value.kind is LLMErrorKind.REJECTED
    assert "HTTP 400" in caught.value.detail and "json_schema" in caught.value.detail
    assert len(fake.chat_requests) == 1


async def test_unrelated_400_is_not_remembered_as_missing_json_schema(
    fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]
) -> None:
    too_long = Error(400, Error.openai_body("maximum context length exceeded", code="context_length_exceeded"))
    fake.script(too_long, too_long)
    llm = make_llm()

    with pytest.raises(LLMError) as caught:
        await llm.structured(MESSAGES, Verdict, model=MODEL)

    assert caught.value.kind is LLMErrorKind.REJECTED and "context length" in caught.value.detail
    assert llm.structured_output_mode == "json_schema"


async def test_invalid_answer_is_repaired_once(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Raw("not json {"), GOOD)

    result = await make_llm().structured(MESSAGES, Verdict, model=MODEL)

    assert result.value.label == "honesty"
    assert result.attempts == 2
    first, repair = fake.chat_requests
    assert result.usage == Usage(
        _prompt_tokens(first) + _prompt_tokens(repair), len("not json {") // 4 + _completion_tokens(GOOD)
    )
    assert repair["messages"][-2] == {"role": "assistant", "content": "not json {"}
    assert repair["messages"][-1]["role"] == "user" and "Invalid JSON" in repair["messages"][-1]["content"]


async def test_validator_failure_triggers_repair(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(GOOD | {"label": "forbidden"}, GOOD)

    result = await make_llm().structured(MESSAGES, Verdict, model=MODEL)

    assert result.attempts == 2 and result.value.label == "honesty"
    assert "label must not be 'forbidden'" in fake.chat_requests[1]["messages"][-1]["content"]


async def test_truncated_answer_goes_to_repair(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Raw('{"label": "hon', finish_reason="length"), GOOD)

    result = await make_llm().structured(MESSAGES, Verdict, model=MODEL, max_tokens=5)

    assert result.attempts == 2
    assert "token limit" in fake.chat_requests[1]["messages"][-1]["content"]


async def test_failed_repair_raises_invalid_output_with_usage(
    fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]
) -> None:
    fake.script(GOOD | {"label": "forbidden"}, Raw("still not json"))

    with pytest.raises(LLMError) as caught:
        await make_llm().structured(MESSAGES, Verdict, model=MODEL)

    error = caught.value
    assert error.kind is LLMErrorKind.INVALID_OUTPUT
    assert "Verdict" in error.detail and "Invalid JSON" in error.detail
    assert error.model == MODEL
    bad_answer_tokens = _completion_tokens(GOOD | {"label": "forbidden"})
    assert error.usage.output_tokens == bad_answer_tokens + len("still not json") // 4
    assert error.usage.input_tokens > 0
    assert len(fake.chat_requests) == 2


async def test_failed_repair_request_keeps_first_usage(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Raw("nope"), Error(401))

    with pytest.raises(LLMError) as caught:
        await make_llm().structured(MESSAGES, Verdict, model=MODEL)

    assert caught.value.kind is LLMErrorKind.REJECTED
    assert caught.value.usage.output_tokens == 1


async def test_rate_limit_is_retried_by_the_client(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Error(429, headers={"retry-after-ms": "1"}), "after the wait")

    completion = await make_llm(max_retries=2).complete(MESSAGES, model=MODEL)

    assert completion.text == "after the wait"
    assert [r.headers.get("x-stainless-retry-count") for r in fake.chat_requests] == ["0", "1"]


async def test_rate_limit_exhausted_is_rate_limited(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Error(429), Error(429))

    with pytest.raises(LLMError) as caught:
        await make_llm(max_retries=1).complete(MESSAGES, model=MODEL)

    assert caught.value.kind is LLMErrorKind.RATE_LIMITED
    assert caught.value.member_text


async def test_server_errors_exhaust_retries_as_unavailable(
    fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]
) -> None:
    fake.script(Error(500), Error(502), Error(503))

    with pytest.raises(LLMError) as caught:
        await make_llm(max_retries=2).structured(MESSAGES, Verdict, model=MODEL)

    assert caught.value.kind is LLMErrorKind.UNAVAILABLE
    assert "HTTP 503" in caught.value.detail
    assert len(fake.chat_requests) == 3 and fake.pending == 0


async def test_timeout(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Delay(2, then="too late"))
    started = time.monotonic()

    with pytest.raises(LLMError) as caught:
        await make_llm(timeout_seconds=0.2, max_retries=0).complete(MESSAGES, model=MODEL)

    assert caught.value.kind is LLMErrorKind.TIMEOUT
    assert time.monotonic() - started < 1.5


async def test_unauthorized_is_rejected_without_leaking_the_key(make_llm: Callable[..., OpenAILLM]) -> None:
    async with FakeOpenAI(api_key="sk-the-right-key") as strict_fake:
        llm = make_llm(base_url=strict_fake.base_url, api_key="sk-wrong-key-1234", max_retries=2)
        strict_fake.script(Error(401, Error.openai_body("Incorrect API key provided: sk-wrong-key-1234.")))

        with pytest.raises(LLMError) as caught:
            await llm.complete(MESSAGES, model=MODEL)

    assert caught.value.kind is LLMErrorKind.REJECTED
    assert "HTTP 401" in caught.value.detail
    assert "sk-wrong-key-1234" not in caught.value.detail and "sk-wrong-key-1234" not in str(caught.value)
    assert len(strict_fake.requests) == 1  # 401 is not retried


async def test_unknown_model_is_rejected(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.script(Error(404, Error.openai_body("The model `nope` does not exist", code="model_not_found")))

    with pytest.raises(LLMError) as caught:
        await make_llm().complete(MESSAGES, model="nope")

    assert caught.value.kind is LLMErrorKind.REJECTED
    assert "does not exist" in caught.value.detail


async def test_connection_refused_is_unavailable(make_llm: Callable[..., OpenAILLM]) -> None:
    async with FakeOpenAI() as gone:
        base_url = gone.base_url  # the port is free again once the server stops

    with pytest.raises(LLMError) as caught:
        await make_llm(base_url=base_url).embed(["x"], model="fake-embed")

    assert caught.value.kind is LLMErrorKind.UNAVAILABLE
    assert "cannot connect" in caught.value.detail


BROKEN_BODIES = {
    "cut-off": Body('{"id": "chatcmpl-1", "object": "chat.completion", "choi'),
    "html": Body("<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"),
    "empty": Body(""),
    "list": Body("[1, 2]"),
    "null": Body("null"),
}


@pytest.mark.parametrize("call", ["complete", "structured", "embed"])
@pytest.mark.parametrize("body", BROKEN_BODIES.values(), ids=BROKEN_BODIES.keys())
async def test_a_response_body_that_is_not_a_json_object_is_an_unusable_answer(
    fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM], call: str, body: Body, caplog: pytest.LogCaptureFixture
) -> None:
    """What a flaky proxy in front of a local model sends with HTTP 200: an LLMError the member is told
    about in words, not a JSONDecodeError, and the next call works."""
    llm = make_llm()
    calls = {
        "complete": lambda: llm.complete(MESSAGES, model=MODEL),
        "structured": lambda: llm.structured(MESSAGES, Verdict, model=MODEL),
        "embed": lambda: llm.embed(["a value"], model="fake-embed"),
    }
    fake.script_embeddings(body) if call == "embed" else fake.script(body)

    with caplog.at_level(logging.INFO, logger="mge.llm"), pytest.raises(LLMError) as caught:
        await calls[call]()

    assert caught.value.kind is LLMErrorKind.INVALID_OUTPUT
    assert caught.value.member_text == "The language model gave me an answer I couldn't use."
    assert "was not a JSON object" in caught.value.detail and "not a JSON object" in caplog.text
    assert len(fake.requests) == 1  # not sent for a repair: the transport failed, not the model
    assert await calls[call]()  # the server's next answer is used as usual


@pytest.mark.parametrize(
    "body", [Body('{"choices": "x"}'), Body('{"choices": [{"message": null}], "usage": "many"}'), Body("{}")]
)
async def test_a_json_object_of_the_wrong_shape_is_an_answer_without_content(
    fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM], body: Body
) -> None:
    fake.script(body)
    with pytest.raises(LLMError) as caught:
        await make_llm().complete(MESSAGES, model=MODEL)
    assert caught.value.kind is LLMErrorKind.INVALID_OUTPUT and "no content" in caught.value.detail

    fake.script(body, GOOD)  # structured asks for a repair, as for any unusable answer
    assert (await make_llm().structured(MESSAGES, Verdict, model=MODEL)).attempts == 2


@pytest.mark.parametrize("body", [Body('{"data": "x"}'), Body('{"data": [{"index": 0, "embedding": "AAAA"}]}')])
async def test_embeddings_of_the_wrong_shape_are_invalid_output(
    fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM], body: Body
) -> None:
    fake.script_embeddings(body)
    with pytest.raises(LLMError) as caught:
        await make_llm().embed(["a value"], model="fake-embed")
    assert caught.value.kind is LLMErrorKind.INVALID_OUTPUT and "no list of embeddings" in caught.value.detail


async def test_embeddings_keep_order_across_batches(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    texts = [f"text number {i}" for i in range(300)]

    result = await make_llm().embed(texts, model="fake-embed")

    assert [len(r["input"]) for r in fake.embedding_requests] == [256, 44]
    assert result.vectors == [fake.embedding_fn(text) for text in texts]
    assert result.model == "fake-embed"
    assert result.usage == Usage(sum(max(1, sum(len(t) for t in r["input"]) // 4) for r in fake.embedding_requests))


async def test_embeddings_sorted_by_index(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    fake.reverse_embeddings = True  # a server may list results out of order: "index" is the truth

    result = await make_llm().embed(["a", "bb", "ccc"], model="fake-embed")

    assert result.vectors == [fake.embedding_fn(text) for text in ["a", "bb", "ccc"]]


async def test_default_responder_fills_schemas(fake: FakeOpenAI, make_llm: Callable[..., OpenAILLM]) -> None:
    class ValuesCard(BaseModel):
        title: str
        description: str
        policies: list[str]

    class InterviewerTurn(BaseModel):
        message: str
        ready_to_articulate: bool

    llm = make_llm()
    card = await llm.structured(MESSAGES, ValuesCard, model=MODEL)
    turn = await llm.structured(MESSAGES, InterviewerTurn, model=MODEL)
    verdict = await llm.structured(MESSAGES, Verdict, model=MODEL)
    plain = await llm.complete(MESSAGES, model=MODEL)

    assert card.value.model_dump() == VALUES_CARD
    assert turn.value.ready_to_articulate is False and turn.value.message.endswith("?")
    assert verdict.value.label == "text" and len(verdict.value.reasons) == 3
    assert plain.text.endswith("?")


def test_in_thread_serves_sync_callers() -> None:

    with FakeOpenAI.in_thread() as fake:
        fake.script("from a thread")
        request = urllib.request.Request(
            f"{fake.base_url}/chat/completions",
            data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.load(response)

    assert answer["choices"][0]["message"]["content"] == "from a thread"
    assert fake.chat_requests[0]["model"] == "m"


def _completion_tokens(answer: object) -> int:
    return max(1, len(json.dumps(answer)) // 4)


def _prompt_tokens(request: RecordedRequest) -> int:
    return max(1, sum(len(m["content"]) for m in request["messages"]) // 4)
