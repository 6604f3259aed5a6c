"""Identity work in a real browser: a secretary records insurance cards (the old one stays in the
history), finds a duplicate, compares the two records and merges them; a practitioner in care
declares the death (the record shows it, the agenda says why the appointment went); the
secretary corrects the deceased patient's identity with a reason.

Selectors use names, ids and URLs, never visible text: the pages are French by default and
their translations change."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from carnet.guard.policy import Role
from carnet.patients.models import IdentityMerge, MandatoryCoverage, Patient
from carnet.scheduling.models import Appointment, AppointmentState

from ..factories import EstablishmentFactory, agenda_with_hours, make_patient, totp_device
from .signing import sign_in, staff_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_insurance_duplicates_merge_death_and_correction(page, other_page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    secretary = staff_account(
        "c.martin", Role.SECRETARY, establishment, first_name="Camille", last_name="Martin"
    )
    doctor = staff_account(
        "j.bernard", Role.PRACTITIONER, establishment, first_name="Jeanne", last_name="Bernard"
    )
    patient = make_patient(establishment, treating_doctor=doctor.practitioner)
    duplicate = make_patient(establishment, birth_surname="DURANT", first_names="Marie")
    consultation = agenda_with_hours(establishment, doctor.practitioner)
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    starts = timezone.make_aware(datetime.datetime.combine(tomorrow, datetime.time(10)))
    Appointment.objects.create(
        agenda=consultation.agenda,
        consultation_type=consultation,
        patient_id=duplicate,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=30),
    )
    base = live_server.url
    sign_in(page, base, secretary, totp_device(secretary))

    # The record warns of a look-alike; insurance: two AMO cards, the first stays listed.
    page.goto(f"{base}/patients/{patient}/")
    expect(page.locator(f"a[href='/identity/duplicates/?patient={patient}']")).to_be_visible()
    shoot("identity-01-detail-with-duplicate-warning")
    page.goto(f"{base}/patients/{patient}/insurance/")
    shoot("identity-02-insurance-empty")
    for scheme, fund, start in (("01", "691 0000", "2023-01-01"), ("02", "069 1234", "2025-01-01")):
        page.click("details:has(form[action$='/insurance/amo/']) summary")
        page.select_option("select[name=amo-scheme]", scheme)
        page.fill("input[name=amo-fund_code]", fund)
        page.fill("input[name=amo-valid_from]", start)
        page.click("form[action$='/insurance/amo/'] button[type=submit]")
        page.wait_for_url(f"{base}/patients/{patient}/insurance/")
    page.click("details:has(form[action$='/insurance/amc/']) summary")
    page.fill("input[name=amc-organism]", "Mutuelle des Tilleuls")
    page.fill("input[name=amc-amc_number]", "77568878")
    page.fill("input[name=amc-member_number]", "AB 123456")
    page.fill("input[name=amc-valid_from]", "2026-01-01")
    page.fill("input[name=amc-valid_to]", "2026-12-31")
    page.click("form[action$='/insurance/amc/'] button[type=submit]")
    page.wait_for_url(f"{base}/patients/{patient}/insurance/")
    expect(page.locator("table.coverage-history tbody tr")).to_have_count(1)
    assert MandatoryCoverage.objects.count() == 2
    shoot("identity-03-insurance-with-history")
    page.click("details:has(form[action$='/insurance/amo/']) summary")
    page.fill("input[name=amo-fund_code]", "6")
    page.click("form[action$='/insurance/amo/'] button[type=submit]")
    expect(page.locator(".has-error input[name=amo-fund_code]")).to_be_visible()
    shoot("identity-04-insurance-field-error")

    # Duplicates: the pair, side by side; merge it into the first record.
    page.goto(f"{base}/identity/duplicates/")
    expect(page.locator("section.pair")).to_have_count(1)
    shoot("identity-05-duplicates")
    page.click("section.pair a[href^='/identity/merge/']")
    page.wait_for_url(f"{base}/identity/merge/**")
    shoot("identity-06-merge-compare")
    page.check(f"input[name=survivor][value='{patient}']")
    page.fill("textarea[name=reason]", "Same person: NIR checked on the Vitale card")
    page.click("form button[type=submit].danger")
    page.wait_for_url(f"{base}/identity/merges/**")
    merge = IdentityMerge.objects.get()
    shoot("identity-07-merge-record")
    page.goto(f"{base}/patients/{duplicate}/")
    shoot("identity-08-merged-record")
    assert str(Patient.objects.get(pk=duplicate).merged_into_id) == patient
    assert Appointment.objects.get().patient_id == merge.survivor_id

    # The practitioner in care declares the death: the appointment to come is cancelled.
    sign_in(other_page, base, doctor, totp_device(doctor))
    other_page.goto(f"{base}/patients/{patient}/death/")
    shoot("identity-09-declare-death", on=other_page)
    other_page.fill("input[name=died_on]", timezone.localdate().isoformat())
    other_page.fill("input[name=died_time]", "00:05")
    other_page.fill("input[name=place]", "Hôpital Saint-Luc, service de pneumologie")
    other_page.click("form button[type=submit].danger")
    other_page.wait_for_url(f"{base}/patients/{patient}/")
    expect(other_page.locator(".death-banner")).to_be_visible()
    shoot("identity-10-detail-deceased", on=other_page)
    other_page.goto(f"{base}/patients/{patient}/death/")
    shoot("identity-11-death-declared", on=other_page)
    assert Appointment.objects.get().state == AppointmentState.CANCELLED_BY_ESTABLISHMENT

    # The desk's day sheet says why; the secretary corrects the identity with a reason.
    page.goto(f"{base}/desk/?agenda={consultation.agenda.pk}&day={tomorrow.isoformat()}")
    shoot("identity-12-desk-day-after-death")
    page.goto(f"{base}/patients/{patient}/")
    shoot("identity-13-detail-deceased-secretary")
    page.goto(f"{base}/patients/{patient}/correct/")
    page.fill("textarea[name=correction_reason]", "Third first name on the birth certificate")
    page.fill("input[name=first_names]", "Marie Louise Anne")
    shoot("identity-14-correct")
    page.click("form.identity-form button[type=submit]")
    page.wait_for_url(f"{base}/patients/{patient}/")
    assert Patient.objects.get(pk=patient).version == 4
