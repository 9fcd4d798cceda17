"""The interchange JSON of docs/method.md §7, which the reference implementation's tools read.

``{"values": [...], "edges": [...]}`` as the reference writes them — except that ids are always text
and ``values`` lists every value given, with a ``pageRank`` unless it was not ranked (the reference
lists only values on an edge) — plus what we add: ``rankings``
per context, the ``parameters`` of the build, for the default algorithm ``cycles``,
``droppedEdges``, ``contextCycles`` and ``contextDroppedEdges`` (the last two only for contexts that
have any), and ``hash``.

The file is canonical JSON — keys sorted, no spaces, UTF-8 — so the same input gives the same bytes.
``hash`` is the SHA-256 (hex) of the canonical JSON of the document without ``hash``; to check a file:
load it, remove ``hash``, ``json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
and hash the UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from core.graph.model import COUNT_FIELDS, ContextGraph, EdgeTable, MoralGraph, RankedValue


def to_interchange(graph: MoralGraph) -> dict[str, Any]:
    """The export document, without its hash."""
    doc: dict[str, Any] = {
        "values": [
            _value_json(value.id, value.title, value.description, value.policies, graph.page_rank.get(value.id))
            for value in graph.values
        ],
        "edges": edges_json(graph.edges),
        "rankings": {
            name: [{"id": r.id, "title": r.title, "score": r.score} for r in context.ranking]
            for name, context in graph.contexts.items()
        },
        "parameters": graph.params.to_json(),
    }
    if not graph.params.paper_compatible:
        doc["cycles"] = [list(cycle) for cycle in graph.cycles]
        doc["droppedEdges"] = edges_json(graph.dropped_edges)
        doc["contextCycles"] = _per_context(graph.contexts, lambda c: [list(cycle) for cycle in c.cycles])
        doc["contextDroppedEdges"] = _per_context(graph.contexts, lambda c: edges_json(c.dropped_edges))
    return doc


def dump_json(graph: MoralGraph) -> bytes:
    """The export file's bytes: canonical JSON of :func:`to_interchange` with ``hash`` added last.

    Byte for byte what ``canonical_json(to_interchange(graph))`` gives (a test holds the two
    together), but written by string formatting: a million votes make ~100k edge and ranking
    objects, and building them as dicts first takes most of the export time.
    """
    body = _CanonicalWriter(graph).document().encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}\n'


def canonical_json(doc: Any) -> bytes:
    return _compact(doc).encode("utf-8")


def content_hash(doc: Mapping[str, Any]) -> str:
    """The hash a document should carry: SHA-256 of the canonical JSON of everything but ``hash``."""
    return hashlib.sha256(canonical_json({k: v for k, v in doc.items() if k != "hash"})).hexdigest()


def edges_json(edges: EdgeTable | None) -> list[dict[str, Any]]:
    if edges is None:
        return []
    ids, names = edges.value_ids, edges.context_names
    offsets = edges.context_offsets.tolist()
    codes = edges.context_codes.tolist()
    return [
        {
            "sourceValueId": ids[source],
            "wiserValueId": ids[wiser],
            "contexts": [names[c] for c in codes[offsets[i] : offsets[i + 1]]],
            "counts": dict(zip(COUNT_FIELDS, counts)),
            "summary": {"wiserLikelihood": likelihood, "entropy": entropy},
        }
        for i, (source, wiser, counts, likelihood, entropy) in enumerate(
            zip(
                edges.source.tolist(),
                edges.wiser.tolist(),
                edges.counts.tolist(),
                edges.wiser_likelihood.tolist(),
                edges.entropy.tolist(),
            )
        )
    ]


def _value_json(
    value_id: str, title: str, description: str, policies: tuple[str, ...], page_rank: float | None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": value_id, "title": title, "description": description, "policies": list(policies)}
    # Like the reference, a value without a rank (rank_nodes="graph_values") has no pageRank key.
    if page_rank is not None:
        doc["pageRank"] = page_rank
    return doc


def _per_context(contexts: Mapping[str, ContextGraph], part: Any) -> dict[str, Any]:
    return {name: items for name, context in contexts.items() if (items := part(context))}


class _CanonicalWriter:
    """Canonical JSON text of the export, keys in sorted order, written directly."""

    def __init__(self, graph: MoralGraph) -> None:
        self.graph = graph
        # Every id, title and context name is encoded once, however often it appears.
        self.ids = [_text(value.id) for value in graph.values]
        self.titles = {value.id: _text(value.title) for value in graph.values}
        self.id_of = {value.id: encoded for value, encoded in zip(graph.values, self.ids)}
        self.contexts = [_text(name) for name in graph.edges.context_names]

    def document(self) -> str:
        graph = self.graph
        parts = {
            "values": self._values(),
            "edges": self._edges(graph.edges),
            "rankings": self._object(
                {name: self._ranking(context.ranking) for name, context in graph.contexts.items()}
            ),
            "parameters": _compact(graph.params.to_json()),
        }
        if not graph.params.paper_compatible:
            parts["cycles"] = _compact([list(cycle) for cycle in graph.cycles])
            parts["droppedEdges"] = self._edges(graph.dropped_edges)
            parts["contextCycles"] = _compact(
                _per_context(graph.contexts, lambda c: [list(cycle) for cycle in c.cycles])
            )
            parts["contextDroppedEdges"] = self._object(
                {name: self._edges(c.dropped_edges) for name, c in graph.contexts.items() if c.dropped_edges}
            )
        return self._object(parts)

    @staticmethod
    def _object(members: Mapping[str, str]) -> str:
        return "{" + ",".join(f"{_text(key)}:{members[key]}" for key in sorted(members)) + "}"

    def _values(self) -> str:
        page_rank = self.graph.page_rank
        items = []
        for value, value_id in zip(self.graph.values, self.ids):
            rank = page_rank.get(value.id)
            rank_member = "" if rank is None else f'"pageRank":{float.__repr__(rank)},'
            items.append(
                f'{{"description":{_text(value.description)},"id":{value_id},{rank_member}'
                f'"policies":[{",".join(map(_text, value.policies))}],"title":{self.titles[value.id]}}}'
            )
        return "[" + ",".join(items) + "]"

    def _edges(self, edges: EdgeTable | None) -> str:
        if edges is None:
            return "[]"
        ids, contexts = self.ids, self.contexts
        offsets = edges.context_offsets.tolist()
        codes = edges.context_codes.tolist()
        items = [
            f'{{"contexts":[{",".join([contexts[c] for c in codes[offsets[i] : offsets[i + 1]]])}],'
            f'"counts":{{"impressions":{counts[4]},"markedLessWise":{counts[2]},"markedNotWiser":{counts[1]},'
            f'"markedUnsure":{counts[3]},"markedWiser":{counts[0]}}},"sourceValueId":{ids[source]},'
            f'"summary":{{"entropy":{float.__repr__(entropy)},"wiserLikelihood":{float.__repr__(likelihood)}}},'
            f'"wiserValueId":{ids[wiser]}}}'
            for i, (source, wiser, counts, likelihood, entropy) in enumerate(
                zip(
                    edges.source.tolist(),
                    edges.wiser.tolist(),
                    edges.counts.tolist(),
                    edges.wiser_likelihood.tolist(),
                    edges.entropy.tolist(),
                )
            )
        ]
        return "[" + ",".join(items) + "]"

    def _ranking(self, ranking: tuple[RankedValue, ...]) -> str:
        id_of, titles = self.id_of, self.titles
        items = [
            f'{{"id":{id_of[value_id]},"score":{float.__repr__(score)},"title":{titles[value_id]}}}'
            for value_id, _, score in ranking
        ]
        return "[" + ",".join(items) + "]"


def _text(value: str) -> str:
    # The C function json.dumps(ensure_ascii=False) itself uses for strings.
    return encode_basestring(value)


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
