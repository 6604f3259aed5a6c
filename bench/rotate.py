"""Key-encryption key rotation rate: data keys re-wrapped per second by the product's own
rotation (carnet.vault.rotation, what `carnet keys rotate-kek` runs: batches of one
transaction each, unwrap with the old version, wrap with the new, guarded UPDATE), on a fresh
database of N data keys made with the real vault code (no patients: the rotation reads only
the data key table). Goal: 1,000,000 data keys in 10 minutes or less on 2 cores (>= 1,667/s).

    .venv/bin/python bench/rotate.py --db sqlite --keys 100000
    .venv/bin/python bench/rotate.py --db postgres --keys 1000000
"""

from __future__ import annotations

import random
import shutil
import sys
import time
import uuid
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

GOAL_KEYS = 1_000_000
GOAL_SECONDS = 600
GOAL_RATE = -(-GOAL_KEYS // GOAL_SECONDS)
SAMPLE = 500


class TimeUp(Exception):
    pass


def use_keyring_file(folder: Path) -> Path:
    """Rotation changes a keyring file (a key given in CARNET_KEK cannot be rotated): a fresh
    one in the bench folder, removed at the end."""
    from django.conf import settings

    from carnet.vault import blind, keyring

    path = folder / "keyring.json"
    keyring.create_keyring_file(path)
    settings.CARNET_KEK = ""
    settings.CARNET_KEK_FILE = str(path)
    settings.CARNET_SHRED_JOURNAL = str(folder / "shred-journal.jsonl")
    keyring.reset_keyring_cache()
    blind.reset_cache()
    return path


def make_data_keys(count: int, chunk: int, rng: random.Random) -> tuple[float, dict]:
    """`count` data keys wrapped by the vault's own `prepare_data_key`, inserted in chunks
    (COPY on PostgreSQL); returns seconds and a sample {owner: raw key} to check afterwards."""
    from carnet.patients.bulk import insert_many
    from carnet.vault import keys
    from carnet.vault.models import DataKey

    started = time.perf_counter()
    sample: dict[str, bytes] = {}
    made = 0
    while made < count:
        rows = [
            keys.prepare_data_key(uuid.UUID(int=rng.getrandbits(128), version=4))
            for _ in range(min(chunk, count - made))
        ]
        insert_many(DataKey, rows)
        for row in rng.sample(rows, min(len(rows), max(1, SAMPLE * len(rows) // count))):
            sample[str(row.owner)] = keys._unwrap(row)
        made += len(rows)
        print(f"\r  {made:,} data keys made", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - started, sample


def rotate(batch: int, time_limit: float) -> tuple[int, float, bool]:
    from carnet.vault import rotation

    started_rotation = rotation.start_kek_rotation()
    print(
        f"rotation to v{started_rotation.version}: {started_rotation.left:,} data keys to re-wrap"
    )
    done = 0
    started = time.perf_counter()
    last_shown = started

    def progress(count: int) -> None:
        nonlocal done, last_shown
        done += count
        now = time.perf_counter()
        if now - last_shown > 5:
            last_shown = now
            print(
                f"\r  {done:,} re-wrapped, {done / (now - started):,.0f}/s",
                end="",
                file=sys.stderr,
                flush=True,
            )
        if now - started > time_limit:
            raise TimeUp()

    finished = True
    try:
        rotation.rewrap_data_keys(batch_size=batch, progress=progress)
    except TimeUp:
        finished = False
    print(file=sys.stderr)
    return done, time.perf_counter() - started, finished


def check(sample: dict[str, bytes], finished: bool) -> str:
    """The sample opens with the product's code and gives back the same data keys; when the
    rotation finished, nothing is left on the old version."""
    from carnet.vault import keyring, keys, rotation
    from carnet.vault.models import DataKey

    keyring.reset_keyring_cache()  # as a process that never saw the rotation
    rows = DataKey.objects.in_bulk(list(sample))
    wrong = [owner for owner, raw in sample.items() if keys._unwrap(rows[uuid.UUID(owner)]) != raw]
    assert not wrong, f"{len(wrong)} data keys do not open to what they were"
    usage = rotation.version_usage()
    if finished:
        assert usage == {2: sum(usage.values())}, usage
    return f"check: {len(sample)} sampled data keys open to the same keys; versions {usage}"


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0])
    parse.add_argument("--keys", type=int, default=100_000, help="data keys to rotate")
    parse.add_argument("--batch", type=int, default=2000, help="data keys per transaction")
    parse.add_argument("--chunk", type=int, default=20_000, help="data keys per insert")
    parse.add_argument("--time-limit", type=float, default=1200, help="seconds for the rotation")
    parse.add_argument("--profile", action="store_true", help="run under cProfile, print hot spots")
    args = parse.parse_args()

    with _common.bench_database(args.db, "rotate", keep=args.keep) as db:
        folder = _common.BENCH_VAR / f"keys-rotate-{db.name}"
        shutil.rmtree(folder, ignore_errors=True)
        try:
            use_keyring_file(folder)
            print(_common.environment_line(db))
            made_seconds, sample = make_data_keys(args.keys, args.chunk, random.Random(args.seed))
            print(
                f"setup: {args.keys:,} data keys wrapped and inserted in {made_seconds:.1f} s "
                f"({args.keys / made_seconds:,.0f}/s); database {db.size()}"
            )
            profile = None
            if args.profile:
                import cProfile

                profile = cProfile.Profile()
                profile.enable()
            done, seconds, finished = rotate(args.batch, args.time_limit)
            if profile is not None:
                profile.disable()
            rate = done / seconds if seconds else 0.0
            print(
                f"rotation: {done:,} data keys re-wrapped in {seconds:.1f} s ({rate:,.0f}/s)"
                + ("" if finished else f", STOPPED at the {args.time_limit:.0f} s limit")
            )
            print(check(sample, finished))
            projected = GOAL_KEYS / rate if rate else float("inf")
            label = "measured" if done >= GOAL_KEYS and finished else "EXTRAPOLATED from this rate"
            print(
                f"1,000,000 data keys at this rate: {projected / 60:.1f} min ({label}); "
                f"goal <= {GOAL_SECONDS // 60} min on 2 cores (>= {GOAL_RATE:,}/s): "
                f"{_common.verdict(projected <= GOAL_SECONDS)}"
                + ("" if profile is None else " (under cProfile: slower than normal)")
            )
            if profile is not None:
                _common.print_profile(profile, 25)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"reproduce: {_common.command_line('rotate.py', args)}")


if __name__ == "__main__":
    main()
