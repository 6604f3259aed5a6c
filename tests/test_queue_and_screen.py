"""Waiting room: check-in issues the day's ticket numbers, staff call the next ticket to a
room, and the screen shows numbers and rooms only; its token opens nothing else, and a
revoked or guessed token opens nothing at all."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.test import Client

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.http import ROUTE_ATTRIBUTE
from carnet.guard.policy import Role
from carnet.organisations.models import Room, Unit
from carnet.scheduling.models import AppointmentState, WaitingRoom
from carnet.scheduling.queue import call_next, check_in, register_screen, revoke_screen
from carnet.scheduling.services import book_appointment

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .routes import all_routes, concrete

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
DAY = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)


@pytest.fixture
def desk(establishment):
    return Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )


@pytest.fixture
def setting(establishment, desk):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    waiting_room = WaitingRoom.objects.create(establishment=establishment, name="Hall A")
    unit = Unit.objects.create(establishment=establishment, name="Consultations", code="C1")
    room = Room.objects.create(unit=unit, name="Cabinet 3")
    appointments = []
    with time_machine.travel(DAY - datetime.timedelta(days=3), tick=False):
        for n, surname in enumerate(["SECRETNOM", "CACHENOM"]):
            patient = make_patient(establishment, birth_surname=surname)
            with transaction.atomic(), boundary(desk, "scheduling.book"):
                appointments.append(
                    book_appointment(
                        actor=desk,
                        consultation_type_id=consultation.pk,
                        patient_id=patient,
                        starts_at=DAY.replace(hour=9, minute=30 * n),
                    )
                )
    return waiting_room, room, appointments


def _do(desk, action, function, **kwargs):
    with transaction.atomic(), boundary(desk, action):
        return function(actor=desk, **kwargs)


def test_check_in_numbers_and_call_next(setting, desk):
    waiting_room, room, appointments = setting
    with time_machine.travel(DAY, tick=False):
        first = _do(
            desk,
            "queue.check_in",
            check_in,
            appointment_id=appointments[0].pk,
            waiting_room_id=waiting_room.pk,
        )
        second = _do(
            desk,
            "queue.check_in",
            check_in,
            appointment_id=appointments[1].pk,
            waiting_room_id=waiting_room.pk,
        )
        assert (first.number, second.number) == (1, 2)
        assert first.appointment.state == AppointmentState.ARRIVED
        called = _do(
            desk, "queue.call", call_next, waiting_room_id=waiting_room.pk, room_id=room.pk
        )
        assert called.number == 1 and called.room == room
    with time_machine.travel(DAY + datetime.timedelta(days=1), tick=False):
        # A new day starts the numbers again (and nobody is waiting from yesterday).
        assert (
            _do(desk, "queue.call", call_next, waiting_room_id=waiting_room.pk, room_id=room.pk)
            is None
        )


def test_a_patient_checked_in_before_midnight_is_still_waiting_after_it(establishment, desk):
    """An emergency department's night: the queue is the last hours' tickets, not the calendar
    day's, so 23:50's patient is called before 00:02's although the numbers started again."""
    consultation = agenda_with_hours(
        establishment,
        None,
        minutes=10,
        hours={d: [(datetime.time(0), datetime.time(23, 59))] for d in range(7)},
    )
    waiting_room = WaitingRoom.objects.create(establishment=establishment, name="Urgences")
    unit = Unit.objects.create(establishment=establishment, name="Urgences", code="URG")
    room = Room.objects.create(unit=unit, name="Box A")
    evening = DAY.replace(hour=23, minute=40)
    with time_machine.travel(evening - datetime.timedelta(hours=2), tick=False):
        late, early = (
            _do(
                desk,
                "scheduling.book",
                book_appointment,
                consultation_type_id=consultation.pk,
                patient_id=make_patient(establishment),
                starts_at=at,
            )
            for at in (evening, evening + datetime.timedelta(minutes=20))
        )

    def arrives(appointment, minutes):
        with time_machine.travel(evening + datetime.timedelta(minutes=minutes), tick=False):
            return _do(
                desk,
                "queue.check_in",
                check_in,
                appointment_id=appointment.pk,
                waiting_room_id=waiting_room.pk,
            )

    before, after = arrives(late, 10), arrives(early, 22)
    with time_machine.travel(evening + datetime.timedelta(minutes=23), tick=False):
        assert (before.day, after.day) == (evening.date(), evening.date() + datetime.timedelta(1))
        assert (before.number, after.number) == (1, 1)
        token = register_screen(waiting_room=waiting_room, name="Écran urgences")
        assert "2 people waiting" in Client().get(f"/screen/{token}/board/").content.decode()
        called = _do(
            desk, "queue.call", call_next, waiting_room_id=waiting_room.pk, room_id=room.pk
        )
        assert called.pk == before.pk
        called = _do(
            desk, "queue.call", call_next, waiting_room_id=waiting_room.pk, room_id=room.pk
        )
        assert called.pk == after.pk


def test_the_screen_shows_numbers_and_rooms_never_names(setting, desk):
    waiting_room, room, appointments = setting
    token = register_screen(waiting_room=waiting_room, name="Écran hall")
    with time_machine.travel(DAY, tick=False):
        for appointment in appointments:
            _do(
                desk,
                "queue.check_in",
                check_in,
                appointment_id=appointment.pk,
                waiting_room_id=waiting_room.pk,
            )
        _do(desk, "queue.call", call_next, waiting_room_id=waiting_room.pk, room_id=room.pk)
        page = Client().get(f"/screen/{token}/")
        fragment = Client().get(f"/screen/{token}/board/")
    for response in (page, fragment):
        body = response.content.decode()
        assert response.status_code == 200
        assert "Cabinet 3" in body and re.search(r'class="ticket">1<', body)
        assert "SECRETNOM" not in body and "CACHENOM" not in body
        assert "1980" not in body and "Consultation" not in body  # no birth date, no motive
    assert 'hx-trigger="every 2s"' in page.content.decode()


def test_a_revoked_or_guessed_token_opens_nothing(setting):
    waiting_room, room, appointments = setting
    token = register_screen(waiting_room=waiting_room, name="Écran hall")
    assert Client().get(f"/screen/{token}x/").status_code == 404
    from carnet.scheduling.models import ScreenDevice

    revoke_screen(device_id=ScreenDevice.objects.get().pk)
    assert Client().get(f"/screen/{token}/").status_code == 404
    assert Client().get(f"/screen/{token}/board/").status_code == 404


def test_the_screen_token_opens_no_other_route(setting):
    waiting_room, room, appointments = setting
    token = register_screen(waiting_room=waiting_room, name="Écran hall")
    patient = str(appointments[0].patient_id)
    client = Client()
    client.cookies["screen"] = token
    checked = 0
    for route, pattern in all_routes():
        if route.startswith("screen/"):
            continue
        path = concrete(route, uuid=patient, text=token)
        for method in ("get", "post"):
            response = getattr(client, method)(
                path, {"token": token}, HTTP_AUTHORIZATION=f"Bearer {token}"
            )
            body = response.content.decode(errors="replace")
            assert "SECRETNOM" not in body, path
            # 400/401: the FHIR API and its token endpoint refuse a token that is not theirs.
            assert response.status_code in (200, 302, 400, 401, 403, 404, 405, 410), path
            if response.status_code == 200:
                # Only public pages answer (sign-in, sign-up), and they know nothing of it.
                assert getattr(pattern.callback, ROUTE_ATTRIBUTE) == "public", path
            checked += 1
    assert checked > 20
