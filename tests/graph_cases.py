"""Small hand-made graphs shared by the tests of both algorithms (each test module has its own
hand-computed expectations for them)."""

from __future__ import annotations

from core.graph import Value, Vote

VALUES = [Value(v, f"Value {v}") for v in "ABCDE"]  # E never appears in a vote


def vote(voter: str, a: str, b: str, context: str, choice: str) -> Vote:
    return Vote(voter, a, b, context, choice)  # type: ignore[arg-type]


# Eight votes on A→B (two contexts, both directions) and B→C.
VOTES = [
    vote("u1", "A", "B", "c1", "upgrade"),
    vote("u2", "A", "B", "c1", "upgrade"),
    vote("u3", "A", "B", "c2", "not_sure"),
    vote("u4", "B", "A", "c2", "no_upgrade"),
    vote("u1", "B", "C", "c1", "upgrade"),
    vote("u2", "B", "C", "c1", "upgrade"),
    vote("u3", "B", "C", "c1", "upgrade"),
    vote("u4", "B", "C", "c1", "no_upgrade"),
]
