"""Sending part of a record to a practitioner outside the group: the link says nothing of the
patient, the code comes by a second channel, wrong codes burn the link, only the chosen items
open, until expiry or revocation, and every opening is in the patient's access history."""

import datetime
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from carnet.audit.models import AuditEntry, AuditSubject
from carnet.guard.policy import Role
from carnet.organisations.identifiers import with_luhn_key
from carnet.sharing.models import OutsideShare
from carnet.sharing.services import CODE_FAILURES

from .factories import make_patient

RPPS = with_luhn_key("1099988877")


@pytest.fixture
def doctor_in_care(establishment, staff, patient):
    """A practitioner with the patient in their care (treating doctor)."""
    user, client = staff(Role.PRACTITIONER)
    from carnet.guard.models import RelationshipKind
    from carnet.guard.relationships import relate

    relate(patient_id=patient, kind=RelationshipKind.TREATING_DOCTOR, user_id=user.pk)
    return user, client


def _send(client, patient, **overrides):
    data = {
        "rpps": RPPS,
        "email": "dr.externe@example.fr",
        "days": 7,
        "reason": "Avis cardiologique",
        "items": ["summary:"],
        **overrides,
    }
    return client.post(f"/patients/{patient}/send/", data)


def _link_and_code(response):
    body = response.content.decode()
    code = re.search(r'class="letter-code mono">(\d{8})<', body).group(1)
    link = re.search(r"(http://testserver/shared/[^/\s]+/)", mail.outbox[-1].body).group(1)
    return link.replace("http://testserver", ""), code


@pytest.mark.django_db(transaction=True)
def test_the_recipient_opens_what_was_sent_with_the_code_only(doctor_in_care, patient):
    _, client = doctor_in_care
    response = _send(client, patient)
    assert response.status_code == 200
    link, code = _link_and_code(response)
    message = mail.outbox[-1]
    assert message.to == ["dr.externe@example.fr"]
    assert "DURAND" not in message.subject + message.body and code not in message.body
    outside = Client()
    first = outside.get(link)
    assert first.status_code == 200 and "DURAND" not in first.content.decode()
    opened = outside.post(link, {"code": code}, follow=True)
    body = opened.content.decode()
    assert "DURAND" in body and "17/05/1980" in body
    entry = AuditEntry.objects.filter(action="sharing.open", outcome="allowed").get()
    assert entry.actor == f"outside:{RPPS}"
    assert AuditSubject.objects.filter(
        entry_id=entry.id, patient_id=patient, relationship="share"
    ).exists()
    # Another browser with the link but not the code sees nothing.
    assert "DURAND" not in Client().get(link).content.decode()


@pytest.mark.django_db(transaction=True)
def test_wrong_codes_burn_the_link(doctor_in_care, patient):
    _, client = doctor_in_care
    link, code = _link_and_code(_send(client, patient))
    outside = Client()
    for _ in range(CODE_FAILURES):
        outside.post(link, {"code": "00000000" if code != "00000000" else "11111111"})
    response = outside.post(link, {"code": code})
    assert response.status_code == 404 and "DURAND" not in response.content.decode()
    assert AuditEntry.objects.filter(action="sharing.code", outcome="refused").count() == 5


@pytest.mark.django_db(transaction=True)
def test_revoked_and_expired_links_open_nothing(doctor_in_care, patient):
    _, client = doctor_in_care
    link, code = _link_and_code(_send(client, patient, days=1))
    outside = Client()
    assert "DURAND" in outside.post(link, {"code": code}, follow=True).content.decode()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2)):
        assert outside.get(link).status_code == 404
    link2, code2 = _link_and_code(_send(client, patient))
    share = OutsideShare.objects.order_by("-created_at").first()
    client.post(f"/patients/{patient}/send/{share.pk}/revoke/")
    assert Client().post(link2, {"code": code2}).status_code == 404


@pytest.mark.django_db
def test_only_a_patient_in_care_can_be_sent_and_only_by_a_practitioner(
    establishment, staff, patient
):
    _, stranger = staff(Role.PRACTITIONER)  # same establishment, no relationship
    response = _send(stranger, patient)
    assert response.status_code in (302, 403, 404) or "Outside" in response.content.decode()
    assert not OutsideShare.objects.exists()
    _, secretary = staff(Role.SECRETARY)
    assert _send(secretary, patient).status_code == 403
    assert not OutsideShare.objects.exists()


@pytest.mark.django_db
def test_bad_input_is_refused_clearly(doctor_in_care, patient, establishment):
    _, client = doctor_in_care
    response = _send(client, patient, rpps="12345678901", email="nope", reason="", items=[])
    body = response.content.decode()
    assert response.status_code == 400
    assert "RPPS check digit is wrong" in body and body.count('class="field-error"') >= 4
    other = make_patient(establishment, birth_surname="AUTRE")
    response = _send(client, patient, items=[f"note:{other}"])
    assert response.status_code == 400 and not OutsideShare.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_patient_sees_the_outside_opening_in_their_history(
    doctor_in_care, patient, establishment
):
    from .test_portal import issue_code, sign_up

    _, client = doctor_in_care
    link, code = _link_and_code(_send(client, patient))
    Client().post(link, {"code": code}, follow=True)
    portal = Client()
    sign_up(portal, issue_code(establishment, patient))
    body = portal.get("/portal/history/").content.decode()
    assert "outside the establishment" in body and RPPS in body


@pytest.mark.django_db(transaction=True)
def test_a_document_and_a_note_are_sent_and_sensitive_items_never_offered(establishment, patient):
    from carnet.clinical.documents import add_document
    from carnet.clinical.models import Document, Note
    from carnet.clinical.notes import write_note

    from .clinical_helpers import as_actor, client_of, consultation, member, pdf

    doctor = member(Role.PRACTITIONER, establishment)
    encounter = consultation(doctor, patient)
    as_actor(
        doctor,
        "tests.note",
        lambda a: write_note(
            actor=a, patient_id=patient, encounter_id=encounter.pk, text="Souffle systolique 2/6"
        ),
    )
    as_actor(
        doctor,
        "tests.note",
        lambda a: write_note(
            actor=a,
            patient_id=patient,
            encounter_id=encounter.pk,
            text="Épisode dépressif",
            category="psychiatry",
        ),
    )
    as_actor(
        doctor,
        "tests.document",
        lambda a: add_document(
            actor=a,
            patient_id=patient,
            encounter_id=encounter.pk,
            title="Échographie",
            content=pdf("Compte rendu d'échographie"),
        ),
    )
    client = client_of(doctor)
    form = client.get(f"/patients/{patient}/send/").content.decode()
    note = Note.objects.get(category="")
    sensitive = Note.objects.get(category="psychiatry")
    document = Document.objects.get()
    assert f"note:{note.pk}" in form and f"document:{document.pk}" in form
    assert str(sensitive.pk) not in form
    refused = _send(client, patient, items=[f"note:{sensitive.pk}"])
    assert refused.status_code == 400 and not OutsideShare.objects.exists()
    link, code = _link_and_code(
        _send(client, patient, items=[f"note:{note.pk}", f"document:{document.pk}"])
    )
    outside = Client()
    page = outside.post(link, {"code": code}, follow=True).content.decode()
    assert "Souffle systolique" in page and "dépressif" not in page
    item_id = OutsideShare.objects.get().items.get(kind="document").pk
    file = outside.get(f"{link}items/{item_id}/")
    assert file.status_code == 200 and file["Content-Type"] == "application/pdf"
    assert b"Compte rendu d" in file.content and "sandbox" in file["Content-Security-Policy"]
    # An item id of another share, or none, opens nothing.
    assert outside.get(f"{link}items/999999/").status_code == 404
