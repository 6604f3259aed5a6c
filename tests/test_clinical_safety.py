"""Safe prescribing: every line has its dose, route, frequency and duration; before signing,
the prescription is checked against the patient's allergies (by substance and by class) and
current medications (duplicates by substance or class, interactions by the levels of the ANSM
thesaurus); a warning is overridden only with a reason (kept, audited), an allergy
contraindication only with a second confirmation; a nurse cannot prescribe; a masked current
medication warns without being named; the shipped data says its source, date and size."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.clinical.formulary import formulary, interactions, substance_of
from carnet.clinical.models import Medication, Prescription
from carnet.clinical.prescriptions import LineInput, PrescriptionWarnings, prescribe
from carnet.clinical.record import record_allergy
from carnet.guard.policy import Role
from carnet.vault.scope import admit, opening_scope

from .clinical_helpers import as_actor, client_of, in_care, member

pytestmark = pytest.mark.django_db
REASON = "Bénéfice attendu supérieur au risque, surveillance rapprochée"


@pytest.fixture
def doctor(establishment, patient):
    user = member(Role.PRACTITIONER, establishment)
    in_care(patient, user)
    return user


def _med(dci, strength=None):
    query = Medication.objects.filter(dci=dci)
    return (query.filter(strength=strength) if strength else query).first()


def _line(medication, **fields):
    values = {"route": "oral", "frequency": "1 fois par jour", **fields}
    return LineInput(medication.pk, values.pop("dose", "1 comprimé"), 10, **values)


def _rx(user, patient, *medications, **options):
    return as_actor(
        user,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor, patient_id=patient, lines=[_line(m) for m in medications], **options
        ),
    )


def _warnings(user, patient, *medications):
    with pytest.raises(PrescriptionWarnings) as raised:
        _rx(user, patient, *medications)
    return raised.value.warnings


def _allergy(user, patient, code, kind="allergy"):
    as_actor(
        user,
        "tests.allergy",
        lambda actor: record_allergy(
            actor=actor,
            patient_id=patient,
            kind=kind,
            substance_code=code,
            reaction="Œdème de Quincke",
            severity="severe",
            certainty="confirmed",
        ),
    )


def test_the_shipped_data_says_its_source_date_and_size():
    for data in (formulary(), interactions()):
        assert data["source"] and data["date"] and data["reviewed"]
    assert "25 pairs" in interactions()["reviewed"]
    shipped = {m.dci for m in Medication.objects.all()}
    assert shipped <= set(formulary()["substances"])
    assert all(len(entry["atc"]) == 7 for entry in formulary()["substances"].values())
    levels = {pair["level"] for pair in interactions()["pairs"]}
    assert levels <= {"contraindication", "not_recommended", "precaution", "take_into_account"}


@pytest.mark.parametrize(
    "missing, message",
    [
        ({"dose": ""}, "dose"),
        ({"route": ""}, "route"),
        ({"frequency": " "}, "frequency"),
    ],
)
def test_each_line_needs_dose_route_frequency_and_duration(doctor, patient, missing, message):
    bisoprolol = _med("Bisoprolol")
    with pytest.raises(ValidationError) as raised:
        as_actor(
            doctor,
            "tests.rx",
            lambda actor: prescribe(
                actor=actor, patient_id=patient, lines=[_line(bisoprolol, **missing)]
            ),
        )
    assert message in " ".join(raised.value.messages)
    with pytest.raises(ValidationError):
        as_actor(
            doctor,
            "tests.rx",
            lambda actor: prescribe(
                actor=actor,
                patient_id=patient,
                lines=[LineInput(bisoprolol.pk, "1 cp", 0, route="oral", frequency="le matin")],
            ),
        )
    assert not Prescription.objects.exists()


def test_interactions_carry_the_thesaurus_levels(doctor, patient):
    cases = [
        (("Carbonate de lithium", "Ramipril"), "not_recommended"),
        (("Ramipril", "Ibuprofène"), "precaution"),
        (("Tramadol", "Sertraline"), "take_into_account"),
        (("Clopidogrel", "Oméprazole"), "not_recommended"),
    ]
    for names, level in cases:
        found = _warnings(doctor, patient, *[_med(n) for n in names])
        assert [w.level for w in found if w.kind == "interaction"] == [level], names
    # No pair, no warning: signed at once.
    assert _rx(doctor, patient, _med("Amlodipine"), _med("Atorvastatine")).pk


def test_an_interaction_with_a_current_medication_is_found(doctor, patient):
    _rx(doctor, patient, _med("Warfarine"))
    found = _warnings(doctor, patient, _med("Kétoprofène"))
    assert [(w.kind, w.level) for w in found] == [("interaction", "not_recommended")]
    assert "already taken" in found[0].message and "Warfarine" in found[0].message


def test_duplicate_therapy_by_substance_and_by_class(doctor, patient):
    _rx(doctor, patient, _med("Bisoprolol"))
    again = _warnings(doctor, patient, _med("Bisoprolol"))
    assert again[0].kind == "duplicate" and "same substance" in again[0].message
    _rx(doctor, patient, _med("Apixaban"))
    heparin = _warnings(doctor, patient, _med("Énoxaparine sodique"))
    assert heparin[0].kind == "duplicate" and "Anticoagulants" in heparin[0].message
    both = _warnings(doctor, patient, _med("Oméprazole"), _med("Pantoprazole"))
    assert any("on this prescription" in w.message for w in both)


def test_an_allergy_matches_its_substance_and_its_class(doctor, patient):
    _allergy(doctor, patient, "atc:J01CA04")  # amoxicillin
    substance = _warnings(doctor, patient, _med("Amoxicilline", "1 g"))
    assert substance[0].kind == "allergy" and substance[0].level == "contraindication"
    # The combination contains amoxicillin.
    assert _warnings(doctor, patient, _med("Amoxicilline / acide clavulanique"))[
        0
    ].needs_confirmation
    assert substance_of("Amoxicilline / acide clavulanique").classes >= {"penicillins"}


def test_a_class_allergy_matches_every_member(doctor, patient):
    _allergy(doctor, patient, "class:nsaids")
    for name in ("Ibuprofène", "Kétoprofène"):
        found = _warnings(doctor, patient, _med(name))
        assert found[0].kind == "allergy" and "same class" in found[0].message
    assert _rx(doctor, patient, _med("Paracétamol", "1 g")).pk


def test_an_intolerance_warns_at_a_lower_level(doctor, patient):
    _allergy(doctor, patient, "atc:N02AX02", kind="intolerance")
    found = _warnings(doctor, patient, _med("Tramadol"))
    assert found[0].level == "precaution" and not found[0].needs_confirmation
    assert _rx(doctor, patient, _med("Tramadol"), override_reason=REASON).pk


def test_an_override_needs_a_reason_kept_and_audited(doctor, patient):
    _rx(doctor, patient, _med("Apixaban"))
    with pytest.raises(PrescriptionWarnings):
        _rx(doctor, patient, _med("Clopidogrel"), override_reason="ok")
    made = _rx(doctor, patient, _med("Clopidogrel"), override_reason=REASON)
    assert REASON.encode() not in bytes(made.overridden_sealed)
    with opening_scope():
        admit(patient)
        assert REASON in made.overridden and "Interaction" in made.overridden
    chart = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert "clinical-override" in chart and REASON in chart
    entry = AuditEntry.objects.filter(reason__contains="prescription warnings overridden").get()
    assert "interaction:take_into_account" in entry.reason and "Clopidogrel" not in entry.reason


def test_an_allergy_contraindication_needs_a_second_confirmation(doctor, patient):
    _allergy(doctor, patient, "class:penicillins")
    amoxicillin = _med("Amoxicilline", "1 g")
    with pytest.raises(PrescriptionWarnings) as raised:
        _rx(doctor, patient, amoxicillin, override_reason=REASON)
    assert "confirm a second time" in raised.value.messages[0]
    assert not Prescription.objects.exists()
    assert _rx(doctor, patient, amoxicillin, override_reason=REASON, confirm_allergy=True).pk


def test_a_masked_current_medication_warns_without_being_named(establishment, patient):
    from .factories import UnitFactory

    infectiology = UnitFactory(establishment=establishment, name="Maladies infectieuses")
    specialist = member(Role.PRACTITIONER, establishment, infectiology)
    in_care(patient, specialist)
    _rx(specialist, patient, _med("Méthadone (chlorhydrate)"))
    colleague = member(Role.PRACTITIONER, establishment)
    in_care(patient, colleague)
    found = _warnings(colleague, patient, _med("Escitalopram"))
    assert found and all("Méthadone" not in w.message for w in found)
    assert "category you have not opened (Addiction)" in found[0].message


def test_a_nurse_cannot_prescribe(establishment, patient):
    nurse = member(Role.NURSE, establishment)
    in_care(patient, nurse)
    response = client_of(nurse).post(
        reverse("web:chart_prescribe", args=[patient]),
        {
            "line-TOTAL_FORMS": "1",
            "line-INITIAL_FORMS": "0",
            "line-0-medication": str(_med("Bisoprolol").pk),
            "line-0-dosage": "1 comprimé",
            "line-0-route": "oral",
            "line-0-frequency": "le matin",
            "line-0-duration_days": "10",
            "override_reason": REASON,
        },
    )
    assert response.status_code == 403 and not Prescription.objects.exists()


def test_the_page_shows_the_warnings_and_signs_with_a_reason(doctor, patient):
    _allergy(doctor, patient, "class:penicillins")
    client = client_of(doctor)
    data = {
        "line-TOTAL_FORMS": "1",
        "line-INITIAL_FORMS": "0",
        "line-0-medication": str(_med("Amoxicilline", "1 g").pk),
        "line-0-dosage": "1 comprimé",
        "line-0-route": "oral",
        "line-0-frequency": "matin et soir",
        "line-0-duration_days": "7",
    }
    url = reverse("web:chart_prescribe", args=[patient])
    shown = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    body = shown.content.decode()
    assert shown.status_code == 400 and "Contraindication" in body and "Pénicillines" in body
    assert 'name="confirm_allergy"' in body and not Prescription.objects.exists()
    signed = client.post(url, {**data, "override_reason": REASON, "confirm_allergy": "on"})
    assert signed.status_code == 302 and Prescription.objects.count() == 1
