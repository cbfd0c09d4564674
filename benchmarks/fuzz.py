#!/usr/bin/env python
"""A longer schemathesis campaign against the tenant API, reproducible and bounded in time.

It runs ``tests/isolation/test_fuzz_api.py`` (in process, WSGI, on a test database of its
own with two seeded tenants; nothing leaves the machine) with more cases per operation,
a fixed seed and a time budget, and writes what it found to
``benchmarks/results/fuzz.{json,md}``: cases run, requests sent, per-operation case and
status counts, and every finding (none is the target).

    .venv/bin/python benchmarks/fuzz.py                              # 200 cases/op/mode, ≤ 15 min
    .venv/bin/python benchmarks/fuzz.py --examples 30 --results-dir /tmp/bench   # smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.load import run_facts, run_test_for_report  # noqa: E402


def markdown(summary: dict) -> str:
    lines = [
        "# Fuzzing the tenant API (schemathesis)",
        "",
        f"Run {summary['run_at']}, commit {summary['commit']}: `{summary['command']}`; "
        f"seed {summary['seed']}, up to {summary['examples_per_operation_and_mode']} cases per "
        f"operation in each of the positive and negative modes, budget "
        f"{summary['budget_seconds']:g} s, took {summary['seconds']:.0f} s.",
        "",
        f"- cases: **{summary['cases']}**, requests: {summary['requests']} (each case, then "
        "the same request without a token, with the other tenant's token and with the "
        "generated Authorization header)",
        f"- findings: **{len(summary['findings'])}**",
        "",
        "| operation | cases | statuses |",
        "|---|---:|---|",
    ]
    for operation, cases in summary["per_operation"].items():
        statuses = ", ".join(
            f"{code}: {n}" for code, n in sorted(summary["statuses"].get(operation, {}).items())
        )
        lines.append(f"| `{operation}` | {cases} | {statuses} |")
    if summary["findings"]:
        lines += ["", "## Findings", ""]
        for finding in summary["findings"]:
            lines.append(
                f"- `{finding['operation']}` {finding['kind']} ({finding['status']}): "
                f"{finding['detail'].splitlines()[0]} — `{finding['request']}`"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="cases per operation and mode")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--seconds", type=float, default=900, help="time budget of the cases")
    parser.add_argument("--results-dir", default=str(REPO_ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    env = {
        "ATRIUM_FUZZ_EXAMPLES": str(args.examples),
        "ATRIUM_FUZZ_SEED": str(args.seed),
        "ATRIUM_FUZZ_SECONDS": str(args.seconds),
    }
    status, summary = run_test_for_report(
        "tests/isolation/test_fuzz_api.py", "ATRIUM_FUZZ_REPORT", env, args.seconds + 300
    )
    if summary is None:
        return status or 1
    summary.update(run_facts(argv), budget_seconds=args.seconds)
    (results / "fuzz.json").write_text(json.dumps(summary, indent=2) + "\n")
    (results / "fuzz.md").write_text(markdown(summary))
    print(markdown(summary))
    return status


if __name__ == "__main__":
    sys.exit(main())
