"""Discharge as an act: a moment (between the admission and now, within a day), a
destination, a confirmation on the page; the unit keeps the chart a stated time to finish its
notes, then loses it; a practitioner
undoes it within the window with a reason (kept sealed, audited) and the unit has the chart
again; a nurse, a late undo or a reasonless one are refused."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.clinical.encounters import (
    UNDO_WINDOW,
    UNIT_AFTER_DISCHARGE,
    discharge,
    undo_discharge,
)
from carnet.clinical.models import DischargeUndone, Encounter
from carnet.guard.models import CareRelationship, RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import kinds_for
from carnet.vault.scope import admit, opening_scope

from .clinical_helpers import actor_of, admission, as_actor, client_of, in_care, member
from .factories import UnitFactory

pytestmark = pytest.mark.django_db
REASON = "Sortie saisie sur le mauvais séjour"


@pytest.fixture
def unit(establishment):
    return UnitFactory(establishment=establishment, name="Cardiologie")


@pytest.fixture
def doctor(establishment, patient):
    user = member(Role.PRACTITIONER, establishment)
    in_care(patient, user)
    return user


@pytest.fixture
def stay(doctor, patient, unit):
    with time_machine.travel(timezone.now() - datetime.timedelta(hours=5)):
        return admission(doctor, patient, unit)


def _discharge(user, patient, stay, **fields):
    values = {"destination": "home", **fields}
    return as_actor(
        user,
        "tests.discharge",
        lambda actor: discharge(actor=actor, patient_id=patient, encounter_id=stay.pk, **values),
    )


def _undo(user, patient, stay, reason=REASON):
    return as_actor(
        user,
        "tests.undo",
        lambda actor: undo_discharge(
            actor=actor, patient_id=patient, encounter_id=stay.pk, reason=reason
        ),
    )


def test_a_discharge_has_a_destination_and_a_moment_within_bounds(doctor, patient, stay):
    now = timezone.now()
    for fields in (
        {"destination": ""},
        {"at": stay.started_at - datetime.timedelta(minutes=1)},
        {"at": now + datetime.timedelta(hours=1)},
    ):
        with pytest.raises(ValidationError):
            _discharge(doctor, patient, stay, **fields)
    left = now - datetime.timedelta(hours=1)
    done = _discharge(doctor, patient, stay, destination="transfer", at=left)
    assert done.discharged_at == left and done.discharge_destination == "transfer"
    assert done.discharged_by == doctor
    body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert "Transfer to another establishment" in body or "Transfert" in body


def test_the_page_asks_for_a_confirmation(establishment, doctor, patient, stay):
    client = client_of(doctor)
    url = reverse("web:chart_discharge", args=[patient, stay.pk])
    refused = client.post(url, {"destination": "home"})
    assert refused.status_code == 400
    assert Encounter.objects.get(pk=stay.pk).discharged_at is None
    done = client.post(url, {"destination": "home", "confirm": "on"})
    assert done.status_code == 302
    assert Encounter.objects.get(pk=stay.pk).discharged_at is not None


def test_a_practitioner_undoes_it_with_a_reason_and_the_unit_reads_again(
    establishment, doctor, patient, stay, unit
):
    nurse = member(Role.NURSE, establishment, unit)
    _discharge(doctor, patient, stay)
    later = timezone.now() + UNIT_AFTER_DISCHARGE + datetime.timedelta(minutes=1)
    with time_machine.travel(later):
        assert kinds_for(actor_of(nurse), [patient]) == {}
    body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert reverse("web:chart_discharge_undo", args=[patient, stay.pk]) in body
    with pytest.raises(ValidationError):
        _undo(doctor, patient, stay, reason="oups")
    _undo(doctor, patient, stay)
    again = Encounter.objects.get(pk=stay.pk)
    assert again.discharged_at is None and again.is_current_admission
    assert kinds_for(actor_of(nurse), [patient]) == {patient: RelationshipKind.ADMISSION}
    # The stay is current again: the unit reads past the end of the discharge's window too,
    # through one admission relationship, not two.
    with time_machine.travel(later):
        assert kinds_for(actor_of(nurse), [patient]) == {patient: RelationshipKind.ADMISSION}
    assert (
        CareRelationship.objects.filter(
            kind=RelationshipKind.ADMISSION, unit_id=unit.pk, ends_at__isnull=True
        ).count()
        == 1
    )
    undone = DischargeUndone.objects.get()
    assert REASON.encode() not in bytes(undone.reason_sealed)
    with opening_scope():
        admit(patient)
        assert undone.reason == REASON
    assert AuditEntry.objects.filter(reason="discharge undone").exists()
    assert not AuditEntry.objects.filter(reason__contains=REASON).exists()


def test_a_nurse_cannot_undo_and_nobody_can_after_the_window(
    establishment, doctor, patient, stay, unit
):
    nurse = member(Role.NURSE, establishment, unit)
    _discharge(doctor, patient, stay)
    with pytest.raises(Exception):  # noqa: B017 (refused by the guard or by the rule)
        _undo(nurse, patient, stay)
    with time_machine.travel(timezone.now() + UNDO_WINDOW + datetime.timedelta(minutes=1)):
        with pytest.raises(ValidationError):
            _undo(doctor, patient, stay)
        body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
        assert reverse("web:chart_discharge_undo", args=[patient, stay.pk]) not in body
    assert Encounter.objects.get(pk=stay.pk).discharged_at is not None


def test_the_moment_is_read_on_the_night_the_clocks_go_back():
    """02:05 happens twice on the last Sunday of October in Paris: the form reads the latest
    of the two that is not in the future (Django's own field refuses it as ambiguous)."""
    from carnet.web.views.clinical.forms import LocalMomentField

    field = LocalMomentField(input_formats=["%Y-%m-%dT%H:%M"])
    utc = datetime.UTC
    with timezone.override("Europe/Paris"):
        second = datetime.datetime(2027, 10, 31, 1, 10, tzinfo=utc)  # 02:10, the second time
        with time_machine.travel(second, tick=False):
            assert field.clean("2027-10-31T02:05") == datetime.datetime(
                2027, 10, 31, 1, 5, tzinfo=utc
            )
        first = datetime.datetime(2027, 10, 31, 0, 10, tzinfo=utc)  # 02:10, the first time
        with time_machine.travel(first, tick=False):
            assert field.clean("2027-10-31T02:05") == datetime.datetime(
                2027, 10, 31, 0, 5, tzinfo=utc
            )
        with pytest.raises(ValidationError):
            field.clean("31/10/2027 02:05")
