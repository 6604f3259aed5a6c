"""The desk's tools: a walk-in added to the day and the queue at the first free time (at the
moments the clock most often goes wrong), the next free slot across the agendas of a
specialty, moving an appointment with a form, the printed day list."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.scheduling.models import Appointment, AppointmentState, Ticket, WaitingRoom
from carnet.scheduling.selectors import next_free
from carnet.scheduling.services import Details, add_walk_in, book_appointment
from carnet.scheduling.slots import free_slots

from . import clock
from .conftest import signed_in_client
from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
ALL_DAY = {d: [(datetime.time(0), datetime.time(23, 59))] for d in range(7)}
DAY = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)  # a Monday
HOURS_6 = datetime.timedelta(hours=6)


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


@pytest.mark.parametrize("moment", sorted(clock.NAMED))
def test_a_walk_in_joins_the_day_and_the_queue_at_the_first_free_time(establishment, moment):
    """At 23:55 on a Sunday, 00:05 on the first of a month and the nights Paris changes hour:
    the walk-in starts today at the first free time from now (after a patient booked now),
    arrives at once with a ticket, and a second walk-in comes after the first."""
    at = clock.NAMED[moment](clock.now())
    desk = _desk(establishment)
    consultation = agenda_with_hours(establishment, None, minutes=10, hours=ALL_DAY)
    WaitingRoom.objects.create(establishment=establishment, name="Urgences")
    local = at.astimezone(PARIS)
    rounded = local.replace(second=0, microsecond=0) + datetime.timedelta(minutes=-local.minute % 5)
    # A patient booked in the slot under way (none in the hour that happens twice: no slot).
    under_way = [
        slot
        for slot in free_slots(
            consultation_type=consultation, first_day=local.date(), days=1, now=at - HOURS_6
        )
        if slot.starts_at <= at < slot.ends_at
    ]
    booked = None
    with time_machine.travel(at - HOURS_6, tick=False):
        for slot in under_way:
            booked = _do(
                desk,
                "scheduling.book",
                book_appointment,
                consultation_type_id=consultation.pk,
                patient_id=make_patient(establishment),
                starts_at=slot.starts_at,
            )
    with time_machine.travel(at, tick=False):
        first = _do(
            desk,
            "queue.walk_in",
            add_walk_in,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="SANSRDV"),
            details=Details(comment="Adressé par la pharmacie"),
        )
        second = _do(
            desk,
            "queue.walk_in",
            add_walk_in,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment),
        )
    walk_in = first.appointment
    assert walk_in.walk_in and walk_in.state == AppointmentState.ARRIVED
    assert walk_in.starts_at >= rounded.astimezone(datetime.UTC)
    if booked is not None:
        assert walk_in.starts_at >= booked.ends_at
    # Today, or within the hour after midnight when the day is full to its end.
    assert walk_in.starts_at - at < datetime.timedelta(hours=1)
    assert (first.number, second.number) == (1, 2)
    assert second.appointment.starts_at >= walk_in.ends_at
    assert Ticket.objects.count() == 2


def test_a_walk_in_appears_on_the_desks_day_and_queue(establishment):
    consultation = agenda_with_hours(establishment, None, minutes=15, hours=ALL_DAY)
    WaitingRoom.objects.create(establishment=establishment, name="Hall")
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    patient = make_patient(establishment, birth_surname="PASSAGE")
    with time_machine.travel(DAY.replace(hour=10, minute=2), tick=False):
        client = signed_in_client(secretary)
        panel = client.get(
            reverse("web:desk_book"),
            {"walk_in": "1", "type": consultation.pk, "agenda": consultation.agenda_id},
        )
        assert panel.status_code == 200 and 'name="walk_in"' in panel.content.decode()
        client.post(
            reverse("web:desk_book"),
            {
                "walk_in": "1",
                "type": consultation.pk,
                "agenda": consultation.agenda_id,
                "patient": patient,
            },
        )
        appointment = Appointment.objects.get()
        assert appointment.walk_in and appointment.state == AppointmentState.ARRIVED
        assert timezone.localtime(appointment.starts_at).strftime("%H:%M") == "10:05"
        day = client.get(
            reverse("web:desk"), {"agenda": consultation.agenda_id, "day": "2026-12-07"}
        ).content.decode()
        assert "PASSAGE" in day and "Walk-in" in day
        queue = client.get(reverse("web:desk_queue"))
        (waiting,) = queue.context["queues"][0].waiting
        assert waiting.name.startswith("PASSAGE")


def test_a_walk_in_needs_a_waiting_room_and_the_desks_own_agenda(
    establishment, other_establishment
):
    consultation = agenda_with_hours(establishment, None, hours=ALL_DAY)
    theirs = agenda_with_hours(other_establishment, None, hours=ALL_DAY)
    WaitingRoom.objects.create(establishment=other_establishment, name="Hall")
    desk = _desk(establishment)
    with time_machine.travel(DAY, tick=False):
        for consultation_id in (consultation.pk, theirs.pk):
            with pytest.raises(ValidationError):
                _do(
                    desk,
                    "queue.walk_in",
                    add_walk_in,
                    consultation_type_id=consultation_id,
                    patient_id=make_patient(establishment),
                )
    assert not Appointment.objects.exists()


def _cardiologist(establishment, name: str, hours=None):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    practitioner = practitioner_for(doctor)
    practitioner.specialty = "Cardiologie"
    practitioner.save()
    consultation = agenda_with_hours(establishment, practitioner, hours=hours)
    consultation.agenda.name = name
    consultation.agenda.save()
    return consultation


def test_the_next_free_slot_across_a_specialtys_agendas(establishment, other_establishment):
    """Monday 08:00: Dr A is full on Monday morning, Dr B opens on Wednesdays only; the
    first free slot is Dr A's on Tuesday 09:00... unless Dr A is fully booked then too. Another
    establishment's cardiologist is never offered; another specialty neither."""
    first = _cardiologist(establishment, "Dr A")
    second = _cardiologist(
        establishment, "Dr B", hours={2: [(datetime.time(14), datetime.time(16))]}
    )
    _cardiologist(other_establishment, "Dr Ailleurs", hours=ALL_DAY)
    other = agenda_with_hours(establishment, None, hours=ALL_DAY)  # a resource, no specialty
    desk = _desk(establishment)
    with time_machine.travel(DAY - datetime.timedelta(days=3), tick=False):
        for n in range(6):  # Monday 09:00-12:00, all taken
            _do(
                desk,
                "scheduling.book",
                book_appointment,
                consultation_type_id=first.pk,
                patient_id=make_patient(establishment),
                starts_at=DAY.replace(hour=9) + datetime.timedelta(minutes=30 * n),
            )
    with time_machine.travel(DAY, tick=False):
        offers = _do(desk, "desk.next_free", next_free, specialty="cardiologie")
        assert {o.agenda.name for o in offers} == {"Dr A", "Dr B"}
        assert other.agenda_id not in {o.agenda.pk for o in offers}
        soonest = offers[0]
        assert soonest.agenda.name == "Dr A"
        assert timezone.localtime(soonest.slot.starts_at) == DAY.replace(day=8, hour=9)
        b = [o for o in offers if o.agenda.pk == second.agenda_id]
        assert timezone.localtime(b[0].slot.starts_at) == DAY.replace(day=9, hour=14)
        assert offers == sorted(offers, key=lambda o: o.slot.starts_at)
        assert _do(desk, "desk.next_free", next_free, specialty="Dermatologie") == []


def test_the_next_free_slot_page_books_the_slot(establishment):
    _cardiologist(establishment, "Dr A")
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk_next_free"), {"specialty": "Cardiologie"})
        body = page.content.decode()
        assert page.status_code == 200 and "Dr A" in body
        assert f"{reverse('web:desk_book')}?type=" in body


def test_moving_an_appointment_with_the_form(establishment):
    consultation = agenda_with_hours(establishment, None)
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    with time_machine.travel(DAY - datetime.timedelta(days=1), tick=False):
        old = _do(
            _desk(establishment),
            "scheduling.book",
            book_appointment,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="DEPLACE"),
            starts_at=DAY.replace(hour=9),
            details=Details(comment="Fauteuil", first_visit=True),
        )
    move = reverse("web:desk_move", args=[old.pk])
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(move, {"day": "2026-12-08"})
        body = page.content.decode()
        assert page.status_code == 200 and "DEPLACE" in body
        assert len(page.context["choices"].free) == 6
        new_start = DAY.replace(day=8, hour=10, minute=30)
        done = client.post(
            move,
            {
                "start": new_start.isoformat(),
                "reason": "à sa demande",
                "back": "//ailleurs.example/desk/week/",  # only the desk's own grid pages
            },
        )
        assert done.status_code == 302 and done["Location"].startswith("/desk/?agenda=")
        assert "day=2026-12-08" in done["Location"]
    old.refresh_from_db()
    assert old.state == AppointmentState.CANCELLED_BY_ESTABLISHMENT
    assert old.cancellation_reason == "moved"
    new = Appointment.objects.exclude(pk=old.pk).get()
    assert new.starts_at == new_start and new.first_visit is True
    assert new.state == AppointmentState.BOOKED


def test_another_establishments_desk_cannot_move(establishment, other_establishment):
    consultation = agenda_with_hours(establishment, None)
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    with time_machine.travel(DAY - datetime.timedelta(days=1), tick=False):
        old = _do(
            _desk(establishment),
            "scheduling.book",
            book_appointment,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="DEPLACE"),
            starts_at=DAY.replace(hour=9),
        )
    move = reverse("web:desk_move", args=[old.pk])
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(outsider)
        page = client.get(move)
        assert page.status_code == 404 and "DEPLACE" not in page.content.decode()
        client.post(move, {"start": DAY.replace(day=8, hour=10).isoformat()})
    assert Appointment.objects.get().state == AppointmentState.BOOKED


def test_the_printed_day_list(establishment):
    consultation = agenda_with_hours(establishment, None)
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    with time_machine.travel(DAY - datetime.timedelta(days=1), tick=False):
        _do(
            _desk(establishment),
            "scheduling.book",
            book_appointment,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="IMPRIME"),
            starts_at=DAY.replace(hour=9),
            details=Details(comment="Interprète", visit_reason="Palpitations"),
        )
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(
            reverse("web:desk_print_day"), {"agenda": consultation.agenda_id, "day": "2026-12-07"}
        )
        body = page.content.decode()
    assert page.status_code == 200 and "IMPRIME" in body and "Interprète" in body
    assert "Palpitations" not in body  # no visit reason on paper left at the desk
    assert "desk.css" in body


def test_another_establishments_desk_cannot_print_or_annotate(establishment, other_establishment):
    consultation = agenda_with_hours(establishment, None)
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    with time_machine.travel(DAY - datetime.timedelta(days=1), tick=False):
        appointment = _do(
            _desk(establishment),
            "scheduling.book",
            book_appointment,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="SECRET"),
            starts_at=DAY.replace(hour=9),
            details=Details(comment="Interprète"),
        )
    before = Appointment.objects.values_list("comment_sealed", flat=True).get()
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(outsider)
        printed = client.get(
            reverse("web:desk_print_day"), {"agenda": consultation.agenda_id, "day": "2026-12-07"}
        )
        assert printed.status_code == 404 and "SECRET" not in printed.content.decode()
        written = client.post(
            reverse("web:desk_details", args=[appointment.pk]), {"comment": "écrasé"}
        )
        assert written.status_code == 404
    sealed = Appointment.objects.values_list("comment_sealed", flat=True).get()
    assert bytes(sealed) == bytes(before)  # the comment was not written over
