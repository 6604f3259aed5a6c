"""Prescriptions: practitioners with an RPPS only, medications of the shipped list, a clear
message for each wrong line and nothing half-saved; the printable prescription carries what
an ordonnance must (prescriber and RPPS, establishment and FINESS, patient and birth date,
date, lines); the dosage is sealed."""

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

import carnet.clinical
from carnet.clinical.models import Medication, Prescription, PrescriptionLine
from carnet.clinical.prescriptions import LineInput, prescribe
from carnet.guard.policy import Role

from .clinical_helpers import as_actor, client_of, in_care, member
from .factories import UserFactory

pytestmark = pytest.mark.django_db

ORAL = {"route": "oral", "frequency": "matin et soir"}


@pytest.fixture
def doctor(establishment):
    establishment.address = "3 rue Garibaldi, 69006"
    establishment.save()
    return member(Role.PRACTITIONER, establishment, first_name="Nadia", last_name="Benali")


def _medication(dci, strength):
    return Medication.objects.get(dci=dci, strength=strength)


def _post(client, patient, lines, **fields):
    data = {"line-TOTAL_FORMS": "4", "line-INITIAL_FORMS": "0", "notes": "", **fields}
    for index, (medication, dosage, days, renewals) in enumerate(lines):
        data.update(
            {
                f"line-{index}-medication": str(medication),
                f"line-{index}-dosage": dosage,
                f"line-{index}-route": "oral",
                f"line-{index}-frequency": "par jour",
                f"line-{index}-duration_days": str(days),
                f"line-{index}-renewals": str(renewals),
            }
        )
    return client.post(
        reverse("web:chart_prescribe", args=[patient]), data, HTTP_ACCEPT_LANGUAGE="en"
    )


def test_the_shipped_list_is_loaded_with_real_medications():
    shipped = json.loads(
        (Path(carnet.clinical.__file__).parent / "data" / "medications.json").read_text()
    )
    assert len(shipped) >= 60
    assert Medication.objects.count() == len(shipped)
    paracetamol = _medication("Paracétamol", "1 g")
    assert str(paracetamol) == "Paracétamol 1 g comprimé" and paracetamol.brand == "Doliprane"
    assert _medication("Buprénorphine", "8 mg").sensitive == "addiction"


def test_a_practitioner_prescribes_and_prints(doctor, establishment, patient):
    in_care(patient, doctor)
    client = client_of(doctor)
    amoxicillin = _medication("Amoxicilline", "1 g")
    response = _post(
        client,
        patient,
        [(amoxicillin.pk, "1 comprimé matin et soir", 7, 0)],
        notes="À prendre au milieu des repas",
    )
    assert response.status_code == 302
    prescription = Prescription.objects.get()
    assert response["Location"] == reverse(
        "web:chart_prescription", args=[patient, prescription.pk]
    )
    line = PrescriptionLine.objects.get()
    assert b"matin" not in bytes(line.dosage_sealed)
    sheet = client.get(response["Location"]).content.decode()
    for expected in (
        "Dr Nadia Benali",
        f"RPPS {doctor.practitioner.rpps}",
        establishment.name,
        "3 rue Garibaldi, 69006",
        f"FINESS {establishment.finess}",
        "DURAND",
        "17/05/1980",
        "Amoxicilline 1 g comprimé dispersible",
        "1 comprimé matin et soir",
        "For 7 days",
        "not renewable",
        "À prendre au milieu des repas",
        "data-clinical-print",
        "web/clinical.js",
    ):
        assert expected in sheet, expected
    chart = client.get(reverse("web:chart", args=[patient])).content.decode()
    assert "Amoxicilline 1 g comprimé dispersible" in chart


def test_wrong_lines_say_which_and_save_nothing(doctor, patient):
    in_care(patient, doctor)
    client = client_of(doctor)
    paracetamol = _medication("Paracétamol", "1 g")
    empty = _post(client, patient, [])
    assert empty.status_code == 400 and "at least one medication" in empty.content.decode()
    no_dosage = _post(
        client, patient, [(paracetamol.pk, "1 cp/6h", 5, 0), (paracetamol.pk, "", 3, 0)]
    )
    assert no_dosage.status_code == 400 and "Line 2" in no_dosage.content.decode()
    inactive = _medication("Warfarine", "5 mg")
    Medication.objects.filter(pk=inactive.pk).update(active=False)
    retired = _post(client, patient, [(inactive.pk, "1 cp le soir", 30, 0)])
    assert retired.status_code == 400
    assert not Prescription.objects.exists() and not PrescriptionLine.objects.exists()


def test_only_practitioners_with_an_rpps_prescribe(establishment, patient):
    nurse = member(Role.NURSE, establishment)
    in_care(patient, nurse)
    assert client_of(nurse).get(reverse("web:chart_prescribe", args=[patient])).status_code == 403
    no_rpps = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    in_care(patient, no_rpps)
    paracetamol = _medication("Paracétamol", "1 g")
    with pytest.raises(ValidationError) as refused:
        as_actor(
            no_rpps,
            "tests.rx",
            lambda actor: prescribe(
                actor=actor,
                patient_id=patient,
                lines=[LineInput(paracetamol.pk, "1 cp", 3, **ORAL)],
            ),
        )
    assert "RPPS" in str(refused.value)
    assert not Prescription.objects.exists()


def test_the_history_lists_every_prescription_newest_first(doctor, patient):
    in_care(patient, doctor)
    client = client_of(doctor)
    _post(client, patient, [(_medication("Ibuprofène", "400 mg").pk, "1 cp x3/j", 5, 0)])
    _post(client, patient, [(_medication("Oméprazole", "20 mg").pk, "1 gél le matin", 28, 2)])
    chart = client.get(reverse("web:chart", args=[patient])).content.decode()
    history = chart[chart.index('id="prescriptions"') :]
    assert history.index("Oméprazole") < history.index("Ibuprofène")
    assert chart.count("/chart/prescriptions/") >= 3  # two sheets and the "Prescribe" link
