"""``mge export --format html``: one self-contained page to explore a community's moral graph.

The page is the template ``explorer_template.html`` (inline CSS and vanilla JavaScript, nothing
fetched: a Content-Security-Policy with ``default-src 'none'`` and the hashes of the page's own script
and style makes sure of it) with two JSON documents embedded in ``<script type="application/json">``
tags:

* ``mge-export`` — the JSON export (:func:`bot.graph.export.export_json`), hash included, so the page
  shows and carries the same content hash as ``mge export --format json``;
* ``mge-explorer`` — what the page needs beyond it: the kept edges of every context's own graph, the
  global ranking in order, and per-story tallies by choice.

Member and LLM text reaches the page only as JSON (``<``, ``>``, ``&``, U+2028 and U+2029 written as
``\\uXXXX`` escapes, so no text can close the script tag or open a comment) and the script inserts it
with ``textContent``; the few strings written into the markup itself (title, header) are HTML-escaped.
Same graph → same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections import Counter
from importlib import resources
from typing import Any

from bot.graph import export as exporting
from bot.graph.build import CommunityGraphInput
from core.graph import MoralGraph
from core.graph.export import canonical_json, edges_json
from core.graph.ranking import id_ranks, tie_key
from core.graph.votes import CHOICES

TEMPLATE = "explorer_template.html"
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
# Characters that must never appear raw inside a <script> element's JSON (the rest is plain JSON).
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029]")


def render_explorer(graph: MoralGraph, data: CommunityGraphInput) -> bytes:
    """The explorer page (UTF-8) for ``graph``, built from ``data`` (what the graph was built from)."""
    export = exporting.export_json(
        graph, community=data.community, stories=data.stories, votes=exporting.vote_records(data)
    )
    content_hash = json.loads(export)["hash"]
    community = data.community.name or f"Community {data.community.id}"
    template = _template()
    fields = {
        "TITLE": html.escape(f"{community} — moral graph", quote=True),
        "COMMUNITY": html.escape(community, quote=True),
        "PLATFORM": html.escape(data.community.platform, quote=True),
        "ALGORITHM": html.escape(graph.params.algorithm, quote=True),
        "HASH": html.escape(content_hash, quote=True),
        "CSP": html.escape(_content_security_policy(template), quote=True),
        "EXPORT_JSON": script_json(export.decode("utf-8").rstrip("\n")),
        "EXPLORER_JSON": script_json(canonical_json(explorer_data(graph, data)).decode("utf-8")),
    }
    return _fill(template, fields).encode("utf-8")


def explorer_data(graph: MoralGraph, data: CommunityGraphInput) -> dict[str, Any]:
    """What the page needs besides the JSON export (see the module docstring)."""
    tallies: dict[int, Counter[str]] = {}
    for vote, story_id in zip(data.votes, data.vote_story_ids, strict=True):
        tallies.setdefault(story_id, Counter())[vote.choice] += 1
    return {
        "contexts": [
            {"name": name, "edges": edges_json(graph.contexts[name].edges)} for name in sorted(graph.contexts)
        ],
        "globalRanking": global_ranking(graph),
        "storyTallies": {
            str(story_id): {choice: counts[choice] for choice in CHOICES} for story_id, counts in tallies.items()
        },
    }


def global_ranking(graph: MoralGraph) -> list[str]:
    """Ids of the ranked values, best first: PageRank over all contexts, ties broken as in the
    per-context rankings (``core.graph.ranking``)."""
    ranked = [(value.id, rank) for value in graph.values if (rank := graph.page_rank.get(value.id)) is not None]
    if not ranked:
        return []
    ids = [value_id for value_id, _ in ranked]
    keys = tie_key([rank for _, rank in ranked]).tolist()
    order = id_ranks(ids).tolist()
    return [ids[i] for i in sorted(range(len(ids)), key=lambda i: (-keys[i], order[i]))]


def script_json(text: str) -> str:
    """JSON text made safe as the content of a ``<script type="application/json">`` element.

    ``<``, ``>`` and ``&`` only ever occur inside JSON strings, where their ``\\u`` escapes mean the
    same characters, so ``JSON.parse`` gives back exactly the same data."""
    return _SCRIPT_UNSAFE.sub(lambda m: _SCRIPT_ESCAPES[m.group()], text)


def _template() -> str:
    text = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    script = _inline(text, "script")
    # The script is raw text in HTML: these sequences would end it early or change how it is parsed.
    if "</script" in script.lower() or "<!--" in script:
        raise ValueError(f"{TEMPLATE}: the inline script must not contain '</script' or '<!--'")
    return text


def _inline(template: str, tag: str) -> str:
    """The content of the template's one inline ``<script>`` or ``<style>`` (no attributes)."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", template, flags=re.DOTALL)
    if len(found) != 1:
        raise ValueError(f"{TEMPLATE}: expected one <{tag}> without attributes, found {len(found)}")
    return found[0]


def _content_security_policy(template: str) -> str:
    """Nothing may load from anywhere; only the page's own script and style (by hash) may run."""

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"

    return (
        f"default-src 'none'; script-src {digest(_inline(template, 'script'))}; "
        f"style-src {digest(_inline(template, 'style'))}; base-uri 'none'; form-action 'none'"
    )


def _fill(template: str, fields: dict[str, str]) -> str:
    """Replace every ``{{NAME}}`` in one pass, so text put in is never scanned for placeholders."""
    missing = set(_PLACEHOLDER.findall(template)) - set(fields)
    if missing:
        raise ValueError(f"{TEMPLATE}: no value for {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: fields[m.group(1)], template)
