"""What a sign-in costs in password hashing: Argon2id verification time at Carnet's setting
(carnet/staff/hashers.py: OWASP's m=19 MiB, t=2, p=1) against Django's default (m=100 MiB, t=2,
p=8), one at a time and under a flood of concurrent sign-ins (threads, as a gunicorn worker's
threads would), with the memory the hashing may take at once. Goals: <= 40 ms p50 one at a time,
never below OWASP's minimum, and a bound on concurrent hashing.

    .venv/bin/python bench/password_hash.py --verifications 40 --flood 16
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common  # noqa: E402  (sets the environment before Django)


def _time(hasher: object, encoded: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert hasher.verify("Un-mot-de-passe-assez-long", encoded)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def _flood(hasher: object, encoded: str, threads: int) -> tuple[float, list[float]]:
    """Every thread signs in at once: wall time for all, and each one's wait + hashing."""
    waits: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        started = time.perf_counter()
        hasher.verify("Un-mot-de-passe-assez-long", encoded)  # type: ignore[attr-defined]
        with lock:
            waits.append((time.perf_counter() - started) * 1000)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    return (time.perf_counter() - started) * 1000, sorted(waits)


def _measure(args: argparse.Namespace) -> None:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    from carnet.staff.hashers import SLOTS, BoundedArgon2Hasher

    print(_common.load_line())
    for name, hasher in (
        ("Carnet (m=19 MiB, t=2, p=1, bounded)", BoundedArgon2Hasher()),
        ("Django default (m=100 MiB, t=2, p=8)", Argon2PasswordHasher()),
    ):
        encoded = hasher.encode("Un-mot-de-passe-assez-long", hasher.salt())
        times = _time(hasher, encoded, args.verifications)
        wall, waits = _flood(hasher, encoded, args.flood)
        mib = hasher.memory_cost / 1024
        at_once = min(SLOTS, args.flood) if isinstance(hasher, BoundedArgon2Hasher) else args.flood
        summary = _common.summarise(times)
        print(
            f"{name:38} one at a time: p50 {summary.p50:.1f} ms, p95 {summary.p95:.1f} ms; "
            f"{args.flood} at once: all done in {wall:.0f} ms, slowest {waits[-1]:.0f} ms; "
            f"hashing memory at most {at_once} x {mib:.0f} MiB = {at_once * mib:.0f} MiB"
        )
        if isinstance(hasher, BoundedArgon2Hasher):
            met = (
                summary.p50 <= 40
                and hasher.memory_cost >= 19 * 1024
                and hasher.time_cost >= 2
                and hasher.parallelism >= 1
            )
            print(f"goal <= 40 ms p50 at or above OWASP's minimum: {_common.verdict(met)}")
    print(_common.load_line())


def main() -> None:
    parse = _common.parser(__doc__.splitlines()[0])
    parse.add_argument("--verifications", type=int, default=40, help="one at a time, per setting")
    parse.add_argument("--flood", type=int, default=16, help="concurrent sign-ins")
    args = parse.parse_args()
    with _common.bench_database(args.db, "password_hash", keep=args.keep) as db:
        print(_common.environment_line(db))
        _measure(args)
    print(f"reproduce: {_common.command_line('password_hash.py', args)}")


if __name__ == "__main__":
    main()
