"""`make bench`: every benchmark at a small size, one after the other, each on its own fresh
database, then the goal lines together. Small sizes say whether something regressed badly;
the goals themselves are judged at the sizes in bench/README.md.

    .venv/bin/python bench/run_all.py                 # SQLite
    .venv/bin/python bench/run_all.py --db postgres   # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/run_all.py --db both
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SMALL = [
    ("chart_read.py", ["--patients", "1000", "--iterations", "200", "--warmup", "30"]),
    ("search.py", ["--patients", "10000", "--queries", "200"]),
    ("seed.py", ["--patients", "10000"]),
    ("audit_verify.py", ["--entries", "50000"]),
    ("exfiltration.py", ["--patients", "3000"]),
    ("workday.py", ["--patients", "1500", "--days", "2"]),
    ("rotate.py", ["--keys", "20000"]),
    ("password_hash.py", ["--verifications", "20", "--flood", "8"]),
    (
        "booking.py",
        ["--agendas", "40", "--patients", "1000", "--queries", "300", "--bookings", "300"],
    ),
]


def main() -> None:
    parse = argparse.ArgumentParser(description="Run every benchmark at a small size.")
    parse.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parse.add_argument("--timeout", type=float, default=600, help="seconds per benchmark")
    args = parse.parse_args()
    vendors = ["sqlite", "postgres"] if args.db == "both" else [args.db]

    goals: list[str] = []
    failed: list[str] = []
    started = time.perf_counter()
    for vendor in vendors:
        for script, options in SMALL:
            command = [sys.executable, f"bench/{script}", "--db", vendor, *options]
            print(f"\n=== {script} on {vendor}: {' '.join(command[1:])}", flush=True)
            try:
                result = subprocess.run(
                    command, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout
                )
            except subprocess.TimeoutExpired:
                failed.append(f"{script} on {vendor}: timed out after {args.timeout:.0f} s")
                continue
            print(result.stdout, end="")
            if result.returncode:
                print(result.stderr[-3000:], end="")
                failed.append(f"{script} on {vendor}: exit status {result.returncode}")
            goals += [
                f"{script:<16} {vendor:<9} {line.strip()}"
                for line in result.stdout.splitlines()
                if "goal" in line
            ]
    print(f"\n=== goals at these small sizes ({time.perf_counter() - started:.0f} s in all)")
    for line in goals:
        print(line)
    for line in failed:
        print(f"FAILED: {line}")
    print(f"reproduce: cd {ROOT} && .venv/bin/python bench/run_all.py --db {args.db}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
