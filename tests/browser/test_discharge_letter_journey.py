"""A stay's end, in a real browser: the practitioner prepares the discharge letter from the
chart (drafted from the stay: reason, notes), completes the follow-up, is told what a signature
needs, signs, prints the PDF, then records the discharge; the chart lists the signed letter,
and the treating doctor reads it from his list. Screenshots go to test-artifacts/letter-*.png.

Selectors use names, ids, data attributes and URLs, never visible text."""

import re

import pytest
from playwright.sync_api import expect

from carnet.clinical.models import DischargeLetter
from carnet.clinical.notes import write_note
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.patients.models import Patient

from ..clinical_helpers import admission, as_actor, in_care
from ..factories import EstablishmentFactory, UnitFactory, make_patient, totp_device
from .signing import sign_in
from .test_clinical_journey import _account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stay_ends_with_its_signed_letter(page, browser, live_server, shoot):
    establishment = EstablishmentFactory(
        name="Hôpital Saint-Luc", city="Lyon", address="12 quai Claude-Bernard, 69007"
    )
    pneumology = UnitFactory(establishment=establishment, name="Pneumologie", code="PNE")
    doctor = _account(
        "dr.garnier",
        Role.PRACTITIONER,
        establishment,
        pneumology,
        first_name="Hélène",
        last_name="Garnier",
    )
    gp = _account(
        "dr.marchand", Role.PRACTITIONER, establishment, first_name="Louis", last_name="Marchand"
    )
    patient = make_patient(establishment, birth_surname="DURAND")
    Patient.objects.filter(pk=patient).update(treating_doctor=gp.practitioner)
    relate(patient_id=patient, kind=RelationshipKind.TREATING_DOCTOR, user_id=gp.pk)
    in_care(patient, doctor)
    stay = admission(doctor, patient, pneumology, reason="Pneumopathie franche lobaire aiguë")
    as_actor(
        doctor,
        "tests.note",
        lambda actor: write_note(
            actor=actor,
            patient_id=patient,
            encounter_id=stay.pk,
            text="Apyrexie au troisième jour sous amoxicilline, relais oral bien toléré.",
        ),
    )
    base = live_server.url
    sign_in(page, base, doctor, totp_device(doctor))

    page.goto(f"{base}/patients/{patient}/chart/")
    page.click(".clinical-current a[data-letter-link]")
    page.wait_for_url(f"{base}/patients/{patient}/chart/encounters/{stay.pk}/letter/")
    expect(page.locator("textarea[name=reason]")).to_have_value(
        "Pneumopathie franche lobaire aiguë"
    )
    expect(page.locator("textarea[name=course]")).to_contain_text("Apyrexie au troisième jour")
    shoot("letter-01-drafted")

    # Signing without the follow-up is refused with the field named; nothing is signed.
    page.click("button[data-letter-sign]")
    expect(page.locator("#id_follow_up-error")).to_be_visible()
    assert not DischargeLetter.objects.filter(signed_at__isnull=False).exists()
    shoot("letter-02-follow-up-missing")

    page.fill(
        "textarea[name=follow_up]",
        "Consultation de contrôle avec radiographie thoracique dans six semaines.",
    )
    page.click("button[data-letter-sign]")
    page.wait_for_url(re.compile(r".*/chart/letters/[0-9a-f-]+/$"))
    expect(page.locator(".clinical-letter")).to_contain_text("radiographie thoracique")
    shoot("letter-03-signed")
    pdf_url = base + page.locator("a[data-letter-pdf]").get_attribute("href")
    response = page.request.get(pdf_url)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")
    page.goto(pdf_url, wait_until="commit")
    page.wait_for_timeout(1500)
    shoot("letter-04-pdf")

    # The discharge itself, then the chart lists the stay with its signed letter.
    page.goto(f"{base}/patients/{patient}/chart/")
    page.click(".clinical-discharge summary")
    page.select_option("select[name=destination]", "home")
    page.check("input[name=confirm]")
    page.click(".clinical-discharge button[type=submit]")
    page.wait_for_url(re.compile(rf".*/patients/{patient}/chart/.*"))
    letter = DischargeLetter.objects.get()
    expect(page.locator(f"#encounter-{stay.pk} a[data-letter-link]")).to_have_attribute(
        "href", f"/patients/{patient}/chart/letters/{letter.pk}/"
    )
    shoot("letter-05-chart")

    # The treating doctor finds it in his list.
    context = browser.new_context(locale="fr-FR")
    other = context.new_page()
    sign_in(other, base, gp, totp_device(gp))
    other.goto(f"{base}/lists/letters/")
    other.click(f"tr[data-letter='{letter.pk}'] a")
    other.wait_for_url(f"{base}/patients/{patient}/chart/letters/{letter.pk}/")
    expect(other.locator(".clinical-letter")).to_contain_text("radiographie thoracique")
    shoot("letter-06-treating-doctor", on=other)
    context.close()
