"""Writing a community's moral graph for people and other tools: JSON, GraphML, a CSV folder.

* JSON — the interchange document of ``mge graph build`` (docs/method.md §7) plus ``community``,
  ``stories`` (what was voted, so every edge can be traced, docs/method.md §8) and ``votes`` (each
  counted vote: anonymous voter, story, choice, time; what ``mge import`` reads back). Canonical like the core's
  export: keys sorted, no spaces, ``hash`` last = SHA-256 of the canonical JSON of everything else.
* GraphML — for Gephi, yEd, networkx: one node per value, one edge per kept edge (source → wiser).
* CSV folder — ``votes.csv`` (with each vote's ``cast_at``, for ``--as-of``) and ``values.json``
  exactly as ``mge graph build`` reads them (so anyone can rebuild the graph and check it),
  ``edges.csv`` and ``rankings.csv`` for spreadsheets, and ``reasons.csv``: the votes that came with a
  reason (``why``), their voters numbered as in ``votes.csv``.
* JSON — each story carries the reasons given with its counted votes (choice and text, no voter).
* mge-summary — the moral graph in the layout the paper published (values, edges with counts and
  summary statistics).

Nothing written here names a person: voters appear as "voter-1", "voter-2", … numbered afresh in each
export (in order of first vote), so an export can't be joined to the bot's own member ids.
All output is deterministic: the same database and parameters give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.graph.build import CommunityGraphInput, CommunityInfo, StoryRecord
from bot.graph.files import CAST_AT_COLUMN, VOTE_COLUMNS
from core.graph import MoralGraph, Vote, content_hash, to_interchange
from core.graph.export import canonical_json
from core.graph.model import COUNT_FIELDS

CSV_FILES = ("votes.csv", "values.json", "edges.csv", "rankings.csv", "reasons.csv")
#: Joins list fields (contexts, policies) inside one CSV cell or GraphML attribute. A newline, because
#: contexts and policies are sentences that may hold commas, semicolons or bars.
LIST_SEPARATOR = "\n"


# --- JSON ------------------------------------------------------------------------------------------


def export_document(
    graph: MoralGraph, *, community: CommunityInfo, stories: Sequence[StoryRecord], votes: Sequence[dict] = ()
) -> dict[str, Any]:
    """The JSON export as a dict, without ``hash``."""
    doc = to_interchange(graph)
    doc["community"] = {"name": community.name, "platform": community.platform}
    doc["stories"] = [story.as_json() for story in stories]
    doc["votes"] = list(votes)
    return doc


def export_json(
    graph: MoralGraph, *, community: CommunityInfo, stories: Sequence[StoryRecord], votes: Sequence[dict] = ()
) -> bytes:
    """Canonical JSON of :func:`export_document` with its ``hash`` as the last key (the layout of
    ``core.graph.dump_json``, so one checker verifies both)."""
    doc = export_document(graph, community=community, stories=stories, votes=votes)
    body = canonical_json(doc)
    return body[:-1] + b',"hash":"' + content_hash(doc).encode("ascii") + b'"}\n'


def vote_records(data: CommunityGraphInput) -> list[dict[str, Any]]:
    """Each counted vote for the JSON export: its anonymous voter (numbered as in votes.csv), the story,
    the choice and when it was cast, so ``mge import`` can rebuild the deliberation."""
    numbers: dict[str, int] = {}
    return [
        {
            "voter": f"voter-{numbers.setdefault(vote.voter_id, len(numbers) + 1)}",
            "story": story_id,
            "choice": vote.choice,
            "castAt": cast_at.isoformat(),
        }
        for vote, story_id, cast_at in zip(data.votes, data.vote_story_ids, data.vote_cast_at)
    ]


def export_summary(graph: MoralGraph) -> bytes:
    """The moral graph in the layout the paper published (``MoralGraphSummary``): values with their
    fields and pageRank, edges with their counts and summary statistics. Numeric ids stay numbers."""
    doc = to_interchange(graph)

    def number(value_id: str) -> int | str:
        return int(value_id) if value_id.isdigit() else value_id

    values = [{**value, "id": number(value["id"])} for value in doc["values"]]
    edges = [
        {**edge, "sourceValueId": number(edge["sourceValueId"]), "wiserValueId": number(edge["wiserValueId"])}
        for edge in doc["edges"]
    ]
    return (json.dumps({"values": values, "edges": edges}, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- GraphML ---------------------------------------------------------------------------------------


def export_graphml(graph: MoralGraph, *, community: CommunityInfo) -> bytes:
    """GraphML of the graph: node attributes title, description, policies, pageRank (absent when the
    value was not ranked); edge attributes wiserLikelihood, entropy, the five counts, contexts."""
    import networkx as nx  # heavy: only when GraphML is asked for

    digraph: nx.DiGraph[str] = nx.DiGraph(
        community=community.name,
        platform=community.platform,
        algorithm=graph.params.algorithm,
        # The hash `mge graph build` would give this graph, to tie the file to a JSON export of it.
        interchangeHash=content_hash(to_interchange(graph)),
    )
    for value in graph.values:
        attributes: dict[str, Any] = {
            "title": value.title,
            "description": value.description,
            "policies": LIST_SEPARATOR.join(value.policies),
        }
        rank = graph.page_rank.get(value.id)
        if rank is not None:  # GraphML has no null
            attributes["pageRank"] = rank
        digraph.add_node(value.id, **attributes)
    for edge in graph.edges:
        digraph.add_edge(
            edge.source_id,
            edge.wiser_id,
            wiserLikelihood=edge.wiser_likelihood,
            entropy=edge.entropy,
            contexts=LIST_SEPARATOR.join(edge.contexts),
            **dict(zip(COUNT_FIELDS, (int(c) for c in edge.counts))),
        )
    buffer = io.BytesIO()
    nx.write_graphml(digraph, buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue()


# --- CSV folder ------------------------------------------------------------------------------------


def export_csv_files(
    graph: MoralGraph,
    votes: Sequence[Vote],
    *,
    cast_at: Sequence[datetime] | None = None,
    reasons: Sequence[str | None] = (),
) -> dict[str, bytes]:
    """File name → contents of the CSV export folder (see the module docstring). ``cast_at`` and
    ``reasons``: when each vote was cast and the reason given with it (parallel lists)."""
    return {
        "votes.csv": votes_csv(votes, cast_at),
        "values.json": values_json(graph),
        "edges.csv": edges_csv(graph),
        "rankings.csv": rankings_csv(graph),
        "reasons.csv": reasons_csv(votes, reasons),
    }


def _voter_labels(votes: Sequence[Vote]) -> list[str]:
    """ "voter-1", "voter-2", … for each vote's voter, numbered in order of first vote."""
    numbers: dict[str, int] = {}
    return [f"voter-{numbers.setdefault(v.voter_id, len(numbers) + 1)}" for v in votes]


def votes_csv(votes: Sequence[Vote], cast_at: Sequence[datetime] | None = None) -> bytes:
    """The VOTES.csv ``mge graph build`` reads, votes in cast order (order matters: it decides the
    order of contexts on an edge), with a ``cast_at`` column when the times are given (for
    ``mge graph build --as-of``)."""
    times = [moment.isoformat() for moment in cast_at] if cast_at is not None else None
    rows = (
        [voter, v.from_value_id, v.to_value_id, v.context, v.choice, *([times[i]] if times is not None else [])]
        for i, (voter, v) in enumerate(zip(_voter_labels(votes), votes, strict=True))
    )
    return _csv((*VOTE_COLUMNS, CAST_AT_COLUMN) if times is not None else VOTE_COLUMNS, rows)


def reasons_csv(votes: Sequence[Vote], reasons: Sequence[str | None]) -> bytes:
    """The votes that came with a reason, with it: the voter numbered as in ``votes.csv``."""
    rows = (
        [voter, v.from_value_id, v.to_value_id, v.context, v.choice, why]
        for voter, v, why in zip(_voter_labels(votes), votes, reasons, strict=False)
        if why
    )
    return _csv((*VOTE_COLUMNS, "why"), rows)


def values_json(graph: MoralGraph) -> bytes:
    """The VALUES.json ``mge graph build`` reads: a list of values, no ranks (they are derived)."""
    doc = [
        {"id": v.id, "title": v.title, "description": v.description, "policies": list(v.policies)} for v in graph.values
    ]
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def edges_csv(graph: MoralGraph) -> bytes:
    titles = {v.id: v.title for v in graph.values}
    header = (
        "source_value_id",
        "source_title",
        "wiser_value_id",
        "wiser_title",
        *COUNT_FIELDS,
        "wiserLikelihood",
        "entropy",
        "contexts",
    )
    rows = (
        [
            edge.source_id,
            titles[edge.source_id],
            edge.wiser_id,
            titles[edge.wiser_id],
            *edge.counts,
            repr(edge.wiser_likelihood),
            repr(edge.entropy),
            LIST_SEPARATOR.join(edge.contexts),
        ]
        for edge in graph.edges
    )
    return _csv(header, rows)


def rankings_csv(graph: MoralGraph) -> bytes:
    """One row per ranked value per context, best first; rank 1 is the context's winner."""
    rows = (
        [context, rank, value.id, value.title, repr(value.score)]
        for context, ranking in graph.rankings.items()
        for rank, value in enumerate(ranking, start=1)
    )
    return _csv(("context", "rank", "value_id", "title", "score"), rows)


def _csv(header: Sequence[str], rows: Any) -> bytes:
    text = io.StringIO()
    # "\n" line ends: the VOTES.csv reader accepts them, and they diff cleanly in git.
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


# --- writing files ---------------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target and rename, so a reader never sees half a file. Raises OSError."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


def write_csv_folder(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Create ``folder`` if needed and write the files into it (replacing earlier exports). Raises OSError."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        write_atomically(folder / name, data)
        written.append(folder / name)
    return written
