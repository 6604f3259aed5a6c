"""The desk page: a day of an agenda with names handed over by the guard (the desk's window,
no budget spent), check-in with a ticket, cancel with a reason; another establishment's desk
gets nothing."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.models import Exposure
from carnet.guard.policy import Role
from carnet.scheduling.models import Appointment, AppointmentState, Ticket, WaitingRoom
from carnet.scheduling.services import book_appointment

from .conftest import signed_in_client
from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
DAY = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)


@pytest.fixture
def booked_day(establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    WaitingRoom.objects.create(establishment=establishment, name="Hall")
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    with time_machine.travel(DAY - datetime.timedelta(days=2), tick=False):
        for n, surname in enumerate(["MATINAL", "TARDIF"]):
            with transaction.atomic(), boundary(desk, "scheduling.book"):
                book_appointment(
                    actor=desk,
                    consultation_type_id=consultation.pk,
                    patient_id=make_patient(establishment, birth_surname=surname),
                    starts_at=DAY.replace(hour=9 + n),
                )
    return consultation.agenda


def test_the_desk_sees_its_day_and_checks_in(establishment, booked_day):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk"), {"agenda": booked_day.pk, "day": "2026-12-07"})
        body = page.content.decode()
        assert page.status_code == 200 and "MATINAL" in body and "TARDIF" in body
        assert not Exposure.objects.filter(user=secretary).exists()
        first = Appointment.objects.order_by("starts_at").first()
        room = WaitingRoom.objects.get()
        client.post(
            reverse("web:desk_check_in", args=[first.pk]),
            {"agenda": booked_day.pk, "day": "2026-12-07", "waiting_room": room.pk},
        )
        assert Ticket.objects.get().number == 1
        assert Appointment.objects.get(pk=first.pk).state == AppointmentState.ARRIVED
        second = Appointment.objects.order_by("starts_at").last()
        client.post(
            reverse("web:desk_cancel", args=[second.pk]), {"agenda": booked_day.pk, "reason": ""}
        )
        assert Appointment.objects.get(pk=second.pk).state == AppointmentState.BOOKED
        client.post(
            reverse("web:desk_cancel", args=[second.pk]),
            {"agenda": booked_day.pk, "reason": "Médecin absent"},
        )
        assert (
            Appointment.objects.get(pk=second.pk).state
            == AppointmentState.CANCELLED_BY_ESTABLISHMENT
        )


def test_another_establishments_desk_gets_nothing(establishment, other_establishment, booked_day):
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    client = signed_in_client(outsider)
    page = client.get(reverse("web:desk"), {"agenda": booked_day.pk, "day": "2026-12-07"})
    assert page.status_code == 404 and "MATINAL" not in page.content.decode()
    appointment = Appointment.objects.first()
    refused = client.post(reverse("web:desk_check_in", args=[appointment.pk]), {"waiting_room": 1})
    assert refused.status_code == 404
    assert Appointment.objects.get(pk=appointment.pk).state == AppointmentState.BOOKED
    assert staff_cannot_book(establishment)


def staff_cannot_book(establishment) -> bool:
    admin = UserFactory(role=Role.ADMINISTRATOR, establishments=[establishment])
    return signed_in_client(admin).get(reverse("web:desk")).status_code == 403


def test_the_desk_books_a_free_slot_for_a_found_patient(establishment, booked_day):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    patient = make_patient(
        establishment, birth_surname="NOUVEAU", birth_date=datetime.date(1975, 2, 3)
    )
    consultation = booked_day.consultation_types.get()
    start = DAY.replace(hour=11).isoformat()
    with time_machine.travel(DAY - datetime.timedelta(days=1), tick=False):
        client = signed_in_client(secretary)
        sheet = client.get(reverse("web:desk"), {"agenda": booked_day.pk, "day": "2026-12-07"})
        assert reverse("web:desk_book") in sheet.content.decode()
        found = client.get(
            reverse("web:desk_book"),
            {
                "type": consultation.pk,
                "agenda": booked_day.pk,
                "start": start,
                "surname": "NOU",
                "birth_date": "1975-02-03",
            },
        )
        assert "NOUVEAU" in found.content.decode()
        booked = client.post(
            reverse("web:desk_book"),
            {"type": consultation.pk, "agenda": booked_day.pk, "start": start, "patient": patient},
        )
        assert booked.status_code == 302
        assert Appointment.objects.filter(
            patient_id=patient, starts_at=DAY.replace(hour=11)
        ).exists()
        again = client.post(
            reverse("web:desk_book"),
            {"type": consultation.pk, "agenda": booked_day.pk, "start": start, "patient": patient},
            follow=True,
        )
        assert "just taken" in again.content.decode()
        assert Appointment.objects.filter(starts_at=DAY.replace(hour=11)).count() == 1
