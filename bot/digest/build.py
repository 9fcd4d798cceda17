"""The weekly graph digest of a community: built from the database, compared with the last one, drawn.

``prepare_digest`` builds everything a post needs (the digest, the snapshot the next digest compares
with, the PNG); ``bot.digest.posting`` claims the week, posts it and stores the snapshot with
``finish_digest_job``; ``mge digest preview`` writes it to files.
"""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from bot.graph.build import load_community_graph_input
from bot.runtime.jobs import finish_job
from core.digest import Digest, Participation, build_digest_from_graph, digest_period
from core.graph import GraphParams, MoralGraph, build_moral_graph
from storage import digest_repo, jobs_repo
from storage.database import Database
from storage.models import JobRun

DIGEST_JOB = "digest"
#: "This period" of a digest: the days before it is built.
PERIOD = timedelta(days=7)
#: How many recent digest runs are searched for the last snapshot.
SNAPSHOT_LOOKBACK = 10


async def build_digest(
    database: Database,
    *,
    community_id: int,
    now: datetime,
    params: GraphParams = GraphParams(),
    previous: dict | None = None,
) -> tuple[Digest, dict]:
    """The community's digest as of ``now`` and the snapshot to store for the next one.

    ``previous`` defaults to :func:`previous_snapshot` (the last digest that was done)."""
    digest, snapshot, _ = await _build(database, community_id=community_id, now=now, params=params, previous=previous)
    return digest, snapshot


async def prepare_digest(
    database: Database,
    *,
    community_id: int,
    now: datetime,
    params: GraphParams = GraphParams(),
    period: str | None = None,
) -> tuple[Digest, dict, bytes]:
    """What a digest post needs: the digest, its snapshot (store it with :func:`finish_digest_job`)
    and the PNG picture of the graph. ``period`` names the digest (default: the ISO week of ``now``)."""
    digest, snapshot, graph = await _build(
        database, community_id=community_id, now=now, params=params, previous=None, period=period
    )
    return digest, snapshot, graph_png(graph, title=f"{digest.community} — {digest.period}")


async def _build(
    database: Database,
    *,
    community_id: int,
    now: datetime,
    params: GraphParams,
    previous: dict | None,
    period: str | None = None,
) -> tuple[Digest, dict, MoralGraph]:
    data = await load_community_graph_input(database, community_id=community_id)
    graph = build_moral_graph(data.values, data.votes, params)
    if previous is None:
        previous = await previous_snapshot(database, community_id=community_id)
    since = now - PERIOD
    scenarios = await _scenario_contexts(database, community_id=community_id)
    participation = await participation_counts(database, community_id=community_id, since=since, until=now)
    digest, snapshot = build_digest_from_graph(
        graph,
        community=data.community.name or str(data.community.id),
        period=period or digest_period(now),
        since=since,
        until=now,
        scenarios=scenarios,
        previous=previous,
        participation=participation,
    )
    return digest, snapshot, graph


async def _scenario_contexts(database: Database, *, community_id: int) -> list[tuple[str, list[str]]]:
    """(scenario text, its context texts as the graph names them) for each scenario, oldest first."""
    async with database.session() as session:
        rows = await digest_repo.scenario_context_texts(session, community_id=community_id)
    grouped: dict[int, tuple[str, list[str]]] = {}
    for scenario_id, scenario_text, context_text in rows:
        grouped.setdefault(scenario_id, (scenario_text, []))[1].append(context_text.strip())
    return list(grouped.values())


async def participation_counts(
    database: Database, *, community_id: int, since: datetime, until: datetime
) -> Participation:
    """Interviews completed (confirmed) and votes cast in [since, until), and in total."""
    async with database.session() as session:
        return await digest_repo.participation_counts(session, community_id=community_id, since=since, until=until)


# --- the snapshot in job_run -------------------------------------------------------------------------


async def previous_snapshot(database: Database, *, community_id: int) -> dict | None:
    """The snapshot of the community's last digest that was done, or None (none yet, or unreadable)."""
    async with database.session() as session:
        runs = await jobs_repo.latest_done_runs(
            session, job=DIGEST_JOB, community_id=community_id, limit=SNAPSHOT_LOOKBACK
        )
    # A done run without a snapshot (one interrupted while posting, see digest_posting) is skipped.
    for run in runs:
        try:
            snapshot = json.loads(run.detail or "null")
        except ValueError:
            continue
        if isinstance(snapshot, dict) and "version" in snapshot:
            return snapshot
    return None


def finish_digest_job(run: JobRun, snapshot: dict, *, now: datetime) -> None:
    """Mark the digest run done with its snapshot as detail. ``finish_job`` cuts details at 4000
    characters (meant for messages); a snapshot must stay whole JSON, and the column is text."""
    finish_job(run, now=now, ok=True)
    run.detail = json.dumps(snapshot, separators=(",", ":"), sort_keys=True)


# --- the picture ----------------------------------------------------------------------------------------

#: 12 × 8 inches at 100 dpi: 1200 × 800 pixels.
FIGSIZE = (12, 8)
DPI = 100
LABEL_WIDTH = 18
LABEL_LINES = 2
#: The picture shows at most this many values (the best ranked): beyond that labels overlap.
MAX_NODES = 40


def _label(title: str) -> str:
    lines = textwrap.wrap(" ".join(title.split()), LABEL_WIDTH) or [""]
    if len(lines) > LABEL_LINES:
        lines = lines[:LABEL_LINES]
        lines[-1] = lines[-1][: LABEL_WIDTH - 1].rstrip() + "…"
    return "\n".join(lines)


def _layout(g) -> dict:
    """A seeded spring layout per connected part, the parts in a grid (largest first), so a small
    part is not squeezed into a corner by the others."""
    import math

    import networkx as nx

    parts = sorted((sorted(c) for c in nx.weakly_connected_components(g)), key=lambda c: (-len(c), c[0]))
    columns = math.ceil(math.sqrt(len(parts)))
    pos: dict = {}
    for i, nodes in enumerate(parts):
        row, column = divmod(i, columns)
        sub = g.subgraph(nodes)
        if len(nodes) == 1:
            local: Mapping[str, Iterable[float]] = {nodes[0]: (0.0, 0.0)}
        else:
            local = nx.spring_layout(sub, seed=7, k=1.8 / math.sqrt(len(nodes)), iterations=200)
        for node, (x, y) in local.items():
            pos[node] = (column * 2.6 + float(x), float(y) - row * 2.6)
    return pos


def render_graph_png(graph: MoralGraph, path_or_buffer: str | Path | IO[bytes], *, title: str) -> None:
    """Draw the graph: values as nodes sized by PageRank, an arrow from each value to the value voted
    wiser than it, shortened titles as labels. Same graph, same picture (seeded layout). A graph
    without edges gives a picture saying so."""
    # Agg explicitly, without pyplot: no global backend state, safe in a server and in threads.
    import networkx as nx
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.02, 0.02, 0.96, 0.90))
    ax.set_axis_off()
    figure.text(0.5, 0.955, title, ha="center", va="center", fontsize=16, parse_math=False)

    titles = {v.id: v.title for v in graph.values}
    pairs = graph.edges.pairs()
    if not pairs:
        ax.text(
            0.5,
            0.5,
            "no edges yet",
            ha="center",
            va="center",
            fontsize=28,
            color="#666666",
            transform=ax.transAxes,
            parse_math=False,
        )
    else:
        rank = {k: (v or 0.0) for k, v in graph.page_rank.items()}
        nodes = sorted({n for pair in pairs for n in pair}, key=lambda n: (-rank.get(n, 0.0), n))
        shown = set(nodes[:MAX_NODES])
        g: nx.DiGraph[str] = nx.DiGraph()
        g.add_nodes_from(sorted(shown))
        g.add_edges_from(sorted((s, w) for s, w in pairs if s in shown and w in shown))
        pos = _layout(g)
        top = max((rank.get(n, 0.0) for n in g), default=0.0) or 1.0
        biggest = 2700 if len(g) <= 15 else 1400
        sizes = [300 + biggest * (rank.get(n, 0.0) / top) for n in g]
        nx.draw_networkx_edges(
            g,
            pos,
            ax=ax,
            node_size=sizes,
            arrowstyle="-|>",
            arrowsize=16,
            edge_color="#888888",
            width=1.2,
            connectionstyle="arc3,rad=0.08",
        )
        nx.draw_networkx_nodes(
            g,
            pos,
            ax=ax,
            node_size=sizes,
            node_color=[rank.get(n, 0.0) for n in g],
            cmap="YlGnBu",
            vmin=-0.3 * top,
            vmax=1.15 * top,
            edgecolors="#335577",
            linewidths=1.0,
        )
        for node, (x, y) in pos.items():
            ax.text(
                x,
                y,
                _label(titles.get(node, node)),
                ha="center",
                va="center",
                fontsize=9,
                parse_math=False,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.7},
            )
        if len(nodes) > MAX_NODES:
            ax.text(
                0.99,
                0.01,
                f"{len(nodes) - MAX_NODES} more values not shown",
                ha="right",
                va="bottom",
                fontsize=9,
                color="#666666",
                transform=ax.transAxes,
                parse_math=False,
            )
        ax.margins(0.08)
        figure.text(
            0.5,
            0.01,
            "arrow: from a value to the value voted wiser than it; size: PageRank",
            ha="center",
            va="bottom",
            fontsize=9,
            color="#666666",
            parse_math=False,
        )
    figure.savefig(path_or_buffer, format="png", dpi=DPI, metadata={"Software": None})


def graph_png(graph: MoralGraph, *, title: str) -> bytes:
    buffer = io.BytesIO()
    render_graph_png(graph, buffer, title=title)
    return buffer.getvalue()
