"""A secretary's morning at the desk, in a real browser: sign in, open the day, move to a free
slot with the keyboard, find the patient and book in a few keystrokes, print the
confirmation, check her in (the ticket number shows, the page is not reloaded), look at the
week and the unit, and call the next ticket to a room from the queue page.

Selectors use names, ids, data attributes and URLs, never visible text: the pages are French
by default and their translations change."""

import datetime
import re

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.organisations.models import Room, Unit
from carnet.scheduling.models import (
    Agenda,
    Appointment,
    ConsultationType,
    OpeningHours,
    Ticket,
    TicketState,
    WaitingRoom,
)
from carnet.scheduling.services import book_appointment
from carnet.scheduling.slots import free_slots
from carnet.staff.models import Membership

from ..factories import EstablishmentFactory, make_patient, totp_device
from .signing import sign_in, staff_account

# A morning at the desk: the agendas below have free slots left today.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.working_hours(10, 0),
]

BIRTH_DATE = datetime.date(1980, 5, 17)


def _agenda_open_around_now(establishment, practitioner, name: str = "") -> ConsultationType:
    """Open every day from two hours before the test's moment to three hours after it."""
    now = timezone.localtime()
    agenda = Agenda.objects.create(
        establishment=establishment,
        kind="practitioner" if practitioner else "resource",
        name=name or f"Dr {practitioner.user.get_full_name()} — Cardiologie",
        practitioner=practitioner,
    )
    opens = datetime.time(max(now.hour - 2, 0))
    closes = datetime.time(min(now.hour + 3, 23), 59)
    OpeningHours.objects.bulk_create(
        OpeningHours(agenda=agenda, weekday=day, opens=opens, closes=closes) for day in range(7)
    )
    return ConsultationType.objects.create(agenda=agenda, motive="Consultation", minutes=15)


def _focused(page) -> dict:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            return {tag: el.tagName, name: el.getAttribute("name"),
                    item: el.hasAttribute("data-desk-item"), href: el.getAttribute("href")};
        }"""
    )


def _wait_for_htmx(page) -> None:
    expect(page.locator(".htmx-request")).to_have_count(0)


def test_book_check_in_and_call_the_next_ticket(page, live_server, shoot):
    establishment = EstablishmentFactory(
        name="Hôpital Saint-Luc", city="Lyon", address="12 quai Claude-Bernard, 69007"
    )
    secretary = staff_account(
        "j.moreau", Role.SECRETARY, establishment, first_name="Julie", last_name="Moreau"
    )
    device = totp_device(secretary)
    doctor = staff_account(
        "dr.martin", Role.PRACTITIONER, establishment, first_name="Claire", last_name="Martin"
    )
    consultation = _agenda_open_around_now(establishment, doctor.practitioner)
    unit = Unit.objects.create(establishment=establishment, name="Cardiologie", code="CARD")
    room = Room.objects.create(unit=unit, name="Cabinet 2")
    Room.objects.create(unit=unit, name="Salle d'écho")
    WaitingRoom.objects.create(establishment=establishment, name="Accueil")
    # The cardiologist works in the unit; the echography room's agenda is placed in it.
    Membership.objects.create(user=doctor, establishment=establishment, unit=unit)
    echo = _agenda_open_around_now(establishment, None, name="Échographie")
    Agenda.objects.filter(pk=echo.agenda_id).update(unit=unit)
    patient = make_patient(establishment, birth_surname="DURAND", birth_date=BIRTH_DATE)
    # Someone booked earlier, a row of the day before the free slots.
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    first_free = free_slots(consultation_type=consultation, first_day=timezone.localdate(), days=1)[
        0
    ]
    with transaction.atomic(), boundary(desk, "scheduling.book"):
        book_appointment(
            actor=desk,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="LEBRUN", first_names="Paul"),
            starts_at=first_free.starts_at,
        )
    base = live_server.url

    sign_in(page, base, secretary, device)
    page.goto(f"{base}/desk/")
    expect(page.locator("[data-desk-keys]")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    shoot("desk-01-day")

    # j focuses the booked row, j again the first free slot; Enter opens the booking panel
    # with the search field focused.
    page.keyboard.press("j")
    assert _focused(page)["tag"] == "TR"
    page.keyboard.press("j")
    slot = _focused(page)
    assert slot["item"] and slot["href"].startswith("/desk/book/")
    page.keyboard.press("Enter")
    expect(page.locator("#desk-book-panel [data-desk-search]")).to_be_visible()
    _wait_for_htmx(page)
    # The focus moves once htmx has settled the swap: wait for it rather than read it at once.
    expect(page.locator("#desk-book-panel input[name=surname]")).to_be_focused()
    expect(page.locator("a.slot[aria-current]")).to_have_count(1)
    # Esc closes the panel and gives the focus back to the slot; Enter opens it again.
    page.keyboard.press("Escape")
    expect(page.locator("#desk-book-panel")).to_be_empty()
    assert _focused(page)["href"] == slot["href"]
    page.keyboard.press("Enter")
    _wait_for_htmx(page)
    expect(page.locator("#desk-book-panel input[name=surname]")).to_be_focused()
    # Typing a shortcut letter in a field types it; it does not change the day.
    page.keyboard.type("DUR n")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    assert page.input_value("#desk-book-panel input[name=surname]") == "DUR"
    assert page.url == f"{base}/desk/"
    # "/" brings the search back from anywhere on the page.
    page.locator("main h1").click()
    page.keyboard.press("/")
    assert _focused(page)["name"] == "surname"
    page.fill("#desk-book-panel input[name=birth_date]", BIRTH_DATE.isoformat())
    page.locator("#desk-book-panel input[name=birth_date]").press("Enter")
    expect(page.locator("#desk-book-panel [data-desk-book-first]")).to_be_focused()
    shoot("desk-02-booking-panel")
    page.keyboard.press("Enter")  # books for the first match
    _wait_for_htmx(page)
    expect(page.locator("#desk-sheet .notice.success")).to_be_visible()
    appointment = Appointment.objects.get(patient_id=patient)
    row = page.locator(f"#a-{appointment.pk}")
    expect(row).to_be_focused()
    expect(page.locator("#desk-book-panel")).to_be_empty()
    shoot("desk-03-booked")

    # The confirmation, on screen and as it prints.
    page.click("#desk-sheet .notice.success a[href$='/confirmation/']")
    page.wait_for_url(f"{base}/desk/{appointment.pk}/confirmation/")
    expect(page.locator("[data-desk-print]")).to_be_visible()
    assert "DURAND" in page.inner_text(".desk-confirmation")
    shoot("desk-04-confirmation")
    page.emulate_media(media="print")
    expect(page.locator(".desk-print-bar")).to_be_hidden()
    expect(page.locator(".topbar")).to_be_hidden()
    shoot("desk-05-confirmation-print")
    page.emulate_media(media="screen")
    page.go_back()
    page.wait_for_url(re.compile(re.escape(f"{base}/desk/")))
    page.evaluate("window.__sameDocument = true")

    # Check in: the sheet is swapped in place, the ticket number is on the row.
    row = page.locator(f"#a-{appointment.pk}")
    row.locator("form[action$='/check-in/'] button[type=submit]").click()
    _wait_for_htmx(page)
    expect(row.locator(".ticket strong")).to_have_text("1")
    expect(page.locator("#desk-sheet .notice.success")).to_contain_text("1")
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    assert Ticket.objects.get(appointment=appointment).number == 1
    shoot("desk-06-checked-in")

    # The week and the unit keep the agenda and the day; n and p step a week.
    page.click(".desk-views a[href^='/desk/week/']")
    page.wait_for_url(re.compile(r"/desk/week/\?agenda=\d+&day="))
    expect(page.locator(".desk-week .desk-column")).to_have_count(7)
    expect(page.locator(".desk-week .desk-column.today")).to_have_count(1)
    expect(page.locator(".desk-week .desk-column.today .desk-entry.appointment")).to_have_count(2)
    shoot("desk-07-week")
    page.keyboard.press("n")
    next_monday = timezone.localdate() + datetime.timedelta(days=7 - timezone.localdate().weekday())
    page.wait_for_url(re.compile(rf"day={next_monday.isoformat()}"))
    page.keyboard.press("t")
    page.wait_for_url(re.compile(r"/desk/week/\?agenda=\d+$"))
    page.click(".desk-views a[href^='/desk/unit/']")
    page.wait_for_url(re.compile(r"/desk/unit/\?agenda=\d+&day="))
    expect(page.locator(".desk-unit .desk-column")).to_have_count(2)
    page.select_option(".desk-nav select[name=unit]", str(unit.pk))
    page.click(".desk-nav button[type=submit]")
    page.wait_for_url(re.compile(rf"/desk/unit/\?agenda=\d+&unit={unit.pk}&day="))
    expect(page.locator(".desk-unit .desk-column")).to_have_count(2)
    shoot("desk-08-unit")

    # The queue: one waiting, called to a room; then nobody waits.
    page.goto(f"{base}/desk/queue/")
    expect(page.locator(".desk-queue-room")).to_have_count(1)
    expect(page.locator(".desk-waiting strong")).to_have_text("1")
    shoot("desk-09-queue")
    page.select_option("select[name=room]", str(room.pk))
    page.click("form[action='/desk/queue/call/'] button[type=submit]")
    _wait_for_htmx(page)
    expect(page.locator("#desk-queue .notice.success")).to_be_visible()
    expect(page.locator(".desk-waiting strong")).to_have_text("0")
    ticket = Ticket.objects.get(appointment=appointment)
    assert ticket.state == TicketState.CALLED and ticket.room_id == room.pk
    expect(page.locator("select[name=room]")).to_have_value(str(room.pk))
    shoot("desk-10-queue-called")
    page.click("form[action='/desk/queue/call/'] button[type=submit]")
    _wait_for_htmx(page)
    expect(page.locator("#desk-queue .notice.warning")).to_be_visible()
