"""The digest's picture of the moral graph, as a PNG a community can read at 50–150 values.

One panel per context, in the digest's order (``picture_content`` says what is in each): the context's
top values by its PageRank (#1 is the best) with the values they were voted wiser than, wiser higher
(``picture_layout``), an arrow from each value to the value voted wiser than it, arrows on a cycle red
and dashed, and in words what is not drawn. Everything is placed in pixels from the text's measured
size (matplotlib's renderer), so no two labels overlap. Same graph, same bytes.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.text import Text

from bot.digest.picture_content import Panel, PictureContent, picture_content
from bot.digest.picture_layout import ARC_ROOM, PanelLayout, layout_panel
from core.graph import MoralGraph
from core.text import counted

WIDTH = 1200  # pixels
EMPTY_HEIGHT = 800
DPI = 100
MARGIN = 20
PANEL_GAP = 16
PANEL_PAD = 12
#: Between a panel's heading, its drawing and its note, and between lines of the header and footer.
SPACE = 10
LABEL_WIDTH = 19  # characters per line of a value's label...
LABEL_LINES = 3  # ...and lines at most
LABEL_SIZE = 9
#: A label's box reaches this many font sizes beyond its text.
BOX_PAD = 0.35
TITLE_SIZE = 16
HEADING_SIZE = 10
NOTE_SIZE = 8.5
TOP_FILL, TOP_EDGE = "#dcebf8", "#2b6cb0"
OTHER_FILL, OTHER_EDGE = "#f4f4f4", "#a0a0a0"
ARROW_COLOR, CYCLE_COLOR, NOTE_COLOR = "#7d8b99", "#d1495b", "#555555"
PANEL_FILL, PANEL_EDGE = "#fbfcfd", "#d5dce3"
INTRO = (
    "Each panel is a context: its top values by PageRank (#1 is the best) and, below them, values they were "
    "voted wiser than. Higher is wiser."
)


def render_graph_png(
    graph: MoralGraph, path_or_buffer: str | Path | IO[bytes], *, title: str, contexts: Sequence[str] | None = None
) -> None:
    """Draw the graph's picture (``draw_graph_picture``) as a PNG to a path or a binary buffer."""
    figure = draw_graph_picture(graph, title=title, contexts=contexts)
    figure.savefig(path_or_buffer, format="png", dpi=DPI, metadata={"Software": None})


def graph_png(graph: MoralGraph, *, title: str, contexts: Sequence[str] | None = None) -> bytes:
    buffer = io.BytesIO()
    render_graph_png(graph, buffer, title=title, contexts=contexts)
    return buffer.getvalue()


def draw_graph_picture(graph: MoralGraph, *, title: str, contexts: Sequence[str] | None = None) -> Figure:
    """The picture as a matplotlib figure, ``WIDTH`` pixels wide and as tall as its panels need.
    ``contexts`` orders the panels (the digest's order). A graph without edges gives a picture saying so.
    Artists carry gids: ``value:<panel>:<id>`` labels, ``arrow:…``/``cycle:…`` arrows, ``hidden:<panel>``
    and ``not-drawn`` notes."""
    # Agg explicitly, without pyplot: no global backend state, safe in a server and in threads.
    figure = Figure(figsize=(WIDTH / DPI, EMPTY_HEIGHT / DPI), dpi=DPI)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    sheet = _Sheet(ax, canvas.get_renderer())
    content = picture_content(graph, contexts=contexts)
    if not content.panels:
        sheet.text(WIDTH / 2, 40, title, size=TITLE_SIZE, weight="bold", ha="center", va="top")
        sheet.text(WIDTH / 2, EMPTY_HEIGHT / 2, "no edges yet", size=28, color="#666666", ha="center", va="center")
        sheet.finish(figure, EMPTY_HEIGHT)
        return figure

    top = MARGIN + sheet.lines(title, WIDTH / 2, MARGIN, WIDTH - 2 * MARGIN, size=TITLE_SIZE, weight="bold")
    top += 4 + sheet.lines(INTRO, WIDTH / 2, top + 4, WIDTH - 2 * MARGIN, size=NOTE_SIZE, color=NOTE_COLOR)
    top += SPACE
    columns = 1 if len(content.panels) == 1 else 2
    panel_width = (WIDTH - 2 * MARGIN - (columns - 1) * PANEL_GAP) / columns
    drawn = [_PanelDrawing.make(sheet, i, panel, panel_width) for i, panel in enumerate(content.panels)]
    # Each panel goes under the shortest column so far: panels differ in height, rows would leave holes.
    bottoms = [top] * columns
    for panel_drawing in drawn:
        column = bottoms.index(min(bottoms))
        panel_drawing.place(sheet, MARGIN + column * (panel_width + PANEL_GAP), bottoms[column])
        bottoms[column] += panel_drawing.height + PANEL_GAP
    top = max(bottoms)
    top += _legend(sheet, top, cycles=any(d.layout.cycle_arrows for d in drawn))
    top += sheet.lines(
        not_drawn_note(content),
        WIDTH / 2,
        top + SPACE,
        WIDTH - 2 * MARGIN,
        size=NOTE_SIZE,
        color=NOTE_COLOR,
        gid="not-drawn",
    )
    sheet.finish(figure, math.ceil(top + SPACE + MARGIN))
    return figure


def hidden_note(panel: Panel) -> str:
    """A panel's last line: what of its context is not drawn."""
    edges = f"{counted(panel.hidden_edges, 'edge')} ({counted(panel.hidden_votes, 'vote')})"
    if not panel.hidden_values:
        return f"all {counted(panel.values, 'value')} drawn" + (f"; not drawn: {edges}" if panel.hidden_edges else "")
    return f"and {counted(panel.hidden_values, 'more value')}, {edges} not drawn"


def not_drawn_note(content: PictureContent) -> str:
    """The picture's last line: what of the whole graph is not drawn (the digest text lists every context)."""
    hidden = [
        counted(content.values - content.values_drawn, "more value") if content.values > content.values_drawn else "",
        counted(content.votes - content.votes_drawn, "vote") if content.votes > content.votes_drawn else "",
        counted(len(content.contexts_left_out), "more context") + f" ({'; '.join(content.contexts_left_out)})"
        if content.contexts_left_out
        else "",
    ]
    note = (
        f"Drawn: {content.values_drawn} of {counted(content.values, 'value')} and the "
        f"{counted(content.votes_drawn, 'vote')} behind the arrows"
    )
    hidden = [h for h in hidden if h]
    return note + (f"; not drawn: {', '.join(hidden)}." if hidden else ".")


# --- drawing in pixels -------------------------------------------------------------------------------


class _Sheet:
    """The figure's one axes in pixels, y downwards: every position below is in pixels from the top left."""

    def __init__(self, ax: Axes, renderer: RendererAgg) -> None:
        self.ax, self.renderer = ax, renderer

    def text(self, x: float, y: float, text: str, *, size: float, **style: Any) -> Text:
        style.setdefault("ha", "center")
        style.setdefault("va", "top")
        return self.ax.text(x, y, text, fontsize=size, parse_math=False, zorder=4, **style)

    def size(self, artist: Text) -> tuple[float, float]:
        extent = artist.get_window_extent(self.renderer)
        return extent.width, extent.height

    def fit(self, text: str, width: float, *, size: float, max_lines: int, **style: Any) -> Text:
        """A text wrapped (and cut with "…" after ``max_lines``) to at most ``width`` pixels."""
        chars = max(8, int(width / (size * 0.55)))
        while True:
            artist = self.text(0, 0, _wrapped(text, chars, max_lines), size=size, **style)
            if self.size(artist)[0] <= width or chars <= 8:
                return artist
            artist.remove()
            chars = max(8, int(chars * 0.9))

    def lines(
        self, text: str, x: float, y: float, width: float, *, size: float, max_lines: int = 3, **style: Any
    ) -> float:
        """Draw ``text`` centred on ``x`` from ``y`` down, wrapped to ``width``; returns its height."""
        artist = self.fit(text, width, size=size, max_lines=max_lines, multialignment="center", **style)
        artist.set_position((x, y))
        return self.size(artist)[1]

    def finish(self, figure: Figure, height: float) -> None:
        figure.set_size_inches(WIDTH / DPI, height / DPI)
        self.ax.set_xlim(0, WIDTH)
        self.ax.set_ylim(height, 0)


def _wrapped(text: str, chars: int, max_lines: int) -> str:
    lines = textwrap.wrap(" ".join(text.split()), chars) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: chars - 1].rstrip() + "…"
    return "\n".join(lines)


@dataclass
class _PanelDrawing:
    index: int
    panel: Panel
    width: float
    heading: Text
    note: Text
    labels: dict[str, Text]
    layout: PanelLayout
    heading_height: float
    note_height: float

    @classmethod
    def make(cls, sheet: _Sheet, index: int, panel: Panel, width: float) -> _PanelDrawing:
        """Measure the panel's texts and lay it out; nothing is in place until :meth:`place`."""
        inner = width - 2 * PANEL_PAD
        heading = sheet.fit(panel.context, inner, size=HEADING_SIZE, max_lines=2, weight="bold", gid=f"context:{index}")
        note = sheet.fit(
            hidden_note(panel), inner, size=NOTE_SIZE, max_lines=2, color=NOTE_COLOR, gid=f"hidden:{index}"
        )
        pad = 2 * BOX_PAD * LABEL_SIZE * DPI / 72
        labels, sizes = {}, {}
        for node in panel.nodes:
            top = node.rank is not None
            label = _wrapped(f"#{node.rank} {node.title}" if top else node.title, LABEL_WIDTH, LABEL_LINES)
            artist = sheet.text(
                0,
                0,
                label,
                size=LABEL_SIZE,
                va="center",
                multialignment="center",
                weight="bold" if top else "normal",
                gid=f"value:{index}:{node.id}",
                bbox={
                    "boxstyle": f"round,pad={BOX_PAD}",
                    "fc": TOP_FILL if top else OTHER_FILL,
                    "ec": TOP_EDGE if top else OTHER_EDGE,
                    "lw": 1.2 if top else 0.8,
                },
            )
            text_width, text_height = sheet.size(artist)
            labels[node.id], sizes[node.id] = artist, (min(text_width + pad, inner), text_height + pad)
        arrows = [(a.source, a.wiser) for a in panel.arrows]
        layout = layout_panel([n.id for n in panel.nodes], arrows, sizes, width=inner)
        return cls(index, panel, width, heading, note, labels, layout, sheet.size(heading)[1], sheet.size(note)[1])

    @property
    def height(self) -> float:
        return 2 * PANEL_PAD + self.heading_height + 2 * SPACE + self.layout.height + self.note_height

    def place(self, sheet: _Sheet, left: float, top: float) -> None:
        sheet.ax.add_patch(
            FancyBboxPatch(
                (left, top),
                self.width,
                self.height,
                boxstyle="round,pad=0,rounding_size=8",
                fc=PANEL_FILL,
                ec=PANEL_EDGE,
                lw=1,
                zorder=0,
            )
        )
        self.heading.set_position((left + self.width / 2, top + PANEL_PAD))
        origin = (left + PANEL_PAD, top + PANEL_PAD + self.heading_height + SPACE)
        for node_id, box in self.layout.boxes.items():
            x, y = box.center
            self.labels[node_id].set_position((origin[0] + x, origin[1] + y))
        self.note.set_position((left + self.width / 2, origin[1] + self.layout.height + SPACE))
        ends = _arrow_ends(self.layout, [(a.source, a.wiser) for a in self.panel.arrows])
        strongest = max((a.wiser_votes for a in self.panel.arrows), default=1) or 1
        for arrow in self.panel.arrows:
            on_cycle = (arrow.source, arrow.wiser) in self.layout.cycle_arrows
            start, end, rad = ends[arrow.source, arrow.wiser]
            patch = FancyArrowPatch(
                (origin[0] + start[0], origin[1] + start[1]),
                (origin[0] + end[0], origin[1] + end[1]),
                arrowstyle="-|>",
                mutation_scale=11,
                connectionstyle=f"arc3,rad={rad:.4f}",
                shrinkA=0,
                shrinkB=0,
                zorder=2,
                color=CYCLE_COLOR if on_cycle else ARROW_COLOR,
                linestyle="--" if on_cycle else "-",
                linewidth=(1.6 if on_cycle else 0.9) + 1.0 * arrow.wiser_votes / strongest,
                gid=f"{'cycle' if on_cycle else 'arrow'}:{self.index}:{arrow.source}>{arrow.wiser}",
            )
            sheet.ax.add_patch(patch)


Point = tuple[float, float]


def _arrow_ends(
    layout: PanelLayout, arrows: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[Point, Point, float]]:
    """Start, end and arc (arc3's rad) of each arrow, in panel pixels. Between rows an arrow leaves the
    top or bottom of a box at its own point, spread along the edge in the order of the other ends,
    so arrows into one box do not pile up on one spot. Between neighbours on a row it goes side to
    side; between other values of one row, an arc over the row (into the room the layout leaves)."""
    ends: dict[tuple[str, str], tuple[Point, Point, float]] = {}
    sides: dict[tuple[str, bool], list[tuple[float, tuple[str, str], int]]] = {}
    for arrow in arrows:
        a, b = layout.boxes[arrow[0]], layout.boxes[arrow[1]]
        if a.row == b.row and layout.adjacent(*arrow):
            right = b.x > a.x
            ends[arrow] = (
                (a.x + a.width + 2, a.center[1]) if right else (a.x - 2, a.center[1]),
                (b.x - 2, b.center[1]) if right else (b.x + b.width + 2, b.center[1]),
                0.0,
            )
        elif a.row == b.row:
            start, end = (a.center[0], a.y - 2), (b.center[0], b.y - 2)
            # arc3 puts its control point rad × distance off the line; the curve reaches half of that.
            ends[arrow] = (start, end, math.copysign(2 * (ARC_ROOM + 2) / abs(end[0] - start[0]), start[0] - end[0]))
        else:
            for which, node, other in ((0, arrow[0], b), (1, arrow[1], a)):
                below = other.center[1] > layout.boxes[node].center[1]
                sides.setdefault((node, below), []).append((other.center[0], arrow, which))
    points: dict[tuple[tuple[str, str], int], Point] = {}
    for (node, below), attached in sides.items():
        box = layout.boxes[node]
        attached.sort()
        for k, (_, arrow, which) in enumerate(attached):
            x = box.x + box.width * (0.2 + 0.6 * (k + 1) / (len(attached) + 1))
            points[arrow, which] = (x, box.y + box.height + 2 if below else box.y - 2)
    for arrow in arrows:
        if arrow not in ends:
            ends[arrow] = (points[arrow, 0], points[arrow, 1], 0.0)
    return ends


def _legend(sheet: _Sheet, top: float, *, cycles: bool) -> float:
    """The key, on one line centred under the panels; returns its height."""
    items: list[tuple[str, dict[str, Any]]] = [
        (
            "#1 a top value",
            {"weight": "bold", "bbox": {"boxstyle": f"round,pad={BOX_PAD}", "fc": TOP_FILL, "ec": TOP_EDGE}},
        ),
        (
            "a value it was voted wiser than",
            {"bbox": {"boxstyle": f"round,pad={BOX_PAD}", "fc": OTHER_FILL, "ec": OTHER_EDGE}},
        ),
        ("→ points to the value voted wiser (thicker: more votes)", {"arrow": ARROW_COLOR}),
    ]
    if cycles:
        items.append(("a cycle: the votes go round, none of its values is the wisest", {"arrow": CYCLE_COLOR}))
    sample, gap = 34, 26
    texts: list[tuple[Text, str | None]] = []
    widths: list[float] = []
    for label, style in items:
        arrow = style.pop("arrow", None)
        artist = sheet.text(
            0, 0, label.removeprefix("→ "), size=NOTE_SIZE, va="center", ha="left", gid=f"legend:{len(texts)}", **style
        )
        texts.append((artist, arrow))
        widths.append(sheet.size(artist)[0] + (sample + 6 if arrow else 0) + (8 if "bbox" in style else 0))
    x = (WIDTH - sum(widths) - gap * (len(widths) - 1)) / 2
    y = top + 8
    for (artist, arrow), width in zip(texts, widths):
        if arrow:
            patch = FancyArrowPatch((x, y), (x + sample, y), arrowstyle="-|>", mutation_scale=11, color=arrow, lw=1.6)
            if arrow == CYCLE_COLOR:
                patch.set(linestyle="--", gid="legend:cycle")
            sheet.ax.add_patch(patch)
            artist.set_position((x + sample + 6, y))
        else:
            artist.set_position((x + 4, y))
        x += width + gap
    return 16
