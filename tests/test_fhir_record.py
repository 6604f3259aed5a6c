"""Allergies and problems through the FHIR API, read through the chart selector:
AllergyIntolerance (ATC-coded substance, "no known allergy" as SNOMED CT) and Condition
(CIM-10 as ICD-10), valid R4 (fhir.resources, in `parsed`); a sensitive problem is left out
of a colleague's search and refused on read; a token without the scope, or an account of
another establishment, reads nothing."""

import pytest
from django.test import Client

from carnet.clinical.record import record_allergy, record_problem
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate

from .clinical_helpers import as_actor, client_of
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
