"""Each role's lists of the day: a nurse's census of her units (with the laboratory work due and
the last note), a practitioner's inpatients, day and results to review (acknowledged in one
click, recorded), the desk's day sheet. Every list shows only patients in a care relationship
with its reader, hands them over as such (nothing counted against the budget), and a nurse of
another unit, a practitioner outside the relationship, a desk of another establishment get
nothing of those patients."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse

from carnet.audit.models import AuditEntry, AuditSubject
from carnet.clinical.encounters import admit
from carnet.clinical.notes import write_note
from carnet.clinical.worklists import inpatients
from carnet.guard.boundary import boundary
from carnet.guard.models import Exposure, RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import end, relate
from carnet.laboratory.models import LabResult, ResultAcknowledgement
from carnet.laboratory.review import results_to_review
from carnet.scheduling.models import Appointment, AppointmentState
from carnet.scheduling.services import book_appointment, change_state

from .clinical_helpers import actor_of, as_actor, client_of, in_care, member
from .factories import UnitFactory, UserFactory, agenda_with_hours, make_patient, practitioner_for
from .laboratory_fixtures import make_lab

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
HTMX = {"HTTP_HX_REQUEST": "true"}
HB, K, GLU, HIV = "718-7", "2823-3", "2345-7", "56888-1"


def _admit(by, patient, unit, *, practitioner=None, reason="Pneumopathie hypoxémiante"):
    return as_actor(
        by,
        "tests.admit",
        lambda actor: admit(
            actor=actor,
            patient_id=patient,
            unit_id=unit.pk,
            reason=reason,
            practitioner_user_id=practitioner.pk if practitioner else None,
        ),
    )


@pytest.fixture
def ward(establishment):
    """Two units of the hospital, a nurse in each, a practitioner in charge of one stay in
    each unit, and a patient admitted in each unit."""
    cardio = UnitFactory(establishment=establishment, name="Cardiologie")
    pneumo = UnitFactory(establishment=establishment, name="Pneumologie")
    doctor = member(Role.PRACTITIONER, establishment, last_name="Charge")
    colleague = member(Role.PRACTITIONER, establishment, last_name="Voisin")
    cardio_patient = make_patient(establishment, birth_surname="CARDIAQUE")
    pneumo_patient = make_patient(establishment, birth_surname="SOUFFLE")
    in_care(cardio_patient, doctor)
    in_care(pneumo_patient, colleague)
    stay = _admit(doctor, cardio_patient, cardio, practitioner=doctor, reason="Insuffisance")
    _admit(colleague, pneumo_patient, pneumo, practitioner=colleague)
    return {
        "cardio": cardio,
        "pneumo": pneumo,
        "doctor": doctor,
        "colleague": colleague,
        "cardio_nurse": member(Role.NURSE, establishment, cardio),
        "pneumo_nurse": member(Role.NURSE, establishment, pneumo),
        "cardio_patient": cardio_patient,
        "pneumo_patient": pneumo_patient,
        "stay": stay,
    }


def _listed(user, action: str) -> set[str]:
    entry = AuditEntry.objects.filter(actor_id=user.pk, action=action).latest("pk")
    return {
        str(p)
        for p in AuditSubject.objects.filter(entry_id=entry.pk).values_list("patient_id", flat=True)
    }


# ---- the census -----------------------------------------------------------------------------


def test_a_nurse_sees_her_units_patients_and_spends_no_budget(ward):
    nurse = ward["cardio_nurse"]
    page = client_of(nurse).get(reverse("web:census"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "CARDIAQUE" in body and "Insuffisance" in body and "SOUFFLE" not in body
    assert _listed(nurse, "lists.census") == {ward["cardio_patient"]}
    assert not Exposure.objects.filter(user=nurse).exists()


def test_a_nurse_of_another_unit_sees_none_of_its_patients(
    ward, establishment, other_establishment
):
    pneumo_nurse = ward["pneumo_nurse"]
    body = client_of(pneumo_nurse).get(reverse("web:census")).content.decode()
    assert "SOUFFLE" in body and "CARDIAQUE" not in body
    elsewhere = member(
        Role.NURSE, other_establishment, UnitFactory(establishment=other_establishment)
    )
    body = client_of(elsewhere).get(reverse("web:census")).content.decode()
    assert "SOUFFLE" not in body and "CARDIAQUE" not in body
    # A nurse of the hospital in no unit at all: her establishment's admissions are not hers.
    floating = member(Role.NURSE, establishment)
    body = client_of(floating).get(reverse("web:census")).content.decode()
    assert "SOUFFLE" not in body and "CARDIAQUE" not in body
    for user in (pneumo_nurse, elsewhere, floating):
        assert not Exposure.objects.filter(user=user).exists()
    assert _listed(elsewhere, "lists.census") == set()


def test_the_census_follows_the_guard_not_the_encounter_table(ward):
    """A stay whose admission relationship was ended (whatever the encounter row says) leaves
    the list, uncounted: the list never opens what the guard would not."""
    end(patient_id=ward["cardio_patient"], kind=RelationshipKind.ADMISSION)
    nurse = ward["cardio_nurse"]
    body = client_of(nurse).get(reverse("web:census")).content.decode()
    assert "CARDIAQUE" not in body
    assert not Exposure.objects.filter(user=nurse).exists()


def test_the_census_tells_what_is_due(ward, establishment):
    lab = make_lab(establishment)
    patient = ward["cardio_patient"]
    in_care(patient, lab.practitioner)
    lab.patient = patient
    lab.order(K, GLU, priority="urgent")
    as_actor(
        ward["doctor"],
        "tests.note",
        lambda actor: write_note(
            actor=actor, patient_id=patient, encounter_id=ward["stay"].pk, text="Stable."
        ),
    )
    body = client_of(ward["cardio_nurse"]).get(reverse("web:census")).content.decode()
    assert 'data-due="collect"' in body
    row = body[body.index(f'data-patient="{patient}"') :]
    assert "data-due" in row.split("</tr>")[0]


def test_a_practitioner_sees_the_stays_in_his_charge(ward):
    doctor = ward["doctor"]
    census = as_actor(doctor, "tests.census", lambda actor: inpatients(actor=actor))
    assert [row.patient_id for row in census.rows] == [ward["cardio_patient"]]
    assert census.rows[0].in_charge
    assert not Exposure.objects.filter(user=doctor).exists()


def test_a_unit_member_without_a_stay_in_charge_sees_the_unit(ward, establishment):
    doctor = member(Role.PRACTITIONER, establishment, ward["pneumo"])
    census = as_actor(doctor, "tests.census", lambda actor: inpatients(actor=actor))
    assert [row.patient_id for row in census.rows] == [ward["pneumo_patient"]]
    assert not census.rows[0].in_charge


def test_each_list_refuses_the_roles_it_is_not_for(ward, establishment):
    refused = {
        Role.SECRETARY: ["web:census", "web:my_day"],
        Role.NURSE: ["web:my_day", "web:day_sheet"],
        Role.ADMINISTRATOR: ["web:census", "web:my_day", "web:day_sheet"],
        Role.SECURITY_OFFICER: ["web:census", "web:my_day", "web:day_sheet"],
    }
    for role, names in refused.items():
        client = client_of(UserFactory(role=role, establishments=[establishment]))
        for name in names:
            page = client.get(reverse(name))
            assert page.status_code == 403, (role, name)
            assert "CARDIAQUE" not in page.content.decode()


# ---- results to review ----------------------------------------------------------------------


@pytest.fixture
def results(establishment):
    lab = make_lab(establishment)
    normal = lab.done({HB: "13.5"})
    high = lab.done({K: "5.8"})
    return lab, normal, high


def test_results_to_review_come_abnormal_first_and_leave_once_read(results):
    lab, normal, high = results
    doctor = lab.practitioner
    review = as_actor(doctor, "tests.review", lambda actor: results_to_review(actor=actor))
    assert [row.test.loinc for row in review.rows] == [K, HB]
    assert review.rows[0].flag == "H" and review.rows[0].shown and review.abnormal == 1
    assert not Exposure.objects.filter(user=doctor).exists()

    client = client_of(doctor)
    result = LabResult.objects.get(item__order=high)
    answer = client.post(reverse("web:result_acknowledge", args=[result.pk]), **HTMX)
    assert answer.status_code == 200 and answer.content == b""
    assert ResultAcknowledgement.objects.filter(result=result, user=doctor).exists()
    entry = AuditEntry.objects.filter(actor_id=doctor.pk, action="lists.acknowledge").get()
    assert entry.outcome == "allowed" and lab.patient in entry.patients
    # Twice is once.
    client.post(reverse("web:result_acknowledge", args=[result.pk]))
    assert ResultAcknowledgement.objects.filter(result=result).count() == 1
    page = client.get(reverse("web:results_to_review")).content.decode()
    assert f'data-result="{result.pk}"' not in page
    assert f'data-result="{LabResult.objects.get(item__order=normal).pk}"' in page


def test_a_practitioner_outside_the_relationship_sees_and_reads_nothing(results, establishment):
    lab, _normal, high = results
    stranger = member(Role.PRACTITIONER, establishment, last_name="Etranger")
    client = client_of(stranger)
    page = client.get(reverse("web:results_to_review")).content.decode()
    assert "LABORIEUX" not in page
    result = LabResult.objects.get(item__order=high)
    refused = client.post(reverse("web:result_acknowledge", args=[result.pk]))
    assert refused.status_code == 404
    assert not ResultAcknowledgement.objects.exists()
    assert not Exposure.objects.filter(user=stranger).exists()


def test_the_orderer_whose_relationship_ended_no_longer_sees_the_results(results):
    lab, _normal, high = results
    doctor = lab.practitioner
    end(patient_id=lab.patient, kind=RelationshipKind.TREATING_DOCTOR)
    review = as_actor(doctor, "tests.review", lambda actor: results_to_review(actor=actor))
    assert review.rows == ()
    result = LabResult.objects.get(item__order=high)
    assert (
        client_of(doctor).post(reverse("web:result_acknowledge", args=[result.pk])).status_code
        == 404
    )
    assert not Exposure.objects.filter(user=doctor).exists()


def test_a_break_the_glass_opening_puts_no_result_on_the_list(results):
    lab, _normal, _high = results
    end(patient_id=lab.patient, kind=RelationshipKind.TREATING_DOCTOR)
    relate(patient_id=lab.patient, kind=RelationshipKind.BREAK_GLASS, user_id=lab.practitioner.pk)
    review = as_actor(
        lab.practitioner, "tests.review", lambda actor: results_to_review(actor=actor)
    )
    assert review.rows == ()


def test_a_sensitive_result_ordered_outside_the_team_stays_masked(results, establishment):
    """The practitioner in charge of the stay gets the colleague's serology on his list, its
    value never opened: he opens the category on purpose from the patient's results."""
    lab, _normal, _high = results
    unit = UnitFactory(establishment=establishment)
    doctor = member(Role.PRACTITIONER, establishment, last_name="Garde")
    in_care(lab.patient, doctor)
    _admit(doctor, lab.patient, unit, practitioner=doctor)
    lab.done({HIV: "negative"})
    review = as_actor(doctor, "tests.review", lambda actor: results_to_review(actor=actor))
    rows = {row.test.loinc: row for row in review.rows}
    assert set(rows) == {HIV, K, HB}
    assert rows[HIV].masked and rows[HIV].shown == "" and rows[HIV].flag == ""
    assert rows[K].shown and not rows[K].masked


def test_nurses_and_desks_have_no_results_to_review(results, establishment):
    for role in (Role.NURSE, Role.SECRETARY):
        user = UserFactory(role=role, establishments=[establishment])
        client = client_of(user)
        assert client.get(reverse("web:results_to_review")).status_code == 403
        result = LabResult.objects.first()
        assert client.post(reverse("web:result_acknowledge", args=[result.pk])).status_code == 403
    assert not ResultAcknowledgement.objects.exists()


# ---- the practitioner's day and the desk's day sheet ------------------------------------------

DAY = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)


@pytest.fixture
def booked(establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment], last_name="Agenda")
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    desk = actor_of(UserFactory(role=Role.SECRETARY, establishments=[establishment]))
    with time_machine.travel(DAY - datetime.timedelta(days=2), tick=False):
        for hour, surname in ((10, "TARDIF"), (9, "MATINAL")):
            with transaction.atomic(), boundary(desk, "scheduling.book"):
                book_appointment(
                    actor=desk,
                    consultation_type_id=consultation.pk,
                    patient_id=make_patient(establishment, birth_surname=surname),
                    starts_at=DAY.replace(hour=hour),
                )
    return doctor, consultation.agenda


def test_the_practitioner_sees_his_day_in_order_with_states(booked, establishment):
    doctor, _agenda = booked
    with time_machine.travel(DAY, tick=False):
        first = Appointment.objects.order_by("starts_at").first()
        secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
        as_actor(
            secretary,
            "tests.state",
            lambda actor: change_state(
                actor=actor, appointment_id=first.pk, to_state=AppointmentState.CONFIRMED
            ),
        )
        body = client_of(doctor).get(reverse("web:my_day")).content.decode()
    assert body.index("MATINAL") < body.index("TARDIF")
    assert 'class="state-confirmed lists-next"' in body
    assert not Exposure.objects.filter(user=doctor).exists()


def test_another_practitioner_has_not_this_day(booked, establishment):
    other = member(Role.PRACTITIONER, establishment, last_name="Autre")
    with time_machine.travel(DAY, tick=False):
        body = client_of(other).get(reverse("web:my_day")).content.decode()
    assert "MATINAL" not in body and "TARDIF" not in body
    assert not Exposure.objects.filter(user=other).exists()


def test_the_desk_prints_the_day_of_its_agendas(booked, establishment, other_establishment):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    agenda_with_hours(other_establishment)
    with time_machine.travel(DAY, tick=False):
        body = client_of(secretary).get(reverse("web:day_sheet")).content.decode()
        elsewhere = client_of(outsider).get(reverse("web:day_sheet")).content.decode()
    assert body.index("MATINAL") < body.index("TARDIF") and "data-desk-print" in body
    assert "MATINAL" not in elsewhere and "TARDIF" not in elsewhere
    assert not Exposure.objects.filter(user__in=[secretary, outsider]).exists()
    assert _listed(outsider, "lists.desk_day") == set()


# ---- the dashboard --------------------------------------------------------------------------


def test_each_role_finds_its_lists_first_on_the_dashboard(ward, establishment):
    cards = {
        ward["cardio_nurse"]: {"census"},
        ward["doctor"]: {"day", "results", "census"},
        UserFactory(role=Role.SECRETARY, establishments=[establishment]): {"day-sheet"},
        UserFactory(role=Role.ADMINISTRATOR, establishments=[establishment]): set(),
    }
    for user, wanted in cards.items():
        body = client_of(user).get(reverse("web:dashboard")).content.decode()
        shown = {
            name
            for name in ("day", "results", "census", "day-sheet")
            if f'data-card="{name}"' in body
        }
        assert shown == wanted, user.role
        # The dashboard names nobody: each list is its own request, recorded as such.
        assert "CARDIAQUE" not in body
    assert not AuditSubject.objects.filter(
        entry_id__in=AuditEntry.objects.filter(action="web.dashboard").values("pk")
    ).exists()


def test_the_dashboard_loads_a_list_without_the_page_around_it(ward):
    body = client_of(ward["cardio_nurse"]).get(reverse("web:census"), **HTMX).content.decode()
    assert body.lstrip().startswith('<div id="list-census"') and "CARDIAQUE" in body
