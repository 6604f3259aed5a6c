"""A patient and a waiting room, in a real browser: the desk prints a sign-up code, the
patient creates an account with it and the birth date, books online, cancels; the waiting
room's screen shows the called ticket and its room within seconds, and never a name.

Selectors use names, ids and URLs, never visible text (the pages are French by default)."""

import datetime
import re

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.organisations.models import Room, Unit
from carnet.scheduling.models import Appointment, AppointmentState, WaitingRoom
from carnet.scheduling.queue import call_next, check_in, register_screen
from carnet.scheduling.services import book_appointment
from carnet.scheduling.slots import free_slots

from ..factories import EstablishmentFactory, agenda_with_hours, make_patient, totp_device
from .signing import sign_in, staff_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BIRTH = datetime.date(1980, 5, 17)
PATIENT_PASSWORD = "une phrase de passe assez longue"


def test_a_patient_signs_up_with_the_desks_code_books_online_and_cancels(
    live_server, page, other_page, shoot
):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    doctor = staff_account("dr.lefevre", Role.PRACTITIONER, establishment, last_name="Lefèvre")
    consultation = agenda_with_hours(
        establishment, doctor.practitioner, online=True, notice_hours=2, cancel_notice_hours=1
    )
    patient_id = make_patient(establishment, birth_surname="GIRAUD", first_names="Élise")
    make_patient(establishment, birth_surname="SECRETNOM", first_names="Autre")
    secretary = staff_account("s.morel", Role.SECRETARY, establishment)
    base = live_server.url

    # The desk gives the code on a letter.
    sign_in(page, base, secretary, totp_device(secretary))
    page.goto(f"{base}/patients/{patient_id}/")
    page.click(f"form[action='/patients/{patient_id}/portal-code/'] button[type=submit]")
    expect(page.locator(".letter-code")).to_be_visible()
    shoot("portal-01-letter")
    code = page.inner_text(".letter-code").strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)

    # The patient, at home, creates the account.
    patient = other_page
    patient.goto(f"{base}/portal/sign-up/")
    patient.fill("input[name=code]", code.lower())
    patient.fill("input[name=birth_date]", BIRTH.isoformat())
    patient.fill("input[name=email]", "elise.giraud@example.fr")
    patient.fill("input[name=password]", PATIENT_PASSWORD)
    patient.fill("input[name=password_again]", PATIENT_PASSWORD)
    shoot("portal-02-sign-up", on=patient)
    patient.click("form:has(input[name=code]) button[type=submit]")
    patient.wait_for_url(f"{base}/portal/")
    expect(patient.locator("h1")).to_contain_text("GIRAUD")

    # Books the first free time online.
    patient.goto(f"{base}/portal/book/")
    patient.click("form:has(select[name=specialty]) button[type=submit]")
    first_slot = patient.locator("a.slot").first
    expect(first_slot).to_be_visible()
    body = patient.content()
    assert "SECRETNOM" not in body and "Autre" not in body
    shoot("portal-03-slots", on=patient)
    first_slot.click()
    patient.wait_for_url(re.compile(r".*/portal/book/confirm/.*"))
    patient.fill("textarea[name=visit_reason]", "Essoufflement à l'effort")
    patient.check("input[name=first_visit][value=yes]")
    shoot("portal-04-confirm", on=patient)
    patient.click("form:has(input[name=start]) button[type=submit]")
    patient.wait_for_url(re.compile(r".*/portal/appointments/[0-9a-f-]+/$"))
    appointment = Appointment.objects.get(patient_id=patient_id)
    assert appointment.consultation_type_id == consultation.pk
    assert appointment.state == AppointmentState.BOOKED and appointment.first_visit is True
    shoot("portal-05-appointment", on=patient)

    # Cancels it, with a reason.
    patient.select_option("select[name=reason]", "unavailable")
    patient.click("form:has(select[name=reason]) button[type=submit]")
    patient.wait_for_url(f"{base}/portal/")
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CANCELLED_BY_PATIENT
    assert appointment.history.last().reason == "cancelled on the portal: unavailable"

    # And sees who opened the record: the secretary who printed the letter.
    patient.goto(f"{base}/portal/history/")
    expect(patient.locator(".history-day")).to_contain_text(secretary.last_name)
    shoot("portal-06-history", on=patient)


def _next_weekday_slot(consultation):
    day = timezone.localdate() + datetime.timedelta(days=1)
    slots = free_slots(consultation_type=consultation, first_day=day, days=7)
    return slots[0].starts_at


def test_the_screen_shows_the_called_ticket_and_its_room_never_a_name(live_server, page, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    unit = Unit.objects.create(establishment=establishment, name="Cardiologie", code="CAR")
    room = Room.objects.create(unit=unit, name="Box 3")
    waiting_room = WaitingRoom.objects.create(establishment=establishment, name="Hall A")
    consultation = agenda_with_hours(establishment, motive="Suivi oncologique")
    patient_id = make_patient(establishment, birth_surname="SECRETNOM", first_names="Cachée")
    token = register_screen(waiting_room=waiting_room, name="Écran hall")

    page.goto(f"{live_server.url}/screen/{token}/")
    shoot("screen-01-empty")

    desk = staff_account("s.morel", Role.SECRETARY, establishment)
    secretary = Actor(
        user_id=desk.pk,
        username=desk.username,
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
        approved=True,
    )
    with transaction.atomic(), boundary(secretary, "desk.book"):
        appointment = book_appointment(
            actor=secretary,
            consultation_type_id=consultation.pk,
            patient_id=patient_id,
            starts_at=_next_weekday_slot(consultation),
        )
    # A check-in is accepted on the appointment's day only: the patient comes that day.
    with time_machine.travel(appointment.starts_at - datetime.timedelta(minutes=5), tick=False):
        with transaction.atomic(), boundary(secretary, "desk.check_in"):
            ticket = check_in(
                actor=secretary, appointment_id=appointment.pk, waiting_room_id=waiting_room.pk
            )
        with transaction.atomic(), boundary(secretary, "desk.call_next"):
            call_next(actor=secretary, waiting_room_id=waiting_room.pk, room_id=room.pk)

    # No reload: the board polls and shows the number and the room within a few seconds.
    board = page.locator("main, body").first
    expect(board).to_contain_text(str(ticket.number), timeout=6_000)
    expect(board).to_contain_text("Box 3")
    shoot("screen-02-called")
    text = page.content()
    for secret in ("SECRETNOM", "Cachée", "1980", "17/05", "Suivi oncologique", "oncolog"):
        assert secret not in text
