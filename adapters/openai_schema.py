"""Structured output for OpenAI-compatible endpoints: a pydantic schema as the JSON Schema subset OpenAI's
strict mode accepts, and, for endpoints that only offer ``json_object`` mode, the schema written into the
prompt instead."""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

from pydantic import BaseModel

from core.llm import ChatMessage


def schema_name(schema: type[BaseModel]) -> str:
    """``ValuesCard`` → ``values_card``: OpenAI wants ``[a-zA-Z0-9_-]{1,64}``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", schema.__name__).lower()
    return re.sub(r"[^a-z0-9_-]+", "_", snake).strip("_")[:64] or "answer"


@functools.lru_cache(maxsize=64)
def strict_json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """``schema``'s JSON schema in the subset OpenAI's strict mode accepts. Cached per schema class (it
    is built on every structured request, ~1 ms each): treat the returned dict as read-only.

    Every object gets ``additionalProperties: false`` and lists all its properties as required;
    ``default`` is dropped (strict mode rejects it; pydantic still fills defaults when validating).
    Constraints strict mode can't express are checked anyway by pydantic, and a violation goes to repair.
    """
    root = copy.deepcopy(schema.model_json_schema())
    return _strictify(root, root)


def _strictify(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strictify(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    node.pop("default", None)
    node.pop("discriminator", None)
    # Strict mode forbids keywords beside $ref, and pydantic puts a field's description there.
    if "$ref" in node and len(node) > 1:
        target = _resolve_ref(root, node.pop("$ref"))
        node = {**target, **node}
    # pydantic writes discriminated unions as oneOf; strict mode knows only anyOf.
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}

    for key, value in list(node.items()):
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            node[key] = {name: _strictify(sub, root) for name, sub in value.items()}
        elif key in ("items", "anyOf", "allOf", "prefixItems", "additionalProperties") and not isinstance(value, bool):
            node[key] = _strictify(value, root)

    if node.get("type") == "object" or "properties" in node:
        # A dict-typed field keeps its value schema: strict mode rejects it, and "auto" falls back.
        if not isinstance(node.get("additionalProperties"), dict):
            node["additionalProperties"] = False
        node["required"] = list(node.get("properties", {}))
    return node


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def with_schema_instructions(messages: list[ChatMessage], schema: type[BaseModel]) -> list[ChatMessage]:
    """json_object mode only promises *some* JSON object, so the schema has to be in the prompt."""
    instructions = (
        "Reply with one JSON object and nothing else: no prose, no code fences. "
        "It must match this JSON Schema, with every property present:\n"
        + json.dumps(strict_json_schema(schema), indent=2, ensure_ascii=False)
    )
    # Merged into a leading system message, because some chat templates allow only one, and first.
    if messages and messages[0].role == "system":
        return [ChatMessage("system", f"{messages[0].content}\n\n{instructions}"), *messages[1:]]
    return [ChatMessage("system", instructions), *messages]
