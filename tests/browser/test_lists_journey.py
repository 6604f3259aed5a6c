"""The lists of the day in a real browser: a nurse's dashboard opens on her unit's census (rooms,
patients, what is due), a practitioner's on his day and his results to review, the critical one
first, which he marks as read in one click. Both pages read at 1280 px and at 768 px without
scrolling sideways.

Selectors use names, ids, data attributes and URLs, never visible text: the pages are French
by default and their translations change."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from carnet.clinical.encounters import admit
from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.laboratory import catalogue
from carnet.laboratory.models import LabResult, ResultAcknowledgement
from carnet.organisations.models import Room, Unit
from carnet.scheduling.models import Agenda, ConsultationType, OpeningHours
from carnet.scheduling.services import book_appointment
from carnet.scheduling.slots import free_slots
from carnet.staff.models import Membership

from ..clinical_helpers import as_actor
from ..factories import EstablishmentFactory, make_patient, totp_device
from ..laboratory_fixtures import Lab
from .signing import sign_in, staff_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.working_hours(10, 0),
]

HB, K, GLU = "718-7", "2823-3", "2345-7"
WIDE = {"width": 1280, "height": 850}
NARROW = {"width": 768, "height": 1000}


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _both_widths(page, shoot, name: str) -> None:
    for label, size in (("1280", WIDE), ("768", NARROW)):
        page.set_viewport_size(size)
        _no_sideways_scroll(page)
        shoot(f"{name}-{label}", on=page)
    page.set_viewport_size(WIDE)


def _wait_for_htmx(page) -> None:
    expect(page.locator(".htmx-request")).to_have_count(0)
    expect(page.locator(".lists-loading")).to_have_count(0)


def _agenda_open_around_now(establishment, practitioner) -> ConsultationType:
    now = timezone.localtime()
    agenda = Agenda.objects.create(
        establishment=establishment,
        kind="practitioner",
        name="Consultations de cardiologie",
        practitioner=practitioner,
    )
    OpeningHours.objects.bulk_create(
        OpeningHours(
            agenda=agenda,
            weekday=day,
            opens=datetime.time(max(now.hour - 2, 0)),
            closes=datetime.time(min(now.hour + 3, 23), 59),
        )
        for day in range(7)
    )
    return ConsultationType.objects.create(agenda=agenda, motive="Suivi", minutes=30)


def test_a_nurse_reads_her_census_and_a_practitioner_his_results(
    page, other_page, live_server, shoot
):
    catalogue.ensure_loaded()
    hospital = EstablishmentFactory(name="Hôpital Saint-Luc", city="Lyon")
    laboratory = EstablishmentFactory(
        name="Laboratoire Saint-Luc", kind="laboratory", group=hospital.group
    )
    cardio = Unit.objects.create(establishment=hospital, name="Cardiologie", code="CARD")
    pneumo = Unit.objects.create(establishment=hospital, name="Pneumologie", code="PNEU")
    secretary = staff_account("j.moreau", Role.SECRETARY, hospital, last_name="Moreau")
    nurse = staff_account("a.leroy", Role.NURSE, hospital, first_name="Anne", last_name="Leroy")
    Membership.objects.create(user=nurse, establishment=hospital, unit=cardio)
    doctor = staff_account(
        "dr.martin", Role.PRACTITIONER, hospital, first_name="Claire", last_name="Martin"
    )
    tech_a = staff_account("l.bernard", Role.LAB_TECHNICIAN, laboratory, last_name="Bernard")
    tech_b = staff_account("i.roche", Role.LAB_TECHNICIAN, laboratory, last_name="Roche")
    people = [
        ("DURAND", "Marie Louise", "F", "12", "Décompensation cardiaque globale"),
        ("LEFEBVRE", "Jean", "M", "14", "Douleur thoracique, surveillance scopée"),
        ("MOREAU", "Lucie", "F", "", "Fibrillation atriale rapide"),
    ]
    patients = []
    for surname, first, sex, room, reason in people:
        patient = make_patient(hospital, birth_surname=surname, first_names=first, sex=sex)
        relate(patient_id=patient, kind=RelationshipKind.TREATING_DOCTOR, user_id=doctor.pk)
        room_id = Room.objects.create(unit=cardio, name=room).pk if room else None
        as_actor(
            doctor,
            "tests.admit",
            lambda actor, patient=patient, room_id=room_id, reason=reason: admit(
                actor=actor,
                patient_id=patient,
                unit_id=cardio.pk,
                room_id=room_id,
                reason=reason,
                practitioner_user_id=doctor.pk,
            ),
        )
        patients.append(patient)
    # A patient of the other unit: the nurse never sees her.
    elsewhere = make_patient(hospital, birth_surname="AILLEURS", sex="F")
    relate(patient_id=elsewhere, kind=RelationshipKind.ENCOUNTER, user_id=doctor.pk)
    as_actor(
        doctor,
        "tests.admit",
        lambda actor: admit(actor=actor, patient_id=elsewhere, unit_id=pneumo.pk, reason="Asthme"),
    )

    lab = Lab(hospital, laboratory, laboratory, doctor, tech_a, tech_b, tech_b, patients[0])
    lab.done({HB: "13.2"})
    critical = lab.done({K: "6.9"})
    lab.patient = patients[1]
    lab.done({GLU: "1.52"})
    lab.order(HB, K, priority="urgent")

    consultation = _agenda_open_around_now(hospital, doctor.practitioner)
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({hospital.pk}),
    )
    slots = free_slots(consultation_type=consultation, first_day=timezone.localdate(), days=1)
    people = (("PETIT", "Hugo"), ("GARNIER", "Sophie"), ("ROUX", "Camille"))
    for slot, (surname, first) in zip(slots[1:4], people, strict=True):
        with transaction.atomic(), boundary(desk, "scheduling.book"):
            book_appointment(
                actor=desk,
                consultation_type_id=consultation.pk,
                patient_id=make_patient(hospital, birth_surname=surname, first_names=first),
                starts_at=slot.starts_at,
            )
    base = live_server.url

    # The nurse's home is her unit's census.
    sign_in(page, base, nurse, totp_device(nurse))
    _wait_for_htmx(page)
    card = page.locator("[data-card=census]")
    expect(card.locator("tr[data-census-row]")).to_have_count(3)
    expect(card.locator(f"tr[data-patient='{elsewhere}']")).to_have_count(0)
    expect(card.locator(f"tr[data-patient='{patients[1]}'] [data-due=collect]")).to_have_count(1)
    _both_widths(page, shoot, "lists-01-nurse-dashboard")
    card.locator(".lists-card-head a").click()
    page.wait_for_url(f"{base}/lists/census/")
    expect(page.locator("tr[data-census-row]")).to_have_count(3)
    _both_widths(page, shoot, "lists-02-census")

    # The practitioner's home: his day, then his results to review, the critical one first.
    sign_in(other_page, base, doctor, totp_device(doctor))
    _wait_for_htmx(other_page)
    expect(other_page.locator("[data-card=day] tr[data-appointment]")).to_have_count(3)
    rows = other_page.locator("[data-card=results] tr[data-result]")
    expect(rows).to_have_count(3)
    first = LabResult.objects.get(item__order=critical)
    expect(rows.first).to_have_attribute("data-result", str(first.pk))
    expect(rows.first).to_have_class("lists-critical")
    _both_widths(other_page, shoot, "lists-03-practitioner-dashboard")

    rows.first.locator("button[data-acknowledge]").click()
    expect(rows).to_have_count(2)
    assert ResultAcknowledgement.objects.filter(result=first, user=doctor).exists()
    other_page.goto(f"{base}/lists/results/")
    expect(other_page.locator(f"tr[data-result='{first.pk}']")).to_have_count(0)
    expect(other_page.locator("tr[data-result]")).to_have_count(2)
    _both_widths(other_page, shoot, "lists-04-results-to-review")

    # The desk's day sheet of the same day, on screen and as printed.
    page.click("form[action='/logout/'] button[type=submit]")
    page.wait_for_url("**/login/**")
    sign_in(page, base, secretary, totp_device(secretary))
    _wait_for_htmx(page)
    expect(page.locator("[data-card=day-sheet] tr[data-appointment]")).to_have_count(3)
    page.goto(f"{base}/lists/day-sheet/")
    expect(page.locator("[data-desk-print]")).to_be_visible()
    _both_widths(page, shoot, "lists-05-day-sheet")
    page.emulate_media(media="print")
    expect(page.locator(".sidenav")).to_be_hidden()
    shoot("lists-06-day-sheet-printed", on=page)
