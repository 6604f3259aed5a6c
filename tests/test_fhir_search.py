"""Search and read as FHIR clients expect them: every parameter read by one place (an
impossible date, a nested body: 400, never 500), the result parameters (_summary, _elements,
_total and Bundle.total, _sort, _include, _lastUpdated, _id), unsupported parameters ignored
unless Prefer: handling=strict, conditional read (strong and weak ETags, If-Modified-Since),
conditional create (If-None-Exist), PUT refusing what it cannot keep, Slot references that
resolve, Appointment create checked against its slot, 406 for formats not served, and an
OperationOutcome for every error."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.http import http_date

from carnet.guard.policy import Role
from carnet.patients.models import Patient

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .fhir_clients import smart
from .fhir_clients.smart import bearer, issue, parsed

pytestmark = pytest.mark.django_db
API = Client()
JSON = "application/fhir+json"


@pytest.fixture
def desk(staff):
    user, browser = staff(Role.SECRETARY)
    return user, smart.user_token(browser, smart.app(), "user/*.cruds")


@pytest.fixture
def booked(desk, establishment):
    """Three appointments of three patients on the next working day, booked by the desk."""
    _, token = desk
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    day = timezone.localdate() + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    window = {
        "schedule": f"Schedule/{consultation.agenda_id}",
        "start": [f"ge{day}", f"lt{day + datetime.timedelta(days=1)}"],
        "_count": 3,
    }
    slots = [e["resource"] for e in parsed(API.get("/fhir/Slot", window, **bearer(token)))["entry"]]
    patients = [make_patient(establishment, birth_surname=f"RDV{n}") for n in range(3)]
    appointments = []
    for slot, patient in zip(slots, patients, strict=True):
        body = {
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot['id']}"}],
            "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
        }
        created = API.post("/fhir/Appointment", body, content_type=JSON, **bearer(token))
        assert created.status_code == 201, created.content
        appointments.append(created.json())
    return {
        "day": day,
        "slots": slots,
        "patients": patients,
        "appointments": appointments,
        "doctor": doctor,
        "agenda": consultation.agenda_id,
    }


@pytest.mark.parametrize(
    ("path", "name", "extra"),
    [
        ("/fhir/Appointment", "date", {}),
        ("/fhir/Patient", "birthdate", {"family": "DUR"}),
        ("/fhir/Observation", "date", {"patient": "Patient/0b9a4c1e-0000-4000-8000-000000000000"}),
        ("/fhir/Encounter", "date", {"patient": "Patient/0b9a4c1e-0000-4000-8000-000000000000"}),
        (
            "/fhir/MedicationRequest",
            "authoredon",
            {"patient": "Patient/0b9a4c1e-0000-4000-8000-000000000000"},
        ),
        ("/fhir/Slot", "start", {"schedule": "Schedule/1"}),
        ("/fhir/AuditEvent", "date", {}),
    ],
)
@pytest.mark.parametrize(
    "value", ["2026-02-30", "2026-13-01", "ge2026-02-30T10:00:00Z", "2026-05-32"]
)
def test_an_impossible_date_is_a_400_not_a_500(staff, path, name, extra, value):
    role = Role.SECURITY_OFFICER if "Audit" in path else Role.PRACTITIONER
    _, browser = staff(role)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    response = API.get(path, {**extra, name: value}, **bearer(token))
    assert response.status_code == 400, (path, response.content)
    assert issue(response)["code"] == "value" and name in issue(response)["diagnostics"]


def test_bodies_too_deep_or_too_large_are_refused(desk):
    _, token = desk
    deep = '{"resourceType":"Patient","extension":' + "[" * 100000 + "]" * 100000 + "}"
    response = API.post("/fhir/Patient", deep, content_type=JSON, **bearer(token))
    assert response.status_code == 400 and issue(response)["code"] == "structure"
    nested = (
        '{"resourceType":"Patient","name":[{"extension":'
        + "[{" * 40
        + '"url":"x"'
        + "}]" * 40
        + "}]}"
    )
    assert API.post("/fhir/Patient", nested, content_type=JSON, **bearer(token)).status_code == 400
    huge = '{"resourceType":"Patient","x":"' + "a" * (2 * 1024 * 1024) + '"}'
    too_big = API.post("/fhir/Patient", huge, content_type=JSON, **bearer(token))
    assert too_big.status_code == 413 and issue(too_big)["code"] == "too-costly"


def test_summary_elements_total_and_sort(desk, booked):
    _, token = desk
    day = booked["day"]
    span = {"date": [f"ge{day}", f"lt{day + datetime.timedelta(days=1)}"]}
    full = parsed(API.get("/fhir/Appointment", span, **bearer(token)))
    assert full["total"] == 3 and len(full["entry"]) == 3
    count = parsed(API.get("/fhir/Appointment", {**span, "_summary": "count"}, **bearer(token)))
    assert count["total"] == 3 and count["entry"] == []
    none = parsed(API.get("/fhir/Appointment", {**span, "_total": "none"}, **bearer(token)))
    assert "total" not in none
    summary = parsed(API.get("/fhir/Appointment", {**span, "_summary": "true"}, **bearer(token)))
    first = summary["entry"][0]["resource"]
    assert first["meta"]["tag"][0]["code"] == "SUBSETTED" and "created" not in first
    assert {"status", "participant", "start"} <= set(first)
    elements = parsed(API.get("/fhir/Appointment", {**span, "_elements": "start"}, **bearer(token)))
    shaped = elements["entry"][0]["resource"]
    assert set(shaped) == {"resourceType", "id", "meta", "start", "status", "participant"}
    ascending = [e["resource"]["start"] for e in full["entry"]]
    descending = parsed(API.get("/fhir/Appointment", {**span, "_sort": "-date"}, **bearer(token)))
    assert [e["resource"]["start"] for e in descending["entry"]] == sorted(ascending, reverse=True)
    one = parsed(API.get("/fhir/Appointment", {**span, "_count": 1}, **bearer(token)))
    assert one["total"] == 3 and len(one["entry"]) == 1
    assert any(link["relation"] == "next" for link in one["link"])
    by_id = booked["appointments"][1]["id"]
    only = parsed(API.get("/fhir/Appointment", {**span, "_id": by_id}, **bearer(token)))
    assert [e["resource"]["id"] for e in only["entry"]] == [by_id]
    later = parsed(
        API.get("/fhir/Appointment", {**span, "_lastUpdated": f"gt{day}"}, **bearer(token))
    )
    assert later["total"] == 0  # booked today, before that day


def test_include_follows_references_within_the_guard(desk, booked):
    _, token = desk
    day = booked["day"]
    span = {"date": [f"ge{day}", f"lt{day + datetime.timedelta(days=1)}"]}
    bundle = parsed(
        API.get(
            "/fhir/Appointment",
            {
                **span,
                "_include": ["Appointment:patient", "Appointment:practitioner", "Appointment:slot"],
            },
            **bearer(token),
        )
    )
    included = {
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle["entry"]
        if e["search"]["mode"] == "include"
    }
    assert {("Patient", p) for p in booked["patients"]} <= included
    assert ("Practitioner", str(booked["doctor"].practitioner.pk)) in included
    assert {("Slot", s["id"]) for s in booked["slots"]} <= included
    busy = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Slot"]
    assert {s["status"] for s in busy} == {"busy"}
    strict = API.get(
        "/fhir/Appointment",
        {**span, "_include": "Appointment:nothing"},
        HTTP_PREFER="handling=strict",
        **bearer(token),
    )
    assert strict.status_code == 400


def test_slot_references_of_appointments_resolve(desk, booked):
    _, token = desk
    appointment = booked["appointments"][0]
    reference = appointment["slot"][0]["reference"]
    slot = parsed(API.get(f"/fhir/{reference}", **bearer(token)))
    assert slot["status"] == "busy" and slot["start"] == appointment["start"]
    assert "participant" not in slot


def test_appointment_create_checks_status_and_times(desk, booked, establishment):
    _, token = desk
    day = booked["day"]
    window = {
        "schedule": f"Schedule/{booked['agenda']}",
        "start": [f"ge{day}", f"lt{day + datetime.timedelta(days=1)}"],
        "_count": 1,
    }
    slot = parsed(API.get("/fhir/Slot", window, **bearer(token)))["entry"][0]["resource"]
    patient = make_patient(establishment)
    body = {
        "resourceType": "Appointment",
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
    }
    for wrong in (
        {"status": "cancelled"},
        {"status": "booked", "start": "2030-01-01T10:00:00Z"},
        {"status": "booked", "end": slot["start"]},
    ):
        refused = API.post(
            "/fhir/Appointment", {**body, **wrong}, content_type=JSON, **bearer(token)
        )
        assert refused.status_code == 422, wrong
        assert issue(refused)["code"] == "processing"
    ok = {**body, "status": "booked", "start": slot["start"], "end": slot["end"]}
    assert API.post("/fhir/Appointment", ok, content_type=JSON, **bearer(token)).status_code == 201
    taken = API.post(
        "/fhir/Appointment",
        {**ok, "slot": booked["appointments"][0]["slot"]},
        content_type=JSON,
        **bearer(token),
    )
    assert taken.status_code in (409, 422)


def test_conditional_read(desk, patient):
    _, token = desk
    first = API.get(f"/fhir/Patient/{patient}", **bearer(token))
    assert first["ETag"] == 'W/"1"'
    for tag in ('W/"1"', '"1"', '"2", W/"1"', "*"):
        again = API.get(f"/fhir/Patient/{patient}", HTTP_IF_NONE_MATCH=tag, **bearer(token))
        assert again.status_code == 304, tag
    changed = API.get(f"/fhir/Patient/{patient}", HTTP_IF_NONE_MATCH='"7"', **bearer(token))
    assert changed.status_code == 200
    since = http_date((timezone.now() + datetime.timedelta(hours=1)).timestamp())
    assert (
        API.get(
            f"/fhir/Patient/{patient}", HTTP_IF_MODIFIED_SINCE=since, **bearer(token)
        ).status_code
        == 304
    )
    before = http_date((timezone.now() - datetime.timedelta(days=1)).timestamp())
    assert (
        API.get(
            f"/fhir/Patient/{patient}", HTTP_IF_MODIFIED_SINCE=before, **bearer(token)
        ).status_code
        == 200
    )


def test_conditional_create_makes_one_patient(desk):
    _, token = desk
    body = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "UNIQUE", "given": ["Léa"]}],
        "gender": "female",
        "birthDate": "1991-02-03",
    }
    condition = "family=UNIQUE&birthdate=1991-02-03"
    answers = [
        API.post(
            "/fhir/Patient", body, content_type=JSON, HTTP_IF_NONE_EXIST=condition, **bearer(token)
        )
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 200]
    assert len({a.json()["id"] for a in answers}) == 1
    assert Patient.objects.count() == 1


def test_put_refuses_what_it_cannot_keep(desk):
    _, token = desk
    body = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "GARDE", "given": ["Paul"]}],
        "gender": "male",
        "birthDate": "1970-01-01",
    }
    created = parsed(API.post("/fhir/Patient", body, content_type=JSON, **bearer(token)))
    for extra in (
        {"maritalStatus": {"text": "Marié"}},
        {"name": [{"use": "official", "family": "GARDE", "given": ["Paul"], "prefix": ["M."]}]},
        {"contact": [{"name": {"family": "X"}}]},
    ):
        sent = {**created, **extra}
        refused = API.put(
            f"/fhir/Patient/{created['id']}", sent, content_type=JSON, **bearer(token)
        )
        assert refused.status_code == 422, extra
        assert "cannot keep" in issue(refused)["diagnostics"]
    kept = parsed(API.get(f"/fhir/Patient/{created['id']}", **bearer(token)))
    assert kept["meta"]["versionId"] == "1"  # nothing stored
    same = API.put(f"/fhir/Patient/{created['id']}", created, content_type=JSON, **bearer(token))
    assert same.status_code == 200


def test_patient_search_by_id_and_sorted(desk, establishment):
    _, token = desk
    first = make_patient(establishment, birth_surname="LEBLANC")
    second = make_patient(establishment, birth_surname="LEBEAU")
    by_id = parsed(API.get("/fhir/Patient", {"_id": f"{first},{second}"}, **bearer(token)))
    assert sorted(e["resource"]["id"] for e in by_id["entry"]) == sorted([first, second])
    ordered = parsed(
        API.get(
            "/fhir/Patient",
            {"family": "LEB", "birthdate": "1980-05-17", "_sort": "family"},
            **bearer(token),
        )
    )
    assert [e["resource"]["name"][0]["family"] for e in ordered["entry"]] == ["LEBEAU", "LEBLANC"]


def test_formats_not_served_and_the_base(desk, patient):
    _, token = desk
    for query, headers in (
        ({"_format": "xml"}, {}),
        ({}, {"HTTP_ACCEPT": "application/fhir+xml"}),
        ({}, {"HTTP_ACCEPT": "text/html"}),
    ):
        response = API.get(f"/fhir/Patient/{patient}", query, **headers, **bearer(token))
        assert response.status_code == 406 and issue(response)["code"] == "not-supported"
    assert (
        API.get(
            f"/fhir/Patient/{patient}", HTTP_ACCEPT="application/json", **bearer(token)
        ).status_code
        == 200
    )
    batch = API.post("/fhir/", {"resourceType": "Bundle", "type": "batch"}, content_type=JSON)
    assert batch.status_code == 405 and issue(batch)["code"] == "not-supported"
    searched = API.post("/fhir/Patient/_search", {"_id": patient}, **bearer(token))
    assert searched.status_code == 200 and parsed(searched)["entry"][0]["resource"]["id"] == patient


def test_a_search_names_each_ipp_with_the_establishment_that_assigned_it(
    establishment, other_establishment
):
    """An account of two establishments: each match's IPP carries its own establishment's
    system and assigner, not a guess from the account's memberships."""
    from .conftest import signed_in_client

    user = UserFactory(role=Role.SECRETARY, establishments=[establishment, other_establishment])
    token = smart.user_token(signed_in_client(user), smart.app(), "user/*.cruds")
    day = datetime.date(1961, 3, 9)
    here = make_patient(establishment, birth_surname="VERNIER", birth_date=day)
    there = make_patient(other_establishment, birth_surname="VERNET", birth_date=day)
    found = parsed(
        API.get("/fhir/Patient", {"family": "VER", "birthdate": "1961-03-09"}, **bearer(token))
    )
    systems = {
        entry["resource"]["id"]: entry["resource"]["identifier"][0]["system"]
        for entry in found["entry"]
    }
    assert systems == {
        here: f"urn:carnet:ipp:finess:{establishment.finess}",
        there: f"urn:carnet:ipp:finess:{other_establishment.finess}",
    }
