"""The demo's clinical record (carnet/cli/demo_clinical.py): written through the services by
the accounts that would write it, sealed like anything typed in a browser, opened to the
right people by the care relationships it creates, and never touching a canary."""

import datetime
import json
import random
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

import carnet.clinical
from carnet.audit.models import AuditEntry, AuditSubject
from carnet.audit.selectors import recent_activity
from carnet.cli import synthetic
from carnet.cli.demo_clinical import ClinicalSeeder, actor_of
from carnet.clinical.chart import open_chart
from carnet.clinical.contents import sniff
from carnet.clinical.models import Document, Encounter, Note, Prescription, PrescriptionLine
from carnet.guard.boundary import Refused, boundary, opened_through
from carnet.guard.canaries import is_canary
from carnet.guard.models import Alert, Containment, Exposure
from carnet.laboratory import catalogue
from carnet.laboratory.models import LabOrder, LabResult
from carnet.laboratory.selectors import patient_results
from carnet.patients.models import ComplementaryCoverage, MandatoryCoverage, Patient
from carnet.patients.record_forms import ComplementaryCoverageForm, MandatoryCoverageForm
from carnet.printing import pdf
from carnet.scheduling.models import Appointment
from carnet.staff.models import User

from .clinical_helpers import load_medications

PARIS_ZONE = ZoneInfo("Europe/Paris")
GROUPS = ("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")
ALL_CASES = (
    synthetic.CARDIOLOGY_CASES
    + synthetic.INTERNAL_CASES
    + synthetic.GENERAL_CASES
    + synthetic.CHILD_CASES
    + synthetic.PSYCHIATRY_CASES
)


def test_the_cases_name_only_shipped_medications_and_catalogue_tests():
    shipped = json.loads(
        (Path(carnet.clinical.__file__).parent / "data" / "medications.json").read_text()
    )
    medications = {(m["dci"], m["strength"]) for m in shipped}
    assert {(rx.dci, rx.strength) for rx in synthetic.RX.values()} <= medications
    codes = {t["code"] for t in json.loads(catalogue.SOURCE.read_text())}
    for case in ALL_CASES:
        assert set(case.prescription) <= set(synthetic.RX), case.reason
        assert set(case.tests) <= codes, case.reason
    for stay in synthetic.STAYS:
        assert set(stay.prescription) <= set(synthetic.RX), stay.reason


def _specs():
    def spec(code, low, high, decimals=1):
        low = None if low is None else Decimal(str(low))
        high = None if high is None else Decimal(str(high))
        return synthetic.TestSpec(code, "numeric", decimals, low, high)

    return {
        "HB": spec("HB", 13, 16),
        "HT": spec("HT", 40, 47),
        "GR": spec("GR", 4.5, 5.2, 2),
        "VGM": spec("VGM", 80, 100, 0),
        "GB": spec("GB", 4, 10, 2),
        "PNN": spec("PNN", 1.5, 7, 2),
        "LYM": spec("LYM", 1, 4, 2),
        "CHOL": spec("CHOL", None, 2, 2),
        "HDL": spec("HDL", 0.4, None, 2),
        "LDL": spec("LDL", None, 1.6, 2),
        "TG": spec("TG", None, 1.5, 2),
        "GRP": synthetic.TestSpec("GRP", "coded", 0, None, None, GROUPS),
    }


@pytest.mark.parametrize("flavour", ["", "anaemia", "infection"])
def test_laboratory_values_hold_together_within_a_panel(flavour):
    for seed in range(50):
        values = synthetic.panel_values(_specs(), random.Random(seed), flavour=flavour)
        number = {k: float(v) for k, v in values.items() if k != "GRP"}
        # LDL is calculated (Friedewald): total = LDL + HDL + TG / 5, up to rounding.
        total = number["LDL"] + number["HDL"] + number["TG"] / 5
        assert abs(number["CHOL"] - total) < 0.02
        assert abs(number["HT"] - number["GR"] * number["VGM"] / 10) < 1
        assert number["PNN"] + number["LYM"] < number["GB"]
        assert values["GRP"] in GROUPS
        if flavour == "anaemia":
            assert number["HB"] < 13 and number["VGM"] < 80
        if flavour == "infection":
            assert number["GB"] > 10
    again = synthetic.panel_values(_specs(), random.Random(7), flavour=flavour)
    assert again == synthetic.panel_values(_specs(), random.Random(7), flavour=flavour)


def test_the_documents_and_cards_pass_the_checks_of_a_real_upload():
    content = pdf.simple("Échographie (contrôle)", ["Fraction d'éjection à 60 %", ""])
    assert sniff(content) == "application/pdf"
    rng = random.Random(3)
    today = datetime.date(2026, 3, 1)
    for _ in range(30):
        amo = MandatoryCoverageForm(synthetic.mandatory_card(rng, since=today))
        amc = ComplementaryCoverageForm(
            synthetic.complementary_card(rng, since=today, until=today.replace(month=12))
        )
        assert amo.is_valid(), amo.errors
        assert amc.is_valid(), amc.errors


def _raw(model, field: str) -> list[bytes]:
    """The column as stored, read past the ORM (what a stolen database holds)."""
    table, column = model._meta.db_table, model._meta.get_field(field).column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608
        return [bytes(row[0]) for row in cursor.fetchall() if row[0] is not None]


@pytest.mark.django_db
def test_the_seeded_clinical_record(capsys):
    load_medications()
    catalogue.ensure_loaded()
    call_command("seed", patients=1200, seed=11, no_progress=True)
    out = capsys.readouterr().out
    assert "patients with a clinical record" in out and "laboratory orders" in out

    # -- counts: every domain has its share -------------------------------------------------
    consultations = Encounter.objects.filter(kind="consultation")
    admissions = Encounter.objects.filter(kind="admission", discharged_at__isnull=True)
    assert consultations.count() >= 100
    assert 3 <= admissions.count() <= 12
    assert set(admissions.values_list("unit__name", flat=True)) == {"Cardiologie"}
    assert set(admissions.values_list("practitioner__username", flat=True)) == {"dr.martin"}
    assert Note.objects.count() > consultations.count() + admissions.count()
    psychiatry = Note.objects.filter(category="psychiatry")
    assert 3 <= psychiatry.count() <= 30
    assert set(psychiatry.values_list("author__username", flat=True)) == {"dr.bernard"}
    assert set(
        Note.objects.filter(encounter__kind="admission")
        .values_list("author__username", flat=True)
        .distinct()
    ) == {"dr.martin", "inf.dubois"}
    assert Prescription.objects.count() >= 50 and PrescriptionLine.objects.count() >= 80
    documents = Document.objects.all()
    assert documents.count() >= 2
    assert set(documents.values_list("kind", flat=True)) == {"application/pdf"}
    statuses = set(LabOrder.objects.values_list("status", flat=True))
    assert statuses == {"to_collect", "in_progress", "done"}
    results = LabResult.objects.all()
    # Each technician has the other's entries waiting for validation.
    waiting = results.filter(validated_at__isnull=True)
    assert set(waiting.values_list("entered_by__username", flat=True)) == {
        "lab.garnier",
        "lab.mercier",
    }
    validated = results.filter(validated_at__isnull=False)
    assert validated.count() >= 200
    assert not validated.filter(validated_by=F("entered_by")).exists()
    assert set(validated.values_list("entered_by__username", flat=True)) == {
        "lab.garnier",
        "lab.mercier",
    }
    serologies = results.filter(item__test__sensitive_category="serology")
    assert serologies.exists()
    assert MandatoryCoverage.objects.count() >= 30 and ComplementaryCoverage.objects.exists()
    # Nobody went outside a care relationship, nobody was contained.
    assert not Exposure.objects.exists()
    assert not Containment.objects.exists() and not Alert.objects.exists()
    assert not AuditEntry.objects.exclude(outcome="allowed").exists()
    # The history is the demo's import, not the accounts' own acts: each account's dashboard
    # starts its day at zero patients seen.
    assert not AuditSubject.objects.filter(actor_id__isnull=False).exists()
    assert AuditEntry.objects.filter(actor="import:dr.martin").exists()
    start = timezone.now() - datetime.timedelta(hours=1)
    for user in User.objects.exclude(role="patient"):
        assert recent_activity(user.pk, start)["patients"] == 0, user.username

    # -- sealed: what a clinician wrote is nowhere in clear --------------------------------
    for model, field, plain in [
        (Note, "text", b"Examen"),
        (Encounter, "reason", b"Suivi"),
        (PrescriptionLine, "dosage", b"comprim"),
        (LabResult, "value", b"negative"),
        (ComplementaryCoverage, "organism", b"Mutuelle"),
        (Document, "title", b"chographie"),
        (Document, "content", b"%PDF"),
    ]:
        values = _raw(model, field)
        assert values and not any(plain in value for value in values), (model, field)

    # -- the care relationships open the charts to the right people ------------------------
    martin, nurse = actor_of("dr.martin"), actor_of("inf.dubois")
    admitted = [str(p) for p in admissions.values_list("patient_id", flat=True)]
    masked = [p for p in admitted if psychiatry.filter(patient_id=p).exists()]
    assert masked, "one admitted patient has dr.bernard's psychiatry note"
    with transaction.atomic(), boundary(martin, "tests.chart"):
        chart = open_chart(actor=martin, patient_id=masked[0])
        # A care relationship (whichever comes first), never the budget nor break-the-glass.
        assert opened_through(martin, masked[0]) not in ("outside", "break_glass", "")
        mine = [n for n in chart.notes if n.author.endswith("Martin")]
        assert mine and all(n.text and not n.masked for n in mine)
        theirs = [n for n in chart.notes if n.category == "psychiatry"]
        assert theirs and all(n.masked and not n.text for n in theirs)
        lab = patient_results(actor=martin, patient_id=masked[0])
        assert lab.blood_group and lab.blood_group.confirmed
        assert any(t.test.code == "TNT" for t in lab.trends)
    with transaction.atomic(), boundary(nurse, "tests.chart"):
        for patient in admitted:
            chart = open_chart(actor=nurse, patient_id=patient)
            assert opened_through(nurse, patient) == "admission"
            assert chart.current_admission is not None
            assert all(n.masked for n in chart.notes if n.category == "psychiatry")
    desk = actor_of("sec.moreau")
    with pytest.raises(Refused), transaction.atomic(), boundary(desk, "tests.chart"):
        open_chart(actor=desk, patient_id=admitted[0])

    # -- canaries: never booked, never cared for, never opened ----------------------------
    marks = dict(Patient.objects.values_list("id", "mark"))
    canaries = {str(p) for p, mark in marks.items() if is_canary(str(p), mark)}
    assert canaries
    touched = set()
    for model in (
        Appointment,
        Encounter,
        Note,
        Prescription,
        Document,
        LabOrder,
        MandatoryCoverage,
        ComplementaryCoverage,
        AuditSubject,
    ):
        touched |= {str(p) for p in model.objects.values_list("patient_id", flat=True)}
    assert touched and not canaries & touched

    # -- the demo's sign-in list says who shows what --------------------------------------
    call_command("demo", no_serve=True)
    out = capsys.readouterr().out
    assert "lab.mercier" in out and "the laboratory's worklist" in out
    assert "Admitted in Cardiologie now" in out and "masked to both" in out
    assert User.objects.filter(username="lab.mercier", role="lab_technician").exists()
    call_command("audit", "verify", no_progress=True)
    assert "audit log intact" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_clinical_record_is_reproducible_with_the_seed():
    """Same seed, same record: the second run (after the first is rolled back) makes the
    same acts, in the same order, with the same counts (a dozen patients per doctor)."""
    load_medications()
    catalogue.ensure_loaded()
    call_command("seed", patients=300, seed=5, no_progress=True, no_clinical=True)
    assert not Encounter.objects.exists()

    class Again(Exception):
        pass

    def run() -> tuple:
        seeder = ClinicalSeeder(seed=5, limit=12)
        summary = seeder.run()
        plan = [(o.codes, o.flavour, o.pair) for o in seeder.orders]
        return (summary.lines(), plan, sorted(seeder.psychiatry), seeder.admitted)

    outcomes = []
    for _ in range(2):
        try:
            with transaction.atomic():
                outcomes.append(run())
                raise Again
        except Again:
            pass
    assert outcomes[0] == outcomes[1]
    assert not Encounter.objects.exists()


DEMO_MOMENTS = {
    "a Sunday at 23:55": datetime.datetime(2027, 1, 3, 23, 55, tzinfo=PARIS_ZONE),
    "the first of a month at 00:05": datetime.datetime(2027, 2, 1, 0, 5, tzinfo=PARIS_ZONE),
    "just after spring forward": datetime.datetime(2027, 3, 28, 3, 5, tzinfo=PARIS_ZONE),
    "the hour that happens twice": datetime.datetime(2027, 10, 31, 2, 5, fold=1, tzinfo=PARIS_ZONE),
    "a weekday at lunch": datetime.datetime(2027, 1, 5, 12, 40, tzinfo=PARIS_ZONE),
}


@pytest.mark.django_db
@pytest.mark.parametrize("moment", DEMO_MOMENTS.values(), ids=DEMO_MOMENTS.keys())
def test_the_demo_started_at_any_hour_shows_a_working_day(moment, capsys):
    """Appointments still to come and a queue to call at the hospital's desk, recorded as the
    system's import; started again, the demo does not check the same patients in twice."""
    from carnet.guard.actors import Actor
    from carnet.scheduling.models import AppointmentState, Ticket
    from carnet.scheduling.queue import desk_queues

    with time_machine.travel(moment, tick=True):
        call_command("seed", patients=300, seed=3, no_progress=True, no_clinical=True)
        call_command("demo", no_serve=True)
        assert "patients checked in" in capsys.readouterr().out
        now = timezone.now()
        to_come = Appointment.objects.filter(
            agenda__establishment__name="Hôpital Saint-Luc",
            state__in=(AppointmentState.BOOKED, AppointmentState.CONFIRMED),
            starts_at__gt=now,
            starts_at__lt=now + datetime.timedelta(hours=4),
        )
        assert to_come.count() >= 3
        secretary = User.objects.get(username="sec.moreau")
        desk = Actor(
            user_id=secretary.pk,
            username=secretary.username,
            role=secretary.role,
            establishment_ids=frozenset(
                secretary.memberships.values_list("establishment_id", flat=True)
            ),
        )
        with transaction.atomic(), boundary(desk, "desk.queue"):
            queues = desk_queues(actor=desk)
        waiting = [line for queue in queues for line in queue.waiting]
        assert len(waiting) >= 3
        # The desk reads the names of the patients it is expecting (its window around them).
        assert all(line.name for line in waiting)
        assert not AuditEntry.objects.filter(
            action="scheduling.import", actor_id__isnull=False
        ).exists()
        assert AuditEntry.objects.filter(actor="system:demo-day").exists()
        tickets = Ticket.objects.count()
        call_command("demo", no_serve=True)
        assert Ticket.objects.count() == tickets
