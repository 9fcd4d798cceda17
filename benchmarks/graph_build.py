"""Benchmark of the whole ``graph build`` command: Python start-up, parsing, the build, the export.

For 10k, 100k and 1M votes over 10,000 values and 100 contexts (``--quick``: 10k only), each
algorithm, it runs the command as a fresh process and records wall time and peak RSS; at the
largest size it also runs the pure-Python reference (``graph_reference.py``) the same way. Targets
checked at 1M votes: under 5 s, under 600 MB, at least 3x faster than the reference.

Each run goes through a tiny wrapper process whose only child is the command, so the wrapper's
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is that command's peak RSS alone.

    python benchmarks/graph_build.py [--quick] [--repeat N] [--command "mge graph build"]

Results: a table on stdout and ``benchmarks/results/graph_build.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from graph_data import ensure_dataset  # noqa: E402

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
ALGORITHMS = ("default", "mge-2023")
TARGET_SECONDS = 5.0
TARGET_MB = 600.0
TARGET_SPEEDUP = 3.0
RESULTS = HERE / "results" / "graph_build.json"

# Runs argv as its only child; prints wall seconds, the child's peak RSS (KiB on Linux) and its exit status.
_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "maxrss_kib": peak, "status": done.returncode, "stderr": done.stderr.decode()[-2000:]}))
"""


def measure(argv: list[str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *argv], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    if result["status"] != 0:
        raise SystemExit(f"command failed ({result['status']}): {shlex.join(argv)}\n{result['stderr']}")
    return result


def run_case(label: str, argv: list[str], repeat: int) -> dict[str, object]:
    runs = [measure(argv) for _ in range(repeat)]
    walls = [float(run["wall"]) for run in runs]
    peak_mb = max(int(run["maxrss_kib"]) for run in runs) / 1024
    summary = runs[-1]["stderr"].strip().splitlines()[-1] if runs[-1]["stderr"] else ""
    print(
        f"  {label:<34} median {statistics.median(walls):6.2f} s  min {min(walls):6.2f} s  peak {peak_mb:6.0f} MB",
        flush=True,
    )
    return {
        "label": label,
        "walls": walls,
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "peak_mb": peak_mb,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10k votes (and the reference at 10k)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (the reference runs once)")
    parser.add_argument(
        "--command",
        default=f"{shlex.quote(sys.executable)} -m bot graph build",
        help='the build command before its options, e.g. "mge graph build"',
    )
    args = parser.parse_args()
    command = shlex.split(args.command)
    sizes = {"10k": SIZES["10k"]} if args.quick else SIZES
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": args.command,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cases": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "graph.json")
        for size_label, n_votes in sizes.items():
            votes, values = ensure_dataset(n_votes)
            print(f"{size_label} votes ({votes.stat().st_size / 2**20:.0f} MB CSV)", flush=True)
            for algorithm in ALGORITHMS:
                argv = [
                    *command,
                    "--votes",
                    str(votes),
                    "--values",
                    str(values),
                    "--algorithm",
                    algorithm,
                    "--out",
                    out,
                ]
                case = run_case(f"build {algorithm}", argv, args.repeat)
                case.update(size=size_label, votes=n_votes, algorithm=algorithm, implementation="fast")
                results["cases"].append(case)  # type: ignore[union-attr]
        largest_label, largest = list(sizes.items())[-1]
        votes, values = ensure_dataset(largest)
        print(f"{largest_label} votes, pure-Python reference", flush=True)
        for algorithm in ALGORITHMS:
            argv = [sys.executable, str(HERE / "graph_reference.py"), "--votes", str(votes), "--values", str(values)]
            case = run_case(f"reference {algorithm}", [*argv, "--algorithm", algorithm, "--out", out], 1)
            case.update(size=largest_label, votes=largest, algorithm=algorithm, implementation="reference")
            results["cases"].append(case)  # type: ignore[union-attr]

    results["targets"] = check_targets(results["cases"], largest_label)  # type: ignore[arg-type]
    if largest_label != "1M":
        print("  (the targets are for 1M votes; run without --quick to check them)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS}")


def check_targets(cases: list[dict], size: str) -> dict[str, object]:
    print(f"targets at {size} votes:")
    report: dict[str, object] = {}
    for algorithm in ALGORITHMS:
        fast = next(
            c for c in cases if c["size"] == size and c["algorithm"] == algorithm and c["implementation"] == "fast"
        )
        slow = next(
            c for c in cases if c["size"] == size and c["algorithm"] == algorithm and c["implementation"] == "reference"
        )
        speedup = slow["median_s"] / fast["median_s"]
        checks = {
            f"wall < {TARGET_SECONDS:g} s": fast["median_s"] < TARGET_SECONDS,
            f"peak < {TARGET_MB:g} MB": fast["peak_mb"] < TARGET_MB,
            f"speedup >= {TARGET_SPEEDUP:g}x": speedup >= TARGET_SPEEDUP,
        }
        verdict = ", ".join(f"{name}: {'ok' if passed else 'MISSED'}" for name, passed in checks.items())
        print(f"  {algorithm:<9} {fast['median_s']:.2f} s, {fast['peak_mb']:.0f} MB, {speedup:.1f}x faster — {verdict}")
        report[algorithm] = {
            "wall_s": fast["median_s"],
            "peak_mb": fast["peak_mb"],
            "speedup": speedup,
            "checks": checks,
        }
    return report


if __name__ == "__main__":
    main()
