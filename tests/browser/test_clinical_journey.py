"""A practitioner's round, in a real browser: open the chart from the identity page, see a
colleague's psychiatry note masked and open it with a reason, open a consultation, write a
note and an addendum, prescribe and print the prescription, upload a PDF and an image and
look at both. Screenshots of each page go to test-artifacts/clinical-*.png.

Selectors use names, ids, data attributes and URLs, never visible text: the pages are French
by default and their translations change."""

import re

import pytest
from playwright.sync_api import expect

from carnet.clinical.models import Medication, Note
from carnet.clinical.notes import write_note
from carnet.guard.policy import Role

from ..clinical_helpers import as_actor, consultation, in_care, load_medications, member, pdf, png
from ..factories import EstablishmentFactory, UnitFactory, make_patient, totp_device
from .signing import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _account(username, role, establishment, unit=None, **names):
    user = member(role, establishment, unit, username=username, **names)
    user.set_password(PASSWORD)
    user.save()
    return user


def test_a_practitioner_writes_prescribes_and_files_a_document(page, live_server, shoot, tmp_path):
    establishment = EstablishmentFactory(
        name="Hôpital Saint-Luc", city="Lyon", address="12 quai Claude-Bernard, 69007"
    )
    psychiatry = UnitFactory(establishment=establishment, name="Psychiatrie adulte", code="PSY")
    pneumology = UnitFactory(establishment=establishment, name="Pneumologie", code="PNE")
    doctor = _account(
        "dr.garnier", Role.PRACTITIONER, establishment, first_name="Hélène", last_name="Garnier"
    )
    psychiatrist = _account(
        "dr.moreau",
        Role.PRACTITIONER,
        establishment,
        psychiatry,
        first_name="Paul",
        last_name="Moreau",
    )
    patient = make_patient(establishment, birth_surname="DURAND")
    in_care(patient, doctor)
    earlier = consultation(psychiatrist, patient, reason="Suivi psychiatrique")
    as_actor(
        psychiatrist,
        "tests.note",
        lambda actor: write_note(
            actor=actor,
            patient_id=patient,
            encounter_id=earlier.pk,
            text="Épisode dépressif sévère, idées noires.",
            category="psychiatry",
        ),
    )
    load_medications()
    base = live_server.url
    sign_in(page, base, doctor, totp_device(doctor))

    # From the identity page to the chart; the colleague's psychiatry note is masked.
    page.goto(f"{base}/patients/{patient}/")
    page.click(f"a[href='/patients/{patient}/chart/']")
    page.wait_for_url(f"{base}/patients/{patient}/chart/")
    expect(page.locator(".clinical-masked[data-category=psychiatry]").first).to_be_visible()
    assert "idées noires" not in page.content()
    shoot("clinical-01-chart-masked")

    # Opening it on purpose, with a reason.
    page.click(f".clinical-masked a[href^='/patients/{patient}/chart/sensitive/psychiatry/']")
    page.wait_for_url(re.compile(r".*/sensitive/psychiatry/.*"))
    shoot("clinical-02-open-sensitive")
    page.fill("textarea[name=reason]", "Avis psychiatrique demandé avant la sortie")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/patients/{patient}/chart/")
    expect(page.locator("text=idées noires")).to_be_visible()

    # A consultation, then a note and its addendum.
    page.click("#encounter-forms details:first-of-type summary")
    page.fill("input[name=reason]", "Toux fébrile depuis trois jours")
    page.click("form[action$='/chart/consultations/'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/chart/#encounter-.*"))
    page.fill("textarea[name=text]", "Crépitants base droite. Radiographie demandée.")
    shoot("clinical-03-writing-a-note")
    page.click("form[action$='/chart/notes/'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/chart/#note-.*"))
    note = Note.objects.get(author=doctor)
    expect(page.locator(f"#note-{note.pk} .clinical-text")).to_contain_text("Crépitants")
    page.click(f"#note-{note.pk} a[href$='/addendum/']")
    page.fill("textarea[name=text]", "Radiographie : foyer lobaire inférieur droit.")
    shoot("clinical-04-addendum")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/chart/#note-.*"))
    expect(page.locator(f"#note-{note.pk} .clinical-addendum")).to_contain_text("foyer lobaire")
    expect(page.locator(f"#note-{note.pk} > .clinical-text")).to_contain_text("Crépitants")

    # A prescription, and its printable page.
    page.click(f"a[href='/patients/{patient}/chart/prescriptions/new/']")
    amoxicillin = Medication.objects.get(dci="Amoxicilline", strength="1 g")
    paracetamol = Medication.objects.get(dci="Paracétamol", strength="1 g")
    page.select_option("select[name=line-0-medication]", str(amoxicillin.pk))
    page.fill("input[name=line-0-dosage]", "1 comprimé")
    page.select_option("select[name=line-0-route]", "oral")
    page.fill("input[name=line-0-frequency]", "matin et soir")
    page.fill("input[name=line-0-duration_days]", "7")
    page.select_option("select[name=line-1-medication]", str(paracetamol.pk))
    page.fill("input[name=line-1-dosage]", "1 comprimé")
    page.select_option("select[name=line-1-route]", "oral")
    page.fill("input[name=line-1-frequency]", "toutes les 6 heures si fièvre")
    page.fill("input[name=line-1-duration_days]", "5")
    page.fill("input[name=line-1-renewals]", "1")
    shoot("clinical-05-prescribing")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/chart/prescriptions/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-clinical-print]")).to_be_visible()
    sheet = page.locator(".clinical-prescription")
    for expected in ("RPPS", establishment.finess, "quai Claude-Bernard", "DURAND", "17/05/1980"):
        expect(sheet).to_contain_text(expected)
    expect(sheet.locator(".clinical-prescription-lines li")).to_have_count(2)
    shoot("clinical-06-prescription")
    page.emulate_media(media="print")
    expect(page.locator(".clinical-print-bar")).to_be_hidden()
    expect(page.locator(".sidenav")).to_be_hidden()
    shoot("clinical-07-prescription-print")
    page.emulate_media(media="screen")

    # A PDF and an image; the image shows in the chart, the PDF opens by itself.
    page.goto(f"{base}/patients/{patient}/chart/")
    report = tmp_path / "radio.pdf"
    report.write_bytes(pdf("Radiographie thoracique"))
    wound = tmp_path / "plaie.png"
    wound.write_bytes(png(160, 100))
    for title, path in (("Compte rendu radiologique", report), ("Photo de la plaie", wound)):
        page.click("#documents details summary")
        page.fill("input[name=title]", title)
        page.set_input_files("input[name=file]", str(path))
        page.click("form[action$='/chart/documents/'] button[type=submit]")
        page.wait_for_url(re.compile(r".*/chart/#document-.*"))
    image = page.locator(".clinical-thumb img")
    expect(image).to_have_count(1)
    page.wait_for_function(
        "() => { const img = document.querySelector('.clinical-thumb img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    assert image.evaluate("img => img.naturalWidth") == 160
    shoot("clinical-08-chart")
    pdf_url = base + page.locator("#documents .clinical-list-head a").nth(1).get_attribute("href")
    image_url = base + page.locator(".clinical-thumb").get_attribute("href")
    response = page.request.get(pdf_url)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-security-policy"].startswith("sandbox")
    assert response.body() == pdf("Radiographie thoracique")
    # Chromium's viewer shows it, sandbox and all (no "load" event from the viewer: commit).
    page.goto(image_url)
    shoot("clinical-09-image")
    page.goto(pdf_url, wait_until="commit")
    page.wait_for_timeout(1500)
    shoot("clinical-10-pdf")

    # Admitted in a unit: the stay comes first, with its discharge button.
    page.goto(f"{base}/patients/{patient}/chart/")
    page.click("#encounter-forms details:nth-of-type(2) summary")
    page.select_option("select[name=unit]", str(pneumology.pk))
    page.fill("form[action$='/chart/admissions/'] input[name=reason]", "Pneumopathie hypoxémiante")
    page.click("form[action$='/chart/admissions/'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/chart/#encounter-.*"))
    expect(page.locator(".clinical-current")).to_contain_text("Pneumologie")
    shoot("clinical-11-admitted")

    # A document the journey never uploaded stays refused to a mistyped address.
    page.goto(f"{base}/patients/{patient}/chart/documents/{patient}/")
    assert "Radiographie" not in page.content()
