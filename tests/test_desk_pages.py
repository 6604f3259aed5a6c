"""The desk pages: a day of an agenda with names handed over by the guard (the desk's window,
no budget spent), check-in with a ticket, cancel with a reason, booking (also through htmx,
answered with the day's sheet); the week of an agenda in a constant number of queries; a
unit's agendas side by side; the waiting-room queue and calling the next ticket; a printed
confirmation. Another establishment's desk gets nothing from any of them."""

import datetime
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.models import Exposure
from carnet.guard.policy import Role
from carnet.organisations.models import Room, Unit
from carnet.scheduling.models import (
    Agenda,
    Appointment,
    AppointmentState,
    Ticket,
    TicketState,
    WaitingRoom,
)
from carnet.scheduling.queue import check_in
from carnet.scheduling.selectors import week_sheet
from carnet.scheduling.services import book_appointment
from carnet.staff.models import Membership

from .conftest import signed_in_client
from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
ONE_DAY = datetime.timedelta(days=1)
DAY = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)


HTMX = {"HTTP_HX_REQUEST": "true"}


def _desk(establishment) -> Actor:
    return Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )


def _book(establishment, consultation, surname: str, starts_at: datetime.datetime) -> Appointment:
    desk = _desk(establishment)
    with transaction.atomic(), boundary(desk, "scheduling.book"):
        return book_appointment(
            actor=desk,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname=surname),
            starts_at=starts_at,
        )


@pytest.fixture
def booked_day(establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    WaitingRoom.objects.create(establishment=establishment, name="Hall")
    with time_machine.travel(DAY - datetime.timedelta(days=2), tick=False):
        for n, surname in enumerate(["MATINAL", "TARDIF"]):
            _book(establishment, consultation, surname, DAY.replace(hour=9 + n))
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
        found = client.post(
            reverse("web:desk_book"),
            {
                "find": "1",
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


def _day_query(agenda, **more):
    return {"agenda": agenda.pk, "day": "2026-12-07", **more}


def test_check_in_and_cancel_answer_htmx_with_the_days_sheet(establishment, booked_day):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    first, second = Appointment.objects.order_by("starts_at")
    room = WaitingRoom.objects.get()
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        day = client.get(reverse("web:desk"), _day_query(booked_day)).content.decode()
        check_in_url = reverse("web:desk_check_in", args=[first.pk])
        assert f'hx-post="{check_in_url}"' in day
        checked = client.post(
            reverse("web:desk_check_in", args=[first.pk]),
            _day_query(booked_day, waiting_room=room.pk),
            **HTMX,
        )
        body = checked.content.decode()
        # The sheet alone (no page around it), the message inside it, the ticket on the row.
        assert checked.status_code == 200 and "<html" not in body
        assert 'id="desk-sheet"' in body and "Checked in: ticket 1." in body
        assert "MATINAL" in body and "TARDIF" in body
        cancelled = client.post(
            reverse("web:desk_cancel", args=[second.pk]),
            _day_query(booked_day, reason="Médecin absent"),
            **HTMX,
        ).content.decode()
        assert "Appointment cancelled; the slot is free again." in cancelled
        assert Appointment.objects.get(pk=second.pk).state == (
            AppointmentState.CANCELLED_BY_ESTABLISHMENT
        )
        # Without htmx the same actions redirect to the day, messages on the page.
        refused = client.post(
            reverse("web:desk_cancel", args=[first.pk]), _day_query(booked_day, reason="x")
        )
        assert refused.status_code == 302
        assert refused["Location"] == f"/desk/?agenda={booked_day.pk}&day=2026-12-07"
        assert "cannot become" in client.get(refused["Location"]).content.decode()


def test_check_in_is_offered_on_todays_sheet_only(establishment, booked_day):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    first = Appointment.objects.order_by("starts_at").first()
    check_in_url = reverse("web:desk_check_in", args=[first.pk])
    with time_machine.travel(DAY - datetime.timedelta(days=1), tick=False):
        client = signed_in_client(secretary)
        tomorrow = client.get(reverse("web:desk"), _day_query(booked_day)).content.decode()
        assert "MATINAL" in tomorrow and check_in_url not in tomorrow
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        today = client.get(reverse("web:desk"), _day_query(booked_day)).content.decode()
        assert check_in_url in today


def test_booking_through_htmx_opens_a_panel_and_answers_with_the_sheet(establishment, booked_day):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    patient = make_patient(
        establishment, birth_surname="NOUVEAU", birth_date=datetime.date(1975, 2, 3)
    )
    consultation = booked_day.consultation_types.get()
    slot = {"type": consultation.pk, "agenda": booked_day.pk, "start": DAY.replace(hour=11)}
    with time_machine.travel(DAY - datetime.timedelta(days=1), tick=False):
        client = signed_in_client(secretary)
        panel = client.post(
            reverse("web:desk_book"),
            {**slot, "find": "1", "surname": "NOU", "birth_date": "1975-02-03"},
            **HTMX,
        ).content.decode()
        assert "<html" not in panel and "data-desk-search" in panel and "NOUVEAU" in panel
        assert 'hx-target="#desk-sheet"' in panel
        booked = client.post(reverse("web:desk_book"), {**slot, "patient": patient}, **HTMX)
        body = booked.content.decode()
        appointment = Appointment.objects.get(patient_id=patient)
        assert booked.status_code == 200 and 'id="desk-sheet"' in body
        assert "Appointment booked at 11:00." in body and "NOUVEAU" in body
        assert reverse("web:desk_confirmation", args=[appointment.pk]) in body
        assert f'id="a-{appointment.pk}"' in body and "data-desk-fresh" in body
        again = client.post(reverse("web:desk_book"), {**slot, "patient": patient}, **HTMX)
        assert "just taken" in again.content.decode()


def test_the_week_shows_seven_days_with_appointments_and_free_slots(establishment, booked_day):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    consultation = booked_day.consultation_types.get()
    with time_machine.travel(DAY - datetime.timedelta(days=2), tick=False):
        _book(establishment, consultation, "JEUDISTE", DAY.replace(hour=9) + ONE_DAY * 3)
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        # Any day of the week shows the week from Monday to Sunday.
        page = client.get(reverse("web:desk_week"), _day_query(booked_day, day="2026-12-10"))
        body = page.content.decode()
        assert page.status_code == 200
        week = page.context["week"]
        assert [d.day for d in week.days] == [
            datetime.date(2026, 12, 7) + ONE_DAY * n for n in range(7)
        ]
        assert [len(d.rows) for d in week.days] == [2, 0, 0, 1, 0, 0, 0]
        # Monday 9:00-12:00 by half-hours, two taken; closed at the weekend.
        assert [len(d.free) for d in week.days] == [4, 6, 6, 5, 6, 0, 0]
        for name in ("MATINAL", "TARDIF", "JEUDISTE"):
            assert name in body
        assert "day=2026-11-30" in body and "day=2026-12-14" in body  # previous, next week
        assert reverse("web:desk_book") in body
        assert not Exposure.objects.filter(user=secretary).exists()


def test_the_week_costs_a_constant_number_of_queries(establishment, booked_day):
    """Two appointments or twelve, in one day or across the week: the same queries."""
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    consultation = booked_day.consultation_types.get()
    actor = Actor(
        user_id=secretary.pk,
        username=secretary.username,
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )

    def count() -> int:
        with (
            time_machine.travel(DAY, tick=False),
            transaction.atomic(),
            boundary(actor, "desk.week"),
            CaptureQueriesContext(connection) as queries,
        ):
            week = week_sheet(actor=actor, agenda_id=booked_day.pk, day=DAY.date())
            assert all(row.name for day in week.days for row in day.rows)
        return len(queries)

    few = count()
    with time_machine.travel(DAY - datetime.timedelta(days=2), tick=False):
        for n in range(10):
            start = DAY.replace(hour=9 + n % 3) + ONE_DAY * (1 + n // 3)
            _book(establishment, consultation, f"SEMAINE{n}", start)
    assert Appointment.objects.count() == 12
    assert count() == few
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        with CaptureQueriesContext(connection) as page:
            response = client.get(reverse("web:desk_week"), _day_query(booked_day))
        assert response.status_code == 200 and "SEMAINE9" in response.content.decode()
        # The request around the selector: session, account, audit entry and its subjects.
        assert len(page) <= few + 20, [q["sql"][:80] for q in page]


def test_a_far_week_names_nobody_and_spends_no_budget(establishment, booked_day):
    """Outside the desk's window around appointments the names stay hidden rather than
    charged: paging through next month must not count as opening everyone in it."""
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    consultation = booked_day.consultation_types.get()
    far = DAY + ONE_DAY * 21
    with time_machine.travel(DAY - datetime.timedelta(days=2), tick=False):
        for n in range(20):
            _book(
                establishment,
                consultation,
                f"LOINTAIN{n}",
                far.replace(hour=9) + ONE_DAY * (n // 6) + datetime.timedelta(minutes=30 * (n % 6)),
            )
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk_week"), _day_query(booked_day, day="2026-12-28"))
        body = page.content.decode()
        assert page.status_code == 200 and "LOINTAIN" not in body
        assert body.count("Name not shown") == 20
        day = client.get(reverse("web:desk"), _day_query(booked_day, day="2026-12-28"))
        assert day.status_code == 200 and "LOINTAIN" not in day.content.decode()
    assert not Exposure.objects.filter(user=secretary).exists()
    secretary.refresh_from_db()
    assert secretary.is_active


def test_another_establishments_desk_is_refused_the_week(
    establishment, other_establishment, booked_day
):
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    with time_machine.travel(DAY, tick=False):
        page = signed_in_client(outsider).get(reverse("web:desk_week"), _day_query(booked_day))
    assert page.status_code == 404 and "MATINAL" not in page.content.decode()


@pytest.fixture
def unit_agendas(establishment, booked_day):
    """A cardiology unit: an agenda placed in it, and a practitioner's agenda without a unit
    whose practitioner works in it; `booked_day`'s agenda is in no unit."""
    unit = Unit.objects.create(establishment=establishment, name="Cardiologie", code="CARD")
    echo = agenda_with_hours(establishment)
    Agenda.objects.filter(pk=echo.agenda_id).update(name="Échographie", unit=unit)
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    Membership.objects.create(user=doctor, establishment=establishment, unit=unit)
    cardiologist = agenda_with_hours(establishment, practitioner_for(doctor))
    Agenda.objects.filter(pk=cardiologist.agenda_id).update(name="Dr Cœur")
    with time_machine.travel(DAY - datetime.timedelta(days=2), tick=False):
        _book(establishment, cardiologist, "CARDIAQUE", DAY.replace(hour=10))
    return unit


def test_the_unit_shows_its_agendas_side_by_side(establishment, booked_day, unit_agendas):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk_unit"), _day_query(booked_day, unit=unit_agendas.pk))
        body = page.content.decode()
        assert page.status_code == 200
        assert [s.agenda.name for s in page.context["board"].sheets] == ["Dr Cœur", "Échographie"]
        assert "CARDIAQUE" in body and "MATINAL" not in body
        # Switching views keeps the agenda and the day.
        assert f"/desk/week/?agenda={booked_day.pk}&amp;day=2026-12-07" in body
        assert f"/desk/?agenda={booked_day.pk}&amp;day=2026-12-07" in body
        # No unit: every agenda of the establishment.
        everything = client.get(reverse("web:desk_unit"), _day_query(booked_day))
        assert len(everything.context["board"].sheets) == 3
        names = everything.content.decode()
        assert all(name in names for name in ("CARDIAQUE", "MATINAL", "TARDIF"))
    assert not Exposure.objects.filter(user=secretary).exists()


def test_another_establishments_desk_is_refused_the_unit(
    establishment, other_establishment, booked_day, unit_agendas
):
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(outsider)
        page = client.get(reverse("web:desk_unit"), {"unit": unit_agendas.pk, "day": "2026-12-07"})
        assert page.status_code == 404 and "CARDIAQUE" not in page.content.decode()
        own = client.get(reverse("web:desk_unit"), {"day": "2026-12-07"})
        assert own.status_code == 200 and own.context["board"].sheets == ()


@pytest.fixture
def waiting(establishment, booked_day):
    """Both patients of the day checked in (tickets 1 and 2); a consultation room."""
    unit = Unit.objects.create(establishment=establishment, name="Consultations", code="C1")
    room = Room.objects.create(unit=unit, name="Cabinet 3")
    waiting_room = WaitingRoom.objects.get()
    desk = _desk(establishment)
    with time_machine.travel(DAY, tick=False):
        for appointment in Appointment.objects.order_by("starts_at"):
            with transaction.atomic(), boundary(desk, "queue.check_in"):
                check_in(actor=desk, appointment_id=appointment.pk, waiting_room_id=waiting_room.pk)
    return waiting_room, room


def test_the_desk_calls_the_next_ticket_to_a_room(establishment, waiting):
    waiting_room, room = waiting
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    with time_machine.travel(DAY + datetime.timedelta(hours=1), tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk_queue"))
        body = page.content.decode()
        assert page.status_code == 200 and "Hall" in body and "Cabinet 3" in body
        (queue,) = page.context["queues"]
        assert [line.number for line in queue.waiting] == [1, 2]
        assert [line.name.split()[0] for line in queue.waiting] == ["MATINAL", "TARDIF"]
        called = client.post(
            reverse("web:desk_call_next"), {"waiting_room": waiting_room.pk, "room": room.pk}
        )
        assert called.status_code == 302
        # Back to the same waiting room's queue, the room kept for the next call.
        assert called["Location"].endswith(f"?waiting_room={waiting_room.pk}&room={room.pk}")
        assert Ticket.objects.get(number=1).state == TicketState.CALLED
        after = client.get(called["Location"])
        assert "Ticket 1 called to Cabinet 3." in after.content.decode()
        (queue,) = after.context["queues"]
        assert [line.number for line in queue.waiting] == [2]
        assert [(line.number, line.room) for line in queue.called] == [(1, "Cabinet 3")]
        swapped = client.post(
            reverse("web:desk_call_next"),
            {"waiting_room": waiting_room.pk, "room": room.pk},
            **HTMX,
        ).content.decode()
        assert "<html" not in swapped and 'id="desk-queue"' in swapped
        assert "Ticket 2 called to Cabinet 3." in swapped
        nobody = client.post(
            reverse("web:desk_call_next"),
            {"waiting_room": waiting_room.pk, "room": room.pk},
            follow=True,
        )
        assert "Nobody is waiting: no ticket was called." in nobody.content.decode()
    assert not Exposure.objects.filter(user=secretary).exists()


def test_another_establishments_desk_cannot_call_or_see_the_queue(
    establishment, other_establishment, waiting
):
    waiting_room, room = waiting
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    elsewhere = Unit.objects.create(establishment=other_establishment, name="Accueil", code="A")
    own_room = Room.objects.create(unit=elsewhere, name="Box 1")
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(outsider)
        for rooms in (
            {"waiting_room": waiting_room.pk, "room": room.pk},
            {"waiting_room": waiting_room.pk, "room": own_room.pk},
        ):
            refused = client.post(reverse("web:desk_call_next"), rooms)
            assert refused.status_code == 404
        page = client.get(reverse("web:desk_queue")).content.decode()
    assert "Hall" not in page and "MATINAL" not in page
    assert not Ticket.objects.filter(state=TicketState.CALLED).exists()


def test_the_confirmation_prints_name_time_place_and_what_to_bring(establishment, booked_day):
    establishment.address = "12 quai Claude-Bernard, 69007"
    establishment.save()
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    first = Appointment.objects.order_by("starts_at").first()
    with time_machine.travel(DAY - ONE_DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk_confirmation", args=[first.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "MATINAL Marie" in body  # used surname, or birth surname, and the first name
    assert "Monday 7 December 2026" in body and ">09:00<" in body  # Europe/Paris, not UTC
    assert "Hôpital Saint-Luc" in body and "12 quai Claude-Bernard, 69007 Lyon" in body
    assert f"Dr {booked_day.practitioner.user.get_full_name()}" in body
    assert "carte Vitale" in body and "mutuelle" in body and "identity document" in body
    assert "data-desk-print" in body and "send_confirmation" not in body
    assert "17/05/1980" not in body and "République" not in body  # no more than the name
    css = (Path(settings.BASE_DIR) / "carnet/web/static/web/carnet.css").read_text()
    assert "@media print" in css and ".desk-print-bar" in css
    assert not Exposure.objects.filter(user=secretary).exists()


def test_the_confirmation_is_a_pdf_of_a_held_appointment_only(
    establishment, other_establishment, booked_day
):
    """The same confirmation as a PDF (carnet/printing): name, time in Paris, place, what to
    bring, never the birth date; none for an appointment no longer held, nothing for a desk
    of another establishment."""
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    first, second = Appointment.objects.order_by("starts_at")[:2]
    with time_machine.travel(DAY - ONE_DAY, tick=False):
        client = signed_in_client(secretary)
        response = client.get(reverse("web:desk_confirmation_pdf", args=[first.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert "MATINAL" not in response["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "MATINAL Marie" in text and "09:00" in text and "7 December 2026" in text
    assert "Hôpital Saint-Luc" in text and "carte Vitale" in text
    assert "17/05/1980" not in text
    Appointment.objects.filter(pk=second.pk).update(state=AppointmentState.CANCELLED_BY_PATIENT)
    with time_machine.travel(DAY - ONE_DAY, tick=False):
        held_no_more = client.get(reverse("web:desk_confirmation_pdf", args=[second.pk]))
        assert held_no_more.status_code == 302 and b"%PDF" not in held_no_more.content
        other = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
        refused = signed_in_client(other).get(reverse("web:desk_confirmation_pdf", args=[first.pk]))
    assert refused.status_code in (403, 404) and b"%PDF" not in refused.content


def test_the_desk_sends_the_confirmation_by_mail_without_clinical_detail(establishment, booked_day):
    from django.core import mail

    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    first = Appointment.objects.order_by("starts_at").first()
    first.consultation_type.motive = "Suivi oncologique"
    first.consultation_type.save()
    with time_machine.travel(DAY - ONE_DAY, tick=False):
        client = signed_in_client(secretary)
        page = client.get(reverse("web:desk_confirmation", args=[first.pk]))
        assert reverse("web:desk_send_confirmation", args=[first.pk]) in page.content.decode()
        sent = client.post(reverse("web:desk_send_confirmation", args=[first.pk]), follow=True)
    assert "Confirmation sent by e-mail" in sent.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["marie.durand@example.fr"]
    text = message.subject + message.body
    assert "Hôpital Saint-Luc" in text and "/portal/" in text
    assert booked_day.practitioner.user.last_name not in text
    assert "oncolog" not in text.lower()


def test_another_establishments_desk_is_refused_the_confirmation(
    establishment, other_establishment, booked_day
):
    outsider = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    first = Appointment.objects.order_by("starts_at").first()
    with time_machine.travel(DAY, tick=False):
        page = signed_in_client(outsider).get(reverse("web:desk_confirmation", args=[first.pk]))
    assert page.status_code == 404 and "MATINAL" not in page.content.decode()
    assert "09:00" not in page.content.decode()


def test_the_pages_carry_the_keyboard_script_and_its_hint(establishment, booked_day):
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    script = f"{settings.STATIC_URL}web/desk.js"
    with time_machine.travel(DAY, tick=False):
        client = signed_in_client(secretary)
        for name in ("web:desk", "web:desk_week", "web:desk_unit"):
            body = client.get(reverse(name), _day_query(booked_day)).content.decode()
            assert script in body and "data-desk-keys" in body, name
            for marker in ("data-desk-today", "data-desk-next", "data-desk-prev", "data-desk-item"):
                assert marker in body, (name, marker)
    source = (Path(settings.BASE_DIR) / "carnet/web/static/web/desk.js").read_text()
    assert "input, textarea, select" in source  # keys never fire while typing
