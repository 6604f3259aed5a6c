"""Identity search: surname prefix (3 letters) + birth date, through
carnet.patients.selectors.search_identities inside a guard boundary (the same unit of work a
staff page runs: transaction, boundary, capability check, search, audit entry, commit), by a
secretary who is a member of every establishment. Queries are drawn from real seeded
identities (opened by a system job), so each should find its patient.
Goal: p95 <= 50 ms at 1,000,000 patients on PostgreSQL.

    .venv/bin/python bench/search.py --db sqlite --patients 100000
    .venv/bin/python bench/search.py --db postgres --patients 1000000
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sys
import time
import uuid
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

GOAL_P95_MS = 50.0
GOAL_PATIENTS = 1_000_000


def sample_queries(size: int, rng: random.Random) -> list[tuple[str, object, str]]:
    """(3-letter surname prefix, birth date, patient id) of random seeded patients, opened by
    a system job (audited as one bulk entry)."""
    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import admit_bulk, system_job
    from carnet.guard.policy import Capability
    from carnet.patients.models import Patient
    from carnet.vault.blind import normalise
    from carnet.vault.keys import preload

    actor = system_actor("bench-search-sample")
    queries = []
    with system_job(actor, "bench.sample_identities"):
        ledger = admit_bulk(actor, Capability.IMPORT_IDENTITIES)
        ids = _common.ordinary_patient_ids(
            _common.ids_and_marks(Patient.objects.order_by("?")[: size + size // 50 + 10])
        )[:size]
        preload(str(i) for i in ids)
        for patient in Patient.objects.filter(id__in=ids):
            surname = patient.birth_surname
            if patient.used_surname and rng.random() < 0.3:
                surname = patient.used_surname
            queries.append((normalise(surname)[:3], patient.birth_date, str(patient.id)))
        ledger.bulk_count = len(queries)
    rng.shuffle(queries)
    return queries


def searchers(count: int) -> list[object]:
    """Secretaries of every establishment, made directly (no password to hash: they never
    sign in, they only act). Several, so that no one account's exposure history (and, where
    the guard keeps budgets, its budget) grows beyond what one real account would have."""
    from django.contrib.auth.hashers import make_password

    from carnet.guard.policy import Role
    from carnet.organisations.models import Establishment
    from carnet.staff.models import Membership, User

    establishments = list(Establishment.objects.all())
    approved = (
        {"access_approved": True}
        if any(f.name == "access_approved" for f in User._meta.get_fields())
        else {}
    )
    User.objects.bulk_create(
        User(
            username=f"bench.search{n}",
            role=Role.SECRETARY,
            first_name="Bench",
            last_name=f"Search{n}",
            password=make_password(None),
            **approved,
        )
        for n in range(count)
    )
    users = list(User.objects.filter(username__startswith="bench.search").order_by("id"))
    Membership.objects.bulk_create(
        Membership(user=user, establishment=e) for user in users for e in establishments
    )
    return users


def actor_for(user: object, establishment_ids: frozenset[int]) -> object:
    from carnet.guard.actors import Actor
    from carnet.guard.policy import Role

    # Where the guard has them: a secretary who confirmed a step-up within the hour, and whose
    # access a security officer approved (what any working secretary's account looks like).
    fields = {f.name for f in dataclasses.fields(Actor)}
    extra = {name: True for name in ("stepped_up", "approved") if name in fields}
    return Actor(
        user_id=user.pk,  # type: ignore[attr-defined]
        username=user.username,  # type: ignore[attr-defined]
        role=Role.SECRETARY,
        establishment_ids=establishment_ids,
        request_id=uuid.uuid4().hex,
        client_ip="127.0.0.1",
        verified=True,
        **extra,
    )


def run_query(actor: object, prefix: str, day: object) -> tuple[float, float, object]:
    """One guarded unit of work; returns (whole unit ms, search_identities ms, outcome)."""
    from django.db import transaction

    from carnet.guard.boundary import boundary, require
    from carnet.guard.policy import Capability
    from carnet.patients.selectors import SearchQuery, search_identities

    started = time.perf_counter()
    with transaction.atomic(), boundary(actor, "patients.search"):  # type: ignore[arg-type]
        require(actor, Capability.SEARCH_IDENTITY)  # type: ignore[arg-type]
        inner = time.perf_counter()
        outcome = search_identities(
            actor=actor,  # type: ignore[arg-type]
            query=SearchQuery(surname=prefix, birth_date=day),  # type: ignore[arg-type]
        )
        searched = time.perf_counter() - inner
    return (time.perf_counter() - started) * 1000, searched * 1000, outcome


def candidate_counts(queries: list[tuple[str, object, str]]) -> list[int]:
    """How many rows each query's blind indexes select before opening (outside timing)."""
    from django.db.models import Q

    from carnet.patients import search_keys
    from carnet.patients.models import Patient

    counts = []
    for prefix, day, _ in queries:
        key = search_keys.prefix_key(prefix)
        counts.append(
            Patient.objects.filter(bi_birth_date=search_keys.birth_date_key(day))
            .filter(Q(bi_birth_prefix=key) | Q(bi_used_prefix=key))
            .count()
        )
    return counts


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0], patients=100_000)
    parse.add_argument("--queries", type=int, default=500, help="timed searches")
    parse.add_argument("--warmup", type=int, default=20, help="untimed searches first")
    parse.add_argument("--queries-per-user", type=int, default=4, help="searches per bench account")
    parse.add_argument("--max-seconds", type=float, default=300, help="bound on the timed loop")
    parse.add_argument("--batch", type=int, default=2000, help="seed insert batch")
    parse.add_argument(
        "--analyze",
        choices=["auto", "yes", "no"],
        default="auto",
        help="ANALYZE after seeding (auto: on PostgreSQL, where autovacuum would, not SQLite)",
    )
    parse.add_argument("--profile", type=int, default=0, metavar="N", help="profile N searches")
    args = parse.parse_args()
    rng = random.Random(args.seed)

    with _common.bench_database(args.db, "search", keep=args.keep) as db:
        from django.db import connection

        from carnet.guard.boundary import Refused
        from carnet.organisations.models import Establishment

        print(_common.environment_line(db))
        seconds, said = _common.seed(args.patients, args.seed, args.batch)
        print(f"seeded: {said} (whole command {seconds:.1f} s); database size {db.size()}")
        if args.analyze == "yes" or (args.analyze == "auto" and db.vendor == "postgres"):
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            print(f"ANALYZE in {time.perf_counter() - started:.1f} s")

        total = args.warmup + args.queries + args.profile
        queries = sample_queries(total, rng)
        users = searchers(total // max(1, args.queries_per_user) + 2)
        establishment_ids = frozenset(Establishment.objects.values_list("pk", flat=True))
        counts = candidate_counts(queries[: min(200, len(queries))])
        print(
            f"{len(queries)} queries from seeded identities; blind-index candidates per query "
            f"(first {len(counts)}): mean {sum(counts) / len(counts):.1f}, max {max(counts)}"
        )

        whole_ms: list[float] = []
        search_ms: list[float] = []
        found = rows = more = 0
        refusals: dict[str, int] = {}
        deadline = time.perf_counter() + args.max_seconds
        for n, (prefix, day, expected) in enumerate(queries[: args.warmup + args.queries]):
            if time.perf_counter() > deadline:
                print(f"stopped at the {args.max_seconds:.0f} s bound")
                break
            actor = actor_for(users[n // max(1, args.queries_per_user)], establishment_ids)
            try:
                whole, inner, outcome = run_query(actor, prefix, day)
            except Refused as refusal:
                refusals[refusal.reason] = refusals.get(refusal.reason, 0) + 1
                continue
            if n < args.warmup:
                continue
            whole_ms.append(whole)
            search_ms.append(inner)
            rows += len(outcome.rows)
            more += outcome.more
            found += any(r.id == expected for r in outcome.rows) or outcome.more

        whole_s = _common.summarise(whole_ms)
        inner_s = _common.summarise(search_ms)
        print(whole_s.line("whole unit (boundary+audit)"))
        print(inner_s.line("search_identities only"))
        done = len(whole_ms)
        print(
            f"found the sampled patient in {found}/{done} searches; "
            f"{rows / max(1, done):.2f} rows per search; {more} capped at 20"
        )
        if refusals:
            print(f"refused (not timed): {refusals}")
        label = (
            "measured"
            if args.patients >= GOAL_PATIENTS and db.vendor == "postgres"
            else (f"at {args.patients:,} on {db.vendor}: the goal is set at 1,000,000 on postgres")
        )
        print(
            f"goal p95 <= {GOAL_P95_MS:.0f} ms (whole unit): "
            f"{_common.verdict(whole_s.p95 <= GOAL_P95_MS)} ({label})"
        )

        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
            offset = args.warmup + args.queries
            for n, (prefix, day, _) in enumerate(queries[offset : offset + args.profile]):
                user = users[(offset + n) // max(1, args.queries_per_user) % len(users)]
                with contextlib.suppress(Refused):
                    run_query(actor_for(user, establishment_ids), prefix, day)
            profile.disable()
            print(f"\nprofile of {args.profile} searches:")
            _common.print_profile(profile, 30)
    print(f"reproduce: {_common.command_line('search.py', args)}")


if __name__ == "__main__":
    main()
