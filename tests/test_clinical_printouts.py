"""The prescription as a PDF (carnet/printing, fpdf2): what an ordonnance must carry, read
back from the PDF itself (prescriber and RPPS, establishment and FINESS, patient and birth
date, lines with dosage and duration, French letters intact), a verification code that follows
the content (a keyed digest, carnet/vault/blind.py) in any language, a neutral file name, no caching, a sandboxing policy;
a masked prescription is never written, an outsider gets nothing."""

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader
from pypdf.generic import ArrayObject

from carnet.clinical.chart import prescription_sheet
from carnet.clinical.models import Medication
from carnet.clinical.prescriptions import LineInput, prescribe
from carnet.guard.policy import Role
from carnet.printing import pdf

from .clinical_helpers import as_actor, client_of, in_care, member

pytestmark = pytest.mark.django_db
ORAL = {"route": "oral", "frequency": "matin et soir"}


@pytest.fixture
def doctor(establishment):
    establishment.address = "3 rue Garibaldi, 69006"
    establishment.save()
    return member(Role.PRACTITIONER, establishment, first_name="Nadia", last_name="Benali")


def _prescribe(doctor, patient, dci, strength, dosage, **fields):
    medication = Medication.objects.get(dci=dci, strength=strength)
    return as_actor(
        doctor,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor,
            patient_id=patient,
            lines=[LineInput(medication.pk, dosage, 7, **ORAL)],
            notes="Œdème : surveiller le poids chaque matin",
            **fields,
        ),
    )


def _text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_prescription_pdf_carries_what_an_ordonnance_must(doctor, establishment, patient):
    in_care(patient, doctor)
    prescription = _prescribe(doctor, patient, "Amoxicilline", "1 g", "1 comprimé")
    client = client_of(doctor)
    response = client.get(
        reverse("web:chart_prescription_pdf", args=[patient, prescription.pk]),
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert response["Content-Disposition"].startswith('inline; filename="ordonnance-')
    assert "DURAND" not in response["Content-Disposition"]
    text = _text(response.content)
    sheet = as_actor(
        doctor,
        "tests.sheet",
        lambda actor: prescription_sheet(
            actor=actor, patient_id=patient, prescription_id=prescription.pk
        ),
    )
    code = sheet.code
    for expected in (
        "Dr Nadia Benali",
        f"RPPS {doctor.practitioner.rpps}",
        establishment.name,
        f"FINESS {establishment.finess}",
        "DURAND",
        "17/05/1980",
        "Amoxicilline 1 g comprimé dispersible",
        "1 comprimé",
        "7 jours",
        "Œdème : surveiller le poids",
        code,
    ):
        assert expected in text, expected
    page = client.get(
        reverse("web:chart_prescription", args=[patient, prescription.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert code in page.content.decode(), page.content.decode().split("clinical-printed")[-1][:300]


def test_the_verification_code_follows_the_content(doctor, patient):
    in_care(patient, doctor)
    first = _prescribe(doctor, patient, "Amoxicilline", "1 g", "1 comprimé")
    second = _prescribe(
        doctor, patient, "Paracétamol", "1 g", "1 comprimé", override_reason="Autre épisode"
    )

    def code_of(prescription):
        return as_actor(
            doctor,
            "tests.sheet",
            lambda actor: (
                prescription_sheet(
                    actor=actor, patient_id=patient, prescription_id=prescription.pk
                ).code
            ),
        )

    code = code_of(first)
    assert len(code) == 14 and code.count("-") == 2
    assert code == code_of(first)
    assert code != code_of(second)


def test_a_masked_prescription_is_never_written_and_an_outsider_gets_nothing(
    doctor, establishment, other_establishment, patient
):
    in_care(patient, doctor)
    prescription = _prescribe(doctor, patient, "Buprénorphine", "8 mg", "1 comprimé sublingual")
    colleague = member(Role.PRACTITIONER, establishment)
    in_care(patient, colleague)
    url = reverse("web:chart_prescription_pdf", args=[patient, prescription.pk])
    masked = client_of(colleague).get(url)
    assert masked.status_code == 302
    assert masked["Location"] == reverse("web:chart_prescription", args=[patient, prescription.pk])
    outsider = member(Role.PRACTITIONER, other_establishment)
    refused = client_of(outsider).get(url)
    assert refused.status_code in (403, 404)
    assert b"%PDF" not in refused.content and "Buprénorphine" not in refused.content.decode()


def test_pdfs_are_written_by_one_helper_and_need_the_fonts(monkeypatch, tmp_path):
    content = pdf.simple("Compte rendu — cœur", ["Œdème : non", "Fraction d'éjection 60 %"])
    assert content.startswith(b"%PDF-") and "Œdème : non" in _text(content)
    assert content == pdf.simple("Compte rendu — cœur", ["Œdème : non", "Fraction d'éjection 60 %"])
    # Text only: nothing that runs, opens, links out or carries a file (fpdf2's /OpenAction
    # is a destination, the first page at full width, not an action).
    for active in (b"/JavaScript", b"/JS", b"/Launch", b"/URI", b"/EmbeddedFile", b"/AcroForm"):
        assert active not in content, active
    catalog = PdfReader(io.BytesIO(content)).trailer["/Root"]
    assert isinstance(catalog.get("/OpenAction", ArrayObject()), ArrayObject)
    assert "/AA" not in catalog and "/Names" not in catalog
    monkeypatch.setattr(pdf, "FONT_DIR", tmp_path)
    with pytest.raises(pdf.FontsMissing, match="fonts-dejavu-core"):
        pdf.simple("x", ["y"])


def test_an_ald_prescription_is_printed_on_the_bizone_layout(doctor, patient):
    """Lines related to the long-term condition above the rule, the others below, each under
    the heading of the Assurance maladie's form; the code follows the ALD marks."""
    in_care(patient, doctor)
    metformin = Medication.objects.filter(dci="Metformine").first()
    paracetamol = Medication.objects.get(dci="Paracétamol", strength="1 g")
    lines = [
        LineInput(paracetamol.pk, "1 comprimé", 5, **ORAL),
        LineInput(metformin.pk, "1 comprimé", 90, ald=True, **ORAL),
    ]

    def prescribe_lines(lines, **fields):
        return as_actor(
            doctor,
            "tests.rx",
            lambda actor: prescribe(actor=actor, patient_id=patient, lines=lines, **fields),
        )

    bizone = prescribe_lines(lines)
    client = client_of(doctor)
    response = client.get(
        reverse("web:chart_prescription_pdf", args=[patient, bizone.pk]),
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    text = " ".join(_text(response.content).split())
    upper = text.index("AFFECTION EXONÉRANTE")
    lower = text.index("MALADIES INTERCURRENTES")
    assert upper < text.index("Metformine") < lower < text.index("Paracétamol")
    page = client.get(reverse("web:chart_prescription", args=[patient, bizone.pk]))
    assert 'data-zone="ald"' in page.content.decode()

    plain = prescribe_lines(
        [LineInput(paracetamol.pk, "1 comprimé", 5, **ORAL)], override_reason="Autre épisode"
    )
    text = _text(
        client.get(reverse("web:chart_prescription_pdf", args=[patient, plain.pk])).content
    )
    assert "INTERCURRENT" not in text and "INTERCURRENTES" not in text

    def code_of(prescription):
        return as_actor(
            doctor,
            "tests.sheet",
            lambda actor: (
                prescription_sheet(
                    actor=actor, patient_id=patient, prescription_id=prescription.pk
                ).code
            ),
        )

    before = code_of(bizone)
    bizone.lines.filter(ald=True).update(ald=False)
    assert code_of(bizone) != before
