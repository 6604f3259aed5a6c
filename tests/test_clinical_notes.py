"""Notes are written once and never changed: an addendum corrects them and is shown with
them; the original's sealed bytes stay the same. A chart closed by a death (or a merge)
takes no more writing, with a clear message, and nothing half-written stays."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from carnet.clinical.models import Note, NoteIsFinal
from carnet.clinical.notes import write_addendum, write_note
from carnet.guard.boundary import Refused
from carnet.guard.policy import Role
from carnet.patients.models import Patient

from .clinical_helpers import as_actor, client_of, consultation, in_care, member

pytestmark = pytest.mark.django_db
ORIGINAL = "Fracture du radius distal gauche"


@pytest.fixture
def doctor(establishment):
    return member(Role.PRACTITIONER, establishment)


@pytest.fixture
def encounter(doctor, patient):
    return consultation(doctor, patient)


@pytest.fixture
def note(doctor, patient, encounter):
    return as_actor(
        doctor,
        "tests.note",
        lambda actor: write_note(
            actor=actor, patient_id=patient, encounter_id=encounter.pk, text=ORIGINAL
        ),
    )


def test_an_addendum_never_changes_the_original(doctor, establishment, patient, note):
    sealed_before = bytes(Note.objects.get(pk=note.pk).text_sealed)
    colleague = member(Role.PRACTITIONER, establishment)
    in_care(patient, colleague)
    response = client_of(colleague).post(
        reverse("web:chart_addendum", args=[patient, note.pk]),
        {"text": "Correction : côté droit, pas gauche."},
    )
    assert response.status_code == 302
    assert bytes(Note.objects.get(pk=note.pk).text_sealed) == sealed_before
    addendum = Note.objects.get(corrects=note)
    assert addendum.author == colleague and addendum.encounter_id == note.encounter_id
    chart = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    original_at, addendum_at = chart.index(ORIGINAL), chart.index("côté droit, pas gauche")
    assert original_at < addendum_at
    assert chart.count('class="clinical-addendum"') == 1


def test_a_note_cannot_be_saved_again(note):
    stored = Note.objects.get(pk=note.pk)
    stored.text = "Réécrit après coup"
    with pytest.raises(NoteIsFinal):
        stored.save()
    assert not Note.objects.filter(corrects__isnull=False).exists()


def test_an_addendum_to_an_addendum_attaches_to_the_original(doctor, patient, note):
    def add(note_id, text):
        return as_actor(
            doctor,
            "tests.addendum",
            lambda actor: write_addendum(
                actor=actor, patient_id=patient, note_id=note_id, text=text
            ),
        )

    first = add(note.pk, "Premier complément")
    second = add(first.pk, "Second complément")
    assert second.corrects_id == note.pk


def test_an_empty_note_is_refused_with_a_message(doctor, patient, encounter):
    response = client_of(doctor).post(
        reverse("web:chart_note", args=[patient]),
        {"encounter": str(encounter.pk), "text": "   ", "category": ""},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.context["note_form"].errors
    assert not Note.objects.exists()


def test_a_note_goes_to_an_encounter_of_this_patient_only(doctor, establishment, patient):
    from .factories import make_patient

    other = make_patient(establishment, birth_surname="AUTRE")
    elsewhere = consultation(doctor, other)
    with pytest.raises(Refused):
        as_actor(
            doctor,
            "tests.note",
            lambda actor: write_note(
                actor=actor, patient_id=patient, encounter_id=elsewhere.pk, text="Mauvais dossier"
            ),
        )
    assert not Note.objects.exists()


def test_a_deceased_patients_chart_is_read_only(doctor, patient, encounter, note):
    Patient.objects.filter(pk=patient).update(deceased=True)
    client = client_of(doctor)
    chart = client.get(reverse("web:chart", args=[patient]), HTTP_ACCEPT_LANGUAGE="en")
    body = chart.content.decode()
    assert chart.status_code == 200 and ORIGINAL in body and "read-only" in body
    assert 'action="' + reverse("web:chart_note", args=[patient]) + '"' not in body
    posted = client.post(
        reverse("web:chart_note", args=[patient]),
        {"encounter": str(encounter.pk), "text": "Après le décès", "category": ""},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert posted.status_code == 400 and "read-only" in posted.content.decode()
    with pytest.raises(ValidationError) as refused:
        as_actor(
            doctor,
            "tests.addendum",
            lambda actor: write_addendum(
                actor=actor, patient_id=patient, note_id=note.pk, text="x"
            ),
        )
    assert "death" in str(refused.value)
    assert Note.objects.count() == 1
