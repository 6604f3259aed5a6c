"""Safe prescribing in a real browser: a practitioner records a penicillin allergy and two
sets of vital signs on the chart (the summary shows the allergy, the last values and the
trend drawn by the server), searches amoxicillin by typing, fills the line, sees the
allergy contraindication before signing, and signs only with a reason and a second
confirmation. Screenshots go to test-artifacts/safe-*.png.

Selectors use names, ids, data attributes and URLs, never visible text."""

import re

import pytest
from playwright.sync_api import expect

from carnet.clinical.models import Medication, Prescription
from carnet.guard.policy import Role

from ..clinical_helpers import in_care, load_medications, member
from ..factories import EstablishmentFactory, make_patient, totp_device
from .signing import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_practitioner_overrides_an_allergy_warning_with_a_reason(page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc", city="Lyon")
    doctor = member(
        Role.PRACTITIONER,
        establishment,
        username="dr.roux",
        first_name="Claire",
        last_name="Roux",
    )
    doctor.set_password(PASSWORD)
    doctor.save()
    patient = make_patient(establishment, birth_surname="MARTIN")
    in_care(patient, doctor)
    load_medications()
    base = live_server.url
    sign_in(page, base, doctor, totp_device(doctor))
    chart = f"{base}/patients/{patient}/chart/"

    # An allergy to penicillins, from the summary on top of the chart.
    page.goto(chart)
    page.click("#allergies details summary")
    page.select_option("#allergies select[name=kind]", "allergy")
    page.select_option("#allergies select[name=substance_code]", "class:penicillins")
    page.fill("#allergies input[name=reaction]", "Œdème de Quincke en 2015")
    page.select_option("#allergies select[name=severity]", "severe")
    page.select_option("#allergies select[name=certainty]", "confirmed")
    page.click("#allergies form button[type=submit]")
    page.wait_for_url(re.compile(r".*/chart/#allergies$"))
    expect(page.locator("#allergies .clinical-allergy.allergy")).to_contain_text("Quincke")

    # Two sets of vital signs: the last values and the trend.
    for pulse, systolic in (("92", "148"), ("78", "132")):
        page.click("#vitals details:has(form) summary")
        page.fill("#vitals input[name=systolic]", systolic)
        page.fill("#vitals input[name=diastolic]", "84")
        page.fill("#vitals input[name=pulse]", pulse)
        page.fill("#vitals input[name=temperature]", "37,2")
        page.fill("#vitals input[name=spo2]", "97")
        page.fill("#vitals input[name=weight]", "72")
        page.fill("#vitals input[name=height]", "168")
        page.click("#vitals form button[type=submit]")
        page.wait_for_url(re.compile(r".*/chart/#vitals$"))
    expect(page.locator("#vitals .clinical-vitals")).to_contain_text("132/84")
    expect(page.locator("#vitals-trend svg.vitals-trend polyline").first).to_be_visible()
    shoot("safe-01-chart-summary")

    # Amoxicillin found by typing, then the line filled.
    page.click(f"a[href='/patients/{patient}/chart/prescriptions/new/']")
    search = page.locator("[data-clinical-drug-search]").first
    expect(search).to_be_visible()
    search.fill("amoxic 1 g disp")
    amoxicillin = Medication.objects.get(dci="Amoxicilline", strength="1 g")
    expect(page.locator("select[name=line-0-medication]")).to_have_value(str(amoxicillin.pk))
    expect(page.locator("select[name=line-0-route]")).to_have_value("oral")
    page.fill("input[name=line-0-dosage]", "1 comprimé")
    page.fill("input[name=line-0-frequency]", "matin et soir")
    page.fill("input[name=line-0-duration_days]", "7")
    shoot("safe-02-prescribing")
    page.locator("main form button[type=submit].primary").last.click()

    # The allergy stops it before signing: a reason alone is not enough.
    warnings = page.locator("#warnings")
    expect(warnings.locator(".clinical-warning.allergy.contraindication")).to_be_visible()
    expect(page.locator("input[name=confirm_allergy]")).to_be_visible()
    page.fill("textarea[name=override_reason]", "Test de provocation encadré en allergologie")
    page.click("#warnings button[name=override]")
    expect(page.locator("#warnings .clinical-warning.allergy")).to_be_visible()
    assert not Prescription.objects.exists()
    page.check("input[name=confirm_allergy]")
    shoot("safe-03-warnings")
    page.click("#warnings button[name=override]")
    page.wait_for_url(re.compile(r".*/chart/prescriptions/[0-9a-f-]{36}/$"))
    assert Prescription.objects.count() == 1
    shoot("safe-04-signed")


def test_a_nurse_enters_vitals_and_sees_the_trend(page, live_server, shoot):
    from ..clinical_helpers import admission
    from ..factories import UnitFactory

    establishment = EstablishmentFactory(name="Hôpital Saint-Luc", city="Lyon")
    cardiology = UnitFactory(establishment=establishment, name="Cardiologie", code="CAR")
    doctor = member(Role.PRACTITIONER, establishment)
    nurse = member(
        Role.NURSE,
        establishment,
        cardiology,
        username="ide.petit",
        first_name="Julie",
        last_name="Petit",
    )
    nurse.set_password(PASSWORD)
    nurse.save()
    patient = make_patient(establishment, birth_surname="LEROY")
    in_care(patient, doctor)
    admission(doctor, patient, cardiology, reason="Décompensation cardiaque")
    base = live_server.url
    sign_in(page, base, nurse, totp_device(nurse))
    page.goto(f"{base}/patients/{patient}/chart/")
    expect(page.locator(f"a[href='/patients/{patient}/chart/prescriptions/new/']")).to_have_count(0)
    expect(page.locator("#problems details:has(form)")).to_have_count(0)
    for values in (
        {"systolic": "162", "diastolic": "95", "pulse": "104", "spo2": "91", "weight": "88.5"},
        {"systolic": "141", "diastolic": "88", "pulse": "92", "spo2": "94", "weight": "87.2"},
        {"systolic": "128", "diastolic": "80", "pulse": "84", "spo2": "96", "weight": "86.4"},
    ):
        page.click("#vitals details:has(form) summary")
        for name, value in values.items():
            page.fill(f"#vitals input[name={name}]", value)
        page.fill("#vitals input[name=temperature]", "37,1")
        page.fill("#vitals input[name=pain]", "2")
        page.click("#vitals form button[type=submit]")
        page.wait_for_url(re.compile(r".*/chart/#vitals$"))
    expect(page.locator("#vitals .clinical-vitals")).to_contain_text("128/80")
    expect(page.locator("#vitals-trend svg.vitals-trend polyline")).to_have_count(6)
    shoot("safe-05-nurse-vitals-trend")


def test_a_practitioner_discharges_with_a_destination_and_undoes_it(page, live_server, shoot):
    from ..clinical_helpers import admission
    from ..factories import UnitFactory

    establishment = EstablishmentFactory(name="Hôpital Saint-Luc", city="Lyon")
    cardiology = UnitFactory(establishment=establishment, name="Cardiologie", code="CAR")
    doctor = member(Role.PRACTITIONER, establishment, username="dr.faure")
    doctor.set_password(PASSWORD)
    doctor.save()
    patient = make_patient(establishment, birth_surname="BLANC")
    in_care(patient, doctor)
    stay = admission(doctor, patient, cardiology, reason="Syndrome coronarien aigu")
    base = live_server.url
    sign_in(page, base, doctor, totp_device(doctor))
    page.goto(f"{base}/patients/{patient}/chart/")
    page.click(".clinical-discharge summary")
    page.select_option(".clinical-discharge select[name=destination]", "home")
    # Without the confirmation, nothing is recorded.
    page.click(".clinical-discharge button[type=submit]")
    expect(page.locator(".clinical-discharge .field-error")).to_be_visible()
    page.check(".clinical-discharge input[name=confirm]")
    shoot("safe-06-discharge")
    page.click(".clinical-discharge button[type=submit]")
    page.wait_for_url(re.compile(rf".*/patients/{patient}/chart/$"))
    expect(page.locator(".clinical-current")).to_have_count(0)
    expect(page.locator(f"#encounter-{stay.pk}")).to_be_visible()
    page.click("#undo-discharge summary")
    page.fill("#undo-discharge textarea[name=reason]", "Sortie saisie trop tôt, patient gardé")
    shoot("safe-07-undo")
    page.click("#undo-discharge button[type=submit]")
    page.wait_for_url(re.compile(r".*/chart/#encounters$"))
    expect(page.locator(f".clinical-current#encounter-{stay.pk}")).to_be_visible()
