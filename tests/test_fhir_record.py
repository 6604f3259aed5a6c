"""Allergies and problems through the FHIR API, read through the chart selector:
AllergyIntolerance (ATC-coded substance, "no known allergy" as SNOMED CT) and Condition
(CIM-10 as ICD-10), valid R4 (fhir.resources, in `parsed`); a sensitive problem is left out
of a colleague's search and refused on read; a token without the scope, or an account of
another establishment, reads nothing."""

import pytest
from django.test import Client

from carnet.clinical.models import Medication
from carnet.clinical.prescriptions import LineInput, prescribe
from carnet.clinical.record import (
    record_allergy,
    record_problem,
    record_reported_medication,
    record_vitals,
)
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate

from .clinical_helpers import as_actor, client_of, load_medications
from .fhir_clients import smart
from .fhir_clients.smart import bearer, parsed
from .laboratory_fixtures import make_lab, staff_user

pytestmark = pytest.mark.django_db
API = Client()


def _token(user, scopes="user/*.rs"):
    return smart.user_token(client_of(user), smart.app(), scopes)


@pytest.fixture
def lab(establishment):
    lab = make_lab(establishment)
    author = lab.practitioner
    as_actor(
        author,
        "tests.allergy",
        lambda actor: record_allergy(actor=actor, patient_id=lab.patient, kind="none_known"),
    )
    as_actor(
        author,
        "tests.allergy",
        lambda actor: record_allergy(
            actor=actor,
            patient_id=lab.patient,
            kind="allergy",
            substance_code="atc:J01CA04",
            reaction="Urticaire géante",
            severity="severe",
            certainty="confirmed",
        ),
    )
    for code in ("I10", "F32"):
        as_actor(
            author,
            "tests.problem",
            lambda actor, code=code: record_problem(actor=actor, patient_id=lab.patient, code=code),
        )
    return lab


def test_the_author_reads_allergies_and_conditions(lab):
    token = _token(lab.practitioner)
    query = {"patient": f"Patient/{lab.patient}"}
    allergies = parsed(API.get("/fhir/AllergyIntolerance", query, **bearer(token)))
    [allergy] = [e["resource"] for e in allergies["entry"]]
    assert allergy["code"]["coding"][0] == {
        "system": "http://www.whocc.no/atc",
        "code": "J01CA04",
        "display": "Amoxicilline",
    }
    assert allergy["criticality"] == "high" and allergy["reaction"][0]["severity"] == "severe"
    conditions = parsed(API.get("/fhir/Condition", query, **bearer(token)))
    codes = {e["resource"]["code"]["coding"][0]["code"] for e in conditions["entry"]}
    assert codes == {"I10", "F32"}
    one = parsed(API.get(f"/fhir/AllergyIntolerance/{allergy['id']}", **bearer(token)))
    assert one["patient"]["reference"] == f"Patient/{lab.patient}"


def test_no_known_allergy_is_served_as_such(establishment):
    lab = make_lab(establishment)
    as_actor(
        lab.practitioner,
        "tests.allergy",
        lambda actor: record_allergy(actor=actor, patient_id=lab.patient, kind="none_known"),
    )
    found = parsed(
        API.get(
            "/fhir/AllergyIntolerance",
            {"patient": f"Patient/{lab.patient}"},
            **bearer(_token(lab.practitioner)),
        )
    )
    assert found["entry"][0]["resource"]["code"]["coding"][0]["code"] == "716186003"


def test_a_sensitive_condition_is_left_out_for_a_colleague(lab):
    colleague = staff_user(Role.PRACTITIONER, lab.hospital, last_name="Collegue")
    relate(patient_id=lab.patient, kind=RelationshipKind.APPOINTMENT, user_id=colleague.pk)
    token = _token(colleague)
    found = parsed(
        API.get("/fhir/Condition", {"patient": f"Patient/{lab.patient}"}, **bearer(token))
    )
    codes = [
        e["resource"]["code"]["coding"][0]["code"]
        for e in found.get("entry", [])
        if e["resource"]["resourceType"] == "Condition"
    ]
    assert codes == ["I10"] and "Psychiatry" in str(found)
    from carnet.clinical.models import Problem

    hidden = Problem.objects.get(category="psychiatry").pk
    refused = API.get(f"/fhir/Condition/{hidden}", **bearer(token))
    assert refused.status_code == 403 and "pisode" not in refused.content.decode()


def test_scopes_and_outsiders_are_refused(lab, other_establishment):
    narrow = _token(lab.practitioner, "user/Patient.rs")
    query = {"patient": f"Patient/{lab.patient}"}
    assert API.get("/fhir/AllergyIntolerance", query, **bearer(narrow)).status_code == 403
    outsider = staff_user(Role.PRACTITIONER, other_establishment, last_name="Ailleurs")
    response = API.get("/fhir/Condition", query, **bearer(_token(outsider)))
    assert response.status_code in (403, 404) and "I10" not in response.content.decode()


def test_current_medications_and_vital_signs_through_fhir(lab):
    """MedicationStatement: the running prescription (ATC-coded) and the medication the
    patient reports; Observation of the vital-signs category: the blood pressure as a panel
    with its components, each other measure with LOINC and UCUM, the BMI computed; both read
    one by one; the laboratory's results and the vital signs apart by category."""
    load_medications()
    author = lab.practitioner
    bisoprolol = Medication.objects.filter(dci="Bisoprolol").first()
    as_actor(
        author,
        "tests.rx",
        lambda actor: prescribe(
            actor=actor,
            patient_id=lab.patient,
            lines=[LineInput(bisoprolol.pk, "1 cp", 30, route="oral", frequency="le matin")],
        ),
    )
    as_actor(
        author,
        "tests.reported",
        lambda actor: record_reported_medication(
            actor=actor, patient_id=lab.patient, name="Magnésium marin", dosage="1 gélule"
        ),
    )
    as_actor(
        author,
        "tests.vitals",
        lambda actor: record_vitals(
            actor=actor,
            patient_id=lab.patient,
            values={
                "systolic": "142",
                "diastolic": "88",
                "pulse": "64",
                "weight": "80.5",
                "height": "175",
                "temperature": "37.8",
            },
        ),
    )
    lab.done({"2823-3": "4.1"})
    token = _token(author)
    query = {"patient": f"Patient/{lab.patient}"}
    statements = parsed(API.get("/fhir/MedicationStatement", query, **bearer(token)))
    by_text = {
        e["resource"]["medicationCodeableConcept"]["text"]: e["resource"]
        for e in statements["entry"]
    }
    [prescribed] = [r for text, r in by_text.items() if text.startswith("Bisoprolol")]
    assert prescribed["medicationCodeableConcept"]["coding"][0]["code"] == "C07AB07"
    assert prescribed["status"] == "active" and "end" in prescribed["effectivePeriod"]
    assert "le matin" in prescribed["dosage"][0]["text"]
    reported = by_text["Magnésium marin"]
    assert reported["informationSource"] == {"reference": f"Patient/{lab.patient}"}
    again = parsed(API.get(f"/fhir/MedicationStatement/{reported['id']}", **bearer(token)))
    assert again["medicationCodeableConcept"]["text"] == "Magnésium marin"

    vitals = parsed(
        API.get("/fhir/Observation", {**query, "category": "vital-signs"}, **bearer(token))
    )
    found = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in vitals["entry"]}
    assert set(found) == {"85354-9", "8867-4", "29463-7", "8302-2", "39156-5", "8310-5"}
    panel = found["85354-9"]
    assert [c["valueQuantity"]["value"] for c in panel["component"]] == [142, 88]
    assert panel["component"][0]["valueQuantity"]["code"] == "mm[Hg]"
    assert found["8310-5"]["valueQuantity"] == {
        "value": 37.8,
        "unit": "°C",
        "system": "http://unitsofmeasure.org",
        "code": "Cel",
    }
    assert found["39156-5"]["valueQuantity"]["value"] == 26.3  # 80.5 / 1.75²
    for resource in found.values():
        assert resource["category"][0]["coding"][0]["code"] == "vital-signs"
    one = parsed(API.get(f"/fhir/Observation/{found['8867-4']['id']}", **bearer(token)))
    assert one["valueQuantity"]["value"] == 64
    labs = parsed(
        API.get("/fhir/Observation", {**query, "category": "laboratory"}, **bearer(token))
    )
    assert [e["resource"]["code"]["coding"][0]["code"] for e in labs["entry"]] == ["2823-3"]
    everything = parsed(API.get("/fhir/Observation", query, **bearer(token)))
    assert len(everything["entry"]) == len(found) + 1
    pulse = parsed(
        API.get("/fhir/Observation", {**query, "code": "http://loinc.org|8867-4"}, **bearer(token))
    )
    assert [e["resource"]["id"] for e in pulse["entry"]] == [found["8867-4"]["id"]]
    unknown = API.get("/fhir/Observation", {**query, "category": "imaging"}, **bearer(token))
    assert unknown.status_code == 400


def test_an_outsider_reads_no_medication_nor_vital_sign(lab, other_establishment):
    as_actor(
        lab.practitioner,
        "tests.vitals",
        lambda actor: record_vitals(actor=actor, patient_id=lab.patient, values={"pulse": "70"}),
    )
    token = _token(lab.practitioner)
    [pulse] = parsed(
        API.get(
            "/fhir/Observation",
            {"patient": lab.patient, "category": "vital-signs"},
            **bearer(token),
        )
    )["entry"]
    outsider = staff_user(Role.PRACTITIONER, other_establishment, last_name="Ailleurs")
    theirs = _token(outsider)
    for url, params in (
        ("/fhir/Observation", {"patient": lab.patient, "category": "vital-signs"}),
        ("/fhir/MedicationStatement", {"patient": lab.patient}),
        (f"/fhir/Observation/{pulse['resource']['id']}", {}),
    ):
        response = API.get(url, params, **bearer(theirs))
        assert response.status_code in (403, 404), url
        assert b'"value": 70' not in response.content and b"8867-4" not in response.content
