"""A record erased at the end of its retention term (its data key destroyed) answers as a
tombstone: the identity page says it was erased (410), and an agenda that still lists one of
its old appointments shows "(erased record)" instead of failing."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.guard.policy import Role
from carnet.scheduling.models import Appointment
from carnet.scheduling.slots import free_slots
from carnet.vault.keys import shred

from .conftest import signed_in_client
from .factories import UserFactory, agenda_with_hours, practitioner_for
from .test_booking import _book


@pytest.mark.django_db
def test_an_erased_record_answers_as_a_tombstone(establishment, patient, staff):
    _, client = staff(Role.SECRETARY)
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    first_day = timezone.localdate() + datetime.timedelta(days=2)
    slot = free_slots(consultation_type=consultation, first_day=first_day, days=7)[0].starts_at
    _book(establishment, consultation, patient, slot)
    with transaction.atomic(), system_job(system_actor("tests"), "tests.shred"):
        assert shred(patient)
    page = client.get(f"/patients/{patient}/")
    assert page.status_code == 410 and "erased" in page.content.decode()
    appointment = Appointment.objects.get()
    day = timezone.localtime(slot).date().isoformat()
    # The practitioner's own agenda names the patient through the appointment's relationship.
    sheet = signed_in_client(doctor).get(f"/desk/?agenda={appointment.agenda_id}&day={day}")
    assert sheet.status_code == 200
    body = sheet.content.decode()
    assert "(erased record)" in body and "DURAND" not in body
