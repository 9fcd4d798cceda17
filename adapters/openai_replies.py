"""Reading an OpenAI-compatible server's replies: the chat answer, validation of structured output
against its schema (and the repair request when it fails), usage counts and embeddings in a response body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.llm import T, Usage

_MAX_REPORTED_ERRORS = 8
_BODY_EXCERPT_CHARS = 80
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(?P<body>.*?)\n?\s*```\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Reply:
    """The parts of one chat completion that the adapter uses."""

    content: str | None
    finish_reason: str | None
    model: str
    usage: Usage
    refusal: str | None = None


def repair_prompt(problem: str) -> str:
    return (
        f"Your previous answer could not be used: {problem}\n"
        "Reply again with only the corrected JSON object: no explanation, no code fences."
    )


def parse_reply(reply: Reply, schema: type[T]) -> tuple[T | None, str]:
    """The validated value, or None and what is wrong with the answer (for the repair request)."""
    if not reply.content or not reply.content.strip():
        return None, f"the answer was empty{f' (refusal: {reply.refusal})' if reply.refusal else ''}."
    try:
        return schema.model_validate_json(json_text(reply.content)), ""
    except ValidationError as exc:
        problem = describe_errors(exc)
    # A truncated answer is invalid anyway (a complete one that happens to end at the limit is kept);
    # saying why helps the repair.
    if reply.finish_reason == "length":
        problem = f"the answer was cut off at the token limit, answer with shorter JSON ({problem})"
    return None, problem


def json_text(content: str) -> str:
    text = content.strip()
    if fenced := _FENCE.match(text):
        text = fenced["body"].strip()
    # Small models in json_object mode sometimes wrap the object in a sentence; take the object.
    if not text.startswith(("{", "[")) and "{" in text and "}" in text:
        text = text[text.index("{") : text.rindex("}") + 1]
    return text


def describe_errors(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = []
    for error in errors[:_MAX_REPORTED_ERRORS]:
        where = ".".join(str(part) for part in error["loc"]) or "(whole answer)"
        parts.append(f"{where}: {error['msg']}")
    if len(errors) > _MAX_REPORTED_ERRORS:
        parts.append(f"and {len(errors) - _MAX_REPORTED_ERRORS} more")
    return "; ".join(parts)


def usage_of(response: dict[str, Any]) -> Usage:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return Usage()
    counts = [usage.get(name) for name in ("prompt_tokens", "completion_tokens")]
    return Usage(*(count if isinstance(count, int) else 0 for count in counts))


def text_field(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def is_embedding(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("embedding"), list) and isinstance(item.get("index", 0), int)


def excerpt(data: Any) -> str:
    """The start of an unusable response body, for the log."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    text = " ".join(text.split())
    if not text:
        return "(empty)"
    return repr(text if len(text) <= _BODY_EXCERPT_CHARS else text[:_BODY_EXCERPT_CHARS] + "…")
