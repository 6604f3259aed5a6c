"""The structured record: allergies ("no known allergy" recorded as such), problems coded in
CIM-10 with their sensitive category, vital signs with a computed BMI and a trend drawn on the
server, current medications derived from running prescriptions; all sealed, all behind the
guard (an outsider is refused, a nurse records vitals and allergies but no problem list), and
sensitive problems and medications masked on the summary."""

import datetime
import re

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.clinical.models import Allergy, Medication, Problem, VitalSigns
from carnet.clinical.prescriptions import LineInput, prescribe
from carnet.clinical.record import (
    bmi,
    record_allergy,
    record_problem,
    record_vitals,
    running_lines,
)
from carnet.guard.boundary import Refused
from carnet.guard.policy import Role
from carnet.vault.scope import admit, opening_scope

from .clinical_helpers import as_actor, client_of, in_care, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def unit(establishment):
    from .factories import UnitFactory

    return UnitFactory(establishment=establishment, name="Cardiologie")


@pytest.fixture
def doctor(establishment, patient):
    user = member(Role.PRACTITIONER, establishment)
    in_care(patient, user)
    return user


def _allergy(user, patient, **fields):
    return as_actor(
        user,
        "tests.allergy",
        lambda actor: record_allergy(actor=actor, patient_id=patient, **fields),
    )


def test_no_known_allergy_is_recorded_and_an_allergy_ends_it(doctor, patient):
    _allergy(doctor, patient, kind="none_known")
    body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert "No known allergy (asked and recorded)." in body
    _allergy(
        doctor,
        patient,
        kind="allergy",
        substance_code="class:penicillins",
        reaction="Urticaire géante",
        severity="severe",
        certainty="confirmed",
    )
    listed = Allergy.objects.filter(patient_id=patient, ended_at__isnull=True)
    assert [a.kind for a in listed] == ["allergy"]
    allergy = listed.get()
    with opening_scope():
        admit(patient)
        assert allergy.substance == "Pénicillines"
    assert b"Urticaire" not in bytes(allergy.reaction_sealed)
    assert b"penicillins" not in bytes(allergy.substance_code_sealed)
    body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert "Pénicillines" in body and "Urticaire géante" in body
    assert "No known allergy (asked and recorded)." not in body
    with pytest.raises(ValidationError):
        _allergy(doctor, patient, kind="none_known")


def test_an_allergy_names_its_substance_severity_and_certainty(doctor, patient):
    for fields in (
        {"kind": "allergy", "severity": "mild", "certainty": "confirmed"},
        {"kind": "allergy", "substance": "Latex", "severity": "", "certainty": "confirmed"},
        {"kind": "allergy", "substance_code": "atc:NOPE", "severity": "mild", "certainty": "x"},
    ):
        with pytest.raises(ValidationError):
            _allergy(doctor, patient, **fields)
    assert not Allergy.objects.exists()


def test_a_problem_is_coded_in_cim10_and_takes_its_sensitive_category(doctor, patient):
    problem = as_actor(
        doctor,
        "tests.problem",
        lambda actor: record_problem(actor=actor, patient_id=patient, code="F32", onset="2019"),
    )
    with opening_scope():
        admit(patient)
        assert problem.label == "Épisode dépressif" and problem.category == "psychiatry"
    assert b"pisode" not in bytes(problem.label_sealed) and b"F32" not in bytes(problem.code_sealed)
    family = as_actor(
        doctor,
        "tests.problem",
        lambda actor: record_problem(
            actor=actor, patient_id=patient, label="Infarctus du père à 50 ans", scope="family"
        ),
    )
    with opening_scope():
        admit(patient)
        assert family.category == "" and family.code == ""
    with pytest.raises(ValidationError):
        as_actor(
            doctor,
            "tests.problem",
            lambda actor: record_problem(actor=actor, patient_id=patient, code="ZZZ"),
        )


def test_sensitive_problems_and_medications_are_masked_on_the_summary(
    establishment, doctor, patient
):
    as_actor(
        doctor,
        "tests.problem",
        lambda actor: record_problem(actor=actor, patient_id=patient, code="B20"),
    )
    as_actor(
        doctor,
        "tests.problem",
        lambda actor: record_problem(actor=actor, patient_id=patient, code="I10"),
    )
    biktarvy = Medication.objects.get(dci__startswith="Bictégravir")
    as_actor(
        doctor,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor,
            patient_id=patient,
            lines=[LineInput(biktarvy.pk, "1 comprimé", 30, route="oral", frequency="par jour")],
        ),
    )
    own = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert "Maladie due au virus" in own and "Bictégravir" in own
    colleague = member(Role.PRACTITIONER, establishment)
    in_care(patient, colleague)
    body = client_of(colleague).get(reverse("web:chart", args=[patient])).content.decode()
    # The code lists of the forms name every code: what matters is the patient's items.
    body = re.sub(r"<select.*?</select>", "", body, flags=re.DOTALL)
    assert "Hypertension essentielle" in body
    assert "Maladie due au virus" not in body and "B20" not in body
    assert "Bictégravir" not in body
    assert body.count('data-category="serology"') >= 2


def test_vitals_are_sealed_with_bmi_and_a_trend(establishment, unit, patient):
    nurse = member(Role.NURSE, establishment, unit)
    in_care(patient, nurse)
    moments = [timezone.now() - datetime.timedelta(hours=h) for h in (6, 3, 0)]
    for number, moment in enumerate(moments):
        as_actor(
            nurse,
            "tests.vitals",
            lambda actor, moment=moment, number=number: record_vitals(
                actor=actor,
                patient_id=patient,
                taken_at=moment,
                values={
                    "systolic": 150 - number * 10,
                    "diastolic": "90",
                    "pulse": 88,
                    "temperature": "38,4",
                    "spo2": 95,
                    "weight": "80",
                    "height": "180",
                    "pain": 0,
                },
            ),
        )
    row = VitalSigns.objects.latest("taken_at")
    assert b"38.4" not in bytes(row.measures_sealed)
    assert bmi(80, 180) == round(80 / 1.8**2, 1)
    response = client_of(nurse).post(
        reverse("web:chart_vitals_add", args=[patient]), {"systolic": "400", "diastolic": "80"}
    )
    assert response.status_code == 400 and VitalSigns.objects.count() == 3
    body = client_of(nurse).get(reverse("web:chart", args=[patient])).content.decode()
    assert "130/90" in body and "24.7" in body.replace(",", ".")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in body and "<polyline" in body
    with pytest.raises(ValidationError):
        as_actor(
            nurse,
            "tests.vitals",
            lambda actor: record_vitals(actor=actor, patient_id=patient, values={"pulse": "x"}),
        )


def test_a_nurse_records_vitals_and_allergies_but_no_problem(establishment, unit, patient):
    nurse = member(Role.NURSE, establishment, unit)
    in_care(patient, nurse)
    client = client_of(nurse)
    assert (
        client.post(reverse("web:chart_vitals_add", args=[patient]), {"pulse": "72"}).status_code
        == 302
    )
    allergy = client.post(
        reverse("web:chart_allergy_add", args=[patient]),
        {"kind": "intolerance", "substance": "Iode", "severity": "mild", "certainty": "suspected"},
    )
    assert allergy.status_code == 302
    problem = client.post(reverse("web:chart_problem_add", args=[patient]), {"code": "I10"})
    assert problem.status_code == 403 and not Problem.objects.exists()


def test_an_outsider_records_nothing_and_reads_nothing(other_establishment, doctor, patient):
    _allergy(
        doctor,
        patient,
        kind="allergy",
        substance_code="class:nsaids",
        severity="moderate",
        certainty="confirmed",
    )
    outsider = member(Role.PRACTITIONER, other_establishment)
    client = client_of(outsider)
    chart = client.get(reverse("web:chart", args=[patient]))
    assert chart.status_code in (403, 404) and "Anti-inflammatoires" not in chart.content.decode()
    for name, data in (
        ("web:chart_vitals_add", {"pulse": "72"}),
        ("web:chart_allergy_add", {"kind": "none_known"}),
        ("web:chart_problem_add", {"code": "I10"}),
    ):
        response = client.post(reverse(name, args=[patient]), data)
        assert response.status_code in (403, 404), name
    assert VitalSigns.objects.count() == 0 and Problem.objects.count() == 0
    assert Allergy.objects.count() == 1
    with pytest.raises(Refused):
        as_actor(
            outsider,
            "tests.vitals",
            lambda actor: record_vitals(actor=actor, patient_id=patient, values={"pulse": 70}),
        )


def test_recording_is_in_the_audit(doctor, patient):
    client = client_of(doctor)
    client.post(reverse("web:chart_allergy_add", args=[patient]), {"kind": "none_known"})
    assert AuditEntry.objects.filter(action="clinical.allergy.record").exists()


def test_current_medications_are_the_running_lines(doctor, patient):
    bisoprolol = Medication.objects.get(dci="Bisoprolol")
    as_actor(
        doctor,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor,
            patient_id=patient,
            lines=[
                LineInput(bisoprolol.pk, "1 comprimé", 10, 1, route="oral", frequency="le matin")
            ],
        ),
    )
    assert [str(line.medication) for line in running_lines(_patient(patient))] == [
        "Bisoprolol 5 mg comprimé"
    ]  # no sealed field opened: the medication and the duration are in clear
    body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert "1 comprimé, le matin, oral" in body
    with time_machine.travel(timezone.now() + datetime.timedelta(days=21), tick=False):
        assert running_lines(_patient(patient)) == []


def _patient(patient_id):
    from carnet.patients.models import Patient

    return Patient.objects.get(pk=patient_id)


def test_a_long_note_is_folded(doctor, patient):
    from carnet.clinical.notes import write_note

    from .clinical_helpers import consultation

    encounter = consultation(doctor, patient)
    text = "Examen clinique détaillé. " * 700
    as_actor(
        doctor,
        "tests.note",
        lambda actor: write_note(
            actor=actor, patient_id=patient, encounter_id=encounter.pk, text=text
        ),
    )
    body = client_of(doctor).get(reverse("web:chart", args=[patient])).content.decode()
    assert "clinical-long-fold" in body and "Read the whole note" in body


def test_medications_reported_by_the_patient_are_current_and_checked(
    establishment, doctor, patient
):
    from carnet.clinical.models import ReportedMedication
    from carnet.clinical.prescriptions import PrescriptionWarnings
    from carnet.clinical.record import end_reported_medication

    client = client_of(doctor)
    warfarin = Medication.objects.get(dci="Warfarine")
    added = client.post(
        reverse("web:chart_reported_add", args=[patient]),
        {"medication": str(warfarin.pk), "dosage": "selon INR, prescrit par son cardiologue"},
    )
    assert added.status_code == 302
    client.post(
        reverse("web:chart_reported_add", args=[patient]),
        {"name": "Traitement antirétroviral (hôpital voisin)", "category": "serology"},
    )
    reported = ReportedMedication.objects.get(medication=warfarin)
    assert b"INR" not in bytes(reported.dosage_sealed)
    body = client.get(reverse("web:chart", args=[patient])).content.decode()
    assert "selon INR" in body and "antirétroviral" in body
    colleague = member(Role.PRACTITIONER, establishment)
    in_care(patient, colleague)
    other = client_of(colleague).get(reverse("web:chart", args=[patient])).content.decode()
    assert "antirétroviral" not in other and 'data-category="serology"' in other
    ibuprofen = Medication.objects.get(dci="Ibuprofène", strength="400 mg")
    with pytest.raises(PrescriptionWarnings) as raised:
        as_actor(
            doctor,
            "tests.rx",
            lambda actor: prescribe(
                actor=actor,
                patient_id=patient,
                lines=[LineInput(ibuprofen.pk, "1 cp", 3, route="oral", frequency="3 fois/j")],
            ),
        )
    assert "reported by the patient" in raised.value.warnings[0].message
    as_actor(
        doctor,
        "tests.end",
        lambda actor: end_reported_medication(
            actor=actor, patient_id=patient, reported_id=reported.pk
        ),
    )
    made = as_actor(
        doctor,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor,
            patient_id=patient,
            lines=[LineInput(ibuprofen.pk, "1 cp", 3, route="oral", frequency="3 fois/j")],
        ),
    )
    assert made.pk
