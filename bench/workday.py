"""The working day, measured: a realistic day of each role, through the real pages (Django's
test client over the whole middleware and guard), on a seeded group, with a fixed seed and a
compressed clock (each act at its simulated minute). Prints, per role: acts done, step-ups,
locks, refusals, and what tripped each. Goal: 0 locks and at most 1 step-up per role per day.

- two desks (the hospital's and the clinic's): 80 calls each, 20 in the busiest hour; 30 % new
  patients (nobody found, an identity made, then booked), 10 % misspelled first (a search that
  finds nobody, then the right one), 15 % known at the group's other establishment (found there,
  booked here), the rest known here (booked, moved, cancelled, or just checked); a confirmation
  printed for each booking; the day's arrivals checked in; the day sheet looked at through
  the day;
- a practitioner: 25 consultations (the chart of each booked patient, a note), the results
  page, and three referrals of new patients found in the group and booked into his agenda;
- a nurse: a 25-bed unit over two shifts (each admitted patient's chart twice a shift, a
  nursing note each, a few patients found by name);
- a laboratory technician: the day's worklist, each order opened.

    .venv/bin/python bench/workday.py --patients 3000
"""

from __future__ import annotations

import collections
import datetime
import logging
import os
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/
os.environ["CARNET_EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"

from bench._common import (  # noqa: E402
    bench_database,
    command_line,
    environment_line,
    parser,
    seed,
)

CALLS = 80
PEAK = 20
NEW, MISSPELLED, ELSEWHERE = 0.30, 0.10, 0.15
# How far the desk looks for a free slot before giving up (a specialist's agenda may be full
# for months; beyond this the caller is put on a waiting list, which the day does not play).
HORIZON_WEEKS = 26
STEP_UP_PAGE = 'id="step-up"'


@dataclass
class Tally:
    """What one role's day came to."""

    acts: int = 0
    step_ups: int = 0
    locks: int = 0
    refusals: int = 0
    tripped: collections.Counter = field(default_factory=collections.Counter)
    user_id: int | None = None
    sign_ins: int = 0

    def counted(self) -> tuple[int, int, int]:
        """What the guard counted of the day: patients outside any relationship still
        counted, patients explained by a booking or an admission, searches that found no
        one."""
        from carnet.guard.models import Exposure

        rows = Exposure.objects.filter(user_id=self.user_id)
        outside = rows.filter(patient_id__isnull=False, explained_by="")
        explained = rows.filter(patient_id__isnull=False).exclude(explained_by="")
        return (
            outside.values("patient_id").distinct().count(),
            explained.values("patient_id").distinct().count(),
            rows.filter(patient_id__isnull=True).count(),
        )


class Worker:
    """A demo account at its desk: signed in with its second factor, acting at simulated
    minutes; step-ups answered with the code of its phone and a reason, as people do."""

    def __init__(self, username: str, tally: Tally) -> None:
        from django.test import Client
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from carnet.staff.models import User

        self.user = User.objects.get(username=username)
        self.device = TOTPDevice.objects.create(user=self.user, name="bench", confirmed=True)
        self.client = Client()
        self.tally = tally
        tally.user_id = self.user.pk
        self._sign_in()

    def _sign_in(self) -> None:
        """Password and second factor (an idle session ends after 30 minutes, as in life)."""
        from django_otp import DEVICE_ID_SESSION_KEY

        self.client.force_login(self.user)
        session = self.client.session
        session[DEVICE_ID_SESSION_KEY] = self.device.persistent_id
        session.save()
        self.tally.sign_ins += 1

    def _code(self) -> str:
        from django_otp.oath import TOTP

        self.device.refresh_from_db()
        totp = TOTP(self.device.bin_key, step=self.device.step, t0=self.device.t0)
        # A code is taken once: the next step's, which the device tolerates.
        totp.time = totp.time + self.device.step
        return f"{totp.token():06d}"

    def do(self, method: str, url: str, data: dict | None = None) -> object:
        from django.contrib.auth import get_user_model

        from carnet.guard.models import Containment

        data = data or {}
        self.tally.acts += 1
        response = getattr(self.client, method)(url, data)
        if response.status_code == 302 and response["Location"].startswith("/login/"):
            self._sign_in()
            response = getattr(self.client, method)(url, data)
        body = response.content.decode(errors="replace")
        location = response.get("Location", "")
        if location.startswith("/confirm/") or (method == "post" and STEP_UP_PAGE in body):
            self.tally.step_ups += 1
            self.tally.tripped["step-up: soft exposure limit"] += 1
            replay = {f"replay__{k}": v for k, v in data.items()} if method == "post" else {}
            next_url = url if method == "post" else location.split("next=", 1)[-1]
            self.client.post(
                "/confirm/",
                {"reason": "Appels du jour", "token": self._code(), "next": next_url, **replay},
            )
            response = getattr(self.client, method)(url, data)
            body = response.content.decode(errors="replace")
        if not get_user_model().objects.get(pk=self.user.pk).is_active:
            lock = Containment.objects.filter(user=self.user).order_by("-at").first()
            self.tally.locks += 1
            self.tally.tripped[f"lock: {lock.reason if lock else '?'}"] += 1
            self._unlocked()
        elif response.status_code in (403, 404):
            self.tally.refusals += 1
            where = re.sub(r"[0-9a-f-]{36}", "<id>", url)
            self.tally.tripped[f"refused {response.status_code}: {method.upper()} {where}"] += 1
        return response

    def _unlocked(self) -> None:
        """The security officer unlocks the account after a call (so the day can be measured
        to its end); the lock is counted."""
        from django.contrib.auth import get_user_model
        from django.utils import timezone

        from carnet.guard.models import Containment

        Containment.objects.filter(user=self.user, released_at__isnull=True).update(
            released_at=timezone.now(), release_reason="bench"
        )
        get_user_model().objects.filter(pk=self.user.pk).update(is_active=True)
        self.user.refresh_from_db()
        self._sign_in()


@dataclass(frozen=True)
class Person:
    id: str
    surname: str
    first_names: str
    birth_date: datetime.date


def _people(establishment_ids: set[int], only: bool, limit: int, rng: random.Random):
    """Ordinary patients known at these establishments (`only`: at none other), opened by the
    vault alone for the benchmark's own bookkeeping."""
    from carnet.guard.canaries import is_canary
    from carnet.patients.models import Patient
    from carnet.vault.scope import admit_everything, opening_scope

    found = []
    rows = Patient.objects.prefetch_related("identifiers").order_by("id")
    with opening_scope():
        admit_everything()
        for patient in rows.iterator(chunk_size=500):
            places = {i.establishment_id for i in patient.identifiers.all()}
            if not places or (only and not places <= establishment_ids):
                continue
            if not places & establishment_ids:
                continue
            if is_canary(str(patient.id), bytes(patient.mark) if patient.mark else None):
                continue
            if patient.deceased or patient.merged_into_id:
                continue
            found.append(
                Person(
                    str(patient.id),
                    patient.birth_surname,
                    patient.first_names,
                    patient.birth_date,
                )
            )
    rng.shuffle(found)
    return found[:limit]


def _misspelled(surname: str, rng: random.Random) -> str:
    letters = list(surname)
    where = rng.randrange(1, len(letters)) if len(letters) > 1 else 0
    letters[where] = "Y" if letters[where] != "Y" else "W"
    return "".join(letters)


class Slots:
    """The next free slots of an establishment's agendas, from the day after the simulated one,
    as the desk's agenda pages show them."""

    def __init__(self, establishment_id: int, first_day: datetime.date) -> None:
        from carnet.scheduling.models import ConsultationType

        self.types = list(
            ConsultationType.objects.filter(
                agenda__establishment_id=establishment_id,
                agenda__active=True,
                agenda__practitioner__isnull=False,
            ).select_related("agenda")
        )
        self.first_day = first_day
        self.taken: set[tuple[int, datetime.datetime]] = set()

    def next(self, rng: random.Random, consultation=None):
        from carnet.scheduling.slots import free_slots

        choices = [consultation] if consultation else rng.sample(self.types, len(self.types))
        for kind in choices:
            # The caller's wish (one to two weeks out), then, as the desk's "next free slot"
            # does, the first free time after it however far: a full fortnight is no reason
            # to send a patient away.
            wished = self.first_day + datetime.timedelta(days=rng.randrange(1, 15))
            for weeks in range(0, HORIZON_WEEKS, 2):
                for slot in free_slots(
                    consultation_type=kind,
                    first_day=wished + datetime.timedelta(weeks=weeks),
                    days=14,
                ):
                    if (kind.agenda_id, slot.starts_at) not in self.taken:
                        self.taken.add((kind.agenda_id, slot.starts_at))
                        return kind, slot.starts_at
        return None, None


def _moments(day: datetime.date, count: int, peak: int, rng: random.Random):
    """When the calls come: `peak` of them between 8:30 and 9:30, the rest over the day."""
    from django.utils import timezone

    def at(minutes: float) -> datetime.datetime:
        start = timezone.make_aware(datetime.datetime.combine(day, datetime.time(8, 0)))
        return start + datetime.timedelta(minutes=minutes)

    busy = [at(30 + rng.uniform(0, 60)) for _ in range(peak)]
    rest = [at(rng.choice([rng.uniform(0, 30), rng.uniform(90, 600)])) for _ in range(count - peak)]
    return sorted(busy + rest)


def _identity_form(record: dict) -> dict:
    data = {k: v for k, v in record.items() if k not in ("canary", "establishment_ids")}
    data["birth_date"] = record["birth_date"].isoformat()
    data["status"] = "provisional"
    data["nir"] = ""
    data["treating_doctor"] = ""
    return {k: ("" if v is None else v) for k, v in data.items()}


# Per establishment, the patients its desk booked on earlier calls (they call back about it).
_callers: dict[int, list] = {}


def desk_day(worker: Worker, establishment_id: int, other_id: int, day, rng) -> None:
    import time_machine

    from carnet.cli.synthetic import identities

    here = _people({establishment_id}, False, CALLS, rng)
    elsewhere = _people({other_id}, True, CALLS, rng)
    newcomers = identities(
        CALLS, seed=rng.randrange(10**6), establishment_ids=[0], practitioner_ids=[]
    )
    slots = Slots(establishment_id, day)
    booked: list[str] = []
    callers = _callers.setdefault(establishment_id, [])
    for number, moment in enumerate(_moments(day, CALLS, PEAK, rng)):
        draw = rng.random()
        with time_machine.travel(moment, tick=False):
            if number % 10 == 0:
                worker.do("get", "/desk/")
            if draw < NEW:
                record = next(newcomers)
                worker.do(
                    "post",
                    "/patients/",
                    {"surname": record["birth_surname"][:4], "birth_date": record["birth_date"]},
                )
                response = worker.do("post", "/patients/new/", _identity_form(record))
                match = re.search(r"/patients/([0-9a-f-]{36})/", response.get("Location", ""))
                patient_id = match.group(1) if match else None
            else:
                local = True
                # A caller about an appointment already taken here (one in ten of the local
                # callers): one of the patients this desk booked on an earlier call.
                asking = draw >= NEW + ELSEWHERE and callers and rng.random() < 0.1
                if asking:
                    person = rng.choice(callers)
                elif draw < NEW + ELSEWHERE and elsewhere:
                    person, local = elsewhere.pop(), False
                elif here:
                    person = here.pop()
                else:
                    continue
                if draw > 1 - MISSPELLED:
                    worker.do(
                        "post",
                        "/patients/",
                        {
                            "surname": _misspelled(person.surname, rng)[:6],
                            "birth_date": person.birth_date,
                        },
                    )
                worker.do(
                    "post",
                    "/patients/",
                    {"surname": person.surname[:4], "birth_date": person.birth_date},
                )
                patient_id = person.id
                if asking:
                    # A question about the appointment: the identity page.
                    worker.do("get", f"/patients/{patient_id}/")
                    continue
            if patient_id is None:
                continue
            kind, start = slots.next(rng)
            if kind is None:
                continue
            response = worker.do(
                "post",
                "/desk/book/",
                {
                    "type": kind.pk,
                    "agenda": kind.agenda_id,
                    "start": start.isoformat(),
                    "patient": patient_id,
                },
            )
            appointment = _latest_appointment(patient_id, establishment_id)
            if appointment is not None:
                booked.append(appointment)
                if draw >= NEW and local:
                    callers.append(person)
                worker.do("get", f"/desk/{appointment}/confirmation/")
                if rng.random() < 0.15:
                    # Moved: the caller wanted another day (cancel, book again).
                    worker.do("post", f"/desk/{appointment}/cancel/", {"reason": "déplacé"})
                    kind, start = slots.next(rng, kind)
                    if kind is not None:
                        worker.do(
                            "post",
                            "/desk/book/",
                            {
                                "type": kind.pk,
                                "agenda": kind.agenda_id,
                                "start": start.isoformat(),
                                "patient": patient_id,
                            },
                        )
    _arrivals(worker, establishment_id, day)


def _latest_appointment(patient_id: str, establishment_id: int) -> str | None:
    """The patient's appointment this desk has just booked (a patient of the group may have
    others, at another establishment, that this desk does not print)."""
    from carnet.scheduling.models import Appointment

    found = (
        Appointment.objects.filter(
            patient_id=patient_id, state="booked", agenda__establishment_id=establishment_id
        )
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    return str(found) if found else None


def _arrivals(worker: Worker, establishment_id: int, day: datetime.date) -> None:
    """The day's patients arrive: each checked in a few minutes before their time."""
    import time_machine
    from django.utils import timezone

    from carnet.scheduling.models import Appointment, WaitingRoom

    room = WaitingRoom.objects.filter(establishment_id=establishment_id).first()
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    todays = Appointment.objects.filter(
        agenda__establishment_id=establishment_id,
        starts_at__gte=start,
        starts_at__lt=start + datetime.timedelta(days=1),
        state__in=["booked", "confirmed"],
    ).order_by("starts_at")[:40]
    for appointment in todays:
        with time_machine.travel(appointment.starts_at - datetime.timedelta(minutes=5), tick=False):
            worker.do(
                "post",
                f"/desk/{appointment.pk}/check-in/",
                {"waiting_room": room.pk if room else 0},
            )


def practitioner_day(worker: Worker, day, rng) -> None:
    import time_machine
    from django.utils import timezone

    from carnet.scheduling.models import Appointment
    from carnet.staff.models import User

    user = User.objects.get(pk=worker.user.pk)
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time(8, 0)))
    seen = list(
        Appointment.objects.filter(
            agenda__practitioner__user=user,
            starts_at__gte=start - datetime.timedelta(hours=8),
            starts_at__lt=start + datetime.timedelta(days=1),
        ).values_list("patient_id", flat=True)[:25]
    )
    for number, patient_id in enumerate(seen):
        moment = start + datetime.timedelta(minutes=20 * number)
        with time_machine.travel(moment, tick=False):
            worker.do("get", f"/patients/{patient_id}/chart/")
            worker.do(
                "post",
                f"/patients/{patient_id}/chart/notes/",
                {"text": "Examen clinique sans particularité. Poursuite du traitement."},
            )
            worker.do("get", f"/patients/{patient_id}/lab/")
    # Referrals: three new patients sent by colleagues, found in the group, booked here.
    home = user.memberships.first().establishment
    group = set(home.group.establishments.values_list("pk", flat=True))
    referrals = _people(group - {home.pk}, True, 50, rng)[:3]
    slots = Slots(home.pk, day)
    own = [
        t for t in slots.types if t.agenda.practitioner and t.agenda.practitioner.user_id == user.pk
    ]
    for number, person in enumerate(referrals):
        moment = start + datetime.timedelta(hours=9, minutes=10 * number)
        with time_machine.travel(moment, tick=False):
            worker.do(
                "post",
                "/patients/",
                {"surname": person.surname[:4], "birth_date": person.birth_date},
            )
            kind, when = slots.next(rng, own[0]) if own else (None, None)
            if kind is not None:
                worker.do(
                    "post",
                    "/desk/book/",
                    {
                        "type": kind.pk,
                        "agenda": kind.agenda_id,
                        "start": when.isoformat(),
                        "patient": person.id,
                    },
                )


def nurse_day(worker: Worker, day, rng) -> None:
    import time_machine
    from django.utils import timezone

    from carnet.clinical.models import Encounter
    from carnet.staff.models import User

    user = User.objects.get(pk=worker.user.pk)
    units = list(user.memberships.exclude(unit=None).values_list("unit_id", flat=True))
    _fill_unit(units[0], 25)
    admitted = list(
        Encounter.objects.filter(
            kind="admission", unit_id__in=units, discharged_at__isnull=True
        ).values_list("patient_id", flat=True)
    )
    for shift, hour in enumerate((7, 14)):
        for round_ in range(2):
            for number, patient_id in enumerate(admitted):
                moment = timezone.make_aware(
                    datetime.datetime.combine(day, datetime.time(hour + 3 * round_))
                ) + datetime.timedelta(minutes=3 * number)
                with time_machine.travel(moment, tick=False):
                    worker.do("get", f"/patients/{patient_id}/chart/")
                    if round_ == 0:
                        worker.do(
                            "post",
                            f"/patients/{patient_id}/chart/notes/",
                            {"text": f"Transmissions équipe {shift + 1} : constantes stables."},
                        )


def _fill_unit(unit_id: int, beds: int) -> None:
    """The unit holds `beds` patients (admitted beforehand, recorded as the import)."""
    from django.core.exceptions import ValidationError

    from carnet.cli.demo_clinical import acting, actor_of
    from carnet.clinical.encounters import admit
    from carnet.clinical.models import Encounter
    from carnet.organisations.models import Unit
    from carnet.staff.models import User

    unit = Unit.objects.get(pk=unit_id)
    doctor = User.objects.filter(
        role="practitioner", memberships__establishment=unit.establishment
    ).first()
    present = Encounter.objects.filter(
        kind="admission", unit=unit, discharged_at__isnull=True
    ).count()
    if present >= beds or doctor is None:
        return
    candidates = _people({unit.establishment_id}, False, beds * 3, random.Random(5))
    for person in candidates:
        if present >= beds:
            break
        try:
            with acting(actor_of(doctor.username), "bench.admit") as actor:
                admit(actor=actor, patient_id=person.id, unit_id=unit.pk, reason="Surveillance")
        except ValidationError:
            continue  # already in a unit
        present += 1


def lab_day(worker: Worker, day, rng) -> None:
    import time_machine
    from django.db.models import Q
    from django.utils import timezone

    from carnet.laboratory.models import LabOrder
    from carnet.laboratory.selectors import FOLLOW_UP_DAYS

    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time(7, 30)))
    # The bench's day: the orders still open, then those done within the follow-up days (a
    # telephone call about a result); an order done long ago is no longer the bench's.
    recent = start - datetime.timedelta(days=FOLLOW_UP_DAYS)
    orders = list(
        LabOrder.objects.filter(
            laboratory__in=worker.user.memberships.values("establishment_id"),
        )
        .filter(~Q(status="done") | Q(done_at__gte=recent))
        .order_by("ordered_at")
        .values_list("pk", flat=True)[:60]
    )
    for number, order in enumerate(orders):
        with time_machine.travel(start + datetime.timedelta(minutes=8 * number), tick=False):
            if number % 10 == 0:
                worker.do("get", "/lab/")
            worker.do("get", f"/lab/orders/{order}/")


def _uncalibrated() -> None:
    """The guard as it was before this calibration, for comparison: a search that finds no
    one steps up from 10 an hour and locks at 20, nothing is explained, nothing registered
    is one's own."""
    from carnet.guard import budgets, policy

    for window, bar in {"hour": 20, "day": 30, "week": 40}.items():
        policy.ENUMERATION_BAR[window] = bar
    for window in policy.EXPLAINED_AT_MOST:
        policy.EXPLAINED_AT_MOST[window] = 0
    budgets.ENUMERATION_BAR.update(policy.ENUMERATION_BAR)


def main() -> None:
    parse = parser("A simulated working day of each role, through the real pages.", patients=3000)
    parse.add_argument("--days", type=int, default=5, help="consecutive working days")
    parse.add_argument(
        "--uncalibrated",
        action="store_true",
        help="the guard before calibration (misses step up from 10 an hour, nothing explained)",
    )
    args = parse.parse_args()
    with bench_database(args.db, "workday", keep=args.keep) as db:
        logging.getLogger("django.request").setLevel(logging.CRITICAL)
        seconds, line = seed(args.patients, args.seed)
        print(f"seeded: {line} ({seconds:.0f} s)")
        from django.utils import timezone

        if args.uncalibrated:
            _uncalibrated()

        from carnet.organisations.models import Establishment

        first = timezone.localdate() + datetime.timedelta(days=1)
        days = []
        while len(days) < args.days:
            if first.weekday() < 5:
                days.append(first)
            first += datetime.timedelta(days=1)
        hospital, clinic, _lab = Establishment.objects.order_by("pk")[:3]
        rng = random.Random(args.seed)
        roles = [
            (
                "hospital desk",
                "sec.moreau",
                lambda w, d: desk_day(w, hospital.pk, clinic.pk, d, rng),
            ),
            (
                "clinic desk",
                "sec.laurent",
                lambda w, d: desk_day(w, clinic.pk, hospital.pk, d, rng),
            ),
            ("practitioner", "dr.martin", lambda w, d: practitioner_day(w, d, rng)),
            ("nurse", "inf.dubois", lambda w, d: nurse_day(w, d, rng)),
            ("laboratory", "lab.garnier", lambda w, d: lab_day(w, d, rng)),
        ]
        workers = [(label, Worker(username, Tally()), run) for label, username, run in roles]
        print(f"simulated days: {days[0]:%A %d %B %Y} to {days[-1]:%A %d %B %Y} ({len(days)})")
        worst_steps: dict[str, int] = collections.Counter()
        for day in days:
            for label, worker, run in workers:
                before = worker.tally.step_ups
                run(worker, day)
                worst_steps[label] = max(worst_steps[label], worker.tally.step_ups - before)
        print()
        print(
            f"{'role':<16}{'acts':>7}{'step-ups':>10}{'locks':>7}{'refusals':>10}"
            f"{'outside':>9}{'explained':>11}{'misses':>8}  what tripped"
        )
        total_locks = 0
        for label, worker, _run in workers:
            tally = worker.tally
            total_locks += tally.locks
            outside, explained, misses = tally.counted()
            tripped = "; ".join(f"{n}x {what}" for what, n in tally.tripped.most_common(4)) or "-"
            print(
                f"{label:<16}{tally.acts:>7}{tally.step_ups:>10}{tally.locks:>7}"
                f"{tally.refusals:>10}{outside:>9}{explained:>11}{misses:>8}  {tripped}"
            )
        print()
        print(
            f"over {len(days)} working day(s); outside: patients still counted against the "
            "budget at the end; explained: found, then booked or admitted within minutes, or "
            "asking about an appointment to come; misses: searches that found no one"
        )
        most = max(worst_steps.values(), default=0)
        print(
            f"locks: {total_locks} (goal 0: {'MET' if total_locks == 0 else 'MISSED'}); "
            f"most step-ups for one role in one day: {most} "
            f"(goal <= 1: {'MET' if most <= 1 else 'MISSED'})"
        )
        print(environment_line(db))
        print(f"reproduce: {command_line('workday.py', args)}")


if __name__ == "__main__":
    main()
