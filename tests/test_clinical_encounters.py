"""Encounters open the chart to the people caring: a consultation to its practitioner (a
month of follow-up), an admission to the unit until discharge; one current admission per
patient; units and rooms only of the actor's establishment."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from carnet.clinical.encounters import FOLLOW_UP, UNIT_AFTER_DISCHARGE, admit, discharge
from carnet.clinical.models import Encounter
from carnet.guard.models import CareRelationship, RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import kinds_for
from carnet.organisations.models import Room

from .clinical_helpers import actor_of, admission, as_actor, client_of, consultation, member
from .factories import UnitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def unit(establishment):
    return UnitFactory(establishment=establishment, name="Cardiologie")


@pytest.fixture
def doctor(establishment):
    return member(Role.PRACTITIONER, establishment)


def test_a_consultation_opens_the_patient_to_its_practitioner_for_a_month(doctor, patient):
    encounter = consultation(doctor, patient)
    assert encounter.practitioner == doctor and encounter.reason.startswith("Toux")
    assert kinds_for(actor_of(doctor), [patient]) == {patient: RelationshipKind.ENCOUNTER}
    with time_machine.travel(timezone.now() + FOLLOW_UP + datetime.timedelta(days=1)):
        assert kinds_for(actor_of(doctor), [patient]) == {}


def test_an_admission_opens_the_unit_until_discharge(doctor, establishment, patient, unit):
    nurse = member(Role.NURSE, establishment, unit)
    stay = admission(doctor, patient, unit)
    assert kinds_for(actor_of(nurse), [patient]) == {patient: RelationshipKind.ADMISSION}
    relation = CareRelationship.objects.get(kind=RelationshipKind.ADMISSION)
    assert relation.unit_id == unit.pk and relation.source == f"encounter:{stay.pk}"
    as_actor(
        nurse,
        "tests.discharge",
        lambda actor: discharge(
            actor=actor, patient_id=patient, encounter_id=stay.pk, destination="home"
        ),
    )
    # The unit finishes its notes for a stated time, then loses the chart.
    assert kinds_for(actor_of(nurse), [patient]) == {patient: RelationshipKind.ADMISSION}
    later = timezone.now() + UNIT_AFTER_DISCHARGE + datetime.timedelta(minutes=1)
    with time_machine.travel(later):
        assert kinds_for(actor_of(nurse), [patient]) == {}
    assert Encounter.objects.get(pk=stay.pk).discharged_at is not None
    with pytest.raises(ValidationError):
        as_actor(
            doctor,
            "tests.discharge",
            lambda actor: discharge(
                actor=actor, patient_id=patient, encounter_id=stay.pk, destination="home"
            ),
        )


def test_one_current_admission_per_patient(doctor, establishment, patient, unit):
    admission(doctor, patient, unit)
    other_unit = UnitFactory(establishment=establishment, name="Réanimation")
    response = client_of(doctor).post(
        reverse("web:chart_admit", args=[patient]),
        {"unit": other_unit.pk, "reason": "Transfert"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "already admitted in Cardiologie" in response.content.decode()
    assert Encounter.objects.filter(kind="admission").count() == 1


def test_units_and_rooms_only_of_the_actors_establishment(
    doctor, patient, unit, other_establishment
):
    foreign = UnitFactory(establishment=other_establishment)
    with pytest.raises(ValidationError) as refused:
        as_actor(
            doctor,
            "tests.admit",
            lambda actor: admit(actor=actor, patient_id=patient, unit_id=foreign.pk, reason="x"),
        )
    assert "unit" in refused.value.error_dict
    foreign_room = Room.objects.create(unit=foreign, name="12")
    with pytest.raises(ValidationError) as wrong_room:
        as_actor(
            doctor,
            "tests.admit",
            lambda actor: admit(
                actor=actor,
                patient_id=patient,
                unit_id=unit.pk,
                room_id=foreign_room.pk,
                reason="x",
            ),
        )
    assert "room" in wrong_room.value.error_dict
    assert (
        not Encounter.objects.exists()
        and not CareRelationship.objects.filter(kind=RelationshipKind.ADMISSION).exists()
    )


def test_the_practitioner_in_charge_keeps_a_month_after_discharge(
    doctor, establishment, patient, unit
):
    secretary_admits = member(Role.SECRETARY, establishment)
    from .clinical_helpers import in_care

    in_care(patient, secretary_admits)
    stay = as_actor(
        secretary_admits,
        "tests.admit",
        lambda actor: admit(
            actor=actor,
            patient_id=patient,
            unit_id=unit.pk,
            reason="Douleur thoracique",
            practitioner_user_id=doctor.pk,
        ),
    )
    as_actor(
        secretary_admits,
        "tests.discharge",
        lambda actor: discharge(
            actor=actor, patient_id=patient, encounter_id=stay.pk, destination="home"
        ),
    )
    assert kinds_for(actor_of(doctor), [patient]) == {patient: RelationshipKind.ENCOUNTER}
    with time_machine.travel(timezone.now() + FOLLOW_UP + datetime.timedelta(days=1)):
        assert kinds_for(actor_of(doctor), [patient]) == {}


def test_the_chart_shows_the_current_admission_first(doctor, patient, unit):
    consultation(doctor, patient, reason="Bilan de souffle")
    admission(doctor, patient, unit, reason="Insuffisance cardiaque")
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=1)):
        consultation(doctor, patient, reason="Avis rythmologique")
    body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert body.index("Insuffisance cardiaque") < body.index("Avis rythmologique")
    assert body.index("Avis rythmologique") < body.index("Bilan de souffle")
    assert (
        reverse("web:chart_discharge", args=[patient, Encounter.objects.get(kind="admission").pk])
        in body
    )


def test_retention_counts_the_last_stay_or_consultation(doctor, patient, unit):
    from carnet.clinical.apps import last_encounters
    from carnet.patients.retention import _ACTIVITY_SOURCES

    assert last_encounters in _ACTIVITY_SOURCES
    long_ago = timezone.now() - datetime.timedelta(days=365 * 19)
    with time_machine.travel(long_ago):
        first = consultation(doctor, patient)
    assert last_encounters([first.patient_id])[first.patient_id] == first.started_at
    with time_machine.travel(long_ago + datetime.timedelta(days=30)):
        stay = admission(doctor, patient, unit)
    seen = last_encounters([stay.patient_id])[stay.patient_id]
    assert seen >= timezone.now() - datetime.timedelta(minutes=1)  # still admitted: in use
