"""Votes → the moral graph (docs/method.md §7): counting, thresholds, PageRank, cycles, export.

Pure domain code: no database, no chat platform. Start at :func:`build_moral_graph`.

The names below are loaded on first use: a process that only needs a submodule (every poll reaction
imports ``core.graph.votes`` for its choices) does not pay for SciPy and NetworkX at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.graph.assemble import UnknownValueError, build_moral_graph, rank_by_context
    from core.graph.export import content_hash, dump_json, to_interchange
    from core.graph.model import ContextGraph, Edge, EdgeCounts, EdgeTable, MoralGraph, RankedValue, Value
    from core.graph.params import ALGORITHMS, Algorithm, GraphParams
    from core.graph.votes import CHOICES, Choice, Vote, VoteTable

_HOMES = {
    "core.graph.assemble": ("UnknownValueError", "build_moral_graph", "rank_by_context"),
    "core.graph.export": ("content_hash", "dump_json", "to_interchange"),
    "core.graph.model": ("ContextGraph", "Edge", "EdgeCounts", "EdgeTable", "MoralGraph", "RankedValue", "Value"),
    "core.graph.params": ("ALGORITHMS", "Algorithm", "GraphParams"),
    "core.graph.votes": ("CHOICES", "Choice", "Vote", "VoteTable"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "CHOICES",
    "Choice",
    "ContextGraph",
    "Edge",
    "EdgeCounts",
    "EdgeTable",
    "GraphParams",
    "MoralGraph",
    "RankedValue",
    "UnknownValueError",
    "Value",
    "Vote",
    "VoteTable",
    "build_moral_graph",
    "content_hash",
    "dump_json",
    "rank_by_context",
    "to_interchange",
]


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
