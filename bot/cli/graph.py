"""``mge graph``: build the moral graph from files (docs/method.md §7), no database needed.

numpy, scipy and the graph code are imported inside the command, so ``mge --help`` stays fast.
"""

from __future__ import annotations

import enum
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

if TYPE_CHECKING:
    from core.graph.params import RankNodes

graph_app = typer.Typer(help="Build and inspect moral graphs.", no_args_is_help=True, add_completion=False)

#: Exit status for unusable input, the same as for a command-line usage error.
EXIT_BAD_INPUT = 2


class AlgorithmOption(str, enum.Enum):
    default = "default"
    mge_2023 = "mge-2023"


class FormatOption(str, enum.Enum):
    json = "json"


class RankNodesOption(str, enum.Enum):
    all_values = "all-values"
    graph_values = "graph-values"


@graph_app.callback()
def _graph() -> None:
    """Build and inspect moral graphs."""


@graph_app.command("build")
def build(
    votes: Path = typer.Option(..., "--votes", help="VOTES.csv: voter_id,from_value_id,to_value_id,context,choice"),
    values: Path = typer.Option(..., "--values", help='VALUES.json: a list of values, or {"values": [...]}'),
    algorithm: AlgorithmOption = typer.Option(
        AlgorithmOption.default, "--algorithm", help="default, or mge-2023 to reproduce the paper's graphs"
    ),
    output_format: FormatOption = typer.Option(FormatOption.json, "--format", help="Output format."),
    out: str = typer.Option("-", "--out", help="Output file; - writes to standard output."),
    min_wiser: int | None = typer.Option(None, "--min-wiser", help="Least 'wiser' votes for an edge [2]."),
    min_likelihood: float | None = typer.Option(
        None, "--min-likelihood", help="Least wiserLikelihood for an edge [0.33]."
    ),
    max_entropy: float | None = typer.Option(
        None, "--max-entropy", help="Most vote entropy (bits) for an edge [1.69]."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Only votes cast at or before this moment (ISO 8601; VOTES.csv needs a cast_at column)."
    ),
    rank_nodes: RankNodesOption = typer.Option(
        RankNodesOption.all_values,
        "--rank-nodes",
        help="PageRank over all values (N = every value) or only values with a kept edge, as the paper's code.",
    ),
) -> None:
    """Build the moral graph from votes and values and write it as interchange JSON."""
    started = time.perf_counter()
    from bot.graph.files import GraphInputError, read_values, read_votes
    from core.graph import GraphParams, build_moral_graph, dump_json

    overrides: dict[str, Any] = {
        name: setting
        for name, setting in (
            ("min_wiser", min_wiser),
            ("min_likelihood", min_likelihood),
            ("max_entropy", max_entropy),
        )
        if setting is not None
    }
    try:
        # GraphParams refuses an unknown rank_nodes itself.
        rank_nodes_name = cast("RankNodes", rank_nodes.value.replace("-", "_"))
        params = GraphParams(algorithm=algorithm.value, rank_nodes=rank_nodes_name, **overrides)
    except ValueError as error:
        _fail(str(error))
    from bot.cli.support import parse_moment

    moment = parse_moment(as_of)
    try:
        value_list = read_values(values)
        vote_table = read_votes(votes, value_list, as_of=moment)
    except GraphInputError as error:
        _fail(error.message)

    graph = build_moral_graph(value_list, vote_table, params)
    document = dump_json(graph)
    _write(out, document)

    seconds = time.perf_counter() - started
    summary = (
        f"{algorithm.value}: {len(graph.values)} values, {len(graph.edges)} edges, {len(graph.contexts)} contexts, "
        f"{graph.votes_counted} votes ({graph.votes_replaced} replaced by re-votes)"
    )
    if not params.paper_compatible:
        summary += f", {len(graph.cycles)} cycles, {len(graph.dropped_edges or ())} dropped edges"
    typer.echo(f"{summary}; {seconds:.2f} s", err=True)
    if not graph.converged:
        typer.echo(f"warning: PageRank did not converge within {params.max_iterations} iterations", err=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _write(out: str, document: bytes) -> None:
    if out == "-":
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
        return
    path = Path(out)
    # Write beside the target and rename, so a reader never sees half a graph.
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(document)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        _fail(f"cannot write {out}: {error.strerror}")


if __name__ == "__main__":
    graph_app()
