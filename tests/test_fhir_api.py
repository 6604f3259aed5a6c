"""The FHIR API's resources and errors: what each interaction returns (validated by
fhir.resources), French identifiers, the "specific enough" search rule, versions, paging,
and an OperationOutcome for every error. Tokens come from the real OAuth endpoints."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.guard.policy import Role

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .fhir_clients import smart
from .fhir_clients.smart import bearer, issue, parsed

pytestmark = pytest.mark.django_db
API = Client()
NIR = "280057512345674"  # F, 1980-05, born in 75123 (checksum valid)


@pytest.fixture
def desk(staff):
    """A secretary's app token with every user/ scope."""
    user, browser = staff(Role.SECRETARY)
    return user, smart.user_token(browser, smart.app(), "user/*.cruds")


def test_metadata_and_smart_configuration_are_generated_and_public():
    statement = parsed(API.get("/fhir/metadata"))
    assert statement["resourceType"] == "CapabilityStatement"
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "Schedule",
        "Slot",
        "Appointment",
        "AuditEvent",
    } <= types
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {p["name"] for p in patient["searchParam"]} >= {"identifier", "family", "birthdate"}
    for path in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
        config = API.get(path).json()
        assert config["authorization_endpoint"].endswith("/fhir/oauth/authorize/")
        assert config["code_challenge_methods_supported"] == ["S256"]
        assert "permission-v2" in config["capabilities"]
    page = API.get("/fhir/")
    assert page.status_code == 200 and b"AuditEvent" in page.content


def test_no_token_and_a_session_cookie_both_get_401_with_an_outcome(staff, patient):
    for client, headers in ((Client(), {}), (staff(Role.SECRETARY)[1], {})):
        response = client.get(f"/fhir/Patient/{patient}", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert issue(response)["code"] == "login"
        assert b"DURAND" not in response.content
    forged = API.get(f"/fhir/Patient/{patient}", **bearer("not-a-token"))
    assert forged.status_code == 401 and 'error="invalid_token"' in forged["WWW-Authenticate"]
    entry = AuditEntry.objects.get(request_id=forged["X-Request-ID"])
    assert entry.outcome == "refused"


def test_patient_read_with_french_identifiers_version_and_audit(desk, establishment):
    user, token = desk
    qualified = make_patient(
        establishment,
        status="qualified",
        nir=NIR,
        birthplace_code="75123",
        birth_date=datetime.date(1980, 5, 17),
    )
    provisional = make_patient(establishment, nir="", birth_surname="MARTIN")
    response = API.get(f"/fhir/Patient/{qualified}", **bearer(token))
    assert response.status_code == 200
    resource = parsed(response)
    systems = {i["system"]: i for i in resource["identifier"]}
    assert systems["urn:oid:1.2.250.1.213.1.4.8"]["value"] == NIR
    assert systems["urn:oid:1.2.250.1.213.1.4.8"]["type"]["coding"][0]["code"] == "INS-NIR"
    ipp = systems[f"urn:carnet:ipp:finess:{establishment.finess}"]
    assert ipp["type"]["coding"][0]["code"] == "PI" and ipp["use"] == "usual"
    status = resource["extension"][0]["extension"][0]["valueCoding"]["code"]
    assert status == "QUAL"
    assert resource["meta"]["versionId"] == "1" and response["ETag"] == 'W/"1"'
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert (entry.action, entry.outcome, entry.actor_id) == ("patients.view", "allowed", user.pk)
    assert qualified in entry.patients and "FHIR GET" in entry.reason
    # A provisional identity never carries the NIR as INS-NIR.
    other = parsed(API.get(f"/fhir/Patient/{provisional}", **bearer(token)))
    assert all(i["system"] != "urn:oid:1.2.250.1.213.1.4.8" for i in other["identifier"])
    again = API.get(f"/fhir/Patient/{qualified}", HTTP_IF_NONE_MATCH='W/"1"', **bearer(token))
    assert again.status_code == 304 and again.content == b""


def test_an_outsider_gets_404_for_a_patient_of_another_establishment(staff, other_establishment):
    elsewhere = make_patient(other_establishment, birth_surname="AILLEURS")
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/Patient.rs")
    for target in (elsewhere, "0b9a4c1e-0000-4000-8000-000000000000"):
        response = API.get(f"/fhir/Patient/{target}", **bearer(token))
        assert response.status_code == 404 and issue(response)["code"] == "not-found"
        assert b"AILLEURS" not in response.content


def test_patient_search_needs_specific_criteria(desk, establishment):
    _, token = desk
    make_patient(establishment, birth_surname="LEBLANC", first_names="Anne Marie")
    make_patient(establishment, birth_surname="LEBRUN", first_names="Paul")
    for query in ({}, {"family": "LEB"}, {"birthdate": "1980-05-17"}, {"given": "Anne"}):
        response = API.get("/fhir/Patient", query, **bearer(token))
        assert response.status_code == 400, query
        assert "Carnet does not list patients" in issue(response)["diagnostics"]
    found = parsed(
        API.get("/fhir/Patient", {"family": "LEB", "birthdate": "1980-05-17"}, **bearer(token))
    )
    assert found["type"] == "searchset" and len(found["entry"]) == 2
    assert found["entry"][0]["resource"]["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert "telecom" not in found["entry"][0]["resource"]  # what the search page shows, no more
    narrowed = parsed(
        API.get(
            "/fhir/Patient",
            {"family": "LEB", "birthdate": "1980-05-17", "given": "ann"},
            **bearer(token),
        )
    )
    assert [e["resource"]["name"][0]["family"] for e in narrowed["entry"]] == ["LEBLANC"]
    ipp = found["entry"][0]["resource"]["identifier"][0]
    by_ipp = parsed(
        API.get("/fhir/Patient", {"identifier": f"{ipp['system']}|{ipp['value']}"}, **bearer(token))
    )
    assert len(by_ipp["entry"]) == 1
    # An unsupported parameter is ignored, and said so, unless the client asks to be strict.
    criteria = {"family": "LEB", "birthdate": "1980-05-17", "email": "x"}
    lenient = parsed(API.get("/fhir/Patient", criteria, **bearer(token)))
    assert (
        len(lenient["entry"]) == 3
        and "email" in lenient["entry"][-1]["resource"]["issue"][0]["diagnostics"]
    )
    assert all("email" not in link["url"] for link in lenient["link"])
    strict = API.get("/fhir/Patient", criteria, HTTP_PREFER="handling=strict", **bearer(token))
    assert strict.status_code == 400 and "email" in issue(strict)["diagnostics"]


def test_patient_create_and_update_through_the_domain(desk, establishment):
    _, token = desk
    body = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "NOUVEAU", "given": ["Léa"]}],
        "gender": "female",
        "birthDate": "1991-02-03",
        "telecom": [{"system": "phone", "value": "06 11 22 33 44"}],
    }
    created = API.post("/fhir/Patient", body, content_type="application/fhir+json", **bearer(token))
    assert created.status_code == 201, created.content
    resource = parsed(created)
    assert created["Location"].endswith(f"/fhir/Patient/{resource['id']}/_history/1")
    assert resource["telecom"][0]["value"] == "+33611223344"
    invalid = API.post(
        "/fhir/Patient",
        {**body, "birthDate": "2999-01-01"},
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert invalid.status_code == 422 and "future" in issue(invalid)["diagnostics"]
    malformed = API.post(
        "/fhir/Patient",
        {**body, "gender": 3},
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert malformed.status_code == 400 and issue(malformed)["code"] == "structure"
    changed = {
        **resource,
        "name": [
            {"use": "official", "family": "NOUVEAU", "given": ["Léa"]},
            {"use": "usual", "family": "MARIEE"},
        ],
    }
    updated = API.put(
        f"/fhir/Patient/{resource['id']}",
        changed,
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert updated.status_code == 200 and parsed(updated)["meta"]["versionId"] == "2"
    stale = API.put(
        f"/fhir/Patient/{resource['id']}",
        changed,
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert stale.status_code == 412 and issue(stale)["code"] == "conflict"
    no_version = {k: v for k, v in changed.items() if k != "meta"}
    missing = API.put(
        f"/fhir/Patient/{resource['id']}",
        no_version,
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert missing.status_code == 428


def test_booking_an_appointment_from_a_free_slot_and_paging(desk, establishment):
    user, token = desk
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    patient = make_patient(establishment)
    schedules = parsed(API.get("/fhir/Schedule", **bearer(token)))
    assert schedules["entry"][0]["resource"]["id"] == str(consultation.agenda_id)
    # The next working day: within the desk's window around its appointments whatever the hour
    # (next week's Monday is outside it early on a Monday morning).
    day = timezone.localdate() + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    window = {
        "schedule": f"Schedule/{consultation.agenda_id}",
        "start": [f"ge{day}", f"lt{day + datetime.timedelta(days=1)}"],
        "_count": 2,
    }
    slots = parsed(API.get("/fhir/Slot", window, **bearer(token)))
    assert len(slots["entry"]) == 2 and any(link["relation"] == "next" for link in slots["link"])
    following = next(link["url"] for link in slots["link"] if link["relation"] == "next")
    second = parsed(API.get(following, **bearer(token)))
    assert second["entry"][0]["resource"]["id"] != slots["entry"][0]["resource"]["id"]
    slot = slots["entry"][0]["resource"]
    booking = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
    }
    booked = API.post(
        "/fhir/Appointment", booking, content_type="application/fhir+json", **bearer(token)
    )
    assert booked.status_code == 201, booked.content
    appointment = parsed(booked)
    assert appointment["start"] == slot["start"] and appointment["status"] == "booked"
    taken = API.post(
        "/fhir/Appointment", booking, content_type="application/fhir+json", **bearer(token)
    )
    assert taken.status_code in (409, 422)
    issue(taken)
    mine = parsed(API.get("/fhir/Appointment", {"patient": f"Patient/{patient}"}, **bearer(token)))
    assert [e["resource"]["id"] for e in mine["entry"]] == [appointment["id"]]
    assert mine["entry"][0]["resource"]["participant"][0]["actor"]["display"].startswith("DURAND")
    read = parsed(API.get(f"/fhir/Appointment/{appointment['id']}", **bearer(token)))
    assert read["id"] == appointment["id"]
    too_wide = API.get(
        "/fhir/Appointment", {"date": ["ge2026-01-01", "lt2026-06-01"]}, **bearer(token)
    )
    assert too_wide.status_code == 400
    vague = API.get("/fhir/Appointment", **bearer(token))
    assert vague.status_code == 400 and "patient" in issue(vague)["diagnostics"]


def test_directory_resources_with_rpps_and_finess(desk, establishment, other_establishment):
    _, token = desk
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    practitioner = practitioner_for(doctor)
    UserFactory(role=Role.PRACTITIONER, establishments=[other_establishment])
    found = parsed(API.get("/fhir/Practitioner", **bearer(token)))
    assert [e["resource"]["id"] for e in found["entry"]] == [str(practitioner.pk)]
    identifiers = {i["system"]: i["value"] for i in found["entry"][0]["resource"]["identifier"]}
    assert identifiers["https://rpps.esante.gouv.fr"] == practitioner.rpps
    assert identifiers["urn:oid:1.2.250.1.71.4.2.1"] == "8" + practitioner.rpps
    by_rpps = parsed(
        API.get(
            "/fhir/Practitioner",
            {"identifier": f"https://rpps.esante.gouv.fr|{practitioner.rpps}"},
            **bearer(token),
        )
    )
    assert len(by_rpps["entry"]) == 1
    organization = parsed(API.get(f"/fhir/Organization/{establishment.pk}", **bearer(token)))
    values = {i["system"]: i["value"] for i in organization["identifier"]}
    assert values == {
        "urn:oid:1.2.250.1.71.4.2.2": "1" + establishment.finess,
        "https://finess.esante.gouv.fr": establishment.finess,
    }
    assert (
        API.get(f"/fhir/Organization/{other_establishment.pk}", **bearer(token)).status_code == 404
    )
    roles = parsed(
        API.get(
            "/fhir/PractitionerRole",
            {"practitioner": f"Practitioner/{practitioner.pk}"},
            **bearer(token),
        )
    )
    assert (
        roles["entry"][0]["resource"]["organization"]["reference"]
        == f"Organization/{establishment.pk}"
    )
    parsed(API.get("/fhir/Location", **bearer(token)))


def test_audit_events_for_security_officers_only(staff, desk, patient):
    _, token = desk
    API.get(f"/fhir/Patient/{patient}", **bearer(token))
    _, officer_browser = staff(Role.SECURITY_OFFICER)
    officer = smart.user_token(officer_browser, smart.app(), "user/*.rs")
    events = parsed(
        API.get("/fhir/AuditEvent", {"patient": f"Patient/{patient}"}, **bearer(officer))
    )
    assert events["entry"], events
    event = events["entry"][0]["resource"]
    assert event["entity"][0]["what"]["reference"] == f"Patient/{patient}"
    assert (
        parsed(API.get(f"/fhir/AuditEvent/{event['id']}", **bearer(officer)))["id"] == event["id"]
    )
    # The officer's role reads no patient, whatever the token's scopes say.
    assert API.get(f"/fhir/Patient/{patient}", **bearer(officer)).status_code == 403
    # And the secretary's token, with user/*.cruds, reads no audit.
    refused = API.get("/fhir/AuditEvent", **bearer(token))
    assert refused.status_code == 403 and issue(refused)["code"] == "forbidden"


def test_unknown_types_methods_and_paths_answer_with_an_outcome(desk):
    _, token = desk
    for method, path, status in (
        ("get", "/fhir/Medication", 404),
        ("delete", "/fhir/Patient/abc", 405),
        ("get", "/fhir/Patient/abc/_history/1", 404),
    ):
        response = getattr(API, method)(path, **bearer(token))
        assert response.status_code == status, (path, response.content)
        assert issue(response)["severity"] == "error"
    wrong_type = API.post("/fhir/Patient", "x", content_type="text/plain", **bearer(token))
    assert wrong_type.status_code == 415


def test_a_nul_character_is_refused_not_a_server_error(desk, establishment):
    _, token = desk
    response = API.get("/fhir/Organization", {"name": "Saint\x00"}, **bearer(token))
    assert response.status_code == 400 and issue(response)["code"] == "value"
    for path in ("/fhir/oauth/token/", "/fhir/oauth/revoke/"):
        answer = Client().post(
            path, {"client_id": "x\x00", "token": "y", "grant_type": "client_credentials"}
        )
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    basic = Client().post(
        "/fhir/oauth/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(b"a\x00:b").decode(),
    )
    assert basic.status_code == 400
