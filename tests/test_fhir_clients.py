"""Two FHIR clients written by others, as independent judges, against a live server on
127.0.0.1: the Python `fhirclient` (SMART's own) and the npm `fhir-kit-client`. A backend
service gets its token over HTTP (client credentials); the Python client books appointments
from free slots, reads the patient, searches the appointments and pages through them; the JS
client discovers the SMART endpoints, reads the patient and pages through the same search.
Every answer either client received parses with fhir.resources."""

import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import client as fhir
from fhirclient.models.appointment import Appointment
from fhirclient.models.fhirreference import FHIRReference
from fhirclient.models.patient import Patient
from fhirclient.models.slot import Slot

from carnet.guard.policy import Role

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .fhir_clients import smart

pytestmark = pytest.mark.django_db(transaction=True)
CLIENTS = Path(__file__).parent / "fhir_clients"
BOOKED = 3


def _check(payload: dict) -> None:
    get_fhir_model_class(payload["resourceType"]).model_validate(payload)


@pytest.fixture
def world(live_server, establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    patient = make_patient(establishment, birth_surname="LIVESERVER")
    UserFactory(username="svc.clients", role=Role.SECRETARY, establishments=[establishment])
    service = smart.backend("svc.clients", scopes="system/*.crs")
    answer = requests.post(
        f"{live_server.url}/fhir/oauth/token/",
        data={"grant_type": "client_credentials", "scope": "system/*.crs"},
        auth=(service.client_id, service.client_secret),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return {
        "base": f"{live_server.url}/fhir/",
        "token": answer.json()["access_token"],
        "patient": patient,
        "schedule": consultation.agenda_id,
    }


def _python_client(world: dict, seen: list) -> fhir.FHIRClient:
    connection = fhir.FHIRClient(settings={"app_id": "carnet-tests", "api_base": world["base"]})
    connection.server.session.headers["Authorization"] = f"Bearer {world['token']}"
    connection.server.session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    return connection


def test_python_fhirclient_books_reads_and_pages(world):
    seen: list = []
    server = _python_client(world, seen).server
    monday = timezone.localdate() + datetime.timedelta(days=7 - timezone.localdate().weekday())
    # fhirclient's own range syntax (it sends ">=" for FHIR's "ge").
    slots = Slot.where(
        struct={
            "schedule": f"Schedule/{world['schedule']}",
            "start": {"$gte": str(monday)},
            "_count": "2",
        }
    )
    free = []
    for slot in slots.perform_resources_iter(server):
        free.append(slot)
        if len(free) == BOOKED:
            break
    assert len(free) == BOOKED
    for slot in free:
        appointment = Appointment(
            {
                "status": "booked",
                "slot": [{"reference": f"Slot/{slot.id}"}],
                "participant": [
                    {"actor": {"reference": f"Patient/{world['patient']}"}, "status": "accepted"}
                ],
            }
        )
        created = appointment.create(server)
        assert created["resourceType"] == "Appointment"
        assert datetime.datetime.fromisoformat(created["start"]) == slot.start.datetime
    patient = Patient.read(world["patient"], server)
    assert patient.name[0].family == "LIVESERVER" and patient.birthDate.isostring == "1980-05-17"
    search = Appointment.where(struct={"patient": f"Patient/{world['patient']}", "_count": "1"})
    pages = list(search.perform_iter(server))
    assert len(pages) == BOOKED
    found = [entry.resource for page in pages for entry in page.entry]
    assert sorted(a.start.datetime for a in found) == sorted(s.start.datetime for s in free)
    assert all(isinstance(a.participant[0].actor, FHIRReference) for a in found)
    checked = 0
    for response in seen:
        if response.headers.get("Content-Type", "").startswith("application/fhir+json"):
            _check(response.json())
            checked += 1
    assert checked >= BOOKED + len(pages) + 1


def test_npm_fhir_kit_client_reads_and_pages(world):
    node = shutil.which("node")
    assert node, "node is needed (CI installs it with the machine)"
    assert (CLIENTS / "node_modules" / "fhir-kit-client").exists(), (
        "run npm ci in tests/fhir_clients"
    )
    # Two appointments to page through, booked through the API itself.
    seen: list = []
    server = _python_client(world, seen).server
    monday = timezone.localdate() + datetime.timedelta(days=7 - timezone.localdate().weekday())
    for slot in list(
        Slot.where(
            struct={"schedule": f"Schedule/{world['schedule']}", "start": f"ge{monday}"}
        ).perform_resources_iter(server)
    )[:2]:
        Appointment(
            {
                "status": "booked",
                "slot": [{"reference": f"Slot/{slot.id}"}],
                "participant": [
                    {"actor": {"reference": f"Patient/{world['patient']}"}, "status": "accepted"}
                ],
            }
        ).create(server)
    result = subprocess.run(
        [node, str(CLIENTS / "read_and_page.mjs"), world["base"], world["token"], world["patient"]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["auth"]["tokenUrl"].endswith("/fhir/oauth/token/")
    assert out["patient"]["id"] == world["patient"]
    assert out["pages"] == 2 and len(set(out["appointments"])) == 2
    assert out["notFound"]["status"] == 404
    assert out["notFound"]["data"]["resourceType"] == "OperationOutcome"
    for payload in out["responses"]:
        _check(payload)
