#!/usr/bin/env python
"""A longer schemathesis campaign against the tenant API, reproducible and bounded in time.

It runs ``tests/isolation/test_fuzz_api.py`` (in process, WSGI, on a test database of its
own with two seeded tenants; nothing leaves the machine) with more cases per operation, a
fixed seed and a time budget, and writes the cases, requests, statuses per operation and
every finding (none is the target) to ``benchmarks/results/fuzz.{json,md}``.

    .venv/bin/python benchmarks/fuzz.py                              # 200 cases/op/mode, ≤ 15 min
    .venv/bin/python benchmarks/fuzz.py --examples 30 --results-dir /tmp/bench   # smoke run
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import table, target


def main() -> int:
    parser = harness.options(__doc__)
    parser.add_argument("--examples", type=int, default=200, help="cases per operation and mode")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--seconds", type=float, default=900, help="time budget of the cases")
    args = parser.parse_args()
    run = harness.Run("fuzz", "Fuzzing the tenant API (schemathesis)", args)
    sizes = {"EXAMPLES": args.examples, "SEED": args.seed, "SECONDS": args.seconds}
    test = "tests/isolation/test_fuzz_api.py"
    status, s = harness.run_pytest_report(test, "ATRIUM_FUZZ", sizes, args.seconds + 300)
    if s is None:
        return status or 1
    rows = [
        [
            f"`{op}`",
            cases,
            ", ".join(f"{c}: {n}" for c, n in sorted(s["statuses"].get(op, {}).items())),
        ]
        for op, cases in s["per_operation"].items()
    ]
    rows += [
        [f"finding: `{f['operation']}`", f["kind"], f["detail"].splitlines()[0]]
        for f in s["findings"]
    ]
    notes = [
        f"Seed {s['seed']}, up to {s['examples_per_operation_and_mode']} cases per operation in "
        f"each of the positive and negative modes, budget {args.seconds:g} s, took "
        f"{s['seconds']:.0f} s: **{s['cases']} cases**, {s['requests']} requests (each case, then "
        "the same request without a token, with the other tenant's token and with the generated "
        f"Authorization header), **{len(s['findings'])} findings**.",
    ]
    written = run.finish(
        parameters=sizes,
        summary={k: s[k] for k in ("cases", "requests", "seconds", "findings")},
        notes=notes,
        tables=[table("", "operation | cases | statuses", rows)],
        targets=[target("findings", len(s["findings"]), "==", 0)],
    )
    return status or written


if __name__ == "__main__":
    sys.exit(main())
