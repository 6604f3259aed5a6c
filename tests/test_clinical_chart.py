"""Sensitive items on the chart: masked for anyone outside the author's care team (note, its
addenda, prescription, document, and the document's own address), never opened for them,
until they open that category with a reason; the opening expires, and is in the audit log."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.clinical.documents import add_document
from carnet.clinical.models import Medication, SensitiveOpening
from carnet.clinical.notes import write_addendum, write_note
from carnet.clinical.prescriptions import LineInput, prescribe
from carnet.clinical.sensitivity import OPENING_HOURS
from carnet.guard.policy import Role

from .clinical_helpers import as_actor, client_of, consultation, in_care, member, pdf
from .factories import UnitFactory

pytestmark = pytest.mark.django_db
SECRET = "Idées suicidaires scénarisées"
ADDENDUM = "Réévaluation : risque moindre"
SERO_DOC = "Western blot positif"

ORAL = {"route": "oral", "frequency": "matin et soir"}


@pytest.fixture
def psychiatry(establishment):
    return UnitFactory(establishment=establishment, name="Psychiatrie")


@pytest.fixture
def psychiatrist(establishment, psychiatry):
    return member(Role.PRACTITIONER, establishment, psychiatry)


@pytest.fixture
def colleague(establishment, patient):
    user = member(Role.PRACTITIONER, establishment)
    in_care(patient, user)
    return user


@pytest.fixture
def sensitive(psychiatrist, patient):
    encounter = consultation(psychiatrist, patient, reason="Consultation de suivi")
    note = as_actor(
        psychiatrist,
        "tests.note",
        lambda actor: write_note(
            actor=actor,
            patient_id=patient,
            encounter_id=encounter.pk,
            text=SECRET,
            category="psychiatry",
        ),
    )
    as_actor(
        psychiatrist,
        "tests.addendum",
        lambda actor: write_addendum(
            actor=actor, patient_id=patient, note_id=note.pk, text=ADDENDUM
        ),
    )
    truvada = Medication.objects.get(dci__startswith="Emtricitabine / ténofovir")
    prescription = as_actor(
        psychiatrist,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor,
            patient_id=patient,
            lines=[LineInput(truvada.pk, "1 cp par jour", 30, **ORAL)],
        ),
    )
    document = as_actor(
        psychiatrist,
        "tests.doc",
        lambda actor: add_document(
            actor=actor,
            patient_id=patient,
            encounter_id=encounter.pk,
            title="Confirmation sérologique",
            content=pdf(SERO_DOC),
            category="serology",
        ),
    )
    return {"note": note, "rx": prescription, "doc": document}


def _visible(body: str) -> set[str]:
    return {s for s in (SECRET, ADDENDUM, "Emtricitabine", "Confirmation sérologique") if s in body}


def test_the_author_and_the_authors_unit_see_everything(
    establishment, patient, sensitive, psychiatrist, psychiatry
):
    nurse = member(Role.NURSE, establishment, psychiatry)
    in_care(patient, nurse)
    for user in (psychiatrist, nurse):
        body = client_of(user).get(reverse("web:chart", args=[patient])).content.decode()
        assert _visible(body) == {SECRET, ADDENDUM, "Emtricitabine", "Confirmation sérologique"}


def test_others_see_masks_and_nothing_of_the_content(patient, sensitive, colleague):
    client = client_of(colleague)
    response = client.get(reverse("web:chart", args=[patient]))
    body = response.content.decode()
    assert _visible(body) == set()
    assert 'data-category="psychiatry"' in body and 'data-category="serology"' in body
    assert reverse("web:chart_sensitive_open", args=[patient, "psychiatry"]) in body
    # The prescription took the category of its antiretroviral by itself.
    assert sensitive["rx"].category == "serology"
    document = client.get(reverse("web:chart_document", args=[patient, sensitive["doc"].pk]))
    assert document.status_code == 403 and SERO_DOC.encode() not in document.content
    sheet = client.get(reverse("web:chart_prescription", args=[patient, sensitive["rx"].pk]))
    assert sheet.status_code == 200 and "Emtricitabine" not in sheet.content.decode()
    addendum = client.get(reverse("web:chart_addendum", args=[patient, sensitive["note"].pk]))
    assert addendum.status_code == 403 and SECRET not in addendum.content.decode()


def test_a_masked_items_sealed_content_is_never_opened(patient, sensitive, colleague, monkeypatch):
    from carnet.vault import fields

    opened = []
    original = fields.open_value
    monkeypatch.setattr(
        fields,
        "open_value",
        lambda owner, place, blob: opened.append(place) or original(owner, place, blob),
    )
    client_of(colleague).get(reverse("web:chart", args=[patient]))
    assert "clinical.note.text" not in opened
    assert "clinical.document.title" not in opened
    assert "clinical.prescriptionline.dosage" not in opened


def test_opening_a_category_with_a_reason_shows_it_for_hours_and_is_audited(
    patient, sensitive, colleague
):
    client = client_of(colleague)
    url = reverse("web:chart_sensitive_open", args=[patient, "psychiatry"])
    short = client.post(url, {"reason": "voir"}, HTTP_ACCEPT_LANGUAGE="en")
    assert short.status_code == 400 and "at least" in short.content.decode()
    assert not SensitiveOpening.objects.exists()

    opened = client.post(url, {"reason": "Avis avant sortie, demandé par l'équipe"})
    assert opened.status_code == 302 and opened["Location"] == reverse("web:chart", args=[patient])
    entry = AuditEntry.objects.get(request_id=opened["X-Request-ID"])
    assert entry.action == "clinical.sensitive.open"
    assert "psychiatry" in entry.reason and "Avis avant sortie" in entry.reason
    assert entry.patients == f"{patient}:encounter"

    body = client.get(reverse("web:chart", args=[patient])).content.decode()
    assert _visible(body) == {SECRET, ADDENDUM}  # serology stays masked
    later = timezone.now() + datetime.timedelta(hours=OPENING_HOURS, minutes=1)
    with time_machine.travel(later):
        body = client_of(colleague).get(reverse("web:chart", args=[patient])).content.decode()
        assert _visible(body) == set()


def test_the_opening_page_returns_only_to_this_site(patient, sensitive, colleague):
    url = reverse("web:chart_sensitive_open", args=[patient, "serology"])
    response = client_of(colleague).post(
        f"{url}?next=https://evil.example/", {"reason": "Bilan pré-thérapeutique complet"}
    )
    assert response.status_code == 302 and "evil" not in response["Location"]
    lab_like = client_of(colleague).post(
        url, {"reason": "Bilan pré-thérapeutique complet", "next": "/patients/"}
    )
    assert lab_like["Location"] == "/patients/"


def test_unknown_categories_and_roles_without_the_capability_open_nothing(
    establishment, patient, sensitive, colleague
):
    client = client_of(colleague)
    unknown = client.post(
        reverse("web:chart_sensitive_open", args=[patient, "everything"]),
        {"reason": "Je veux tout voir sans raison"},
    )
    assert unknown.status_code == 404
    secretary = member(Role.SECRETARY, establishment)
    in_care(patient, secretary)
    refused = client_of(secretary).post(
        reverse("web:chart_sensitive_open", args=[patient, "psychiatry"]),
        {"reason": "Curiosité de secrétariat"},
    )
    assert refused.status_code == 403
    assert not SensitiveOpening.objects.exists()


def test_outside_the_guard_no_opening_is_made(other_establishment, patient, sensitive):
    stranger = member(Role.PRACTITIONER, other_establishment)
    response = client_of(stranger).post(
        reverse("web:chart_sensitive_open", args=[patient, "psychiatry"]),
        {"reason": "Je passais par là, par curiosité"},
    )
    assert response.status_code == 404
    assert not SensitiveOpening.objects.exists()


def test_the_chart_reads_in_a_fixed_number_of_queries(establishment, patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .clinical_helpers import png

    doctor = member(Role.PRACTITIONER, establishment)
    encounter = consultation(doctor, patient)
    first, second = Medication.objects.all()[:2]
    client = client_of(doctor)
    client.get(reverse("web:chart", args=[patient]))  # the session's first request does more
    counts = []
    for more in (2, 5):
        for n in range(more):
            as_actor(
                doctor,
                "tests.fill",
                lambda actor, n=n: (
                    write_note(
                        actor=actor, patient_id=patient, encounter_id=encounter.pk, text=f"n{n}"
                    ),
                    add_document(
                        actor=actor,
                        patient_id=patient,
                        encounter_id=encounter.pk,
                        title=f"d{n}",
                        content=png(),
                    ),
                    prescribe(
                        actor=actor,
                        patient_id=patient,
                        lines=[
                            LineInput(first.pk, "x", 3, **ORAL),
                            LineInput(second.pk, "y", 3, **ORAL),
                        ],
                        override_reason="Deux dosages du même médicament, voulus",
                    ),
                ),
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("web:chart", args=[patient])).status_code == 200
        # The audit chain's own bookkeeping varies with the chain a request lands on.
        counts.append(
            sum(
                1
                for q in queries.captured_queries
                if "audit_" not in q["sql"] and "SAVEPOINT" not in q["sql"]
            )
        )
    assert counts[0] == counts[1]
