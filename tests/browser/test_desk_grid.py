"""The week as a time grid, in a real browser: two agendas side by side within each day, each
appointment a block over its time, coloured by visit type, named as the desk may name it
(this week's patients: names; the free slots bookable); at 1280 and 768 pixels wide, and at
768 the page never scrolls sideways.

Selectors use classes, data attributes and URLs, never visible text."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.scheduling.models import Agenda, ConsultationType, OpeningHours
from carnet.scheduling.services import book_appointment
from carnet.scheduling.slots import free_slots

from ..factories import EstablishmentFactory, make_patient, totp_device
from .signing import sign_in, staff_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.working_hours(10, 0),
]


def _agenda(establishment, name: str, motives: list[tuple[str, int]]) -> list[ConsultationType]:
    agenda = Agenda.objects.create(establishment=establishment, kind="resource", name=name)
    OpeningHours.objects.bulk_create(
        OpeningHours(agenda=agenda, weekday=day, opens=datetime.time(8), closes=datetime.time(18))
        for day in range(6)
    )
    return [
        ConsultationType.objects.create(agenda=agenda, motive=motive, minutes=minutes)
        for motive, minutes in motives
    ]


def _shown_week() -> tuple[datetime.date, int]:
    """The first day to book on and how many days are left in its week: this week from
    today, or next week when today is a Saturday or a Sunday (the agendas open Monday to
    Saturday), so that the week the grid shows holds every booking, all within seven days
    (in the desk's window)."""
    today = timezone.localdate()
    first = today if today.weekday() < 5 else today + datetime.timedelta(days=7 - today.weekday())
    return first, 7 - first.weekday()


def test_the_week_grid_at_desk_and_tablet_widths(page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    secretary = staff_account("j.moreau", Role.SECRETARY, establishment)
    device = totp_device(secretary)
    cardio = _agenda(establishment, "Dr Martin — Cardiologie", [("Consultation", 30)])
    echo = _agenda(establishment, "Échographie", [("Écho cardiaque", 20), ("Doppler", 40)])
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    first, days = _shown_week()
    booked = 0
    for types in (cardio, echo):
        for n, consultation in enumerate(types):
            slots = free_slots(consultation_type=consultation, first_day=first, days=days)
            for slot in slots[n * 3 : n * 3 + 9 : 3]:
                with transaction.atomic(), boundary(desk, "scheduling.book"):
                    book_appointment(
                        actor=desk,
                        consultation_type_id=consultation.pk,
                        patient_id=make_patient(
                            establishment, birth_surname=f"GRILLE{booked}", first_names="Anne"
                        ),
                        starts_at=slot.starts_at,
                    )
                booked += 1
    base = live_server.url
    sign_in(page, base, secretary, device)
    week = f"{base}/desk/week/?agenda={cardio[0].agenda_id}&also={echo[0].agenda_id}&day={first}"
    page.goto(week)
    grid = page.locator(".desk-grid.desk-week")
    expect(grid.locator(".desk-column")).to_have_count(7)
    blocks = grid.locator(".desk-entry.appointment")
    expect(blocks).to_have_count(booked)
    # Named as on the day's sheet: these patients are all within the desk's window.
    expect(grid.locator(".desk-entry.appointment .desk-entry-name .muted")).to_have_count(0)
    expect(grid.locator(".desk-entry.appointment.gl-2")).to_have_count(6)  # echography lane
    expect(grid.locator(".desk-entry.free").first).to_be_visible()
    # Three visit types, three colours; a 40-minute block is twice a 20-minute one.
    colours = set(
        grid.locator(".desk-entry.appointment").evaluate_all(
            "items => items.map(e => getComputedStyle(e).borderLeftColor)"
        )
    )
    assert len(colours) == 3
    heights = {
        cls: grid.locator(f".desk-entry.appointment.gs-{span}").first.bounding_box()["height"]
        for cls, span in (("short", 4), ("long", 8))
    }
    assert abs(heights["long"] - 2 * heights["short"]) < 4, heights
    shoot("desk-grid-week-1280")

    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(week)
    expect(grid.locator(".desk-column")).to_have_count(7)
    sideways = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert sideways <= 0, f"the page scrolls {sideways}px sideways at 768px"
    shoot("desk-grid-week-768")


def test_walk_in_next_free_slot_move_and_the_printed_day(page, live_server, shoot):
    """The sheet's tools in a browser: a walk-in joins the day through the booking panel
    (no reload), the next free slot of a specialty, the move form, the day list as printed."""
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    secretary = staff_account("j.moreau", Role.SECRETARY, establishment)
    device = totp_device(secretary)
    doctor = staff_account("dr.martin", Role.PRACTITIONER, establishment, last_name="Martin")
    doctor.practitioner.specialty = "Cardiologie"
    doctor.practitioner.save()
    agenda = Agenda.objects.create(
        establishment=establishment,
        kind="practitioner",
        practitioner=doctor.practitioner,
        name="Dr Martin — Cardiologie",
    )
    OpeningHours.objects.bulk_create(
        OpeningHours(
            agenda=agenda, weekday=day, opens=datetime.time(0), closes=datetime.time(23, 59)
        )
        for day in range(7)
    )
    consultation = ConsultationType.objects.create(agenda=agenda, motive="Consultation", minutes=20)
    from carnet.scheduling.models import WaitingRoom

    WaitingRoom.objects.create(establishment=establishment, name="Accueil")
    make_patient(establishment, birth_surname="PASSANT", birth_date=datetime.date(1975, 3, 2))
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    slot = free_slots(consultation_type=consultation, first_day=timezone.localdate(), days=1)[2]
    with transaction.atomic(), boundary(desk, "scheduling.book"):
        booked = book_appointment(
            actor=desk,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="RENDEZVOUS"),
            starts_at=slot.starts_at,
        )
    base = live_server.url
    sign_in(page, base, secretary, device)
    page.goto(f"{base}/desk/?agenda={agenda.pk}")
    page.click("[data-desk-walk-in]")
    panel = page.locator("#desk-book-panel")
    panel.locator("input[name=surname]").fill("PASSANT")
    panel.locator("input[name=birth_date]").fill("1975-03-02")
    panel.locator("input[name=birth_date]").press("Enter")
    panel.locator("[data-desk-book-first]").click()
    expect(page.locator("#desk-sheet .notice.success")).to_be_visible()
    expect(page.locator("#desk-sheet tr.state-arrived")).to_have_count(1)
    shoot("desk-tools-01-walk-in")

    page.goto(f"{base}/desk/next-free/?specialty=Cardiologie")
    expect(page.locator(".desk-next tbody tr").first).to_be_visible()
    shoot("desk-tools-02-next-free")

    page.goto(f"{base}/desk/{booked.pk}/move/")
    page.locator(".desk-move-slots input[type=radio]").nth(3).check()
    shoot("desk-tools-03-move")
    page.locator(".desk-move button[type=submit]").click()
    page.wait_for_url(lambda url: "/desk/?agenda=" in url)
    expect(page.locator("#desk-sheet tr.state-booked")).to_have_count(1)
    expect(page.locator("#desk-sheet tr.state-cancelled_establishment")).to_have_count(1)
    shoot("desk-tools-04-moved")

    page.goto(f"{base}/desk/print/?agenda={agenda.pk}")
    page.emulate_media(media="print")
    expect(page.locator(".desk-print-bar")).to_be_hidden()
    expect(page.locator(".desk-day-list-table tbody tr")).to_have_count(3)
    shoot("desk-tools-05-day-list-print")
    page.emulate_media(media="screen")


def test_dragging_an_appointment_onto_a_free_slot_moves_it(page, live_server, shoot):
    from carnet.scheduling.models import Appointment, AppointmentState

    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    secretary = staff_account("j.moreau", Role.SECRETARY, establishment)
    device = totp_device(secretary)
    (consultation,) = _agenda(establishment, "Échographie", [("Écho", 30)])
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    first, days = _shown_week()
    slots = free_slots(consultation_type=consultation, first_day=first, days=days)
    with transaction.atomic(), boundary(desk, "scheduling.book"):
        booked = book_appointment(
            actor=desk,
            consultation_type_id=consultation.pk,
            patient_id=make_patient(establishment, birth_surname="GLISSE"),
            starts_at=slots[0].starts_at,
        )
    base = live_server.url
    sign_in(page, base, secretary, device)
    week = f"/desk/week/?agenda={consultation.agenda_id}&day={first}"
    page.goto(f"{base}{week}")
    block = page.locator(f"[data-desk-move-url$='/{booked.pk}/move/']")
    target = page.locator(
        f"[data-desk-drop='{timezone.localtime(slots[3].starts_at).isoformat()}']"
    )
    expect(block).to_be_visible()
    block.drag_to(target)
    page.wait_for_load_state()
    expect(page.locator(".desk-grid .desk-entry.appointment")).to_have_count(1)
    assert page.url == f"{base}{week}"
    moved = Appointment.objects.get(state=AppointmentState.BOOKED)
    assert moved.starts_at == slots[3].starts_at and moved.pk != booked.pk
    shoot("desk-grid-dragged")
