"""Audit verification rate: entries per second checked by carnet.audit.verify.verify() (every
keyed hash, every link, every chain head and anchor) after appending N entries spread over the
parallel chains (two processes on a large log). Goal: >= 500,000 entries/s. Then an incremental
verification from the checkpoint the full one left with the witness, after `--increment` more
entries: only those are walked.

Entries are appended either in bulk (default: rows built and hashed exactly as
carnet.audit.chain.append builds them, inserted in batches, chain heads updated per batch)
or through chain.append itself (`--append-via chain`, slower, also prints the append rate).
Either way the run fails loudly unless verify() reports the log intact.

    .venv/bin/python bench/audit_verify.py --db sqlite --entries 200000
    .venv/bin/python bench/audit_verify.py --db postgres --entries 200000
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

GOAL_RATE = 500_000
ACTIONS = ["patients.view", "patients.search", "patients.edit", "dashboard.view"]
ROLES = ["secretary", "practitioner", "nurse"]


def _content(rng: random.Random) -> dict:
    """What a typical staff request's entry says: one or a few patients, a user, an address."""
    user = rng.randrange(1, 500)
    action = rng.choice(ACTIONS)
    patients = [
        str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(rng.choice((0, 1, 1, 1, 3)))
    ]
    return {
        "actor_id": user,
        "actor": f"user{user}",
        "role": rng.choice(ROLES),
        "establishment_id": rng.randrange(1, 4),
        "action": action,
        "outcome": "allowed",
        "patients": sorted(patients),
        "reason": "",
        "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "client_ip": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    }


def append_bulk(total: int, batch: int, rng: random.Random) -> float:
    """Entries built and hashed as chain.append builds them, bulk-inserted with their subject
    rows. Returns seconds."""
    from django.db import transaction
    from django.utils import timezone

    from carnet.audit.chain import GENESIS, chain_for, content_of, entry_hash
    from carnet.audit.models import AuditEntry, AuditSubject, ChainHead

    heads = {h.chain: (h.seq, h.hash) for h in ChainHead.objects.all()}
    started = time.perf_counter()
    made = 0
    while made < total:
        rows = []
        for _ in range(min(batch, total - made)):
            c = _content(rng)
            chain = chain_for(c["request_id"])
            seq, prev = heads.get(chain, (0, GENESIS))
            entry = AuditEntry(
                chain=chain,
                seq=seq + 1,
                at=timezone.now(),
                actor_id=c["actor_id"],
                actor=c["actor"],
                role=c["role"],
                establishment_id=c["establishment_id"],
                action=c["action"],
                outcome=c["outcome"],
                patients=" ".join(c["patients"]),
                patient_count=len(c["patients"]),
                reason=c["reason"],
                request_id=c["request_id"],
                client_ip=c["client_ip"],
                prev_hash=prev,
            )
            entry.hash = entry_hash(prev, content_of(entry))
            heads[chain] = (entry.seq, entry.hash)
            rows.append(entry)
        with transaction.atomic():
            AuditEntry.objects.bulk_create(rows)
            # The per-patient rows chain.append writes beside each entry (verify checks them).
            AuditSubject.objects.bulk_create(
                AuditSubject(
                    entry_id=e.id, patient_id=p, relationship="", actor_id=e.actor_id, at=e.at
                )
                for e in rows
                for p in e.patients.split()
            )
            for chain, (seq, digest) in heads.items():
                ChainHead.objects.update_or_create(
                    chain=chain, defaults={"seq": seq, "hash": digest}
                )
        made += len(rows)
    return time.perf_counter() - started


def append_via_chain(total: int, batch: int, rng: random.Random) -> float:
    """Through carnet.audit.chain.append, `batch` entries per transaction. Returns seconds."""
    from django.db import transaction

    from carnet.audit.chain import Record, append

    started = time.perf_counter()
    made = 0
    while made < total:
        with transaction.atomic():
            for _ in range(min(batch, total - made)):
                c = _content(rng)
                append(Record(**c))
                made += 1
    return time.perf_counter() - started


def measure(verify_module: object, entries: int, repeats: int, label: str) -> float:
    """Runs verify() `repeats` times; fails unless the log is intact; returns the best rate."""
    rates = []
    for run in range(1, max(1, repeats) + 1):
        started = time.perf_counter()
        report = verify_module.verify()  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - started
        if not report.ok or report.entries != entries:
            for finding in report.findings:
                print(f"  {finding}")
            raise SystemExit(f"verify() did not find an intact log of {entries} entries")
        rates.append(report.entries / elapsed)
        print(
            f"{label}verify run {run}: {report.entries:,} entries, {report.chains} chains, "
            f"{report.anchors} anchor(s) intact in {elapsed:.2f} s -> {rates[-1]:,.0f} entries/s"
        )
    return max(rates)


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0])
    parse.add_argument("--entries", type=int, default=200_000)
    parse.add_argument("--append-via", choices=["bulk", "chain"], default="bulk")
    parse.add_argument("--batch", type=int, default=5000, help="entries per transaction")
    parse.add_argument("--repeats", type=int, default=2, help="verify() runs (bounded)")
    parse.add_argument("--profile", action="store_true", help="profile one verify() run")
    parse.add_argument(
        "--increment", type=int, default=20_000, help="entries appended before the incremental run"
    )
    parse.add_argument(
        "--prototype",
        default="",
        help="bench/prototypes.py names, comma-separated: measured after the product's own "
        "runs, in the same process (measurement only)",
    )
    args = parse.parse_args()
    rng = random.Random(args.seed)

    with _common.bench_database(args.db, "audit", keep=args.keep) as db:
        from django.conf import settings

        from bench import prototypes
        from carnet.audit import verify as verify_module
        from carnet.audit.chain import write_anchor

        print(_common.environment_line(db) + f"; {settings.CARNET_AUDIT_CHAINS} audit chains")
        append = append_bulk if args.append_via == "bulk" else append_via_chain
        seconds = append(args.entries, args.batch, rng)
        write_anchor()
        print(
            f"appended {args.entries:,} entries ({args.append_via}) in {seconds:.1f} s "
            f"({args.entries / seconds:,.0f}/s); database size {db.size()}"
        )
        best = measure(verify_module, args.entries, args.repeats, "")
        print(
            f"verify rate (best of {args.repeats}): {best:,.0f} entries/s; "
            f"goal >= {GOAL_RATE:,}/s: {_common.verdict(best >= GOAL_RATE)}"
        )
        if args.increment:
            append(args.increment, args.batch, rng)
            write_anchor()
            import cProfile

            profile = cProfile.Profile() if args.profile else None
            started = time.perf_counter()
            if profile is not None:
                profile.enable()
            report = verify_module.verify(incremental=True)
            elapsed = time.perf_counter() - started
            if profile is not None:
                profile.disable()
            if not report.ok or not report.incremental or report.entries != args.increment:
                raise SystemExit(f"incremental verify() failed: {report}")
            print(
                f"incremental verify after {args.increment:,} more entries: walked "
                f"{report.entries:,} of {args.entries + args.increment:,} in {elapsed:.2f} s "
                f"({report.entries / elapsed:,.0f} entries/s; a full walk would read them all)"
            )
            if profile is not None:
                print("(profile of the incremental run)")
                _common.print_profile(profile, 15)
        if args.prototype:
            # Same process, same rows, right after the product's own runs: an A/B comparison.
            tag = prototypes.apply(args.prototype)
            print(tag)
            proto = measure(verify_module, args.entries, args.repeats, "prototype ")
            print(
                f"verify rate with the prototype (best of {args.repeats}): {proto:,.0f} entries/s "
                f"({proto / best:.2f}x the product's) [{tag}]"
            )
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
            verify_module.verify()
            profile.disable()
            _common.print_profile(profile, 25)
    print(f"reproduce: {_common.command_line('audit_verify.py', args)}")


if __name__ == "__main__":
    main()
