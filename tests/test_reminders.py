"""Reminders and confirmations: only tomorrow's booked or confirmed appointments (local day),
never twice even when the job runs twice at once, only time, place and link in the message —
never the practitioner, the specialty, the motive, the unit, the birth date or the NIR — one
audited system job opening only those patients, and the desk's confirmation behind the guard."""

import datetime
import io
import threading
import uuid
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from stdnum.fr import nir as stdnum_nir

from carnet.audit.models import AuditEntry, AuditSubject
from carnet.guard.actors import Actor, system_actor
from carnet.guard.boundary import Refused, boundary
from carnet.guard.models import Alert
from carnet.guard.policy import Role
from carnet.scheduling.messaging import ConsoleSmsBackend, LocmemSmsBackend, SmsMessage
from carnet.scheduling.models import Agenda, Appointment, ConsultationType, Reminder
from carnet.scheduling.reminders import send_confirmation, send_day_before_reminders

from .factories import UnitFactory, UserFactory, make_patient, practitioner_for

PARIS = ZoneInfo("Europe/Paris")
DAY = datetime.date(2026, 12, 7)  # a Monday
NOW = datetime.datetime(2026, 12, 6, 18, 0, tzinfo=PARIS)
PORTAL = "http://127.0.0.1:8000/portal/"
BODY = "2800569123045"
NIR = BODY + stdnum_nir.calc_check_digits(BODY)
# What must never leave in a message (planted in the agenda, the practitioner and the patient).
SECRETS = (
    "FREUDENBERG",
    "Sigmund",
    "Psychiatrie",
    "Sevrage alcoolique",
    "Addictologie",
    "VERLAINE",
    "Marie Louise",
    "République",
    NIR,
    stdnum_nir.format(NIR),
    "1980-05-17",
    "17/05/1980",
    "17 May 1980",
    "17 mai 1980",
)


@pytest.fixture(autouse=True)
def _the_eve_of_day():
    """Every test here runs on the evening before DAY, whatever the hour the suite runs at."""
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.CARNET_SMS_BACKEND = "carnet.scheduling.messaging.LocmemSmsBackend"
    LocmemSmsBackend.outbox.clear()
    yield LocmemSmsBackend.outbox
    LocmemSmsBackend.outbox.clear()


@pytest.fixture
def consultation(establishment):
    """A psychiatrist's agenda in an addiction unit: every name here would tell a diagnosis."""
    doctor = UserFactory(
        role=Role.PRACTITIONER,
        first_name="Sigmund",
        last_name="FREUDENBERG",
        establishments=[establishment],
    )
    practitioner = practitioner_for(doctor)
    practitioner.specialty = "Psychiatrie"
    practitioner.save()
    agenda = Agenda.objects.create(
        establishment=establishment,
        kind="practitioner",
        name="Dr FREUDENBERG — Psychiatrie",
        practitioner=practitioner,
        unit=UnitFactory(establishment=establishment, name="Addictologie"),
    )
    return ConsultationType.objects.create(agenda=agenda, motive="Sevrage alcoolique", minutes=20)


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


def _appointment(consultation, patient_id, starts_at, state="booked") -> Appointment:
    return Appointment.objects.create(
        agenda=consultation.agenda,
        consultation_type=consultation,
        patient_id=patient_id,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=20),
        state=state,
        holds_slot=not state.startswith("cancelled"),
    )


def _patient(establishment, n: int, **values) -> str:
    contact = {"email": f"patient{n}@example.fr", "phone": f"+3361234560{n}"}
    return make_patient(establishment, birth_surname=f"PATIENT{chr(65 + n)}", **contact | values)


def _remind(**options):
    return send_day_before_reminders(actor=system_actor("tests"), day=DAY, **options)


def _recipients(sms_outbox) -> tuple[list[str], list[str]]:
    return sorted(m.to[0] for m in mail.outbox), sorted(m.to for m in sms_outbox)


def _desk(user, establishment) -> Actor:
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
        verified=True,
    )


def _confirm(actor, appointment_id):
    with transaction.atomic(), boundary(actor, "scheduling.confirm"):
        return send_confirmation(actor=actor, appointment_id=appointment_id)


@pytest.mark.django_db
def test_only_the_local_days_booked_and_confirmed_appointments_are_reminded(
    establishment, consultation, sms_outbox
):
    early, confirmed, cancelled, next_day, today = (_patient(establishment, n) for n in range(5))
    # 00:30 in Paris is the day before in UTC; 00:15 the day after is still DAY in UTC.
    _appointment(consultation, early, _at(DAY, 0, 30))
    _appointment(consultation, confirmed, _at(DAY, 10), state="confirmed")
    _appointment(consultation, cancelled, _at(DAY, 11), state="cancelled_patient")
    _appointment(consultation, next_day, _at(DAY + datetime.timedelta(days=1), 0, 15))
    _appointment(consultation, today, _at(DAY - datetime.timedelta(days=1), 17))
    report = _remind()
    assert report.appointments == 2 and report.without_contact == 0
    assert dict(report.sent) == {"email": 2, "sms": 2} and not report.failed
    assert _recipients(sms_outbox) == (
        ["patient0@example.fr", "patient1@example.fr"],
        ["+33612345600", "+33612345601"],
    )
    assert set(Reminder.objects.values_list("outcome", flat=True)) == {"sent"}


@pytest.mark.django_db
def test_one_audited_system_job_opens_only_the_reminded_patients(establishment, consultation):
    reminded = _patient(establishment, 0)
    cancelled = _patient(establishment, 1)
    _patient(establishment, 2)  # no appointment at all
    _appointment(consultation, reminded, _at(DAY, 9, 30))
    _appointment(consultation, cancelled, _at(DAY, 10), state="cancelled_establishment")
    _remind()
    entry = AuditEntry.objects.get(action="scheduling.reminders")
    assert entry.role == "system" and entry.outcome == "allowed"
    assert entry.reason == f"day-before reminders for {DAY}"
    opened = AuditSubject.objects.filter(entry_id=entry.pk).values_list("patient_id", flat=True)
    assert list(opened) == [uuid.UUID(reminded)]


@pytest.mark.django_db
def test_each_batch_is_its_own_audited_job(establishment, consultation):
    for n in range(3):
        _appointment(consultation, _patient(establishment, n), _at(DAY, 9 + n))
    report = _remind(batch_size=2)
    assert report.appointments == 3 and report.sent["email"] == 3
    assert AuditEntry.objects.filter(action="scheduling.reminders").count() == 2


@pytest.mark.django_db
def test_running_twice_sends_one_message_per_channel(establishment, consultation, sms_outbox):
    appointment = _appointment(consultation, _patient(establishment, 0), _at(DAY, 9, 30))
    first, second = _remind(), _remind()
    assert dict(first.sent) == {"email": 1, "sms": 1}
    assert second.appointments == 0 and not second.sent
    assert len(mail.outbox) == 1 and len(sms_outbox) == 1
    assert Reminder.objects.filter(appointment=appointment).count() == 2
    # The second run had nobody to open.
    entries = AuditEntry.objects.filter(action="scheduling.reminders")
    assert entries.count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_second_reminder_for_one_appointment_and_channel(
    establishment, consultation
):
    from django.db import IntegrityError

    from carnet.scheduling.reminders import _claim

    appointment = _appointment(consultation, _patient(establishment, 0), _at(DAY, 9, 30))
    assert _claim(appointment, "email", "reminder") is not None
    assert _claim(appointment, "email", "reminder") is None  # another run holds it
    assert _claim(appointment, "sms", "reminder") is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        Reminder.objects.create(appointment=appointment, channel="sms", kind="reminder")
    # Confirmations may be sent again.
    assert _claim(appointment, "email", "confirmation") is not None
    assert _claim(appointment, "email", "confirmation") is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_reminder_once(establishment, consultation, sms_outbox):
    runs = 6 if connection.vendor == "postgresql" else 3
    for n in range(4):
        _appointment(consultation, _patient(establishment, n), _at(DAY, 9 + n))
    start = threading.Barrier(runs)
    errors: list[str] = []
    reports = []

    def run() -> None:
        try:
            start.wait(timeout=30)
            reports.append(_remind(batch_size=2))
        except Exception as error:  # reported below
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(sum(r.sent.values()) for r in reports) == 8
    emails, phones = _recipients(sms_outbox)
    assert emails == [f"patient{n}@example.fr" for n in range(4)]
    assert phones == [f"+3361234560{n}" for n in range(4)]
    assert Reminder.objects.count() == 8


@pytest.mark.django_db
def test_the_message_says_time_place_and_link_and_nothing_clinical(
    establishment, consultation, sms_outbox, staff
):
    """Attacking test: the agenda, practitioner, motive, unit and patient carry values that
    would tell a diagnosis or identify the patient; none may reach any message."""
    planted = make_patient(
        establishment,
        birth_surname="VERLAINE",
        nir=NIR,
        status="qualified",
        birth_date=datetime.date(1980, 5, 17),
        email="paul@example.fr",
        phone="+33612345699",
    )
    appointment = _appointment(consultation, planted, _at(DAY, 9, 30))
    establishment.address = "3 quai des Célestins"
    establishment.save()
    _remind()
    user, _client = staff(Role.SECRETARY)
    with time_machine.travel(NOW, tick=False):
        _confirm(_desk(user, establishment), appointment.pk)
    assert len(mail.outbox) == 2 and len(sms_outbox) == 2
    texts = [f"{m.subject}\n{m.body}" for m in mail.outbox] + [m.body for m in sms_outbox]
    for text in texts:
        assert "Monday 7 December 2026" in text and "09:30" in text
        assert "Hôpital Saint-Luc, 3 quai des Célestins, Lyon" in text and PORTAL in text
        leaked = [secret for secret in SECRETS if secret.lower() in text.lower()]
        assert leaked == [], text
    assert "Reminder" in mail.outbox[0].subject and "Reminder" not in mail.outbox[1].subject


@pytest.mark.django_db
def test_the_message_is_in_the_installations_language(
    establishment, consultation, settings, sms_outbox
):
    settings.LANGUAGE_CODE = "fr"
    _appointment(consultation, _patient(establishment, 0), _at(DAY, 9, 30))
    _remind()
    assert "lundi 7 décembre 2026" in mail.outbox[0].body
    assert "lundi 7 décembre 2026" in sms_outbox[0].body


@pytest.mark.django_db
def test_patients_without_contact_are_skipped_and_counted(establishment, consultation, sms_outbox):
    nobody = _patient(establishment, 0, email="", phone="")
    phone_only = _patient(establishment, 1, email="")
    _appointment(consultation, nobody, _at(DAY, 9))
    _appointment(consultation, phone_only, _at(DAY, 10))
    report = _remind()
    assert report.without_contact == 1 and dict(report.sent) == {"sms": 1}
    assert _recipients(sms_outbox) == ([], ["+33612345601"])


@pytest.mark.django_db
def test_a_canary_with_an_appointment_is_neither_opened_nor_reminded(
    establishment, consultation, sms_outbox
):
    canary = make_patient(establishment, birth_surname="CANARI", canary=True)
    _appointment(consultation, canary, _at(DAY, 9))
    report = _remind()
    assert report.appointments == 1 and report.without_contact == 1
    assert not mail.outbox and not sms_outbox and not Alert.objects.exists()
    entry = AuditEntry.objects.get(action="scheduling.reminders")
    assert not AuditSubject.objects.filter(entry_id=entry.pk).exists()


@pytest.mark.django_db
def test_a_dry_run_counts_and_sends_nothing(establishment, consultation, sms_outbox):
    _appointment(consultation, _patient(establishment, 0), _at(DAY, 9))
    report = _remind(dry_run=True)
    assert dict(report.sent) == {"email": 1, "sms": 1}
    assert not mail.outbox and not sms_outbox and not Reminder.objects.exists()
    assert AuditEntry.objects.get(action="scheduling.reminders").reason.endswith("(dry run)")


@pytest.mark.django_db
def test_the_command_reminds_tomorrow_and_prints_counts(establishment, consultation, sms_outbox):
    _appointment(consultation, _patient(establishment, 0), _at(DAY, 9))
    _appointment(consultation, _patient(establishment, 1, email="", phone=""), _at(DAY, 10))
    _appointment(consultation, _patient(establishment, 2), _at(DAY, 10) + datetime.timedelta(1))
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("reminders", "--no-progress", stdout=out)
        with pytest.raises(CommandError, match="past"):
            call_command("reminders", "--day", "2026-12-05", stdout=io.StringIO())
        with pytest.raises(CommandError, match="not a date"):
            call_command("reminders", "--day", "2026-13-45", stdout=io.StringIO())
    assert out.getvalue().splitlines() == [
        "reminders for 2026-12-07: 2 appointments",
        "  sent: 1 e-mail, 1 SMS",
        "  skipped, no e-mail nor phone: 1",
        "  failed: 0",
    ]
    assert _recipients(sms_outbox) == (["patient0@example.fr"], ["+33612345600"])


@pytest.mark.django_db
def test_a_failed_message_is_recorded_and_the_command_exits_1(
    establishment, consultation, settings, sms_outbox
):
    settings.CARNET_SMS_BACKEND = "carnet.scheduling.messaging.DisabledSmsBackend"
    _appointment(consultation, _patient(establishment, 0), _at(DAY, 9))
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("reminders", "--day", DAY.isoformat(), "--no-progress", stdout=out)
    assert exit_.value.code == 1
    assert (
        "sent: 1 e-mail, 0 SMS" in out.getvalue()
        and "failed: 1 (0 e-mail, 1 SMS)" in out.getvalue()
    )
    failed = Reminder.objects.get(channel="sms")
    assert failed.outcome == "failed" and failed.error == "SmsNotConfigured"
    assert failed.sent_at is None
    # Not retried: the next run has nothing left to do for that appointment.
    assert _remind().appointments == 0


@pytest.mark.django_db
def test_the_console_sms_backend_writes_to_standard_output(
    establishment, consultation, settings, capsys
):
    stream = io.StringIO()
    assert ConsoleSmsBackend(stream=stream).send_messages([SmsMessage("+33600000000", "Hi")]) == 1
    assert stream.getvalue().startswith("SMS to: +33600000000\nHi\n---")
    settings.CARNET_SMS_BACKEND = "carnet.scheduling.messaging.ConsoleSmsBackend"
    _appointment(consultation, _patient(establishment, 0), _at(DAY, 9))
    _remind()
    printed = capsys.readouterr().out
    assert "SMS to: +33612345600" in printed and "Monday 7 December 2026 at 09:00" in printed


@pytest.mark.django_db
def test_the_desk_sends_a_confirmation_on_every_channel(
    establishment, consultation, staff, sms_outbox
):
    appointment = _appointment(consultation, _patient(establishment, 0), _at(DAY, 9, 30))
    user, _client = staff(Role.SECRETARY)
    with time_machine.travel(NOW, tick=False):
        sent = _confirm(_desk(user, establishment), appointment.pk)
        # Sending again is allowed (the patient lost it); each sending is recorded.
        _confirm(_desk(user, establishment), appointment.pk)
    assert sent.sent == ("email", "sms") and sent.failed == ()
    assert "Your appointment is booked" in mail.outbox[0].body
    rows = Reminder.objects.filter(appointment=appointment, kind="confirmation")
    assert rows.count() == 4 and {r.requested_by_id for r in rows} == {user.pk}
    entry = AuditEntry.objects.filter(action="scheduling.confirm").first()
    assert entry is not None and entry.actor_id == user.pk
    # A confirmation does not stand in for the day-before reminder.
    assert _remind().sent["email"] == 1


@pytest.mark.django_db
def test_another_establishments_desk_cannot_send_a_confirmation(
    establishment, other_establishment, consultation, staff, sms_outbox
):
    appointment = _appointment(consultation, _patient(establishment, 0), _at(DAY, 9, 30))
    outsider, _client = staff(Role.SECRETARY, at=other_establishment)
    nurse, _client = staff(Role.NURSE)
    nurse_actor = Actor(
        user_id=nurse.pk,
        username=nurse.username,
        role=Role.NURSE,
        establishment_ids=frozenset({establishment.pk}),
    )
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(Refused) as refused:
            _confirm(_desk(outsider, other_establishment), appointment.pk)
        with pytest.raises(Refused) as missing:
            _confirm(_desk(outsider, other_establishment), uuid.uuid4())
        with pytest.raises(Refused):
            _confirm(nurse_actor, appointment.pk)
    # "Not yours" answers like "does not exist".
    assert refused.value.reason == missing.value.reason and refused.value.not_found
    assert not mail.outbox and not sms_outbox and not Reminder.objects.exists()


@pytest.mark.django_db
def test_a_confirmation_without_contact_or_for_a_past_appointment_is_a_clear_error(
    establishment, consultation, staff, sms_outbox
):
    nobody = _appointment(
        consultation, _patient(establishment, 0, email="", phone=""), _at(DAY, 9, 30)
    )
    cancelled = _appointment(
        consultation, _patient(establishment, 1), _at(DAY, 10), state="cancelled_patient"
    )
    user, _client = staff(Role.SECRETARY)
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(ValidationError, match="no e-mail address nor phone number"):
            _confirm(_desk(user, establishment), nobody.pk)
        with pytest.raises(ValidationError, match="still to come"):
            _confirm(_desk(user, establishment), cancelled.pk)
    with time_machine.travel(_at(DAY, 12), tick=False), pytest.raises(ValidationError):
        _confirm(_desk(user, establishment), nobody.pk)
    assert not mail.outbox and not sms_outbox and not Reminder.objects.exists()
