"""A fake OpenAI-compatible server on 127.0.0.1, for testing the real openai client end to end.

    async with FakeOpenAI() as fake:                  # in async tests
        fake.script("plain answer", {"a": 1}, Error(429), Delay(2, then="late"), Raw("not json {"))
        fake.script_embeddings(Body('{"object": "li'))  # a cut-off HTTP body, then normal embeddings
        llm = OpenAILLM(base_url=fake.base_url, ...)

    with FakeOpenAI.in_thread() as fake:              # sync tests, or a subprocess talking to it
        subprocess.run(["mge", ...], env={..., "<the base-url setting>": fake.base_url})

Scripted responses are consumed in order by chat completions (``script_embeddings``: by embeddings
requests); when none are left, ``fake.responder``
answers (the default one fills the requested JSON schema, with canned values cards, interviewer
turns and said-back lists). Every request is recorded in ``fake.requests``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from aiohttp import web
from pydantic import BaseModel

VALUES_CARD: dict[str, Any] = {
    "title": "Informed Autonomy Under Pressure",
    "description": "The assistant helps the person see their options clearly so they can choose for themselves.",
    "policies": [
        "MOMENTS when the person realises they have a real choice",
        "OPPORTUNITIES for the person to decide for themselves",
        # Not "INFORMATION that ...": core.cards rejects a singular ALL-CAPS head.
        "INSIGHTS that widen the person's view of their options",
        "FEELINGS of steadiness that let the person think clearly",
    ],
}
INTERVIEWER_TURN: dict[str, Any] = {
    "message": "What do you pay attention to when you make that kind of choice?",
    "ready_to_articulate": False,
}
#: What the interviewer says back before the card (core.say_back): what the member attends to.
SAID_BACK: dict[str, Any] = {
    "items": [
        "the moment the person realises they have a real choice",
        "whether the person can decide for themselves",
        "what widens the person's view of their options",
    ]
}
PLAIN_ANSWER = "What feels most important to you when you face a choice like this?"


@dataclass(frozen=True)
class Error:
    """An HTTP error. Without ``body``, an OpenAI-style ``{"error": {...}}`` body for ``status``."""

    status: int
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] | None = None

    @staticmethod
    def openai_body(
        message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        return {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before answering with ``then`` (None: the responder's answer)."""

    seconds: float
    then: Response | None = None


@dataclass(frozen=True)
class Raw:
    """Assistant content sent verbatim (``None`` for a null content), e.g. malformed JSON."""

    text: str | None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Body:
    """A whole HTTP response body sent as is, as a flaky proxy in front of a model may answer: a cut-off
    JSON document, an HTML error page, nothing, or JSON that is not an object."""

    text: str
    content_type: str = "application/json"
    status: int = 200


#: What a script entry or responder may produce. A callable is called with the request body.
# Union, not `|`: the alias is recursive, and `|` cannot take the string "Response" at run time.
Response = Union[str, dict, list, BaseModel, Error, Delay, Raw, Body, Callable[[dict[str, Any]], "Response"]]  # noqa: UP007


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it. ``request["model"]`` reads the JSON body."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    @property
    def response_format_type(self) -> str | None:
        return (self.body.get("response_format") or {}).get("type")


class FakeOpenAI:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        api_key: str | None = None,
        retry_after_ms: int | None = 1,
        models: tuple[str, ...] = ("fake-chat", "fake-embed"),
    ) -> None:
        """
        latency: seconds added before every answer.
        api_key: when set, requests bearing another key get a 401.
        retry_after_ms: added as ``retry-after-ms`` to retryable errors (408/409/429/5xx) that don't set
            their own, so client retries don't sleep the default 0.5 s+ backoff. None: leave them alone.
            (The openai client ignores ``retry-after-ms: 0`` and backs off as if it were absent.)
        """
        self.latency = latency
        self.api_key = api_key
        self.retry_after_ms = retry_after_ms
        self.models = list(models)
        self.responder: Callable[[dict[str, Any]], Response] = default_responder
        self.embedding_fn: Callable[[str], list[float]] = hash_embedding
        #: When True, chat requests asking for response_format json_schema get a 400.
        self.reject_json_schema = False
        #: When True, embeddings come back in reverse order (with correct "index"), as servers may do.
        self.reverse_embeddings = False
        self._script: collections.deque[Response] = collections.deque()
        self._embedding_script: collections.deque[Body | Error | Delay] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a client that timed out cancels its Delay instead of holding shutdown.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[FakeOpenAI]:
        """Serve from a background thread with its own event loop (for sync tests and subprocesses)."""
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-openai", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=10)
            yield fake
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    # --- scripting and inspection -----------------------------------------------------------------

    def script(self, *responses: Response) -> None:
        """Queue answers for the next chat completions, first in first out."""
        with self._lock:
            self._script.extend(responses)

    def script_embeddings(self, *responses: Body | Error | Delay) -> None:
        """Queue faults for the next embeddings requests (a Delay's ``then`` may be another fault, or
        None for the real embeddings); when none are left, embeddings are answered normally."""
        with self._lock:
            self._embedding_script.extend(responses)

    @property
    def pending(self) -> int:
        """Scripted answers not consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/embeddings"]

    # --- handlers ---------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body = await request.json() if request.can_read_body else {}
        with self._lock:
            self._requests.append(RecordedRequest(request.path, body, dict(request.headers)))
        if self.latency:
            await asyncio.sleep(self.latency)
        return body

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return self._error_response(
            Error(401, Error.openai_body("Incorrect API key provided.", code="invalid_api_key"))
        )

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        if self.reject_json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
            message = "response_format type 'json_schema' is not supported by this server"
            return self._error_response(Error(400, Error.openai_body(message, param="response_format")))
        with self._lock:
            response = self._script.popleft() if self._script else None
        if response is None:
            response = self.responder(body)
        return await self._answer(body, response)

    async def _answer(self, body: dict[str, Any], response: Response) -> web.StreamResponse:
        while callable(response) and not isinstance(response, (BaseModel, Error, Delay, Raw, Body)):
            response = response(body)
        if isinstance(response, Delay):
            await asyncio.sleep(response.seconds)
            return await self._answer(body, response.then if response.then is not None else self.responder(body))
        if isinstance(response, Error):
            return self._error_response(response)
        if isinstance(response, Body):
            return _raw_body(response)
        content, finish_reason = _content(response)
        return web.json_response(self._completion(body, content, finish_reason))

    def _completion(self, body: dict[str, Any], content: str | None, finish_reason: str) -> dict[str, Any]:
        prompt_chars = sum(len(_text(message.get("content"))) for message in body.get("messages", []))
        prompt_tokens = max(1, prompt_chars // 4)
        completion_tokens = max(1, len(content or "") // 4)
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-chat"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _error_response(self, error: Error) -> web.Response:
        headers = dict(error.headers or {})
        retryable = error.status in (408, 409, 429) or error.status >= 500
        has_retry_after = any(name.lower() in ("retry-after", "retry-after-ms") for name in headers)
        if retryable and self.retry_after_ms is not None and not has_retry_after:
            headers["retry-after-ms"] = str(self.retry_after_ms)
        body = error.body
        if body is None:
            kind = "server_error" if error.status >= 500 else "invalid_request_error"
            body = Error.openai_body(f"fake error {error.status}", type=kind)
        if isinstance(body, str):
            return web.Response(status=error.status, text=body, headers=headers)
        return web.json_response(body, status=error.status, headers=headers)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        with self._lock:
            fault = self._embedding_script.popleft() if self._embedding_script else None
        while isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
            fault = fault.then
        if isinstance(fault, Error):
            return self._error_response(fault)
        if isinstance(fault, Body):
            return _raw_body(fault)
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else [_text(t) for t in texts]
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = self.embedding_fn(text)
            encoded: Any = vector
            if as_base64:  # what the openai client asks for unless told otherwise
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        if self.reverse_embeddings:
            data.reverse()
        tokens = max(1, sum(len(t) for t in texts) // 4)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "fake-embed"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        created = int(time.time())
        models = [{"id": m, "object": "model", "created": created, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": models})


# --- default answers -----------------------------------------------------------------------------------


def default_responder(request: dict[str, Any]) -> Response:
    """A plausible answer: JSON filling the requested schema, else a short question."""
    response_format = request.get("response_format") or {}
    kind = response_format.get("type")
    texts = " ".join(_text(m.get("content")) for m in request.get("messages", []))
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return _fill_schema(spec.get("schema") or {}, name=spec.get("name", ""), texts=texts)
    if kind == "json_object":
        system = " ".join(_text(m.get("content")) for m in request.get("messages", []) if m.get("role") == "system")
        schema = _schema_in_text(system) or _schema_in_text(texts)
        if schema is not None:
            return _fill_schema(schema, name="", texts=texts)
        return dict(VALUES_CARD) if _mentions_values_card(texts) else {"answer": PLAIN_ANSWER}
    return PLAIN_ANSWER


def _fill_schema(schema: dict[str, Any], *, name: str, texts: str) -> dict[str, Any]:
    value = example_for_schema(schema)
    if not isinstance(value, dict):
        return {"value": value}
    properties = set(schema.get("properties") or {})
    if {"title", "description", "policies"} <= properties or (
        not properties and (_mentions_values_card(name) or _mentions_values_card(texts))
    ):
        value.update(VALUES_CARD)
    elif {"message", "ready_to_articulate"} <= properties:
        value.update(INTERVIEWER_TURN)
    elif properties == {"items"}:
        value.update(SAID_BACK)
    return value


def example_for_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A simple value satisfying ``schema``'s types (not its validators)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return example_for_schema({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        if variants := schema.get(union):
            chosen = next((v for v in variants if v.get("type") != "null"), variants[0])
            return example_for_schema(chosen, root)
    if all_of := schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in all_of:
            merged.update(part)
        return example_for_schema(merged, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {name: example_for_schema(sub, root) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = max(3, schema.get("minItems", 0))
        count = min(count, schema.get("maxItems", count))
        item = schema.get("items") or {"type": "string"}
        return [_numbered(example_for_schema(item, root), i) for i in range(count)]
    if kind == "string":
        return "text".ljust(schema.get("minLength", 0), "x")
    if kind == "boolean":
        return False
    if kind == "integer":
        return int(max(1, schema.get("minimum", 1)))
    if kind == "number":
        return float(max(0.5, schema.get("minimum", 0.5)))
    return None


def _numbered(value: Any, index: int) -> Any:
    # Distinct array items, so "no duplicates" rules hold.
    return f"{value} {index + 1}" if isinstance(value, str) else value


def _schema_in_text(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in ``text`` that looks like a JSON schema."""
    decoder = json.JSONDecoder()
    found, position = None, 0
    while (start := text.find("{", position)) != -1:
        try:
            candidate, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        if isinstance(candidate, dict) and ("properties" in candidate or candidate.get("type") == "object"):
            found = candidate
        position = end
    return found


def _mentions_values_card(text: str) -> bool:
    return re.search(r"values?[ _-]?card", text, re.IGNORECASE) is not None


def hash_embedding(text: str, dimensions: int = 64) -> list[float]:
    """A deterministic unit vector from ``text``'s hash: equal texts embed equally, others differ."""
    raw = b"".join(hashlib.sha256(f"{i}:{text}".encode()).digest() for i in range(math.ceil(dimensions / 8)))
    values = [struct.unpack_from("<i", raw, 4 * i)[0] / 2**31 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _raw_body(body: Body) -> web.Response:
    return web.Response(status=body.status, body=body.text.encode(), headers={"Content-Type": body.content_type})


def _content(response: Response) -> tuple[str | None, str]:
    if isinstance(response, Raw):
        return response.text, response.finish_reason
    if isinstance(response, str):
        return response, "stop"
    if isinstance(response, BaseModel):
        return response.model_dump_json(), "stop"
    return json.dumps(response, ensure_ascii=False), "stop"


def _text(content: Any) -> str:
    if content is None:
        return ""
    return content if isinstance(content, str) else json.dumps(content)
