"""Death: only a practitioner in care declares it; in one transaction the appointments still to
come are cancelled by the establishment (reason "death", shown on the desk's day sheet), the
patient space closes (no sign-in, no page, no code), and the record becomes read-only except
for a secretary's reasoned correction or a practitioner's retraction of a declaration made in
error. When and where are sealed."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.test import Client
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.patients import accounts
from carnet.patients.models import DeathDeclaration, IdentityCorrection, Patient, PortalAccount
from carnet.patients.selectors import ReadOnlyRecord
from carnet.scheduling.models import Appointment, AppointmentEvent, AppointmentState
from carnet.scheduling.services import book_appointment
from carnet.staff.models import User

from .factories import agenda_with_hours, make_patient
from .test_identity_pages import VALID_POST
from .test_portal import PASSWORD, portal_client
from .test_raw_database import _raw_dump

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)  # a Monday
DEATH = {"died_on": "2026-11-30", "died_time": "06:30", "place": "Hôpital Saint-Luc, Lyon"}


@pytest.fixture(autouse=True)
def frozen():
    """Before any account exists: sessions start at the frozen time too."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def doctor(staff):
    return staff(Role.PRACTITIONER)


@pytest.fixture
def record(establishment, doctor):
    """A patient of the doctor (treating doctor) with two appointments past and two to come."""
    user, _client = doctor
    patient = make_patient(establishment, treating_doctor=user.practitioner)
    consultation = agenda_with_hours(establishment, user.practitioner)

    def appointment(days, hour, state=AppointmentState.BOOKED):
        day = NOW.date() + datetime.timedelta(days=days)
        starts = datetime.datetime.combine(day, datetime.time(hour), tzinfo=PARIS)
        return Appointment.objects.create(
            agenda=consultation.agenda,
            consultation_type=consultation,
            patient_id=patient,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=30),
            state=state,
        )

    return {
        "patient": patient,
        "consultation": consultation,
        "past": [appointment(-4, 9, AppointmentState.DONE), appointment(-3, 10)],
        "future": [appointment(1, 9), appointment(2, 10, AppointmentState.CONFIRMED)],
    }


def _declare(client, patient, **changes):
    return client.post(reverse("web:patient_death", args=[patient]), {**DEATH, **changes})


def test_a_practitioner_in_care_declares_and_what_was_to_come_is_cancelled(doctor, record):
    user, client = doctor
    page = client.get(reverse("web:patient_death", args=[record["patient"]]))
    assert page.status_code == 200
    assert "2 appointments still to come are cancelled" in page.content.decode()
    response = _declare(client, record["patient"])
    assert response.status_code == 302, response.content.decode()[:3000]

    for appointment in record["future"]:
        appointment.refresh_from_db()
        assert appointment.state == AppointmentState.CANCELLED_BY_ESTABLISHMENT
        assert not appointment.holds_slot
        event = AppointmentEvent.objects.filter(appointment=appointment).latest("at")
        assert (event.reason, event.actor_id) == ("death", user.pk)
    done, left_booked = record["past"]
    done.refresh_from_db()
    left_booked.refresh_from_db()
    assert (done.state, left_booked.state) == (AppointmentState.DONE, AppointmentState.BOOKED)

    patient = Patient.objects.get(pk=record["patient"])
    assert patient.deceased and patient.version == 2
    declaration = DeathDeclaration.objects.get()
    assert (declaration.declared_by_id, declaration.cancelled_appointments) == (user.pk, 2)
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.outcome == "allowed" and record["patient"] in entry.patients
    assert "death declared" in entry.reason and "2 appointments cancelled" in entry.reason

    detail = client.get(reverse("web:patient_detail", args=[record["patient"]])).content.decode()
    assert "Deceased on 30/11/2026 at 06:30" in detail and "Hôpital Saint-Luc, Lyon" in detail


def test_the_agendas_say_why_the_appointments_were_cancelled(doctor, record, staff):
    _user, client = doctor
    assert _declare(client, record["patient"]).status_code == 302
    _desk, desk = staff(Role.SECRETARY)
    agenda = record["consultation"].agenda.pk
    sheet = desk.get(reverse("web:desk") + f"?agenda={agenda}&day=2026-12-01").content.decode()
    assert "Cancelled by the establishment" in sheet and "the patient died" in sheet
    earlier = desk.get(reverse("web:desk") + f"?agenda={agenda}&day=2026-11-27").content.decode()
    assert "the patient died" not in earlier


def test_the_patient_space_closes_for_good(establishment, doctor, record):
    _user, client = doctor
    patient_client = portal_client(establishment, record["patient"])
    assert patient_client.get("/portal/").status_code == 200
    # A code waiting to be used would open the record again: it is withdrawn too.
    assert _declare(client, record["patient"]).status_code == 302

    account = PortalAccount.objects.get()
    assert account.closed_at is not None and not account.user.is_active
    # The session that was open is gone; signing in again is refused.
    page = patient_client.get("/portal/")
    assert page.status_code == 302 and "/portal/login/" in page["Location"]
    stranger = Client()
    login = stranger.post("/portal/login/", {"username": "marie@example.fr", "password": PASSWORD})
    assert login.status_code == 200 and "_auth_user_id" not in stranger.session
    assert Client().get("/portal/history/").status_code == 302
    # And the desk cannot hand out a new sign-up code for the record.
    desk = Actor(
        user_id=User.objects.filter(role=Role.SECRETARY).first().pk,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    with pytest.raises(ReadOnlyRecord), transaction.atomic(), boundary(desk, "portal.issue"):
        accounts.issue_link_code(actor=desk, patient_id=record["patient"])


def test_a_secretary_cannot_declare_a_death(staff, record):
    _user, desk = staff(Role.SECRETARY)
    assert desk.get(reverse("web:patient_death", args=[record["patient"]])).status_code == 403
    assert _declare(desk, record["patient"]).status_code == 403
    assert not DeathDeclaration.objects.exists()
    assert not Patient.objects.get(pk=record["patient"]).deceased
    assert all(
        a.state != AppointmentState.CANCELLED_BY_ESTABLISHMENT
        for a in Appointment.objects.filter(patient_id=record["patient"])
    )


def test_a_practitioner_outside_the_care_relationship_cannot_declare(staff, record):
    """Same establishment, so the guard opens the record to an approved practitioner as
    "outside" (counted): not enough to declare a death."""
    _user, stranger = staff(Role.PRACTITIONER)
    assert _declare(stranger, record["patient"]).status_code == 403
    assert not DeathDeclaration.objects.exists()
    refused = AuditEntry.objects.filter(action="patients.death", outcome="refused").get()
    assert "care relationship" in refused.reason


def test_a_practitioner_of_another_establishment_meets_a_missing_record(
    staff, record, other_establishment
):
    _user, outsider = staff(Role.PRACTITIONER, at=other_establishment)
    assert _declare(outsider, record["patient"]).status_code == 404
    assert not DeathDeclaration.objects.exists()


def test_a_death_in_the_future_or_before_birth_is_refused(doctor, record):
    _user, client = doctor
    future = _declare(client, record["patient"], died_on="2026-12-24")
    assert future.status_code == 400 and "cannot be in the future" in future.content.decode()
    before = _declare(client, record["patient"], died_on="1970-01-01")
    assert before.status_code == 400 and "before the birth date" in before.content.decode()
    assert not DeathDeclaration.objects.exists()
    assert (
        Appointment.objects.filter(state=AppointmentState.CANCELLED_BY_ESTABLISHMENT).count() == 0
    )


def test_identity_edits_are_refused_except_the_reasoned_correction(doctor, record, staff):
    _user, client = doctor
    assert _declare(client, record["patient"]).status_code == 302
    secretary, desk = staff(Role.SECRETARY)
    edit = desk.post(
        reverse("web:patient_edit", args=[record["patient"]]),
        {**VALID_POST, "city": "Bron", "version": "2"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert edit.status_code == 400 and "read-only" in edit.content.decode()
    correct = reverse("web:patient_correct", args=[record["patient"]])
    unreasoned = desk.post(correct, {**VALID_POST, "city": "Bron", "version": "2"})
    assert unreasoned.status_code == 400
    assert Patient.objects.get(pk=record["patient"]).version == 2
    # A practitioner may not correct (no EDIT_IDENTITY), even in care.
    assert client.post(correct, {**VALID_POST, "version": "2"}).status_code == 403

    done = desk.post(
        correct,
        {
            **VALID_POST,
            "first_names": "Marie Louise Anne",
            "version": "2",
            "correction_reason": "Third first name on the birth certificate",
        },
    )
    assert done.status_code == 302, done.content.decode()[:3000]
    patient = Patient.objects.get(pk=record["patient"])
    assert patient.version == 3 and patient.deceased
    correction = IdentityCorrection.objects.get()
    assert (correction.corrected_by_id, correction.version) == (secretary.pk, 3)
    entry = AuditEntry.objects.get(request_id=done["X-Request-ID"])
    assert "authorised correction" in entry.reason
    page = desk.get(reverse("web:patient_detail", args=[record["patient"]])).content.decode()
    assert "Marie Louise Anne" in page


def test_nobody_is_booked_on_a_deceased_patient(establishment, doctor, record):
    _user, client = doctor
    assert _declare(client, record["patient"]).status_code == 302
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    with pytest.raises(ReadOnlyRecord), transaction.atomic(), boundary(desk, "desk.book"):
        book_appointment(
            actor=desk,
            consultation_type_id=record["consultation"].pk,
            patient_id=record["patient"],
            starts_at=datetime.datetime(2026, 12, 3, 9, tzinfo=PARIS),
        )


def test_a_declaration_made_in_error_is_retracted_with_a_reason(establishment, doctor, record):
    _user, client = doctor
    patient_client = portal_client(establishment, record["patient"])
    assert _declare(client, record["patient"]).status_code == 302
    retract = reverse("web:patient_death_retract", args=[record["patient"]])
    assert client.post(retract, {"reason": ""}).status_code == 302
    assert Patient.objects.get(pk=record["patient"]).deceased

    assert client.post(retract, {"reason": "Wrong patient: homonym in the unit"}).status_code == 302
    patient = Patient.objects.get(pk=record["patient"])
    assert not patient.deceased and patient.deceased_at_sealed is None
    declaration = DeathDeclaration.objects.get()
    assert declaration.retracted_at is not None
    # The account it closed is open again (its old session stays ended).
    assert PortalAccount.objects.get().closed_at is None
    login = patient_client.post(
        "/portal/login/", {"username": "marie@example.fr", "password": PASSWORD}
    )
    assert login.status_code == 302
    # Cancelled appointments stay cancelled: their slots may be someone else's by now.
    assert all(
        Appointment.objects.get(pk=a.pk).state == AppointmentState.CANCELLED_BY_ESTABLISHMENT
        for a in record["future"]
    )
    # And the record can be declared again, or edited.
    assert _declare(client, record["patient"]).status_code == 302


def test_retention_learns_the_day_of_death(doctor, record, establishment):
    """Retention keeps a record 10 years after an early death: the patients domain tells it
    who died and when (and opens no living patient to say so)."""
    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import admit_bulk, system_job
    from carnet.guard.policy import Capability
    from carnet.patients import retention

    living = make_patient(establishment, first_names="Paul", sex="M")
    _user, client = doctor
    assert _declare(client, record["patient"]).status_code == 302
    job = system_actor("tests")
    with system_job(job, "tests.retention"):
        admit_bulk(job, Capability.APPLY_RETENTION)
        deaths = retention._latest(retention._DEATH_SOURCES, [record["patient"], living])
    assert deaths == {record["patient"]: datetime.date(2026, 11, 30)}


@pytest.mark.django_db(transaction=True)
def test_when_and_where_are_sealed(establishment):
    from carnet.patients.death import death_of, declare_death
    from carnet.staff.models import Practitioner

    from .factories import UserFactory, practitioner_for

    user = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    practitioner_for(user)
    patient = make_patient(establishment, treating_doctor=Practitioner.objects.get(user=user))
    actor = Actor(
        user_id=user.pk,
        username=user.username,
        role=Role.PRACTITIONER,
        establishment_ids=frozenset({establishment.pk}),
    )
    place = "Résidence Zéphyrine-Quillebeuf"
    died_at = datetime.datetime(2025, 3, 14, 15, 9, tzinfo=PARIS)
    with transaction.atomic(), boundary(actor, "patients.death"):
        declare_death(actor=actor, patient_id=patient, died_at=died_at, place=place)
    # Control: the values are there, and open through the guard.
    with transaction.atomic(), boundary(actor, "patients.view"):
        standing = death_of(actor=actor, patient_id=patient).standing
    assert standing is not None and (standing.place, standing.died_at) == (place, died_at)
    dump = _raw_dump()
    assert establishment.name.encode() in dump, "the dump read is not this database"
    for value in (place, "Zéphyrine", "Quillebeuf", "2025-03-14", "14/03/2025"):
        assert value.encode() not in dump, value
        assert value.encode("utf-16-le") not in dump, value
