"""Sending a document to a practitioner outside the group, in a real browser: the sender
chooses the document, gets the code to give by telephone; the recipient opens the e-mailed
link, types the code, reads what was sent and opens the PDF; the sender revokes the link and
it opens nothing more.

Selectors use names, ids and URLs, never visible text (the pages are French by default)."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from carnet.clinical.documents import add_document
from carnet.clinical.models import Document
from carnet.guard.policy import Role
from carnet.organisations.identifiers import with_luhn_key

from ..clinical_helpers import as_actor, consultation, member, pdf
from ..factories import EstablishmentFactory, make_patient, totp_device
from .signing import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RPPS = with_luhn_key("1077766655")


def test_a_practitioner_sends_a_document_outside_and_revokes_it(
    page, other_page, live_server, shoot
):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc", city="Lyon")
    doctor = member(
        Role.PRACTITIONER, establishment, username="dr.roche", first_name="Anne", last_name="Roche"
    )
    doctor.set_password(PASSWORD)
    doctor.save()
    patient = make_patient(establishment, birth_surname="FONTAINE", first_names="Léon")
    encounter = consultation(doctor, patient)
    as_actor(
        doctor,
        "tests.document",
        lambda actor: add_document(
            actor=actor,
            patient_id=patient,
            encounter_id=encounter.pk,
            title="Échographie cardiaque",
            content=pdf("Fraction d'éjection 60 %"),
        ),
    )
    document = Document.objects.get()
    base = live_server.url

    sign_in(page, base, doctor, totp_device(doctor))
    page.goto(f"{base}/patients/{patient}/")
    page.click(f"a[href='/patients/{patient}/send/']")
    page.fill("input[name=rpps]", RPPS)
    page.fill("input[name=email]", "dr.externe@example.fr")
    page.check(f"input[name=items][value='document:{document.pk}']")
    page.fill("input[name=reason]", "Avis cardiologique avant chirurgie")
    shoot("sharing-01-form")
    page.click("form:has(input[name=rpps]) button[type=submit]")
    expect(page.locator(".letter-code")).to_be_visible()
    shoot("sharing-02-code")
    code = page.inner_text(".letter-code").strip()
    assert re.fullmatch(r"\d{8}", code)
    link = re.search(r"(http://\S+/shared/\S+/)", mail.outbox[-1].body).group(1)
    assert "FONTAINE" not in mail.outbox[-1].body

    outside = other_page
    outside.goto(link)
    expect(outside.locator("input[name=code]")).to_be_visible()
    assert "FONTAINE" not in outside.content()
    outside.fill("input[name=code]", code)
    outside.click("form:has(input[name=code]) button[type=submit]")
    expect(outside.locator("h1")).to_contain_text("FONTAINE")
    shoot("sharing-03-recipient", on=outside)
    file_link = outside.locator("a[href*='/items/']").first
    response = outside.request.get(base + file_link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"

    page.goto(f"{base}/patients/{patient}/send/")
    page.click("form[action*='/revoke/'] button[type=submit]")
    shoot("sharing-04-revoked")
    outside.goto(link)
    assert "FONTAINE" not in outside.content()
    shoot("sharing-05-gone", on=outside)
