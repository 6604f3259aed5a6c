"""FHIR Bulk Data Access as the IG describes it, through the guard's four eyes: the plain
kick-off (Prefer: respond-async) answers 202 with a status URL; the status says it waits for a
security officer; once approved, the first poll produces one NDJSON file per type (every line
a valid resource), listed in the manifest and served to the requester's token only, sealed at
rest (nothing readable in the raw row), gone with its key when the export expires; DELETE
cancels; Patient level takes `patient` in a POSTed Parameters, Group level a Group of one's
own; a canary in an export is containment."""

import datetime
import json

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from fhir.resources.R4B import get_fhir_model_class

from carnet.guard.models import ExportRequest, ExportStatus
from carnet.guard.policy import Role
from carnet.staff.models import User
from carnet.vault.models import DataKey

from .conftest import signed_in_client
from .factories import UserFactory, make_patient, totp_code
from .fhir_clients import smart
from .fhir_clients.smart import bearer, issue

pytestmark = pytest.mark.django_db
API = Client()
ASYNC = {"HTTP_PREFER": "respond-async", "HTTP_ACCEPT": "application/fhir+json"}


@pytest.fixture
def cohort(establishment):
    return [make_patient(establishment, birth_surname=f"COHORTE{chr(65 + n)}") for n in range(12)]


@pytest.fixture
def officer(establishment):
    return signed_in_client(UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment]))


def _approve(officer, export_id):
    """The security officer approves, confirming with the second factor."""
    answer = officer.post(
        reverse("web:security_export", args=[export_id]),
        {"decision": "approve", "token": totp_code(officer.account)},
    )
    assert answer.status_code in (200, 302), answer.content[:300]
    assert ExportRequest.objects.get(pk=export_id).status == ExportStatus.APPROVED


def _lines(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/fhir+ndjson")
    found = []
    for line in response.content.decode().splitlines():
        resource = json.loads(line)
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        found.append(resource)
    return found


def test_plain_kickoff_to_ndjson_after_approval(staff, establishment, cohort, officer):
    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    assert API.get("/fhir/$export", **bearer(token)).status_code == 400  # no respond-async
    kickoff = API.get("/fhir/$export", **ASYNC, **bearer(token))
    assert kickoff.status_code == 202, kickoff.content
    status_url = kickoff["Content-Location"]
    export = ExportRequest.objects.get()
    assert export.count == len(cohort) and export.requested_by_id == user.pk
    assert "COHORTE" not in export.identifiers and "COHORTE" not in export.purpose
    pending = API.get(status_url, **bearer(token))
    assert pending.status_code == 202 and "approval" in pending["X-Progress"]
    assert (
        API.get(f"/fhir/$export-file/{export.pk}/Patient.ndjson", **bearer(token)).status_code
        == 404
    )

    _approve(officer, export.pk)
    done = API.get(status_url, **bearer(token))
    assert done.status_code == 200, done.content
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True and manifest["request"].endswith(
        "$export?_type=Patient%2CCoverage%2CAppointment"
    )
    files = {o["type"]: o for o in manifest["output"]}
    assert files["Patient"]["count"] == len(cohort)
    patients = _lines(API.get(files["Patient"]["url"], **bearer(token)))
    assert sorted(p["id"] for p in patients) == sorted(cohort)
    assert all(p["name"][0]["family"].startswith("COHORTE") for p in patients)
    # Twelve patients, past the hourly budget: four eyes replaced it, no containment.
    assert User.objects.get(pk=user.pk).is_active
    # Sealed at rest: the row holds no name, and the same manifest comes back on each poll.
    export.refresh_from_db()
    assert export.status == ExportStatus.PRODUCED and b"COHORTE" not in bytes(export.sealed_file)
    assert API.get(status_url, **bearer(token)).json()["output"] == manifest["output"]
    # Only the requester.
    _, other_browser = staff(Role.SECRETARY)
    other = smart.user_token(other_browser, smart.app(), "user/*.rs")
    assert API.get(status_url, **bearer(other)).status_code == 404
    assert API.get(files["Patient"]["url"], **bearer(other)).status_code == 404
    # Gone when it expires, with its key.
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=2)
    with time_machine.travel(later):
        fresh = smart.user_token(signed_in_client(user), smart.app(), "user/*.rs")
        assert API.get(files["Patient"]["url"], **bearer(fresh)).status_code == 404
        assert API.get(status_url, **bearer(fresh)).status_code == 410
        call_command("export", "expire")  # the daily job erases files and shreds their keys
    export.refresh_from_db()
    assert export.sealed_file is None
    assert DataKey.objects.filter(wrapped__isnull=True).count() == 1


def test_patient_level_with_parameters_and_types(staff, establishment, cohort, officer):
    _, browser = staff(Role.PRACTITIONER)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient,Encounter"},
            {"name": "patient", "valueReference": {"reference": f"Patient/{cohort[0]}"}},
            {"name": "patient", "valueReference": {"reference": f"Patient/{cohort[1]}"}},
            {"name": "purpose", "valueString": "Suivi de cohorte"},
        ],
    }
    kickoff = API.post(
        "/fhir/Patient/$export",
        body,
        content_type="application/fhir+json",
        **ASYNC,
        **bearer(token),
    )
    assert kickoff.status_code == 202, kickoff.content
    export = ExportRequest.objects.get()
    assert export.count == 2 and export.purpose.startswith("Suivi de cohorte")
    _approve(officer, export.pk)
    manifest = API.get(kickoff["Content-Location"], **bearer(token)).json()
    assert {o["type"] for o in manifest["output"]} == {"Patient"}  # no encounter yet
    patients = _lines(API.get(manifest["output"][0]["url"], **bearer(token)))
    assert sorted(p["id"] for p in patients) == sorted(cohort[:2])
    refused = API.get("/fhir/$export", {"_type": "AuditEvent"}, **ASYNC, **bearer(token))
    assert refused.status_code == 400 and "AuditEvent" in issue(refused)["diagnostics"]
    wrong = API.get("/fhir/$export", {"_outputFormat": "text/csv"}, **ASYNC, **bearer(token))
    assert wrong.status_code == 400
    bad_since = API.get("/fhir/$export", {"_since": "2026-02-30"}, **ASYNC, **bearer(token))
    assert bad_since.status_code == 400


def test_group_level_and_cancel(staff, establishment, cohort, officer):
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.crs")
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "name": "Rappel vaccinal",
        "member": [{"entity": {"reference": f"Patient/{p}"}} for p in cohort[:3]],
    }
    created = API.post("/fhir/Group", group, content_type="application/fhir+json", **bearer(token))
    assert created.status_code == 201, created.content
    group_id = created.json()["id"]
    kickoff = API.get(f"/fhir/Group/{group_id}/$export", **ASYNC, **bearer(token))
    assert kickoff.status_code == 202
    export = ExportRequest.objects.get()
    assert export.count == 3 and export.purpose.startswith("Rappel vaccinal")
    # Someone else's group is no one's.
    _, other_browser = staff(Role.SECRETARY)
    other = smart.user_token(other_browser, smart.app(), "user/*.rs")
    assert API.get(f"/fhir/Group/{group_id}/$export", **ASYNC, **bearer(other)).status_code == 404
    assert API.get(f"/fhir/Group/{group_id}", **bearer(other)).status_code == 404
    cancelled = API.delete(kickoff["Content-Location"], **bearer(token))
    assert cancelled.status_code == 202
    export.refresh_from_db()
    assert export.status == ExportStatus.EXPIRED
    assert API.get(kickoff["Content-Location"], **bearer(token)).status_code == 410


def test_a_patient_token_or_a_role_without_exports_cannot_export(staff, establishment):
    patient = make_patient(establishment)
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "launch/patient patient/*.rs", patient=patient)
    response = API.get("/fhir/$export", **ASYNC, **bearer(token))
    assert response.status_code == 403 and "insufficient_scope" in response["WWW-Authenticate"]
    _, nurse_browser = staff(Role.NURSE)
    nurse = smart.user_token(nurse_browser, smart.app(), "user/*.rs")
    assert API.get("/fhir/$export", **ASYNC, **bearer(nurse)).status_code == 403
    assert not ExportRequest.objects.exists()


def test_a_canary_in_an_api_export_is_containment(staff, establishment, cohort, officer):
    canary = make_patient(establishment, birth_surname="CANARIUS", canary=True)
    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    kickoff = API.get(
        "/fhir/Patient/$export",
        {"patient": [f"Patient/{cohort[0]}", f"Patient/{canary}"]},
        **ASYNC,
        **bearer(token),
    )
    export = ExportRequest.objects.get()
    _approve(officer, export.pk)
    produced = API.get(kickoff["Content-Location"], **bearer(token))
    assert produced.status_code == 403 and b"CANARIUS" not in produced.content
    assert not User.objects.get(pk=user.pk).is_active
    export.refresh_from_db()
    assert export.sealed_file is None
    assert API.get(kickoff["Content-Location"], **bearer(token)).status_code == 401


def test_the_raw_database_holds_no_exported_name(staff, establishment, cohort, officer):
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    kickoff = API.get("/fhir/$export", {"_type": "Patient"}, **ASYNC, **bearer(token))
    _approve(officer, ExportRequest.objects.get().pk)
    assert API.get(kickoff["Content-Location"], **bearer(token)).status_code == 200
    with connection.cursor() as cursor:
        for table in ("guard_exportrequest", "api_bulkexport", "audit_auditentry"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (fixed names)
            dump = repr(cursor.fetchall())
            assert "COHORTE" not in dump, table
