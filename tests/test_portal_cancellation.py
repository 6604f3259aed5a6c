"""Why a patient cancels: chosen from a short list and kept with the cancellation (the
appointment's history); free text is never stored (it could carry health details in clear),
and no reason, or an unknown one, never stops a cancellation."""

import datetime

import pytest
import time_machine

from carnet.guard.policy import Role
from carnet.scheduling.models import AppointmentEvent, AppointmentState

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .test_portal import NOW, PARIS, _book_as_desk, portal_client

LATER = datetime.datetime(2026, 12, 3, 9, 0, tzinfo=PARIS)


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def online(establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    practitioner_for(doctor)
    return agenda_with_hours(
        establishment, doctor.practitioner, online=True, notice_hours=2, cancel_notice_hours=24
    )


@pytest.mark.django_db
def test_the_reason_chosen_is_kept_with_the_cancellation(
    establishment, patient, online, frozen_now
):
    appointment = _book_as_desk(establishment, online, patient, LATER)
    client = portal_client(establishment, patient)
    page = client.get(f"/portal/appointments/{appointment.pk}/").content.decode()
    assert 'name="reason"' in page and 'value="transport"' in page
    client.post(f"/portal/appointments/{appointment.pk}/cancel/", {"reason": "transport"})
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CANCELLED_BY_PATIENT
    event = appointment.history.get(to_state=AppointmentState.CANCELLED_BY_PATIENT)
    assert event.reason == "cancelled on the portal: transport"


@pytest.mark.django_db
def test_free_text_is_never_stored_and_never_stops_a_cancellation(
    establishment, patient, online, frozen_now
):
    first = _book_as_desk(establishment, online, patient, LATER)
    second = _book_as_desk(establishment, online, patient, LATER + datetime.timedelta(days=1))
    client = portal_client(establishment, patient)
    client.post(f"/portal/appointments/{first.pk}/cancel/", {"reason": "Ma chimiothérapie"})
    client.post(f"/portal/appointments/{second.pk}/cancel/")
    for appointment in (first, second):
        appointment.refresh_from_db()
        assert appointment.state == AppointmentState.CANCELLED_BY_PATIENT
        event = appointment.history.get(to_state=AppointmentState.CANCELLED_BY_PATIENT)
        assert event.reason == "cancelled on the portal"
    assert not AppointmentEvent.objects.filter(reason__icontains="chimio").exists()


@pytest.mark.django_db
def test_a_patient_cannot_cancel_another_patients_appointment(
    establishment, patient, online, frozen_now
):
    victim = make_patient(establishment, birth_surname="SECRETNOM", first_names="Victime")
    theirs = _book_as_desk(establishment, online, victim, LATER)
    attacker = portal_client(establishment, patient)
    response = attacker.post(f"/portal/appointments/{theirs.pk}/cancel/", {"reason": "other"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == AppointmentState.BOOKED
