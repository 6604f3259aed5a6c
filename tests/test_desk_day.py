"""The desk's day rules: a check-in is accepted on the day of the appointment only (the local
day, at the moments the clock most often goes wrong), and each waiting room keeps its own
queue, called to its own unit's rooms."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, boundary
from carnet.guard.policy import Role
from carnet.organisations.models import Room, Unit
from carnet.scheduling.models import Appointment, AppointmentState, Ticket, WaitingRoom
from carnet.scheduling.queue import call_next, check_in, desk_queues, may_check_in
from carnet.scheduling.services import book_appointment

from . import clock
from .conftest import signed_in_client
from .factories import UserFactory, agenda_with_hours, make_patient

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
ALL_DAY = {d: [(datetime.time(0), datetime.time(23, 59))] for d in range(7)}


def _desk(establishment) -> Actor:
    return Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )


def _do(actor, action, function, **kwargs):
    with transaction.atomic(), boundary(actor, action):
        return function(actor=actor, **kwargs)


def _local(day: datetime.date, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


@pytest.mark.parametrize("moment", sorted(clock.NAMED))
def test_check_in_on_the_appointments_day_only(establishment, moment):
    """At 23:55 on a Sunday, 00:05 on the first of a month and the nights Paris changes hour:
    the appointment of this local day checks in; yesterday's (minutes ago) and tomorrow's
    (past the hour's early arrival) are refused with a clear message, and nothing changes."""
    at = clock.NAMED[moment](clock.now())
    today = at.astimezone(PARIS).date()
    desk = _desk(establishment)
    consultation = agenda_with_hours(establishment, None, minutes=10, hours=ALL_DAY)
    waiting_room = WaitingRoom.objects.create(establishment=establishment, name="Hall")
    times = {
        "yesterday": _local(today - datetime.timedelta(days=1), 23, 50),
        "today": _local(today, 0, 0) if at.astimezone(PARIS).hour >= 12 else _local(today, 23, 50),
        "tomorrow": _local(today + datetime.timedelta(days=1), 1, 10),
    }
    booked = {}
    with time_machine.travel(at - datetime.timedelta(days=3), tick=False):
        for name, starts_at in times.items():
            booked[name] = _do(
                desk,
                "scheduling.book",
                book_appointment,
                consultation_type_id=consultation.pk,
                patient_id=make_patient(establishment),
                starts_at=starts_at,
            )
    with time_machine.travel(at, tick=False):
        ticket = _do(
            desk,
            "queue.check_in",
            check_in,
            appointment_id=booked["today"].pk,
            waiting_room_id=waiting_room.pk,
        )
        assert ticket.number == 1 and ticket.day == today
        for name in ("yesterday", "tomorrow"):
            with pytest.raises(ValidationError) as refused:
                _do(
                    desk,
                    "queue.check_in",
                    check_in,
                    appointment_id=booked[name].pk,
                    waiting_room_id=waiting_room.pk,
                )
            assert "on the day of the appointment only" in " ".join(refused.value.messages)
            assert Appointment.objects.get(pk=booked[name].pk).state == AppointmentState.BOOKED
    assert Ticket.objects.count() == 1


def test_the_evening_before_only_within_the_hour_before(establishment):
    """The night's emergency patient who comes at 23:50 for 00:15 is queued; for 01:10 not."""
    evening = datetime.datetime(2026, 12, 13, 23, 50, tzinfo=PARIS)
    assert may_check_in(evening + datetime.timedelta(minutes=25), evening)
    assert not may_check_in(evening + datetime.timedelta(minutes=80), evening)
    assert not may_check_in(evening - datetime.timedelta(days=1), evening)
    assert may_check_in(evening.replace(hour=0, minute=0), evening)


def test_the_desk_says_why_a_check_in_three_days_early_is_refused(establishment):
    consultation = agenda_with_hours(establishment, None, minutes=10, hours=ALL_DAY)
    WaitingRoom.objects.create(establishment=establishment, name="Hall")
    start = datetime.datetime(2026, 12, 10, 9, 0, tzinfo=PARIS)
    with time_machine.travel(start - datetime.timedelta(days=5), tick=False):
        appointment = _do(
            _desk(establishment),
            "scheduling.book",
            book_appointment,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment),
            starts_at=start,
        )
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    with time_machine.travel(start - datetime.timedelta(days=3), tick=False):
        client = signed_in_client(secretary)
        page = client.post(
            reverse("web:desk_check_in", args=[appointment.pk]),
            {
                "agenda": consultation.agenda_id,
                "day": "2026-12-10",
                "waiting_room": WaitingRoom.objects.get().pk,
            },
            follow=True,
        ).content.decode()
    assert "on the day of the appointment only" in page
    assert Appointment.objects.get(pk=appointment.pk).state == AppointmentState.BOOKED
    assert not Ticket.objects.exists()


@pytest.fixture
def two_units(establishment):
    """Two units, each with its waiting room, its consultation room and its agenda; a patient
    of each checked in today."""
    day = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)
    desk = _desk(establishment)
    places = {}
    for code in ("CARDIO", "DERMATO"):
        unit = Unit.objects.create(establishment=establishment, name=code.title(), code=code)
        room = Room.objects.create(unit=unit, name=f"Box {code}")
        waiting_room = WaitingRoom.objects.create(
            establishment=establishment, unit=unit, name=f"Attente {code}"
        )
        consultation = agenda_with_hours(establishment, None)
        consultation.agenda.unit = unit
        consultation.agenda.save()
        with time_machine.travel(day - datetime.timedelta(days=2), tick=False):
            appointment = _do(
                desk,
                "scheduling.book",
                book_appointment,
                consultation_type_id=consultation.pk,
                patient_id=make_patient(establishment, birth_surname=f"NOM{code}"),
                starts_at=day.replace(hour=9),
            )
        with time_machine.travel(day, tick=False):
            _do(
                desk,
                "queue.check_in",
                check_in,
                appointment_id=appointment.pk,
                waiting_room_id=waiting_room.pk,
            )
        places[code] = (unit, room, waiting_room, consultation.agenda)
    return day, places


def test_each_waiting_room_has_its_queue_called_to_its_units_rooms(establishment, two_units):
    day, places = two_units
    desk = _desk(establishment)
    cardio, dermato = places["CARDIO"], places["DERMATO"]
    with time_machine.travel(day + datetime.timedelta(minutes=30), tick=False):
        (queue,) = _do(desk, "queue.read", desk_queues, waiting_room_id=cardio[2].pk)
        assert [r.name for r in queue.rooms] == ["Box CARDIO"]
        assert len(queue.waiting) == 1
        with pytest.raises(Refused):
            _do(
                desk,
                "queue.call",
                call_next,
                waiting_room_id=cardio[2].pk,
                room_id=dermato[1].pk,
            )
        called = _do(
            desk, "queue.call", call_next, waiting_room_id=cardio[2].pk, room_id=cardio[1].pk
        )
        assert called.room == cardio[1]
        (other,) = _do(desk, "queue.read", desk_queues, waiting_room_id=dermato[2].pk)
        assert len(other.waiting) == 1 and not other.called


def test_the_desk_page_shows_one_waiting_room_and_the_agendas_own(establishment, two_units):
    day, places = two_units
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    cardio, dermato = places["CARDIO"], places["DERMATO"]
    with time_machine.travel(day + datetime.timedelta(minutes=30), tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk_queue"), {"waiting_room": dermato[2].pk})
        (queue,) = page.context["queues"]
        assert queue.waiting_room == dermato[2]
        body = page.content.decode()
        assert "Box DERMATO" in body and "Box CARDIO" not in body
        assert "NOMDERMATO" in body and "NOMCARDIO" not in body
        sheet = client.get(reverse("web:desk"), {"agenda": cardio[3].pk, "day": "2026-12-07"})
        assert list(sheet.context["sheet"].waiting_rooms) == [cardio[2]]


def test_comment_and_visit_reason_are_sealed_and_shown_on_the_desks_day(establishment):
    """Booked with a comment, a visit reason and "first visit": the columns hold ciphertext
    only; the desk reads them on the day's sheet, the move keeps them."""
    consultation = agenda_with_hours(establishment, None)
    WaitingRoom.objects.create(establishment=establishment, name="Hall")
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    patient = make_patient(establishment, birth_surname="SCELLE")
    day = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)
    with time_machine.travel(day - datetime.timedelta(days=2), tick=False):
        client = signed_in_client(secretary)
        client.post(
            reverse("web:desk_book"),
            {
                "type": consultation.pk,
                "agenda": consultation.agenda_id,
                "start": day.replace(hour=9).isoformat(),
                "patient": patient,
                "comment": "Vient avec sa fille, interprète arabe",
                "visit_reason": "Douleur thoracique",
                "first_visit": "yes",
            },
        )
    appointment = Appointment.objects.get()
    assert appointment.first_visit is True
    raw = Appointment.objects.values_list("comment_sealed", "visit_reason_sealed").get()
    assert all(b"interpr" not in bytes(v) and b"Douleur" not in bytes(v) for v in raw)
    with time_machine.travel(day, tick=False):
        client = signed_in_client(secretary)
        page = client.get(
            reverse("web:desk"), {"agenda": consultation.agenda_id, "day": "2026-12-07"}
        ).content.decode()
        assert "Vient avec sa fille, interprète arabe" in page and "Douleur thoracique" in page
        client.post(
            reverse("web:desk_details", args=[appointment.pk]),
            {
                "comment": "Fauteuil roulant",
                "visit_reason": "Douleur thoracique",
                "first_visit": "",
            },
        )
        page = client.get(
            reverse("web:desk"), {"agenda": consultation.agenda_id, "day": "2026-12-07"}
        ).content.decode()
        assert "Fauteuil roulant" in page and "interprète" not in page
    assert Appointment.objects.get().first_visit is None


def test_a_cancellation_keeps_its_reason_as_a_code(establishment):
    consultation = agenda_with_hours(establishment, None)
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    day = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)
    booked = []
    with time_machine.travel(day - datetime.timedelta(days=2), tick=False):
        for hour in (9, 10, 11):
            booked.append(
                _do(
                    _desk(establishment),
                    "scheduling.book",
                    book_appointment,
                    consultation_type_id=consultation.pk,
                    patient_id=make_patient(establishment),
                    starts_at=day.replace(hour=hour),
                )
            )
        client = signed_in_client(secretary)
        for appointment, form in zip(
            booked,
            (
                {"cancellation": "patient_request"},
                {"cancellation": "practitioner_absent", "reason": "congrès"},
                {"reason": "Médecin absent"},
            ),
            strict=True,
        ):
            client.post(reverse("web:desk_cancel", args=[appointment.pk]), form)
    states = [
        Appointment.objects.values_list("state", "cancellation_reason").get(pk=a.pk) for a in booked
    ]
    assert states == [
        (AppointmentState.CANCELLED_BY_PATIENT, "patient_request"),
        (AppointmentState.CANCELLED_BY_ESTABLISHMENT, "practitioner_absent"),
        (AppointmentState.CANCELLED_BY_ESTABLISHMENT, "other"),
    ]


def test_the_grid_names_nobody_outside_the_desks_relationships(establishment, other_establishment):
    """Attack: page the week grid to a far week, slip another establishment's agenda in
    beside one's own, open the unit grid: no name, no visit reason, no comment of a patient
    outside the desk's window, nothing of the other establishment, and no budget spent."""
    from carnet.guard.models import Exposure
    from carnet.scheduling.services import Details

    own = agenda_with_hours(establishment, None)
    theirs = agenda_with_hours(other_establishment, None)
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    day = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)
    far = day + datetime.timedelta(days=21)
    with time_machine.travel(day - datetime.timedelta(days=1), tick=False):
        for consultation, place, surname, at in (
            (own, establishment, "PROCHE", day.replace(hour=9)),
            (own, establishment, "LOINTAIN", far.replace(hour=9)),
            (theirs, other_establishment, "AILLEURS", day.replace(hour=10)),
            (theirs, other_establishment, "AILLEURSLOIN", far.replace(hour=10)),
        ):
            _do(
                _desk(place),
                "scheduling.book",
                book_appointment,
                consultation_type_id=consultation.pk,
                patient_id=make_patient(place, birth_surname=surname),
                starts_at=at,
                details=Details(comment=f"NOTE{surname}", visit_reason=f"MOTIF{surname}"),
            )
    week = reverse("web:desk_week")
    with time_machine.travel(day, tick=False):
        client = signed_in_client(secretary)
        near = client.get(week, {"agenda": own.agenda_id, "day": "2026-12-07"})
        assert near.status_code == 200 and "PROCHE" in near.content.decode()
        page = client.get(week, {"agenda": own.agenda_id, "day": far.date().isoformat()})
        body = page.content.decode()
        assert page.status_code == 200 and "Name not shown" in body
        assert "gr-" in body  # the appointment is on the grid, without its name
        for secret in ("LOINTAIN", "NOTELOINTAIN", "MOTIFLOINTAIN", "AILLEURS"):
            assert secret not in body
        for day_shown in ("2026-12-07", far.date().isoformat()):
            beside = client.get(
                week, {"agenda": own.agenda_id, "also": theirs.agenda_id, "day": day_shown}
            )
            assert beside.status_code == 404 and "AILLEURS" not in beside.content.decode()
            swapped = client.get(
                week, {"agenda": theirs.agenda_id, "also": own.agenda_id, "day": day_shown}
            )
            assert swapped.status_code == 404 and "AILLEURS" not in swapped.content.decode()
        unit = client.get(reverse("web:desk_unit"), {"day": "2026-12-07"}).content.decode()
        assert "PROCHE" in unit and "AILLEURS" not in unit
        unit = client.get(
            reverse("web:desk_unit"), {"day": far.date().isoformat()}
        ).content.decode()
        assert "LOINTAIN" not in unit and "AILLEURS" not in unit
    assert not Exposure.objects.filter(user=secretary).exists()
