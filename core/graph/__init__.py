"""Votes → the moral graph (docs/method.md §7): counting, thresholds, PageRank, cycles, export.

Pure domain code: no database, no chat platform. Start at :func:`build_moral_graph`.
"""

from core.graph.assemble import UnknownValueError, build_moral_graph, rank_by_context
from core.graph.export import content_hash, dump_json, to_interchange
from core.graph.model import ContextGraph, Edge, EdgeCounts, EdgeTable, MoralGraph, RankedValue, Value
from core.graph.params import ALGORITHMS, Algorithm, GraphParams
from core.graph.votes import CHOICES, Choice, Vote, VoteTable

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
