"""Who reaches which clinical object, through the pages: each role, allowed and refused. The
guard decides the patient (relationship, reach, budget) as for an identity page; roles
without clinical reading (secretary, administrator, security officer, laboratory technician)
get 403 on every clinical page; a nurse has a chart while the patient is admitted in her
unit, and after discharge only what the guard allows outside relationships (counted)."""

import datetime
import uuid

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.clinical.encounters import UNIT_AFTER_DISCHARGE
from carnet.clinical.models import Document, Note, Prescription
from carnet.clinical.notes import write_note
from carnet.clinical.prescriptions import LineInput, prescribe
from carnet.guard.boundary import Refused
from carnet.guard.models import Exposure
from carnet.guard.policy import Role

from .clinical_helpers import (
    admission,
    as_actor,
    client_of,
    consultation,
    in_care,
    member,
    pdf,
)
from .factories import UnitFactory, make_patient

pytestmark = pytest.mark.django_db
NOTE = "Auscultation : sibilants diffus"
NOT_CLINICAL = [Role.SECRETARY, Role.ADMINISTRATOR, Role.SECURITY_OFFICER, Role.LAB_TECHNICIAN]

ORAL = {"route": "oral", "frequency": "matin et soir"}
# The discharge form: a moment, a destination and the confirmation.
DISCHARGE = {"destination": "home", "confirm": "on"}


@pytest.fixture
def unit(establishment):
    return UnitFactory(establishment=establishment, name="Pneumologie")


@pytest.fixture
def doctor(establishment):
    return member(Role.PRACTITIONER, establishment)


@pytest.fixture
def record(doctor, patient):
    """A chart with one encounter, note, prescription and document by `doctor`."""
    encounter = consultation(doctor, patient)
    note = as_actor(
        doctor,
        "tests.note",
        lambda actor: write_note(
            actor=actor, patient_id=patient, encounter_id=encounter.pk, text=NOTE
        ),
    )
    from carnet.clinical.documents import add_document
    from carnet.clinical.models import Medication

    medication = Medication.objects.get(dci="Salbutamol")
    prescription = as_actor(
        doctor,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor,
            patient_id=patient,
            lines=[LineInput(medication.pk, "2 bouffées si gêne", 30, **ORAL)],
        ),
    )
    document = as_actor(
        doctor,
        "tests.doc",
        lambda actor: add_document(
            actor=actor,
            patient_id=patient,
            encounter_id=encounter.pk,
            title="EFR",
            content=pdf("Spirometrie obstructive"),
        ),
    )
    return {"encounter": encounter, "note": note, "rx": prescription, "doc": document}


def _pages(patient, record):
    return {
        "chart": reverse("web:chart", args=[patient]),
        "addendum": reverse("web:chart_addendum", args=[patient, record["note"].pk]),
        "prescription": reverse("web:chart_prescription", args=[patient, record["rx"].pk]),
        "document": reverse("web:chart_document", args=[patient, record["doc"].pk]),
        "prescribe": reverse("web:chart_prescribe", args=[patient]),
    }


def _leaks(response) -> bool:
    body = response.content
    return any(
        secret in body for secret in (NOTE.encode(), b"Spirometrie", "bouffées".encode(), b"DURAND")
    )


def test_the_practitioner_in_care_reads_every_clinical_object(doctor, patient, record):
    client = client_of(doctor)
    for name, url in _pages(patient, record).items():
        response = client.get(url)
        assert response.status_code == 200, name
        entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
        assert entry.outcome == "allowed" and f"{patient}:encounter" in entry.patients, name
    chart = client.get(_pages(patient, record)["chart"]).content.decode()
    assert NOTE in chart and "Salbutamol" in chart and "EFR" in chart


@pytest.mark.parametrize("role", NOT_CLINICAL)
def test_roles_without_clinical_reading_are_refused_every_clinical_page(
    establishment, patient, record, role
):
    user = member(role, establishment)
    in_care(patient, user)  # even with a relationship: the role decides first
    client = client_of(user)
    for name, url in _pages(patient, record).items():
        response = client.get(url)
        assert response.status_code == 403, (role, name)
        assert not _leaks(response), (role, name)
        entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
        assert entry.outcome == "refused", (role, name)


@pytest.mark.parametrize("role", NOT_CLINICAL)
def test_roles_without_clinical_writing_write_nothing(establishment, patient, record, role):
    client = client_of(member(role, establishment))
    encounter = str(record["encounter"].pk)
    client.post(
        reverse("web:chart_note", args=[patient]),
        {"encounter": encounter, "text": "intrusion", "category": ""},
    )
    client.post(
        reverse("web:chart_addendum", args=[patient, record["note"].pk]), {"text": "intrusion"}
    )
    client.post(
        reverse("web:chart_prescribe", args=[patient]),
        {
            "line-TOTAL_FORMS": "1",
            "line-INITIAL_FORMS": "0",
            "line-0-medication": "1",
            "line-0-dosage": "x",
            "line-0-duration_days": "1",
        },
    )
    assert Note.objects.count() == 1 and Prescription.objects.count() == 1
    assert Document.objects.count() == 1


def test_a_practitioner_of_another_establishment_is_answered_not_found(
    other_establishment, patient, record
):
    stranger = member(Role.PRACTITIONER, other_establishment)
    client = client_of(stranger)
    for name, url in _pages(patient, record).items():
        response = client.get(url)
        assert response.status_code == 404, name
        assert not _leaks(response), name
    # A patient who does not exist gets the very same answer.
    assert client.get(reverse("web:chart", args=[uuid.uuid4()])).status_code == 404


def test_a_colleague_outside_care_is_counted_and_an_unapproved_one_refused(
    establishment, patient, record
):
    colleague = member(Role.PRACTITIONER, establishment)
    response = client_of(colleague).get(reverse("web:chart", args=[patient]))
    assert response.status_code == 200
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.patients == f"{patient}:outside"
    assert Exposure.objects.filter(user=colleague, patient_id=patient).exists()

    unapproved = member(Role.PRACTITIONER, establishment, access_approved=False)
    refused = client_of(unapproved).get(reverse("web:chart", args=[patient]))
    # Refused whoever the patient is: an account waiting for approval does nothing at all.
    assert refused.status_code == 403 and not _leaks(refused)


def test_a_nurse_has_the_chart_while_the_patient_is_admitted_in_her_unit(
    establishment, patient, record, doctor, unit
):
    nurse = member(Role.NURSE, establishment, unit)
    other_unit_nurse = member(Role.NURSE, establishment, UnitFactory(establishment=establishment))
    unapproved = member(Role.NURSE, establishment, unit, access_approved=False)
    chart = reverse("web:chart", args=[patient])
    before = client_of(nurse).get(chart)
    # Not admitted: at most what an approved account reads outside its care, counted.
    assert not AuditEntry.objects.filter(
        request_id=before["X-Request-ID"], patients__endswith=":admission"
    ).exists()

    stay = admission(doctor, patient, unit)
    response = client_of(nurse).get(chart)
    assert response.status_code == 200 and NOTE in response.content.decode()
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.patients == f"{patient}:admission"
    elsewhere = client_of(other_unit_nurse).get(chart)
    assert not AuditEntry.objects.filter(
        request_id=elsewhere["X-Request-ID"], patients__endswith=":admission"
    ).exists()
    # Placed in the unit but not approved yet: the unit's admissions open nothing to her.
    waiting = client_of(unapproved).get(chart)
    assert waiting.status_code == 403 and not _leaks(waiting)

    client_of(doctor).post(reverse("web:chart_discharge", args=[patient, stay.pk]), DISCHARGE)
    # The unit finishes its notes for a stated time after the discharge...
    finishing = client_of(nurse).get(chart)
    assert AuditEntry.objects.get(request_id=finishing["X-Request-ID"]).patients.endswith(
        ":admission"
    )
    # ...then the admission no longer opens it (what an approved account may still read
    # outside its care is counted: see the next test).
    with time_machine.travel(_after_the_unit_window()):
        after = client_of(nurse).get(chart)
        assert not AuditEntry.objects.filter(
            request_id=after["X-Request-ID"], patients__endswith=":admission"
        ).exists()


def _after_the_unit_window():
    return timezone.now() + UNIT_AFTER_DISCHARGE + datetime.timedelta(minutes=1)


def test_after_discharge_an_approved_nurse_reads_only_as_counted_exposure(
    establishment, patient, record, doctor, unit
):
    nurse = member(Role.NURSE, establishment, unit)
    stay = admission(doctor, patient, unit)
    chart = reverse("web:chart", args=[patient])
    during = client_of(nurse).get(chart)
    assert not Exposure.objects.filter(user=nurse).exists()
    assert AuditEntry.objects.get(request_id=during["X-Request-ID"]).patients.endswith(":admission")
    client_of(doctor).post(reverse("web:chart_discharge", args=[patient, stay.pk]), DISCHARGE)
    assert not Exposure.objects.filter(user=nurse).exists()
    with time_machine.travel(_after_the_unit_window()):
        after = client_of(nurse).get(chart)
        entry = AuditEntry.objects.get(request_id=after["X-Request-ID"])
        assert entry.patients.endswith(":outside")
        assert Exposure.objects.filter(user=nurse, patient_id=patient).exists()


def test_nurses_write_notes_and_documents_but_never_prescribe(
    establishment, patient, record, doctor, unit
):
    nurse = member(Role.NURSE, establishment, unit)
    admission(doctor, patient, unit)
    client = client_of(nurse)
    wrote = client.post(
        reverse("web:chart_note", args=[patient]),
        {"encounter": str(record["encounter"].pk), "text": "Pansement refait", "category": ""},
    )
    assert wrote.status_code == 302 and Note.objects.filter(author=nurse).exists()
    assert client.get(reverse("web:chart_prescribe", args=[patient])).status_code == 403
    with pytest.raises(Refused):
        as_actor(
            nurse,
            "tests.rx",
            lambda actor: prescribe(
                actor=actor, patient_id=patient, lines=[LineInput(1, "1/j", 3, **ORAL)]
            ),
        )
    assert Prescription.objects.count() == 1


def test_ids_of_one_patient_do_not_open_through_another(establishment, patient, record, doctor):
    other = make_patient(establishment, birth_surname="MARTIN")
    in_care(other, doctor)
    client = client_of(doctor)
    for name in ("addendum", "prescription", "document"):
        url = _pages(patient, record)[name].replace(str(patient), str(other))
        response = client.get(url)
        assert response.status_code == 404, name
        assert NOTE.encode() not in response.content and b"Spirometrie" not in response.content
