"""The digest's picture of the moral graph, as a PNG."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from core.graph import MoralGraph

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
