"""The discharge letter (lettre de liaison): drafted from the stay (its reason, its notes, the
stay's results, allergies, treatment) as the writer may see it, saved as a draft, signed by a
practitioner with the sections a letter cannot go without, never changed once signed (a
correction is a new version), sent to the treating doctor (told by an e-mail that names
nobody), printed as a PDF with RPPS, FINESS and a verification code. A nurse reads it and does
not write it; an outsider gets nothing; nothing of it is in clear in the database or the
audit."""

import datetime
import io

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from carnet.audit.models import AuditEntry
from carnet.clinical.chart import open_chart
from carnet.clinical.encounters import discharge
from carnet.clinical.letters import (
    ResultLine,
    Sections,
    draft_from_stay,
    letter_sheet,
    letters_received,
    save_letter,
    stay_results,
)
from carnet.clinical.models import DischargeLetter, LetterIsSigned
from carnet.clinical.notes import write_note
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.patients.models import Patient
from carnet.vault.scope import admit, opening_scope

from .clinical_helpers import admission, as_actor, client_of, in_care, member
from .factories import UnitFactory

pytestmark = pytest.mark.django_db
COURSE = "Évolution favorable sous antibiothérapie, apyrexie au troisième jour"
FOLLOW_UP = "Consultation de contrôle avec radiographie thoracique dans six semaines"


@pytest.fixture
def unit(establishment):
    return UnitFactory(establishment=establishment, name="Pneumologie")


@pytest.fixture
def doctor(establishment, patient, unit):
    establishment.address = "3 rue Garibaldi, 69006"
    establishment.save()
    user = member(Role.PRACTITIONER, establishment, unit, first_name="Nadia", last_name="Benali")
    in_care(patient, user)
    return user


@pytest.fixture
def gp(establishment, patient):
    """The patient's treating doctor, a practitioner in Carnet, with an address."""
    user = member(
        Role.PRACTITIONER,
        establishment,
        first_name="Louis",
        last_name="Marchand",
        email="dr.marchand@example.org",
    )
    Patient.objects.filter(pk=patient).update(treating_doctor=user.practitioner)
    relate(patient_id=patient, kind=RelationshipKind.TREATING_DOCTOR, user_id=user.pk)
    return user


@pytest.fixture
def stay(doctor, patient, unit):
    stay = admission(doctor, patient, unit, reason="Pneumopathie franche lobaire aiguë")
    as_actor(
        doctor,
        "tests.note",
        lambda actor: write_note(
            actor=actor, patient_id=patient, encounter_id=stay.pk, text=COURSE
        ),
    )
    return stay


def _sections(**changed) -> dict:
    return {
        "reason": "Pneumopathie franche lobaire aiguë",
        "course": COURSE,
        "results": "CRP 180 mg/L à l'entrée, 12 mg/L à la sortie",
        "allergies": "Aucune allergie connue",
        "treatment": "Amoxicilline 1 g trois fois par jour, 4 jours encore",
        "follow_up": FOLLOW_UP,
        **changed,
    }


def _save(user, patient, stay, sign=False, **changed):
    return as_actor(
        user,
        "tests.letter",
        lambda actor: save_letter(
            actor=actor,
            patient_id=patient,
            encounter_id=stay.pk,
            sections=Sections(**_sections(**changed)),
            sign=sign,
        ),
    )


def _text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_draft_comes_from_the_stay_as_its_writer_sees_it(
    establishment, doctor, patient, stay, unit
):
    # A psychiatry note of the unit's team in the stay: masked to a consultant outside the
    # unit who writes the letter, so never drafted for him.
    consultant = member(Role.PRACTITIONER, establishment)
    in_care(patient, consultant)
    secret = "Idées suicidaires évoquées lors de cet entretien"
    as_actor(
        doctor,
        "tests.note",
        lambda actor: write_note(
            actor=actor,
            patient_id=patient,
            encounter_id=stay.pk,
            text=secret,
            category="psychiatry",
        ),
    )
    body = client_of(doctor).get(reverse("web:chart_letter_write", args=[patient, stay.pk]))
    assert secret in body.content.decode()  # the unit's own team drafts it
    page = client_of(consultant).get(reverse("web:chart_letter_write", args=[patient, stay.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert COURSE in body and "Pneumopathie franche lobaire aiguë" in body
    assert "suicidaires" not in body
    assert not DischargeLetter.objects.exists()  # proposed, not saved

    chart = as_actor(consultant, "tests.chart", lambda a: open_chart(actor=a, patient_id=patient))
    view = next(e for e in chart.encounters if e.id == str(stay.pk))
    before = ResultLine(view.started_at - datetime.timedelta(days=3), "CRP", "5", "mg/L", "")
    during = ResultLine(view.started_at, "CRP", "180", "mg/L", "H")
    kept = stay_results(view, [before, during])
    assert kept == [during]
    drafted = draft_from_stay(chart, view, kept)
    assert "CRP: 180 mg/L (H)" in drafted.results
    assert drafted.follow_up == "" and secret not in drafted.course


def test_a_draft_is_saved_then_signed_with_what_a_letter_needs(
    doctor, gp, patient, stay, django_capture_on_commit_callbacks
):
    client = client_of(doctor)
    url = reverse("web:chart_letter_write", args=[patient, stay.pk])
    saved = client.post(url, {**_sections(follow_up=""), "action": "save"})
    assert saved.status_code == 302
    draft = DischargeLetter.objects.get()
    assert draft.signed_at is None and draft.version == 1
    refused = client.post(url, {**_sections(follow_up=""), "action": "sign"})
    assert refused.status_code == 400
    assert DischargeLetter.objects.get().signed_at is None
    with django_capture_on_commit_callbacks(execute=True):
        signed = client.post(url, {**_sections(), "action": "sign"})
    assert signed.status_code == 302
    letter = DischargeLetter.objects.get()
    assert letter.signed_at is not None and letter.signed_by == doctor.practitioner
    assert letter.sent_to == gp.practitioner
    # The treating doctor is told where to read it, and nothing of it.
    assert [m.to for m in mail.outbox] == [["dr.marchand@example.org"]]
    message = mail.outbox[0].subject + mail.outbox[0].body
    assert "/lists/letters/" in message
    for leaked in (FOLLOW_UP, COURSE, str(patient), "DURAND", "Durand"):
        assert leaked not in message
    # Signed: never changed again.
    with opening_scope(), pytest.raises(LetterIsSigned):
        admit(patient)
        letter.follow_up = "changed"
        letter.save()
    # The treating doctor finds it in his list, and reads it.
    received = as_actor(gp, "tests.letters", lambda a: letters_received(actor=a))
    assert [r.id for r in received] == [str(letter.pk)]
    gp_page = client_of(gp).get(reverse("web:chart_letter", args=[patient, letter.pk]))
    assert gp_page.status_code == 200 and FOLLOW_UP in gp_page.content.decode()
    listed = client_of(gp).get(reverse("web:letters_received")).content.decode()
    assert reverse("web:chart_letter", args=[patient, letter.pk]) in listed


def test_a_correction_is_a_new_version_that_replaces_the_signed_one(doctor, patient, stay):
    first = _save(doctor, patient, stay, sign=True)
    page = client_of(doctor).get(reverse("web:chart_letter_write", args=[patient, stay.pk]))
    assert FOLLOW_UP in page.content.decode()  # the correction starts from the signed text
    second = _save(doctor, patient, stay, sign=True, follow_up="Contrôle dans trois mois")
    assert second.version == 2 and second.replaces_id == first.pk
    with opening_scope():
        admit(patient)
        first.refresh_from_db()
        assert first.follow_up == FOLLOW_UP and first.signed_at is not None
    assert DischargeLetter.objects.count() == 2
    body = client_of(doctor).get(reverse("web:chart_letter", args=[patient, first.pk]))
    assert "replaced" in body.content.decode() or "remplacée" in body.content.decode()


def test_one_writer_at_a_time_and_only_for_a_stay(establishment, doctor, patient, stay):
    _save(doctor, patient, stay)
    colleague = member(Role.PRACTITIONER, establishment)
    in_care(patient, colleague)
    with pytest.raises(ValidationError, match="writing this letter"):
        _save(colleague, patient, stay)
    assert DischargeLetter.objects.get().author == doctor


def test_the_pdf_carries_rpps_finess_the_patient_and_a_code(establishment, doctor, patient, stay):
    as_actor(
        doctor,
        "tests.discharge",
        lambda actor: discharge(
            actor=actor, patient_id=patient, encounter_id=stay.pk, destination="home"
        ),
    )
    draft = _save(doctor, patient, stay)
    client = client_of(doctor)
    # A draft is never printed.
    early = client.get(reverse("web:chart_letter_pdf", args=[patient, draft.pk]))
    assert early.status_code == 302 and b"%PDF" not in early.content
    letter = _save(doctor, patient, stay, sign=True)
    response = client.get(
        reverse("web:chart_letter_pdf", args=[patient, letter.pk]), HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"].startswith('inline; filename="lettre-de-liaison-')
    text = _text(response.content)
    sheet = as_actor(
        doctor,
        "tests.sheet",
        lambda a: letter_sheet(actor=a, patient_id=patient, letter_id=letter.pk),
    )
    for expected in (
        "Dr Nadia Benali",
        f"RPPS {doctor.practitioner.rpps}",
        f"FINESS {establishment.finess}",
        "DURAND",
        "Évolution favorable sous antibiothérapie",
        "radiographie thoracique",
        sheet.code,
    ):
        assert expected in text, expected
    assert len(sheet.code) == 14


def test_a_nurse_reads_it_an_outsider_gets_nothing(
    establishment, other_establishment, doctor, patient, stay, unit
):
    letter = _save(doctor, patient, stay, sign=True)
    nurse = member(Role.NURSE, establishment, unit)
    reading = client_of(nurse).get(reverse("web:chart_letter", args=[patient, letter.pk]))
    assert reading.status_code == 200 and FOLLOW_UP in reading.content.decode()
    writing = client_of(nurse).post(
        reverse("web:chart_letter_write", args=[patient, stay.pk]),
        {**_sections(follow_up="Réécrit par l'infirmière"), "action": "sign"},
    )
    assert writing.status_code == 403
    with pytest.raises(Exception):  # noqa: B017 (refused by the guard)
        _save(nurse, patient, stay)
    outsider = member(Role.PRACTITIONER, other_establishment)
    client = client_of(outsider)
    for url in (
        reverse("web:chart_letter", args=[patient, letter.pk]),
        reverse("web:chart_letter_pdf", args=[patient, letter.pk]),
        reverse("web:chart_letter_write", args=[patient, stay.pk]),
    ):
        answer = client.get(url)
        assert answer.status_code in (403, 404), url
        assert FOLLOW_UP not in answer.content.decode(errors="replace")
        assert b"%PDF" not in answer.content
    assert as_actor(outsider, "tests.letters", lambda a: letters_received(actor=a)) == []
    with opening_scope():
        admit(patient)
        assert DischargeLetter.objects.get().follow_up == FOLLOW_UP


def test_nothing_of_the_letter_is_in_clear(doctor, patient, stay):
    _save(doctor, patient, stay, sign=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM clinical_dischargeletter")
        rows = cursor.fetchall()
    raw = repr(rows).encode()
    for sealed in (FOLLOW_UP, COURSE, "Amoxicilline 1 g"):
        assert sealed.encode() not in raw
    assert AuditEntry.objects.filter(reason="discharge letter v1 signed").exists()
    assert not AuditEntry.objects.filter(reason__contains="radiographie").exists()
    assert timezone.now() - DischargeLetter.objects.get().signed_at < datetime.timedelta(minutes=5)
