"""The demo's clinical record, written the way the browser would write it.

Consultations with notes (a few in a sensitive category), current admissions in Cardiologie
with nursing notes, prescriptions from the shipped medication list, small PDF documents,
laboratory orders collected, entered and validated by two technicians (blood groups on two
samples, a few serologies), and insurance cards (AMO and a mutuelle).

Every row comes from the domain services, each act by the demo account that would do it
(dr.martin consults and admits, inf.dubois writes her handover, lab.garnier and lab.mercier
enter and validate each other's results, sec.moreau records the cards) inside a guarded unit
of work of its own, like a request: the guard decides each patient (the agendas'
appointments, then the encounters, admissions and orders they lead to, are what opens them;
nobody acts outside a care relationship, so no exposure budget is spent), the audit log gets
one entry per act, and whatever a clinician "typed" is sealed with the patient's key. Only
patients booked in the agendas are used, and the agendas never hold a canary.

The services take no time of their own: everything is dated from the moment of seeding
(specimens excepted: an admission's first samples are taken three hours earlier).
What is written (cases, values, cards) is in carnet/cli/synthetic.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from carnet.clinical.chart import open_chart
from carnet.clinical.documents import add_document
from carnet.clinical.encounters import admit, open_encounter
from carnet.clinical.letters import draft_from_stay, save_letter, stay_results
from carnet.clinical.models import Encounter, EncounterKind, Note
from carnet.clinical.notes import write_note
from carnet.clinical.prescriptions import LineInput, medications, prescribe, route_for
from carnet.guard.actors import Actor
from carnet.guard.boundary import system_job
from carnet.laboratory.models import LabOrderItem, LabTest, Priority
from carnet.laboratory.selectors import result_lines
from carnet.laboratory.services import (
    collect_specimens,
    enter_results,
    order_tests,
    validate_results,
)
from carnet.organisations.models import Establishment, EstablishmentKind, Room, Unit
from carnet.patients.insurance import record_complementary_coverage, record_mandatory_coverage
from carnet.patients.record_forms import ComplementaryCoverageForm, MandatoryCoverageForm
from carnet.patients.selectors import open_identity
from carnet.printing import pdf
from carnet.scheduling.models import Appointment, AppointmentState
from carnet.staff.models import Membership, User

from . import synthetic as content
from .synthetic import ADMITTED_FROM, ADULT_FROM, CHILD_UNTIL, Case, Stay, TestSpec

CARDIOLOGY = "Cardiologie"
PSYCHIATRY = "psychiatry"
SEROLOGIES = ("VIH", "AGHBS", "VHC", "SYPH")
ADMISSION_TESTS = ("TNT", "HB", "PLQ", "NA", "K", "CREA", "GRP", "RAI")

# ---- who acts ------------------------------------------------------------------------------


def actor_of(username: str) -> Actor:
    """A demo account as the guard sees it in one of its requests (second factor passed)."""
    user = User.objects.get(username=username)
    memberships = list(
        Membership.objects.filter(user=user).values_list("establishment_id", "unit_id")
    )
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=user.role,
        establishment_ids=frozenset(e for e, _ in memberships),
        unit_ids=frozenset(u for _, u in memberships if u is not None),
        verified=True,
        approved=user.access_approved,
    )


@contextmanager
def acting(actor: Actor, action: str) -> Iterator[Actor]:
    """One guarded unit of work as `actor`, with a request id of its own (one audit entry),
    recorded as the demo's import of that account's history: the account's own activity
    starts at its first sign-in."""
    actor = dataclasses.replace(
        actor, request_id=f"demo-{uuid.uuid4().hex}", imported_as=f"import:{actor.username}"
    )
    with system_job(actor, action):
        yield actor


def _cleaned(form_class: type, data: dict[str, str]) -> dict:
    """Card data checked by the identity pages' own form, as if typed at the desk."""
    form = form_class(data)
    if not form.is_valid():
        raise ValueError(f"demo insurance card refused: {form.errors.as_text()}")
    return form.cleaned_data


# ---- the seeding ------------------------------------------------------------------------------


@dataclass
class Summary:
    consultations: int = 0
    notes: int = 0
    sensitive_notes: int = 0
    admissions: int = 0
    letters: int = 0
    prescriptions: int = 0
    documents: int = 0
    lab_orders: int = 0
    results_validated: int = 0
    results_awaiting: int = 0
    blood_groups: int = 0
    serologies: int = 0
    insured: int = 0
    patients: set[str] = field(default_factory=set)

    def lines(self) -> list[str]:
        return [
            f"{len(self.patients)} patients with a clinical record: {self.consultations} "
            f"consultations, {self.admissions} current admissions in {CARDIOLOGY}, "
            f"{self.notes} notes ({self.sensitive_notes} in a sensitive category), "
            f"{self.prescriptions} prescriptions, {self.documents} PDF documents, "
            f"{self.letters} discharge letter drafted",
            f"{self.lab_orders} laboratory orders: {self.results_validated} results validated, "
            f"{self.results_awaiting} entered and awaiting validation; {self.blood_groups} blood "
            f"group determinations, {self.serologies} serologies",
            f"{self.insured} patients with insurance cards (AMO, most with a mutuelle)",
        ]


@dataclass
class _Order:
    id: str
    patient: str
    codes: tuple[str, ...]
    flavour: str = ""
    # "h0" or "h3" for an admission's two orders: the troponin moves between the samples and
    # the blood group is determined twice, on two samples, with the same answer.
    pair: str = ""


@dataclass(frozen=True)
class _Person:
    age: int
    weight: int


class ClinicalSeeder:
    """Plans with one random generator (reproducible with the seed) and writes through the
    services; `steps` is the work known before `run` (the bench's is added once ordered)."""

    def __init__(self, *, seed: int, limit: int | None = None) -> None:
        """`limit`: at most that many patients per practitioner and desk (tests)."""
        self.rng = random.Random(f"clinical-{seed}")
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.summary = Summary()
        self.martin = actor_of("dr.martin")
        self.bernard = actor_of("dr.bernard")
        self.petit = actor_of("dr.petit")
        self.nurse = actor_of("inf.dubois")
        self.technicians = (actor_of("lab.garnier"), actor_of("lab.mercier"))
        self.desks = {
            a.establishment_id: a for a in (actor_of("sec.moreau"), actor_of("sec.laurent"))
        }
        self.laboratory = Establishment.objects.get(kind=EstablishmentKind.LABORATORY)
        self.cardiology = Unit.objects.get(
            name=CARDIOLOGY, establishment_id=self.martin.establishment_id
        )
        self.rooms = list(Room.objects.filter(unit=self.cardiology).order_by("pk"))
        self.tests = {t.code: t for t in LabTest.objects.filter(active=True)}
        self.medications = {(m.dci, m.strength): m.pk for m in medications()}
        self.routes = {m.pk: route_for(m) for m in medications()}
        self.doctors = (
            (self.martin, content.CARDIOLOGY_CASES),
            (self.bernard, content.INTERNAL_CASES),
            (self.petit, content.GENERAL_CASES),
        )
        # Patients seen in consultation, by practitioner (first appointment first).
        self.seen = {
            actor.username: self._past_patients(actor)[:limit] for actor, _ in self.doctors
        }
        # dr.martin's patients who also saw dr.bernard: for a few adults among them dr.bernard
        # writes about their mood, and dr.martin sees those notes masked.
        bernard = set(self.seen["dr.bernard"])
        self.shared = [p for p in self.seen["dr.martin"] if p in bernard]
        self.psychiatry_wanted = max(3, len(self.shared) // 3)
        self.psychiatry_shared = 0
        self.psychiatry: set[str] = set()
        martin = self.seen["dr.martin"]
        self.admissions_wanted = min(len(martin), max(3, min(12, len(martin) // 8)))
        self.admitted: list[str] = []
        self.insured = dict(list(self._desk_patients().items())[:limit])
        self.people: dict[str, _Person] = {}
        self.stays: dict[str, Stay] = {}
        self.orders: list[_Order] = []
        self._pairs: dict[str, tuple[int, int, str]] = {}
        self.benched = 0

    # -- whom ------------------------------------------------------------------------------------

    def _past_patients(self, actor: Actor) -> list[str]:
        """Patients who came to this practitioner's agenda (done appointments), once each."""
        rows = (
            Appointment.objects.filter(
                agenda__practitioner__user_id=actor.user_id,
                state=AppointmentState.DONE,
                ends_at__lte=self.now,
            )
            .order_by("starts_at", "pk")
            .values_list("patient_id", flat=True)
        )
        return list(dict.fromkeys(str(p) for p in rows))

    def _desk_patients(self) -> dict[str, int]:
        """Patients the desk is preparing (booked in the coming days at an establishment with
        a secretary: the desk's window around the appointment opens them to it), once each,
        with the establishment of their first appointment."""
        rows = (
            Appointment.objects.filter(
                agenda__establishment_id__in=list(self.desks),
                ends_at__gt=self.now + datetime.timedelta(hours=1),
                starts_at__lt=self.now + datetime.timedelta(days=6),
            )
            .order_by("starts_at", "pk")
            .values_list("patient_id", "agenda__establishment_id")
        )
        insured: dict[str, int] = {}
        for patient, establishment in rows:
            insured.setdefault(str(patient), establishment)
        return insured

    def _to_admit(self) -> list[str]:
        """Adults among dr.martin's patients: first one with a psychiatry note of
        dr.bernard's (masked to the cardiology team), then those whose cards the desk holds."""
        adults = [p for p in self.seen["dr.martin"] if self.people[p].age >= ADMITTED_FROM]
        first = [p for p in adults if p in self.psychiatry][:1]
        rest = sorted((p for p in adults if p not in first), key=lambda p: p not in self.insured)
        return (first + rest)[: self.admissions_wanted]

    @property
    def steps(self) -> int:
        consultations = sum(len(patients) for patients in self.seen.values())
        return consultations + self.admissions_wanted + len(self.insured)

    # -- what each act writes -------------------------------------------------------------------

    def _lines(self, keys: tuple[str, ...]) -> list[LineInput]:
        lines = []
        for key in keys:
            rx = content.RX[key]
            medication = self.medications.get((rx.dci, rx.strength))
            if medication is None:
                raise LookupError(f"{rx.dci} {rx.strength} is not in the medication list")
            dose, _space, frequency = rx.dosage.partition(" ")
            dose2, _space, frequency = frequency.partition(" ")
            lines.append(
                LineInput(
                    medication,
                    f"{dose} {dose2}".strip(),
                    rx.days,
                    rx.renewals,
                    route=self.routes[medication],
                    frequency=frequency or rx.dosage,
                )
            )
        return lines

    def _note(self, me: Actor, patient: str, encounter: object, text: str, category="") -> None:
        write_note(
            actor=me, patient_id=patient, encounter_id=encounter, text=text, category=category
        )
        self.summary.notes += 1
        self.summary.sensitive_notes += bool(category)

    def _prescribe(self, me: Actor, patient: str, encounter: object, keys, category="") -> None:
        prescribe(
            actor=me,
            patient_id=patient,
            encounter_id=encounter,
            lines=self._lines(keys),
            category=category,
            # The demo's treatments are what a physician decided knowingly (aspirin with an
            # anticoagulant after a stent...): the warnings are acknowledged, as in real life.
            override_reason="Association décidée et surveillée (données de démonstration)",
        )
        self.summary.prescriptions += 1

    def _document(self, me: Actor, patient: str, encounter: object, document, category="") -> None:
        title, lines = document
        add_document(
            actor=me,
            patient_id=patient,
            encounter_id=encounter,
            title=title,
            content=pdf.simple(title, [f"Le {self.today:%d/%m/%Y}", "", *lines]),
            category=category,
        )
        self.summary.documents += 1

    def _order(
        self,
        me: Actor,
        patient: str,
        codes: tuple[str, ...],
        *,
        information: str,
        flavour: str = "",
        urgent: bool = False,
        pair: str = "",
    ) -> None:
        codes = tuple(dict.fromkeys(codes))
        order = order_tests(
            actor=me,
            patient_id=patient,
            laboratory_id=self.laboratory.pk,
            test_ids=[self.tests[code].pk for code in codes],
            priority=Priority.URGENT if urgent else Priority.ROUTINE,
            clinical_information=information,
        )
        self.orders.append(_Order(str(order.pk), patient, codes, flavour, pair))
        self.summary.lab_orders += 1
        self.summary.blood_groups += codes.count("GRP")
        self.summary.serologies += sum(1 for code in codes if code in SEROLOGIES)

    def _person(self, me: Actor, patient: str) -> _Person:
        """The doctor reads the identity card first (same act, same patient: nothing more is
        exposed) and writes what fits the patient's age."""
        if patient not in self.people:
            birth_date = open_identity(actor=me, patient_id=patient).birth_date
            age = content.age_on(birth_date, self.today)
            self.people[patient] = _Person(age, content.weight_for(age, self.rng))
        return self.people[patient]

    def _vitals(self, patient: str, **kwargs: object) -> str:
        person = self.people[patient]
        return content.vitals(self.rng, age=person.age, weight=person.weight, **kwargs)

    # -- the acts --------------------------------------------------------------------------------

    def _consult(self, actor: Actor, cases: tuple[Case, ...], patient: str) -> None:
        rng = self.rng
        unit = Unit.objects.filter(pk__in=actor.unit_ids).values_list("pk", flat=True).first()
        with acting(actor, "demo.clinical.consultation") as me:
            age = self._person(me, patient).age
            case = rng.choice(content.CHILD_CASES if age < CHILD_UNTIL else cases)
            encounter = open_encounter(
                actor=me, patient_id=patient, reason=case.reason, unit_id=unit
            ).pk
            self.summary.consultations += 1
            vitals = self._vitals(patient)
            self._note(me, patient, encounter, content.consultation_note(case, vitals_text=vitals))
            if case.prescription and rng.random() < 0.9:
                self._prescribe(me, patient, encounter, case.prescription)
            if case.document and rng.random() < 0.35:
                self._document(me, patient, encounter, case.document)
            if case.tests and rng.random() < 0.75:
                self._order(me, patient, case.tests, information=case.reason, flavour=case.flavour)
            if age >= ADULT_FROM and me.username == "dr.bernard":
                self._sensitive(me, patient, encounter)
            elif age >= ADULT_FROM and me.username == "dr.martin" and rng.random() < 0.06:
                # Before a coronary angiography: serologies, seen by the cardiology team.
                self._order(me, patient, SEROLOGIES[:3], information="Bilan pré-coronarographie")
        self.summary.patients.add(patient)

    def _sensitive(self, me: Actor, patient: str, encounter: object) -> None:
        """Sensitive items of Médecine interne: psychiatry notes and serologies, masked to
        anyone outside dr.bernard's team (dr.martin, inf.dubois) unless opened on purpose."""
        rng = self.rng
        shared = patient in self.shared and self.psychiatry_shared < self.psychiatry_wanted
        if shared or rng.random() < 0.08:
            self.psychiatry_shared += shared
            self.psychiatry.add(patient)
            case = rng.choice(content.PSYCHIATRY_CASES)
            text = f"{case.findings}\n{case.conclusion}"
            self._note(me, patient, encounter, text, category=PSYCHIATRY)
            self._prescribe(me, patient, encounter, case.prescription, category=PSYCHIATRY)
            if case.tests:
                # Nothing in clear on the order says why: its tests are not sensitive ones.
                self._order(me, patient, case.tests, information="Bilan de suivi")
            if shared and rng.random() < 0.35:
                self._document(
                    me,
                    patient,
                    encounter,
                    (
                        "Compte rendu d'entretien psychiatrique",
                        ("Entretien d'évaluation.", "Suivi spécialisé proposé et accepté."),
                    ),
                    category=PSYCHIATRY,
                )
        if rng.random() < 0.12:
            self._order(me, patient, SEROLOGIES, information="Dépistage proposé et accepté")

    def _admit(self, patient: str, index: int) -> None:
        stay = content.STAYS[index % len(content.STAYS)]
        self.stays[patient] = stay
        with acting(self.martin, "demo.clinical.admission") as me:
            encounter = admit(
                actor=me,
                patient_id=patient,
                unit_id=self.cardiology.pk,
                reason=stay.reason,
                room_id=self.rooms[index].pk if index < min(2, len(self.rooms)) else None,
                practitioner_user_id=me.user_id,
            ).pk
            self.summary.admissions += 1
            vitals = self._vitals(patient, heart_rate=stay.heart_rate)
            text = content.admission_note(stay, CARDIOLOGY, vitals_text=vitals)
            self._note(me, patient, encounter, text)
            self._prescribe(me, patient, encounter, stay.prescription)
            extra = ("NTBNP",) if stay.flavour == "heart_failure" else ()
            self._order(
                me,
                patient,
                ADMISSION_TESTS + extra,
                information=f"{stay.reason} — troponine H0, groupe (1re détermination)",
                flavour=stay.flavour,
                urgent=True,
                pair="h0",
            )
            self._order(
                me,
                patient,
                ("TNT", "GRP"),
                information="Troponine H3, groupe (2e détermination)",
                urgent=True,
                pair="h3",
            )
        with acting(self.nurse, "demo.clinical.nursing_note") as me:
            text = self.rng.choice(content.NURSING_NOTES).format(
                vitals=self._vitals(patient, heart_rate=stay.heart_rate),
                pain=self.rng.randint(0, 3),
            )
            self._note(me, patient, encounter, text)
        self.summary.patients.add(patient)

    def _bench(self, order: _Order) -> None:
        """Collect, enter, validate, as far as this order goes: most are done, some are left
        at each step so that every tab of the worklist has work (an admission's first order
        is always done: its H3 order is what is waiting)."""
        rng = self.rng
        stages = ["collect", "enter", "validate", "done"]
        stage = "done" if order.pair == "h0" else rng.choices(stages, [6, 6, 8, 80])[0]
        if stage == "collect":
            return
        # Turn and turn about, so that each technician has the other's entries to validate.
        self.benched += 1
        entering, validating = self.technicians[:: 1 if self.benched % 2 else -1]
        collected = None  # now, a moment after the order
        if order.pair == "h0":
            collected = self.now - datetime.timedelta(hours=3, minutes=10)
        with acting(entering, "demo.lab.bench") as me:
            collect_specimens(actor=me, order_id=order.id, collected_at=collected)
            if stage == "enter":
                return
            items = LabOrderItem.objects.filter(order_id=order.id).select_related("test")
            values = self._values(order)
            # Computed tests (LDL, eGFR) are worked out by the laboratory, never typed.
            entries = {
                item.pk: (values[item.test.code], "") for item in items if not item.test.computed
            }
            results = enter_results(actor=me, order_id=order.id, entries=entries)
        if stage == "validate":
            self.summary.results_awaiting += len(results)
            return
        with acting(validating, "demo.lab.validate") as me:
            self.summary.results_validated += validate_results(
                actor=me, order_id=order.id, result_ids=[r.pk for r in results]
            )

    def _values(self, order: _Order) -> dict[str, str]:
        specs = {code: self._spec(self.tests[code]) for code in order.codes}
        values = content.panel_values(specs, self.rng, flavour=order.flavour)
        if order.pair:
            if order.patient not in self._pairs:
                stay = self.stays[order.patient]
                h0 = self.rng.randint(*stay.troponin)
                h3 = round(h0 * self.rng.uniform(*stay.rise))
                self._pairs[order.patient] = (h0, h3, values["GRP"])
            h0, h3, group = self._pairs[order.patient]
            values.update(TNT=str(h0 if order.pair == "h0" else h3), GRP=group)
        return values

    @staticmethod
    def _spec(test: LabTest) -> TestSpec:
        """The range normal for either sex: no value drawn in it is flagged for anyone."""
        lows = [v for v in (test.low, test.low_female, test.low_male) if v is not None]
        highs = [v for v in (test.high, test.high_female, test.high_male) if v is not None]
        return TestSpec(
            code=test.code,
            result_type=test.result_type,
            decimals=test.decimals,
            low=max(lows) if lows else None,
            high=min(highs) if highs else None,
            answers=tuple(a["code"] for a in test.answers),
        )

    def _insure(self, patient: str, establishment_id: int) -> None:
        rng = self.rng
        today = self.today
        with acting(self.desks[establishment_id], "demo.identity.insurance") as me:
            if rng.random() < 0.1:
                # An older card, superseded by the one read today: the history shows both.
                old = content.mandatory_card(rng, since=today - datetime.timedelta(days=900))
                record_mandatory_coverage(
                    actor=me, patient_id=patient, data=_cleaned(MandatoryCoverageForm, old)
                )
            since = today - datetime.timedelta(days=rng.randint(30, 700))
            card = content.mandatory_card(rng, since=since)
            record_mandatory_coverage(
                actor=me, patient_id=patient, data=_cleaned(MandatoryCoverageForm, card)
            )
            if rng.random() < 0.85:
                year = (datetime.date(today.year, 1, 1), datetime.date(today.year, 12, 31))
                card = content.complementary_card(rng, since=year[0], until=year[1])
                record_complementary_coverage(
                    actor=me, patient_id=patient, data=_cleaned(ComplementaryCoverageForm, card)
                )
        self.summary.insured += 1

    # -- all of it ---------------------------------------------------------------------------------

    def run(
        self,
        update: Callable[[int], object] = lambda n: None,
        grow: Callable[[int], object] = lambda n: None,
    ) -> Summary:
        """`update(n)` after each unit of work; `grow(n)` when n more units are known."""
        for actor, cases in self.doctors:
            for patient in self.seen[actor.username]:
                self._consult(actor, cases, patient)
                update(1)
        self.admitted = self._to_admit()
        grow(len(self.admitted) - self.admissions_wanted)
        for index, patient in enumerate(self.admitted):
            self._admit(patient, index)
            update(1)
        grow(len(self.orders))
        for order in self.orders:
            self._bench(order)
            update(1)
        for patient, establishment_id in self.insured.items():
            self._insure(patient, establishment_id)
            update(1)
        if self.admitted:
            self._letter(self.admitted[0])
        return self.summary

    def _letter(self, patient: str) -> None:
        """The first stay's discharge letter, drafted from it by Dr Martin and left as her
        draft (the demo's stays are all current: the letter is signed at discharge)."""
        with acting(self.martin, "demo.clinical.letter") as me:
            chart = open_chart(actor=me, patient_id=patient)
            stay = chart.current_admission
            if stay is None:
                return
            results = stay_results(stay, result_lines(actor=me, patient_id=patient))
            drafted = draft_from_stay(chart, stay, results)
            save_letter(
                actor=me,
                patient_id=patient,
                encounter_id=stay.id,
                sections=dataclasses.replace(drafted, follow_up=content.LETTER_FOLLOW_UP),
            )
            self.summary.letters += 1


def seed_clinical(
    *,
    seed: int,
    update: Callable[[int], object] = lambda n: None,
    grow: Callable[[int], object] = lambda n: None,
    total: Callable[[int], object] = lambda n: None,
) -> Summary:
    """Seeds the demo's clinical record (after its patients and agendas) in one transaction:
    all of it, or nothing. `total(n)` is told the known units of work first."""
    with transaction.atomic():
        seeder = ClinicalSeeder(seed=seed)
        total(seeder.steps)
        return seeder.run(update, grow)


# ---- for the sign-in list ------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmittedHint:
    name: str
    birth_date: datetime.date
    masked_psychiatry: bool


def admitted_hints(limit: int = 3) -> list[AdmittedHint]:
    """A few patients admitted in Cardiologie, for the sign-in list: the nurse has no list of
    her unit's patients, she finds them by name. Opened through the guard as inf.dubois (her
    unit's admissions open them to her), one audited unit of work."""
    stays = (
        Encounter.objects.filter(
            kind=EncounterKind.ADMISSION, discharged_at__isnull=True, unit__name=CARDIOLOGY
        )
        .order_by("started_at", "pk")
        .values_list("patient_id", flat=True)[:limit]
    )
    patients = [str(p) for p in stays]
    if not patients or not User.objects.filter(username="inf.dubois").exists():
        return []
    masked = {
        str(p)
        for p in Note.objects.filter(patient_id__in=patients, category=PSYCHIATRY)
        .exclude(author__username__in=["dr.martin", "inf.dubois"])
        .values_list("patient_id", flat=True)
    }
    hints = []
    with acting(actor_of("inf.dubois"), "demo.sign_in_list") as me:
        for patient in patients:
            card = open_identity(actor=me, patient_id=patient)
            hints.append(
                AdmittedHint(
                    name=f"{card.display_surname} {card.display_first_name}",
                    birth_date=card.birth_date,
                    masked_psychiatry=patient in masked,
                )
            )
    return hints
