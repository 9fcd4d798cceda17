"""``mge graph build`` (tested on graph_app directly, and as ``python -m bot.cli.graph``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.graph import graph_app

HEADER = "voter_id,from_value_id,to_value_id,context,choice\n"
VOTES = HEADER + "".join(
    f"m{i},{a},{b},{context},upgrade\n"
    for i, (a, b, context) in enumerate(
        [(1, 2, "c1"), (1, 2, "c1"), (1, 2, "c1"), (2, 3, "c1"), (2, 3, "c1"), (3, 1, "c2"), (3, 1, "c2")]
    )
)
VALUES = [{"id": i, "title": f"Value {i}"} for i in (1, 2, 3, 4)]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    votes, values = tmp_path / "VOTES.csv", tmp_path / "VALUES.json"
    votes.write_text(VOTES)
    values.write_text(json.dumps({"values": VALUES}))
    return votes, values


def build(*args: str):
    return CliRunner().invoke(graph_app, ["build", *args])


def test_build_writes_the_export_and_a_summary(files, tmp_path):
    votes, values = files
    out = tmp_path / "graph.json"
    result = build("--votes", str(votes), "--values", str(values), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text())
    assert [(e["sourceValueId"], e["wiserValueId"]) for e in doc["edges"]] == [("1", "2"), ("2", "3"), ("3", "1")]
    assert doc["parameters"]["algorithm"] == "default"
    assert re.fullmatch(
        r"default: 4 values, 3 edges, 2 contexts, 7 votes \(0 replaced by re-votes\), 1 cycles, 0 dropped edges; "
        r"\d+\.\d\d s\n",
        result.stderr,
    )
    assert result.stdout == ""
    assert not list(tmp_path.glob(".*partial"))


def test_out_dash_writes_to_stdout(files):
    votes, values = files
    result = build("--votes", str(votes), "--values", str(values), "--out", "-", "--algorithm", "mge-2023")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["parameters"]["algorithm"] == "mge-2023" and "cycles" not in doc


def test_threshold_overrides(files):
    votes, values = files
    result = build("--votes", str(votes), "--values", str(values), "--min-wiser", "3")
    doc = json.loads(result.stdout)
    assert [(e["sourceValueId"], e["wiserValueId"]) for e in doc["edges"]] == [("1", "2")]
    assert doc["parameters"]["minWiser"] == 3
    result = build("--votes", str(votes), "--values", str(values), "--min-likelihood", "0.5", "--max-entropy", "0.1")
    doc = json.loads(result.stdout)
    assert (doc["parameters"]["minLikelihood"], doc["parameters"]["maxEntropy"]) == (0.5, 0.1)
    assert len(doc["edges"]) == 3  # unanimous votes: likelihood 1, entropy 0


def test_rank_nodes_option(files):
    votes, values = files
    result = build(
        "--votes", str(votes), "--values", str(values), "--rank-nodes", "graph-values", "--algorithm", "mge-2023"
    )
    doc = json.loads(result.stdout)
    assert "pageRank" not in doc["values"][3]  # value 4 has no edge


@pytest.mark.parametrize(
    ("votes_text", "message"),
    [
        ("", "error: VOTES.csv is empty"),
        ("voter_id,from_value_id,to_value_id,choice\n", "error: VOTES.csv has no column 'context'"),
        (HEADER + "m,1,2,c,upgrade\nm,1,2,c,yes\n", "error: VOTES.csv line 3: choice 'yes' is not one of"),
        (HEADER + "m,1,2,c\n", "error: VOTES.csv line 2: 4 fields, expected 5"),
        (HEADER + "m,1,5,c,upgrade\n", "error: VOTES.csv line 2: no value has id '5' (column to_value_id)"),
        (HEADER.replace(",", "\t"), "error: VOTES.csv seems to separate fields with tabs"),
    ],
)
def test_bad_votes_file_exits_2(files, votes_text, message):
    votes, values = files
    votes.write_text(votes_text)
    result = build("--votes", str(votes), "--values", str(values))
    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stdout == ""


def test_bad_values_file_exits_2(files):
    votes, values = files
    values.write_text(json.dumps([{"id": 1, "title": "a"}, {"id": 1, "title": "b"}]))
    result = build("--votes", str(votes), "--values", str(values))
    assert result.exit_code == 2
    assert result.stderr == "error: VALUES.json: values[1] repeats id '1' (first used by values[0])\n"


def test_bad_setting_exits_2(files):
    votes, values = files
    result = build("--votes", str(votes), "--values", str(values), "--min-likelihood", "2")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: min_likelihood must be between 0 and 1")


def test_unknown_algorithm_is_a_usage_error(files):
    votes, values = files
    assert build("--votes", str(votes), "--values", str(values), "--algorithm", "magic").exit_code == 2


@pytest.mark.slow  # `python -m` processes
def test_runs_as_a_module(files, tmp_path):
    votes, values = files
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "bot.cli.graph", "build", "--votes", str(votes), "--values", str(values)]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["hash"]
    votes.write_text(HEADER + "m,1,2,c,upgrade\nm,1,2,c,maybe\n")
    failed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        "error: VOTES.csv line 3: choice 'maybe' is not one of upgrade, no_upgrade, not_sure (column choice)"
    )


def test_importing_the_cli_does_not_import_numpy():
    code = "import sys, bot.cli.graph; print(sorted(m for m in ('numpy', 'scipy', 'networkx') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
