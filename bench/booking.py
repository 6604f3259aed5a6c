"""Scheduling: free-slot search and bookings with concurrent clients, over many agendas filled
with months of appointments by Carnet's own bulk path (`scheduling.setup.fill_agenda`).

1. `scheduling.slots.free_slots` for one week of a random agenda, starting on a random day of
   the next six weeks (what the desk and the portal ask). Goal: p95 <= 50 ms at 1,000 agendas
   x 6 months (13 weeks past, 13 ahead) on PostgreSQL; `--past-weeks` alone shows what a longer
   history costs.
2. Bookings per second: K threads, each with its own database connection, book disjoint free
   slots through `scheduling.services.book_appointment` as approved secretaries, each booking
   one guarded unit of work like a staff page (transaction, boundary, capability, booking,
   audit entry, commit). Then a contention phase: every client races for the same slot, one
   slot per round; exactly one may win, the others must hear `SlotTaken`. Afterwards a SQL
   query checks that no two slot-holding appointments of an agenda overlap.

    .venv/bin/python bench/booking.py --db sqlite   --agendas 100 --patients 2000
    .venv/bin/python bench/booking.py --db postgres --agendas 1000
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

GOAL_P95_MS = 50.0
GOAL_AGENDAS = 1000
GOAL_WEEKS = 13
SEARCH_DAYS = 7  # one week per query, as the booking pages show
SEARCH_AHEAD_DAYS = 42  # first day of the week asked: within the next six weeks
BOOK_AHEAD_DAYS = 49  # bookings: tomorrow to seven weeks ahead (inside the 60-day horizon)
FILL_CHUNK_DAYS = 28  # fill_agenda's grid respects the horizon: fill four weeks at a time
ROUND_TIMEOUT_SECONDS = 60  # a contention round whose clients do not all arrive breaks


def create_agendas(count: int, rng: random.Random) -> list[int]:
    """`count` agendas spread over the seeded establishments, made by `create_agenda`: nine in
    ten a practitioner's (a bench account each, no password to hash: they never sign in),
    one in ten a resource; weekday hours 8:30-12:30 and 14:00-18:00, one consultation type
    of 15, 20 or 30 minutes."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from carnet.guard.policy import Role
    from carnet.organisations.identifiers import with_luhn_key
    from carnet.organisations.models import Establishment
    from carnet.scheduling.setup import create_agenda
    from carnet.staff.models import Membership, Practitioner, User

    establishments = list(Establishment.objects.order_by("pk"))
    home = {n: establishments[n % len(establishments)] for n in range(count)}
    doctors = [n for n in range(count) if n % 10 != 9]
    with transaction.atomic():
        User.objects.bulk_create(
            User(
                username=f"bench.dr{n}",
                role=Role.PRACTITIONER,
                first_name="Bench",
                last_name=f"Doctor{n}",
                password=make_password(None),
                access_approved=True,
            )
            for n in doctors
        )
        users = {u.username: u for u in User.objects.filter(username__startswith="bench.dr")}
        Membership.objects.bulk_create(
            Membership(user=users[f"bench.dr{n}"], establishment=home[n]) for n in doctors
        )
        Practitioner.objects.bulk_create(
            Practitioner(
                user=users[f"bench.dr{n}"],
                rpps=with_luhn_key(f"8{n:09d}"),
                specialty="Médecine générale",
            )
            for n in doctors
        )
        made = Practitioner.objects.filter(user__username__startswith="bench.dr")
        practitioners = {p.user.username: p for p in made.select_related("user")}
        ids = [
            create_agenda(
                establishment=home[n],
                name=f"Bench agenda {n:04d}",
                practitioner=practitioners.get(f"bench.dr{n}"),
                types=(("Consultation", rng.choice((15, 20, 20, 30)), True),),
            ).pk
            for n in range(count)
        ]
    return ids


def patient_pools(limit: int) -> dict[int, list[str]]:
    """Patients known at each establishment (`ids_known_at`, as the seed command fills its
    agendas), canaries left out: a bench that booked one would be contained, rightly."""
    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import system_job
    from carnet.organisations.models import Establishment
    from carnet.patients.models import Patient
    from carnet.patients.selectors import ids_known_at

    actor = system_actor("bench-booking-pools")
    pools = {}
    with system_job(actor, "scheduling.import"):
        for establishment_id in Establishment.objects.values_list("pk", flat=True):
            ids = ids_known_at(actor=actor, establishment_id=establishment_id, limit=limit)
            pools[establishment_id] = _common.ordinary_patient_ids(
                _common.ids_and_marks(Patient.objects.filter(id__in=ids))
            )
    return pools


def fill(agenda_ids: list[int], pools: dict[int, list[str]], args: object) -> int:
    """`fill_agenda` over `--past-weeks` and `--ahead-weeks`, `--fill` of the slots, one system
    job (one transaction, one audit entry) per 25 agendas."""
    from django.utils import timezone

    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import system_job
    from carnet.scheduling.models import Agenda
    from carnet.scheduling.setup import fill_agenda

    rng = random.Random(args.seed)  # type: ignore[attr-defined]
    days = 7 * (args.past_weeks + args.ahead_weeks)  # type: ignore[attr-defined]
    first_day = timezone.localdate() - datetime.timedelta(weeks=args.past_weeks)  # type: ignore[attr-defined]
    actor = system_actor("bench-booking-fill")
    booked, started, shown = 0, time.perf_counter(), 0
    for start in range(0, len(agenda_ids), 25):
        chunk = agenda_ids[start : start + 25]
        with system_job(actor, "scheduling.import"):
            for agenda in Agenda.objects.filter(pk__in=chunk).select_related("practitioner"):
                for offset in range(0, days, FILL_CHUNK_DAYS):
                    booked += fill_agenda(
                        actor=actor,
                        agenda=agenda,
                        patient_ids=pools[agenda.establishment_id],
                        first_day=first_day + datetime.timedelta(days=offset),
                        days=min(FILL_CHUNK_DAYS, days - offset),
                        share=args.fill,  # type: ignore[attr-defined]
                        rng=rng,
                    )
        done = start + len(chunk)
        if done * 4 // len(agenda_ids) > shown:
            shown = done * 4 // len(agenda_ids)
            print(
                f"  filled {done}/{len(agenda_ids)} agendas: {booked:,} appointments "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return booked


def search(types: list[object], args: object, rng: random.Random) -> tuple[list[float], int]:
    """Times `free_slots` for one week; returns the timings (ms) and the slots found."""
    from django.utils import timezone

    from carnet.scheduling.slots import free_slots

    today = timezone.localdate()
    timings: list[float] = []
    found = 0
    deadline = time.perf_counter() + args.search_seconds  # type: ignore[attr-defined]
    for n in range(args.warmup + args.queries):  # type: ignore[attr-defined]
        if time.perf_counter() > deadline:
            print(f"free-slot search stopped at the {args.search_seconds:.0f} s bound")  # type: ignore[attr-defined]
            break
        consultation = rng.choice(types)
        day = today + datetime.timedelta(days=rng.randint(0, SEARCH_AHEAD_DAYS))
        started = time.perf_counter()
        slots = free_slots(consultation_type=consultation, first_day=day, days=SEARCH_DAYS)  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        if n >= args.warmup:  # type: ignore[attr-defined]
            timings.append(elapsed)
            found += len(slots)
    return timings, found


def explain_free_slots(consultation: object) -> None:
    """The plan of the appointments query of one `free_slots` call, as it ran."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from carnet.scheduling.slots import free_slots

    day = timezone.localdate() + datetime.timedelta(days=14)
    with CaptureQueriesContext(connection) as captured:
        free_slots(consultation_type=consultation, first_day=day, days=SEARCH_DAYS)  # type: ignore[arg-type]
    print(f"free_slots ran {len(captured.captured_queries)} SQL queries; the appointments one:")
    sql = next(q["sql"] for q in captured.captured_queries if "scheduling_appointment" in q["sql"])
    print(f"  {sql}")
    prefix = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        for row in cursor.fetchall():
            print(f"  | {row[-1]}")


def booking_plan(types: list[object], count: int, rng: random.Random) -> list[tuple]:
    """`count` distinct free slots (consultation type, start), a few per agenda, found with
    `free_slots` before any timing."""
    from django.utils import timezone

    from carnet.scheduling.slots import free_slots

    order = list(types)
    rng.shuffle(order)
    per_agenda = -(-count // len(order))
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    plan: list[tuple] = []
    for consultation in order:
        if len(plan) >= count:
            break
        slots = free_slots(
            consultation_type=consultation,  # type: ignore[arg-type]
            first_day=tomorrow,
            days=BOOK_AHEAD_DAYS,
        )
        chosen = rng.sample(slots, min(per_agenda, len(slots)))
        plan += [(consultation, slot.starts_at) for slot in chosen]
    return plan[:count]


def desk_patients(limit: int) -> dict[int, list[str]]:
    """Per establishment, patients its desk sees this week (an appointment there within the
    desk window): a desk books their next visit inside its care relationships, so no booking
    is charged to an exposure budget (which stops 15 strangers an hour per account)."""
    from carnet.guard.models import CareRelationship
    from carnet.guard.relationships import active
    from carnet.organisations.models import Establishment
    from carnet.patients.models import Patient

    pools = {}
    for establishment_id in Establishment.objects.values_list("pk", flat=True):
        ids = list(
            CareRelationship.objects.filter(active(), establishment_id=establishment_id)
            .values_list("patient_id", flat=True)
            .distinct()[:limit]
        )
        pools[establishment_id] = _common.ordinary_patient_ids(
            _common.ids_and_marks(Patient.objects.filter(id__in=ids))
        )
    return pools


def desk_actors(count: int) -> list[object]:
    """Approved secretaries, members of every establishment (created directly: they never sign
    in, they only act)."""
    from django.contrib.auth.hashers import make_password

    from carnet.guard.actors import Actor
    from carnet.guard.policy import Role
    from carnet.organisations.models import Establishment
    from carnet.staff.models import Membership, User

    establishments = list(Establishment.objects.all())
    User.objects.bulk_create(
        User(
            username=f"bench.desk{n}",
            role=Role.SECRETARY,
            first_name="Bench",
            last_name=f"Desk{n}",
            password=make_password(None),
            access_approved=True,
        )
        for n in range(count)
    )
    users = list(User.objects.filter(username__startswith="bench.desk").order_by("pk"))
    Membership.objects.bulk_create(
        Membership(user=u, establishment=e) for u in users for e in establishments
    )
    ids = frozenset(e.pk for e in establishments)
    return [
        Actor(
            user_id=u.pk,
            username=u.username,
            role=Role.SECRETARY,
            establishment_ids=ids,
            client_ip="127.0.0.1",
            verified=True,
            approved=True,
        )
        for u in users
    ]


def _constraint_watch(hits: list[str]) -> object:
    """Notes an insert of an appointment that the database itself refused (PostgreSQL's
    exclusion constraint, or the unique start): which guarantee stopped a racing client."""
    from django.db import IntegrityError

    def watch(execute: object, sql: str, params: object, many: bool, context: object) -> object:
        try:
            return execute(sql, params, many, context)  # type: ignore[operator]
        except IntegrityError:
            if sql.startswith('INSERT INTO "scheduling_appointment"'):
                hits.append(sql)
            raise

    return watch


def book(actor: object, consultation: object, patient_id: str, starts_at: object) -> tuple:
    """One guarded unit of work as `staff_view` + `desk_book` run it: `SlotTaken` is answered
    inside the boundary (the attempt is audited and committed). Returns (ms, outcome); a
    `SlotTaken` is "taken" (the overlap check saw the winner) or "taken (constraint)" (the
    check passed and the database refused the insert)."""
    from django.core.exceptions import ValidationError
    from django.db import DatabaseError, connection, transaction

    from carnet.guard.boundary import Refused, boundary, require
    from carnet.guard.policy import Capability
    from carnet.scheduling.services import SlotTaken, book_appointment

    actor = dataclasses.replace(actor, request_id=uuid.uuid4().hex)  # type: ignore[type-var]
    refused_insert: list[str] = []
    started = time.perf_counter()
    try:
        with (
            connection.execute_wrapper(_constraint_watch(refused_insert)),
            transaction.atomic(),
            boundary(actor, "bench.book"),  # type: ignore[arg-type]
        ):
            require(actor, Capability.BOOK_APPOINTMENT)  # type: ignore[arg-type]
            try:
                book_appointment(
                    actor=actor,  # type: ignore[arg-type]
                    consultation_type_id=consultation.pk,  # type: ignore[attr-defined]
                    patient_id=patient_id,
                    starts_at=starts_at,  # type: ignore[arg-type]
                )
                outcome = "booked"
            except SlotTaken:
                outcome = "taken (constraint)" if refused_insert else "taken"
    except Refused as refusal:
        outcome = f"refused: {refusal.reason}"
    except ValidationError as error:
        outcome = f"invalid: {' '.join(error.messages)}"
    except DatabaseError as error:
        outcome = f"database error: {type(error).__name__}: {str(error).splitlines()[0]}"
    return (time.perf_counter() - started) * 1000, outcome


def probe(item: tuple, actor: object, patients: dict) -> str:
    """One booking, alone, with its SQL counted (before the timed phases)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    consultation, starts_at = item
    pool = patients[consultation.agenda.establishment_id]
    with CaptureQueriesContext(connection) as captured:
        ms, outcome = book(actor, consultation, pool[0], starts_at)
    return (
        f"one booking alone: {outcome} in {ms:.1f} ms, "
        f"{len(captured.captured_queries)} SQL queries (savepoints included)"
    )


def run_clients(count: int, work: object, bound_seconds: float) -> float:
    """Runs `work(client)` in `count` threads, each closing its own connection; returns the
    wall seconds from the common start to the last client's end."""
    from django.db import connection

    start = threading.Barrier(count + 1, timeout=ROUND_TIMEOUT_SECONDS)

    def client(n: int) -> None:
        try:
            start.wait()
            work(n)  # type: ignore[operator]
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(1.0, began + bound_seconds + 120 - time.perf_counter()))
    if any(thread.is_alive() for thread in threads):
        raise SystemExit("FAILED: a client did not end within its bound (stuck on a lock?)")
    return time.perf_counter() - began


def throughput(plan: list[tuple], actors: list, patients: dict, args: object) -> tuple:
    """Phase 1: disjoint slots (each agenda's slots go to one client)."""
    clients = len(actors)
    queues: list[list[tuple]] = [[] for _ in range(clients)]
    for consultation, starts_at in plan:
        queues[consultation.agenda_id % clients].append((consultation, starts_at))
    results: list[tuple[float, str]] = []
    deadline = time.perf_counter() + args.max_seconds  # type: ignore[attr-defined]

    def work(n: int) -> None:
        rng = random.Random(args.seed * 1000 + n)  # type: ignore[attr-defined]
        for consultation, starts_at in queues[n]:
            if time.perf_counter() > deadline:
                break
            pool = patients[consultation.agenda.establishment_id]
            results.append(book(actors[n], consultation, rng.choice(pool), starts_at))

    wall = run_clients(clients, work, args.max_seconds)  # type: ignore[attr-defined]
    return wall, results


def contention(slots: list[tuple], actors: list, patients: dict, args: object) -> tuple:
    """Phase 2: every client books the same slot at the same moment, one slot per round."""
    clients = len(actors)
    rounds: list[list[tuple[float, str]]] = [[] for _ in slots]
    deadline = time.perf_counter() + args.max_seconds  # type: ignore[attr-defined]
    go = [True]

    def decide() -> None:  # run once per round, by one client: all stop together
        go[0] = time.perf_counter() < deadline

    barrier = threading.Barrier(clients, action=decide, timeout=ROUND_TIMEOUT_SECONDS)

    def work(n: int) -> None:
        rng = random.Random(args.seed * 2000 + n)  # type: ignore[attr-defined]
        for index, (consultation, starts_at) in enumerate(slots):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return
            if not go[0]:
                return
            pool = patients[consultation.agenda.establishment_id]
            rounds[index].append(book(actors[n], consultation, rng.choice(pool), starts_at))

    wall = run_clients(clients, work, args.max_seconds)  # type: ignore[attr-defined]
    return wall, [r for r in rounds if r]


def overlapping_appointments() -> int:
    """Slot-holding appointments that start before an earlier one of their agenda ends."""
    from django.db import connection

    from carnet.scheduling.models import Appointment

    table = Appointment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT starts_at, MAX(ends_at) OVER ("  # noqa: S608 - our table
            " PARTITION BY agenda_id ORDER BY starts_at, id"
            " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_end"
            f" FROM {table} WHERE holds_slot) AS ordered WHERE starts_at < before_end"
        )
        return int(cursor.fetchone()[0])


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0], patients=3000)
    parse.add_argument("--agendas", type=int, default=GOAL_AGENDAS)
    parse.add_argument("--past-weeks", type=int, default=GOAL_WEEKS, help="history filled")
    parse.add_argument("--ahead-weeks", type=int, default=GOAL_WEEKS, help="future filled")
    parse.add_argument("--fill", type=float, default=0.7, help="share of slots booked")
    parse.add_argument("--queries", type=int, default=2000, help="timed free-slot searches")
    parse.add_argument("--warmup", type=int, default=50, help="untimed searches first")
    parse.add_argument("--search-seconds", type=float, default=300, help="bound on searches")
    parse.add_argument("--clients", type=int, default=8, help="concurrent booking clients")
    parse.add_argument("--bookings", type=int, default=2000, help="bookings of phase 1")
    parse.add_argument("--contested", type=int, default=20, help="slots raced in phase 2")
    parse.add_argument("--max-seconds", type=float, default=60, help="bound on each phase")
    parse.add_argument("--batch", type=int, default=2000, help="seed insert batch")
    parse.add_argument(
        "--analyze",
        choices=["auto", "yes", "no"],
        default="auto",
        help="ANALYZE after filling (auto: on PostgreSQL, where autovacuum would, not SQLite)",
    )
    parse.add_argument("--explain", action="store_true", help="plan of free_slots' query")
    parse.add_argument("--profile", type=int, default=0, metavar="N", help="profile N bookings")
    args = parse.parse_args()
    rng = random.Random(args.seed)
    failures: list[str] = []

    with _common.bench_database(args.db, "booking", keep=args.keep) as db:
        from django.db import connection

        from carnet.guard.models import CareRelationship
        from carnet.scheduling.models import Appointment, AppointmentEvent, ConsultationType

        print(_common.environment_line(db))
        seconds, said = _common.seed(args.patients, args.seed, args.batch)
        print(f"seeded: {said} (whole command {seconds:.1f} s)")
        started = time.perf_counter()
        agenda_ids = create_agendas(args.agendas, rng)
        pools = patient_pools(args.patients)
        print(
            f"{len(agenda_ids)} agendas created in {time.perf_counter() - started:.1f} s; "
            f"patients per establishment: {[len(p) for p in pools.values()]}"
        )
        started = time.perf_counter()
        booked = fill(agenda_ids, pools, args)
        filled = time.perf_counter() - started
        print(
            f"filled by fill_agenda: {booked:,} appointments, {args.past_weeks} weeks past and "
            f"{args.ahead_weeks} ahead "
            f"({args.fill:.0%} of slots) in {filled:.1f} s ({booked / filled:,.0f}/s); rows: "
            f"{Appointment.objects.count():,} appointments, "
            f"{AppointmentEvent.objects.count():,} events, "
            f"{CareRelationship.objects.count():,} care relationships; "
            f"database size {db.size()}"
        )
        if args.analyze == "yes" or (args.analyze == "auto" and db.vendor == "postgres"):
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            print(f"ANALYZE in {time.perf_counter() - started:.1f} s")
        types = list(
            ConsultationType.objects.filter(agenda_id__in=agenda_ids).select_related("agenda")
        )

        # 1. Free-slot search.
        if args.explain:
            explain_free_slots(types[0])
        timings, found = search(types, args, rng)
        summary = _common.summarise(timings)
        print(summary.line("free_slots, one week"))
        print(f"{found / max(1, len(timings)):.1f} free slots per week found on average")
        weeks = args.past_weeks + args.ahead_weeks
        full = args.agendas >= GOAL_AGENDAS and weeks >= 2 * GOAL_WEEKS
        label = (
            "measured"
            if full and db.vendor == "postgres"
            else f"at {args.agendas:,} agendas x {weeks} weeks on {db.vendor}: "
            f"the goal is set at {GOAL_AGENDAS:,} x {2 * GOAL_WEEKS} on postgres"
        )
        print(
            f"goal free-slot search p95 <= {GOAL_P95_MS:.0f} ms: "
            f"{_common.verdict(summary.p95 <= GOAL_P95_MS)} ({label})"
        )

        # 2. Bookings with concurrent clients.
        extra = 1 + args.profile
        plan = booking_plan(types, args.bookings + args.contested + extra, rng)
        probes, plan = plan[:extra], plan[extra:]
        contested, plan = plan[len(plan) - args.contested :], plan[: len(plan) - args.contested]
        patients = desk_patients(limit=5000)
        if not all(patients.values()):
            raise SystemExit("no patient with a desk relationship this week: raise --fill")
        actors = desk_actors(args.clients)
        print(
            f"bookings: {args.clients} clients, each its own connection; as approved secretaries "
            "of every establishment, one unit of work each (transaction.atomic + "
            "boundary('bench.book') + require(BOOK_APPOINTMENT) + book_appointment + audit "
            "entry, like staff_view + desk_book); patients the desk sees this week "
            f"({sum(len(p) for p in patients.values()):,}), so no exposure budget is charged"
        )
        if db.vendor == "sqlite":
            print(
                "SQLite serialises writers (each booking is one BEGIN IMMEDIATE transaction): "
                "the clients queue on the database lock, the rate is one writer's"
            )
        print(probe(probes[0], actors[0], patients))
        wall, results = throughput(plan, actors, patients, args)
        outcomes = Counter(o for _, o in results)
        done = [ms for ms, o in results if o == "booked"]
        print(
            f"phase 1 (disjoint slots): {len(results)} attempts of {len(plan)} planned in "
            f"{wall:.1f} s: {dict(outcomes)}"
        )
        print(_common.summarise(done).line("booking (booked)"))
        rate = len(done) / wall if wall else 0.0
        print(
            f"bookings/s with {args.clients} clients on {db.vendor}: {rate:,.1f} "
            "(no goal set by the issue: the figure it asks for)"
        )
        if outcomes.keys() - {"booked"}:
            failures.append(f"phase 1 answered other than booked: {dict(outcomes)}")

        wall, rounds = contention(contested, actors, patients, args)
        wins = [sum(o == "booked" for _, o in r) for r in rounds]
        outcomes = Counter(o for r in rounds for _, o in r)
        by_check, by_constraint = outcomes["taken"], outcomes["taken (constraint)"]
        print(
            f"phase 2 (contention): {len(rounds)} slots each raced by {args.clients} clients in "
            f"{wall:.1f} s: {outcomes['booked']} won, {by_check + by_constraint} SlotTaken "
            f"({by_check} from the overlap check, {by_constraint} from the database refusing "
            "the insert)"
            + "".join(f", {n} {o}" for o, n in outcomes.items() if not o.startswith(("b", "t")))
        )
        raced = [answer for r in rounds for answer in r]
        taken = [ms for ms, o in raced if o.startswith("taken")]
        print(_common.summarise([ms for ms, o in raced if o == "booked"]).line("race (won)"))
        print(_common.summarise(taken).line("race (SlotTaken)"))
        if any(w > 1 for w in wins):
            failures.append(f"DOUBLE BOOKING: rounds with more than one winner: {wins}")
        elif any(w != 1 for w in wins):
            failures.append(f"rounds without a winner: wins per round {wins}")

        started = time.perf_counter()
        overlaps = overlapping_appointments()
        holders = [
            Appointment.objects.filter(
                consultation_type=consultation, starts_at=starts_at, holds_slot=True
            ).count()
            for consultation, starts_at in contested[: len(rounds)]
        ]
        holding = Appointment.objects.filter(holds_slot=True).count()
        print(
            f"check (SQL, {time.perf_counter() - started:.1f} s): {overlaps} overlapping "
            f"slot-holding appointments among {holding:,}; "
            f"holders per contested slot {sorted(Counter(holders).items())}"
        )
        if overlaps or any(h > 1 for h in holders):
            failures.append(f"DOUBLE BOOKING: {overlaps} overlaps, holders {holders}")
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
            for consultation, starts_at in probes[1:]:
                pool = patients[consultation.agenda.establishment_id]
                book(actors[0], consultation, rng.choice(pool), starts_at)
            profile.disable()
            print(f"\nprofile of {args.profile} bookings, one client:")
            _common.print_profile(profile, 30)
        doubled = any(f.startswith("DOUBLE BOOKING") for f in failures)
        print(f"goal no double booking under contention: {_common.verdict(not doubled)}")
    print(f"reproduce: {_common.command_line('booking.py', args)}")
    for failure in failures:
        print(f"FAILED: {failure}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
