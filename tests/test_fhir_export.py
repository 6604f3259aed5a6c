"""Bulk $export through the FHIR API goes through the same four eyes as the Exports page:
asked with a purpose and a list of IPPs, nothing produced before a security officer approves,
produced once as NDJSON Patient resources encrypted with a key given once, downloadable only
by the requester, gone when it expires."""

import datetime
import json

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse
from fhir.resources.R4B import get_fhir_model_class

from carnet.guard.models import ExportRequest
from carnet.guard.policy import Role
from carnet.patients.models import ExternalIdentifier
from carnet.staff.models import User
from carnet.vault.scope import admit, opening_scope

from .conftest import signed_in_client
from .factories import UserFactory, make_patient
from .fhir_clients import smart
from .fhir_clients.smart import bearer, issue

pytestmark = pytest.mark.django_db
API = Client()


def _ipp(patient_id):
    with opening_scope():
        admit(patient_id)
        return ExternalIdentifier.objects.get(patient_id=patient_id).value


@pytest.fixture
def cohort(establishment):
    return [
        _ipp(make_patient(establishment, birth_surname=f"COHORTE{chr(65 + n)}")) for n in range(25)
    ]


@pytest.fixture
def officer(establishment):
    return signed_in_client(UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment]))


def test_an_export_waits_for_approval_and_leaves_encrypted_once(
    staff, establishment, cohort, officer
):
    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    kickoff = API.get(
        "/fhir/$export",
        {"purpose": "Étude de cohorte", "identifier": ",".join(cohort)},
        HTTP_PREFER="respond-async",
        **bearer(token),
    )
    assert kickoff.status_code == 202, kickoff.content
    status_url = kickoff["Content-Location"]
    export = ExportRequest.objects.get()
    assert export.count == 25 and export.requested_by_id == user.pk
    pending = API.get(status_url, **bearer(token))
    assert pending.status_code == 202 and "approval" in pending["X-Progress"]
    assert API.get(f"/fhir/$export-file/{export.pk}", **bearer(token)).status_code == 404
    group = API.get(f"/fhir/Group/{export.pk}/$export", **bearer(token))
    assert group.status_code == 202 and group["Content-Location"] == status_url

    officer.post(reverse("web:security_export", args=[export.pk]), {"decision": "approve"})
    done = API.get(status_url, **bearer(token))
    assert done.status_code == 200, done.content
    manifest = done.json()
    key = manifest["extension"]["https://carnet.invalid/fhir/export-key"]
    assert manifest["output"][0]["count"] == 25 and manifest["requiresAccessToken"] is True
    # Twenty-five patients, past the weekly budget: four eyes replaced it, no containment.
    assert User.objects.get(pk=user.pk).is_active
    sealed = API.get(manifest["output"][0]["url"], **bearer(token))
    assert sealed.status_code == 200 and b"COHORTE" not in sealed.content
    lines = Fernet(key.encode()).decrypt(sealed.content).decode().splitlines()
    assert len(lines) == 25
    for line in lines:
        resource = json.loads(line)
        get_fhir_model_class("Patient").model_validate(resource)
        assert resource["name"][0]["family"].startswith("COHORTE")
        assert resource["identifier"][0]["value"] in cohort
    again = API.get(status_url, **bearer(token)).json()
    assert "https://carnet.invalid/fhir/export-key" not in again["extension"]
    # Only the requester, and never after it expired.
    _, other_browser = staff(Role.SECRETARY)
    other = smart.user_token(other_browser, smart.app(), "user/*.rs")
    assert API.get(status_url, **bearer(other)).status_code == 404
    assert API.get(manifest["output"][0]["url"], **bearer(other)).status_code == 404
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=2)
    with time_machine.travel(later):
        fresh = smart.user_token(signed_in_client(user), smart.app(), "user/*.rs")
        assert API.get(manifest["output"][0]["url"], **bearer(fresh)).status_code == 404
        assert API.get(status_url, **bearer(fresh)).status_code == 410


def test_export_needs_a_purpose_a_list_and_the_role(staff, cohort):
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    vague = API.get("/fhir/Patient/$export", {"identifier": cohort[0]}, **bearer(token))
    assert vague.status_code == 422 and "what the export is for" in issue(vague)["diagnostics"]
    assert not ExportRequest.objects.exists()
    _, nurse_browser = staff(Role.NURSE)
    nurse = smart.user_token(nurse_browser, smart.app(), "user/*.rs")
    refused = API.get("/fhir/$export", {"purpose": "x", "identifier": cohort[0]}, **bearer(nurse))
    assert refused.status_code == 403


def test_a_patient_token_cannot_export(staff, establishment):
    patient = make_patient(establishment)
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "launch/patient patient/*.rs", patient=patient)
    response = API.get("/fhir/$export", {"purpose": "x", "identifier": "1"}, **bearer(token))
    assert response.status_code == 403 and not ExportRequest.objects.exists()


def test_a_canary_in_an_api_export_is_containment(staff, establishment, cohort, officer):
    canary = make_patient(establishment, birth_surname="CANARIUS", canary=True)
    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    kickoff = API.get(
        "/fhir/$export",
        {"purpose": "cohorte", "identifier": ",".join([*cohort[:3], _ipp(canary)])},
        **bearer(token),
    )
    export = ExportRequest.objects.get()
    officer.post(reverse("web:security_export", args=[export.pk]), {"decision": "approve"})
    produced = API.get(kickoff["Content-Location"], **bearer(token))
    assert produced.status_code == 403 and b"CANARIUS" not in produced.content
    assert not User.objects.get(pk=user.pk).is_active
    export.refresh_from_db()
    assert export.sealed_file is None
    assert API.get(kickoff["Content-Location"], **bearer(token)).status_code == 401
