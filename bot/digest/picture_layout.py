"""Where each value's box goes in a panel of the digest's picture: a layered layout, wiser higher.

Pure geometry in pixels, given each box's measured size. Layers: an arrow goes from a value up to the
value voted wiser than it, so a value's layer is the longest chain of wiser values above it; the
values of a cycle (a strongly connected part) share a layer, side by side in the cycle's order, since
none of them is wiser than the others. Within a layer, values sit under the values they lost to
(their mean position, the barycentre heuristic of layered drawing), pushed apart just enough not to
overlap; a layer wider than the panel continues on a second row. Boxes never overlap by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

#: Pixels between boxes side by side, between layers (room for the arrows), between the rows of
#: one layer that did not fit on one row, and above a row with an arc between two of its values.
GAP_X = 14
LAYER_GAP = 40
WRAP_GAP = 14
ARC_ROOM = 20


@dataclass(frozen=True, slots=True)
class Box:
    #: Left and top edge, from the panel's top left corner, y downwards.
    x: float
    y: float
    width: float
    height: float
    row: int

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True, slots=True)
class PanelLayout:
    boxes: Mapping[str, Box]
    #: Values left to right, per row, top row first.
    rows: tuple[tuple[str, ...], ...]
    #: Arrows (source, wiser) on a cycle: both ends in one strongly connected part.
    cycle_arrows: frozenset[tuple[str, str]]
    height: float

    def adjacent(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are neighbours on one row."""
        row = self.rows[self.boxes[a].row]
        return self.boxes[a].row == self.boxes[b].row and abs(row.index(a) - row.index(b)) == 1


def layout_panel(
    nodes: Sequence[str], arrows: Sequence[tuple[str, str]], sizes: Mapping[str, tuple[float, float]], *, width: float
) -> PanelLayout:
    """Boxes for ``nodes`` (in order of importance: it breaks ties) inside ``width`` pixels.
    ``arrows`` are (source, wiser) pairs; ``sizes`` (width, height) per node, each at most ``width``."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(arrows)
    importance = {node: i for i, node in enumerate(nodes)}
    parts = sorted(
        (sorted(p, key=importance.__getitem__) for p in nx.strongly_connected_components(graph)), key=_first(importance)
    )
    part_of = {node: i for i, part in enumerate(parts) for node in part}
    cycle_arrows = frozenset((s, w) for s, w in arrows if part_of[s] == part_of[w])
    layer = _layers(graph, parts, part_of)

    centers: dict[str, float] = {}
    rows: list[list[str]] = []
    for depth in range(max(layer, default=-1) + 1):
        blocks = [_cycle_order(graph, parts[i], importance) for i in range(len(parts)) if layer[i] == depth]
        if depth == 0:
            desired = [width * (i + 0.5) / len(blocks) for i in range(len(blocks))]
        else:
            desired = [_barycentre(graph, block, centers, width) for block in blocks]
        ordered = sorted(zip(desired, blocks), key=lambda d: (d[0], importance[d[1][0]]))
        for wrapped, row in enumerate(_wrap(ordered, sizes, width)):
            desired = row.desired
            if wrapped:
                # Between the boxes of the row above, so arrows from this row pass between them.
                gaps = _gaps([(centers[n], sizes[n][0]) for n in rows[-1]], width)
                desired = [min(gaps, key=lambda g: abs(g - d)) for d in desired]
            lefts = _place([sizes[n][0] for n in row.nodes], desired, width)
            centers.update({n: left + sizes[n][0] / 2 for n, left in zip(row.nodes, lefts)})
            rows.append(row.nodes)

    boxes: dict[str, Box] = {}
    top = 0.0
    previous_layer = None
    for index, row_nodes in enumerate(rows):
        depth = layer[part_of[row_nodes[0]]]
        if previous_layer is not None:
            top += LAYER_GAP if depth != previous_layer else WRAP_GAP
        arcs = any(
            part_of[s] == part_of[w]
            and s in row_nodes
            and w in row_nodes
            and abs(row_nodes.index(s) - row_nodes.index(w)) > 1
            for s, w in arrows
        )
        top += ARC_ROOM if arcs else 0.0
        height = max(sizes[n][1] for n in row_nodes)
        for n in row_nodes:
            w, h = sizes[n]
            boxes[n] = Box(centers[n] - w / 2, top + (height - h) / 2, w, h, index)
        top += height
        previous_layer = depth
    return PanelLayout(boxes, tuple(tuple(r) for r in rows), cycle_arrows, top)


def _first(importance: Mapping[str, int]):
    return lambda part: importance[part[0]]


def _layers(graph: nx.DiGraph[str], parts: list[list[str]], part_of: Mapping[str, int]) -> list[int]:
    """Per strongly connected part: the longest chain of wiser parts above it (0: nothing is wiser)."""
    condensed: nx.DiGraph[int] = nx.DiGraph()
    condensed.add_nodes_from(range(len(parts)))
    condensed.add_edges_from((part_of[s], part_of[w]) for s, w in graph.edges if part_of[s] != part_of[w])
    layer = [0] * len(parts)
    # Wisest first: every part's wiser parts have their layer before it is computed.
    for part in reversed(list(nx.topological_sort(condensed))):
        layer[part] = max((layer[w] + 1 for w in condensed.successors(part)), default=0)
    return layer


def _cycle_order(graph: nx.DiGraph[str], part: list[str], importance: Mapping[str, int]) -> list[str]:
    """A part's values in the order its arrows go round, from its most important value, so most
    arrows of a cycle join neighbours."""
    members, order = set(part), [part[0]]
    while len(order) < len(part):
        onward = sorted(
            (w for w in graph.successors(order[-1]) if w in members and w not in order), key=importance.__getitem__
        )
        order.append(onward[0] if onward else next(n for n in part if n not in order))
    return order


def _barycentre(graph: nx.DiGraph[str], block: list[str], centers: Mapping[str, float], width: float) -> float:
    wiser = [centers[w] for n in block for w in graph.successors(n) if w in centers]
    return sum(wiser) / len(wiser) if wiser else width / 2


def _gaps(row: list[tuple[float, float]], width: float) -> list[float]:
    """Middles of the free stretches of a row of (centre, width) boxes, ends of the panel included."""
    edges = [0.0, *(x for c, w in row for x in (c - w / 2, c + w / 2)), width]
    return [(a + b) / 2 for a, b in zip(edges[::2], edges[1::2])]


@dataclass(frozen=True, slots=True)
class _Row:
    nodes: list[str]
    desired: list[float]


def _wrap(ordered: list[tuple[float, list[str]]], sizes: Mapping[str, tuple[float, float]], width: float) -> list[_Row]:
    """Blocks in order, cut into rows of at most ``width``; a block wider than a row is cut too.
    Each value's desired centre is its block's, spread over the block's width."""
    items: list[tuple[str, float]] = []
    for desired, block in ordered:
        block_width = sum(sizes[n][0] for n in block) + GAP_X * (len(block) - 1)
        left = desired - block_width / 2
        for n in block:
            items.append((n, left + sizes[n][0] / 2))
            left += sizes[n][0] + GAP_X
    rows: list[_Row] = []
    used = width + 1.0
    for n, desired in items:
        needed = sizes[n][0] + (GAP_X if used else 0.0)
        if used + needed > width:
            rows.append(_Row([], []))
            used, needed = 0.0, sizes[n][0]
        rows[-1].nodes.append(n)
        rows[-1].desired.append(desired)
        used += needed
    return rows


def _place(widths: list[float], desired: list[float], width: float) -> list[float]:
    """Left edges as close as possible (least squares) to centring each box on its desired centre,
    in order, ``GAP_X`` apart, inside [0, width]: pool-adjacent-violators on the offsets left after
    taking out the boxes before each one."""
    offsets, before = [], 0.0
    for w in widths:
        offsets.append(before)
        before += w + GAP_X
    targets = [d - w / 2 - o for d, w, o in zip(desired, widths, offsets)]
    blocks: list[list[float]] = []  # [mean, count]
    for t in targets:
        blocks.append([t, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            blocks[-1] = [
                (blocks[-1][0] * blocks[-1][1] + mean * count) / (blocks[-1][1] + count),
                blocks[-1][1] + count,
            ]
    lefts: list[float] = []
    position = 0
    for mean, count in blocks:
        for _ in range(int(count)):
            lefts.append(mean + offsets[position])
            position += 1
    # Into the panel: from the right edge leftwards, then from the left edge rightwards (a row is
    # never wider than the panel, so the second pass keeps the first's right bound).
    for i in reversed(range(len(lefts))):
        bound = width - widths[i] if i == len(lefts) - 1 else lefts[i + 1] - GAP_X - widths[i]
        lefts[i] = min(lefts[i], bound)
    for i in range(len(lefts)):
        bound = 0.0 if i == 0 else lefts[i - 1] + widths[i - 1] + GAP_X
        lefts[i] = max(lefts[i], bound)
    return lefts
