"""The desk and the chart on a phone (390 px wide, an iPhone's width) and on a tablet (768 px):
the page never scrolls sideways, and what the page is for stays reachable (the desk's sheet
and booking, the chart's summary and notes). Screenshots go to test-artifacts/phone-*.png.

Selectors use classes, names and URLs, never visible text."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.scheduling.models import Agenda, ConsultationType, OpeningHours
from carnet.scheduling.services import book_appointment
from carnet.scheduling.slots import free_slots

from ..clinical_helpers import consultation, in_care
from ..factories import EstablishmentFactory, make_patient, totp_device
from .signing import sign_in, staff_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.working_hours(10, 0),
]

WIDTHS = (390, 768)


def _sideways(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def _too_wide(page) -> list[str]:
    """The outermost elements reaching past the right edge (what to fix when this fails)."""
    return page.evaluate(
        """() => {
        const edge = document.documentElement.clientWidth;
        const out = [];
        for (const e of document.querySelectorAll('body *')) {
            const r = e.getBoundingClientRect();
            if (r.right > edge + 1 && !(e.parentElement && e.parentElement.getBoundingClientRect().right > edge + 1)) {
                out.push(e.tagName.toLowerCase() + '.' + [...e.classList].join('.') + ' ' + Math.round(r.right));
            }
        }
        return out.slice(0, 12);
    }"""
    )


def test_the_desk_on_a_phone_and_a_tablet(page, live_server, shoot):
    establishment = EstablishmentFactory(name="Clinique des Tilleuls")
    secretary = staff_account("c.petit", Role.SECRETARY, establishment)
    device = totp_device(secretary)
    agenda = Agenda.objects.create(establishment=establishment, kind="resource", name="Radiologie")
    OpeningHours.objects.bulk_create(
        OpeningHours(agenda=agenda, weekday=day, opens=datetime.time(8), closes=datetime.time(18))
        for day in range(7)
    )
    visit = ConsultationType.objects.create(agenda=agenda, motive="Radiographie", minutes=15)
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    today = timezone.localdate()
    for n, slot in enumerate(free_slots(consultation_type=visit, first_day=today, days=1)[:4]):
        with transaction.atomic(), boundary(desk, "scheduling.book"):
            book_appointment(
                actor=desk,
                consultation_type_id=visit.pk,
                patient_id=make_patient(establishment, birth_surname=f"TELEPHONE{n}"),
                starts_at=slot.starts_at,
            )
    base = live_server.url
    sign_in(page, base, secretary, device)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        for name, path in (
            ("day", f"/desk/?agenda={agenda.pk}&day={today.isoformat()}"),
            ("week", f"/desk/week/?agenda={agenda.pk}"),
        ):
            page.goto(base + path)
            assert page.locator("main").is_visible()
            shoot(f"phone-desk-{name}-{width}")
            assert _sideways(page) <= 0, (name, width, _too_wide(page))
        # A free slot opens the booking panel, within the screen.
        page.goto(base + f"/desk/?agenda={agenda.pk}&day={today.isoformat()}")
        page.locator("a.slot[href*='/desk/book/']").first.click()
        page.wait_for_selector("#desk-book-panel form")
        shoot(f"phone-desk-book-{width}")
        assert _sideways(page) <= 0, ("booking panel", width, _too_wide(page))


def test_the_chart_on_a_phone_and_a_tablet(page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    doctor = staff_account("dr.leroy", Role.PRACTITIONER, establishment, last_name="Leroy")
    device = totp_device(doctor)
    patient = make_patient(establishment, birth_surname="MOBILE")
    in_care(patient, doctor)
    consultation(doctor, patient, reason="Bilan de dyspnée d'effort")
    base = live_server.url
    sign_in(page, base, doctor, device)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        page.goto(f"{base}/patients/{patient}/chart/")
        assert page.locator("main").is_visible()
        shoot(f"phone-chart-{width}")
        assert _sideways(page) <= 0, ("chart", width, _too_wide(page))
