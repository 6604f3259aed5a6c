"""Every resource type Carnet serves, judged by two validators written by others: fhir.resources
(pydantic models, in every API test through `parsed`) and Medplum's (@medplum/core with the R4
StructureDefinitions, run by node over NDJSON). The corpus is built through the API itself:
reads and searches of each type in the CapabilityStatement, the Bundles and OperationOutcomes
around them, a Binary, a Group, and the lines of a bulk export. Zero errors, and no type of the
registry left unjudged."""

import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from carnet.api.registry import load
from carnet.guard.models import ExportRequest
from carnet.guard.policy import Role
from carnet.organisations.models import Room
from carnet.patients.insurance import record_mandatory_coverage

from .clinical_helpers import as_actor, member
from .conftest import signed_in_client
from .factories import UnitFactory, UserFactory, agenda_with_hours, totp_code
from .fhir_clients import smart
from .fhir_clients.smart import bearer
from .test_fhir_clinical import record  # noqa: F401 (the fixture: a chart with everything)

pytestmark = pytest.mark.django_db
CLIENTS = Path(__file__).parent / "fhir_clients"
API = Client()


def _medplum(resources: list[dict]) -> list[dict]:
    node = shutil.which("node")
    assert node, "node is needed (CI installs it with the machine)"
    assert (CLIENTS / "node_modules" / "@medplum" / "core").exists(), (
        "run npm ci in tests/fhir_clients"
    )
    result = subprocess.run(
        [node, str(CLIENTS / "validate.mjs")],
        input="\n".join(json.dumps(r) for r in resources),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def _allergy_and_problem(author, patient_id) -> None:
    from carnet.clinical.record import (
        record_allergy,
        record_problem,
        record_reported_medication,
        record_vitals,
    )

    as_actor(
        author,
        "tests.allergy",
        lambda actor: record_allergy(
            actor=actor,
            patient_id=patient_id,
            kind="allergy",
            substance_code="atc:J01CA04",
            reaction="Urticaire",
            severity="moderate",
            certainty="confirmed",
        ),
    )
    as_actor(
        author,
        "tests.problem",
        lambda actor: record_problem(actor=actor, patient_id=patient_id, code="I10", onset="2019"),
    )
    as_actor(
        author,
        "tests.vitals",
        lambda actor: record_vitals(
            actor=actor,
            patient_id=patient_id,
            values={"systolic": "128", "diastolic": "79", "spo2": "97", "pain": "3"},
        ),
    )
    as_actor(
        author,
        "tests.reported",
        lambda actor: record_reported_medication(
            actor=actor, patient_id=patient_id, name="Magnésium", dosage="1 gélule le soir"
        ),
    )


def _collect(corpus: list[dict], payload: dict) -> None:
    get_fhir_model_class(payload["resourceType"]).model_validate(payload)
    corpus.append(payload)
    for entry in payload.get("entry", []) if payload["resourceType"] == "Bundle" else []:
        corpus.append(entry["resource"])


def test_every_resource_type_passes_two_validators(record, establishment):  # noqa: F811
    lab, encounter, _ = record
    author = lab.practitioner
    room = Room.objects.create(unit=UnitFactory(establishment=establishment), name="Box 1")
    consultation = agenda_with_hours(establishment, author.practitioner)
    consultation.agenda.room = room
    consultation.agenda.save()
    desk = member(Role.SECRETARY, establishment)
    as_actor(
        desk,
        "tests.amo",
        lambda actor: record_mandatory_coverage(
            actor=actor,
            patient_id=lab.patient,
            data={"scheme": "01", "fund_code": "6910000", "valid_from": datetime.date(2025, 1, 1)},
        ),
    )
    token = smart.user_token(signed_in_client(author), smart.app(), "user/*.cruds")
    corpus: list[dict] = []

    def get(path, query=None, **headers):
        response = API.get(path, query or {}, **headers, **bearer(token))
        assert response.status_code in (200, 400, 403, 404), (path, response.content[:300])
        _collect(corpus, response.json())
        return response.json()

    patient = f"Patient/{lab.patient}"
    get(f"/fhir/{patient}")
    get("/fhir/Patient", {"family": "PAT", "birthdate": "1980-05-17"})
    get("/fhir/Patient", {"family": "x"})  # an OperationOutcome
    for kind in ("Practitioner", "PractitionerRole", "Organization", "Location", "Schedule"):
        get(f"/fhir/{kind}", {"_include": f"{kind}:organization"})
    day = timezone.localdate() + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    slots = get(
        "/fhir/Slot",
        {"schedule": f"Schedule/{consultation.agenda_id}", "start": f"ge{day}", "_count": 1},
    )
    booking = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slots['entry'][0]['resource']['id']}"}],
        "participant": [{"actor": {"reference": patient}, "status": "accepted"}],
    }
    booked = API.post(
        "/fhir/Appointment", booking, content_type="application/fhir+json", **bearer(token)
    )
    assert booked.status_code == 201, booked.content
    get("/fhir/Appointment", {"patient": patient, "_include": "Appointment:slot"})
    _allergy_and_problem(author, lab.patient)
    for kind in (
        "Encounter",
        "MedicationRequest",
        "DocumentReference",
        "Observation",
        "DiagnosticReport",
        "ServiceRequest",
        "Specimen",
        "Coverage",
        "AllergyIntolerance",
        "Condition",
        "MedicationStatement",
    ):
        get(f"/fhir/{kind}", {"patient": patient, "_include": f"{kind}:patient"})
    documents = [r for r in corpus if r["resourceType"] == "DocumentReference"]
    get(
        documents[0]["content"][0]["attachment"]["url"].removeprefix("http://testserver"),
        HTTP_ACCEPT="application/fhir+json",
    )
    group = API.post(
        "/fhir/Group",
        {
            "resourceType": "Group",
            "type": "person",
            "actual": True,
            "name": "Cohorte",
            "member": [{"entity": {"reference": patient}}],
        },
        content_type="application/fhir+json",
        **bearer(token),
    )
    _collect(corpus, group.json())
    _collect(corpus, API.get("/fhir/metadata").json())
    kickoff = API.get(
        f"/fhir/Group/{group.json()['id']}/$export",
        HTTP_PREFER="respond-async",
        **bearer(token),
    )
    officer = signed_in_client(
        UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment])
    )
    officer.post(
        reverse("web:security_export", args=[ExportRequest.objects.get().pk]),
        {"decision": "approve", "token": totp_code(officer.account)},
    )
    manifest = API.get(kickoff["Content-Location"], **bearer(token)).json()
    for output in manifest["output"]:
        lines = API.get(output["url"], **bearer(token)).content.decode().splitlines()
        for line in lines:
            _collect(corpus, json.loads(line))
    security = smart.user_token(
        signed_in_client(UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment])),
        smart.app(),
        "user/*.rs",
    )
    events = API.get("/fhir/AuditEvent", {"_count": 5}, **bearer(security)).json()
    _collect(corpus, events)

    served = set(load())
    judged = {r["resourceType"] for r in corpus}
    assert served <= judged, f"not judged: {sorted(served - judged)}"
    assert {"Bundle", "OperationOutcome", "CapabilityStatement"} <= judged
    # Control: the judge is not blind (an impossible date, an unknown element).
    control = [
        {"resourceType": "Patient", "birthDate": "2026-02-30"},
        {"resourceType": "Slot", "x": 1},
    ]
    results = _medplum(control + corpus)
    assert all(r["issues"] for r in results[:2]), results[:2]
    results = results[2:]
    assert len(results) == len(corpus)
    errors = [
        (r["type"], r["id"], i)
        for r in results
        for i in r["issues"]
        if i.get("severity") in ("error", "fatal")
    ]
    assert errors == [], errors[:10]
