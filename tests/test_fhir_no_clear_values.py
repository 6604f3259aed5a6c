"""FHIR requests never write an identifying value in clear: plant a patient's NIR, IPP, names,
birth date, phone and e-mail, search for them every way the API allows (identifier, family
and birthdate, given, ignored parameters, POST _search, If-None-Exist) through a real HTTP
server logging its request lines like runserver, then grep the raw database, the audit
entries and every log line: zero. The searches found the patient (control), and the audit
still says which criteria were used, as keyed digests a security officer can check.

And FHIR appointment lists hand out patient references only within the reader's care
relationships: another desk of the same establishment pages through the agenda and gets no
patient id it could not see on its own page."""

import datetime
import logging
import threading
from urllib.parse import quote

import pytest
import requests
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.guard.criteria import criteria_digest
from carnet.guard.policy import Role

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .fhir_clients import smart
from .fhir_clients.smart import bearer
from .test_raw_database import _forms, _raw_dump

NIR = "280057512345674"
PLANTED = {
    "birth_surname": "ZYGOMATIQUE",
    "first_names": "Philomène",
    "phone": "+33687654321",
    "email": "zygo.philo@example.fr",
}
BIRTH = datetime.date(1980, 5, 17)


class _Server(WSGIRequestHandler):
    """runserver's own request handler: it logs every request line to django.server."""


@pytest.fixture
def http_server(transactional_db):
    server = WSGIServer(("127.0.0.1", 0), _Server)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_searched_values_are_nowhere_in_clear(http_server, establishment, staff, caplog):
    caplog.set_level(logging.DEBUG)
    patient = make_patient(establishment, status="qualified", nir=NIR, birth_date=BIRTH, **PLANTED)
    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.cruds")
    ipp = requests.get(
        f"{http_server}/fhir/Patient/{patient}", headers=_auth(token), timeout=30
    ).json()["identifier"][0]
    ipp_value = ipp["value"]
    base = f"{http_server}/fhir/"
    searches = [
        f"Patient?identifier={quote('urn:oid:1.2.250.1.213.1.4.8|' + NIR)}",
        f"Patient?identifier={quote(ipp['system'] + '|' + ipp_value)}",
        f"Patient?identifier={ipp_value}",
        f"Patient?family={PLANTED['birth_surname']}&birthdate={BIRTH}",
        f"Patient?family={PLANTED['birth_surname'][:5]}&birthdate={BIRTH}&given={quote(PLANTED['first_names'])}",
        f"Patient?family={PLANTED['birth_surname']}&birthdate={BIRTH}&telecom={quote(PLANTED['phone'])}&email={PLANTED['email']}",
        f"Patient?family={PLANTED['birth_surname']}",  # too vague: 400, still not kept
        f"Patient?family={PLANTED['birth_surname']}&birthdate=2026-02-30",
    ]
    found = 0
    for search in searches:
        answer = requests.get(base + search, headers=_auth(token), timeout=30)
        assert answer.status_code in (200, 400), (search, answer.text[:200])
        found += PLANTED["birth_surname"] in answer.text
    assert found >= 5, "control: the searches found the planted patient"
    posted = requests.post(
        base + "Patient/_search",
        data={"family": PLANTED["birth_surname"], "birthdate": str(BIRTH)},
        headers=_auth(token),
        timeout=30,
    )
    assert PLANTED["birth_surname"] in posted.text
    conditional = requests.post(
        base + "Patient",
        json={
            "resourceType": "Patient",
            "name": [{"family": PLANTED["birth_surname"], "given": ["Philomène"]}],
            "gender": "female",
            "birthDate": str(BIRTH),
        },
        headers={
            **_auth(token),
            "Content-Type": "application/fhir+json",
            "If-None-Exist": f"family={PLANTED['birth_surname']}&birthdate={BIRTH}",
        },
        timeout=30,
    )
    assert conditional.status_code == 200 and conditional.json()["id"] == patient

    reasons = " ".join(AuditEntry.objects.values_list("reason", flat=True))
    logs = caplog.text
    dump = _raw_dump()
    values = [*PLANTED.values(), NIR, ipp_value, str(BIRTH), BIRTH.strftime("%d/%m/%Y")]
    for value in values:
        for form in _forms(value):
            # An eight-digit IPP like 00000001 sits in any binary file by chance; the raw
            # database's sealing of identifiers is tests/test_raw_database.py's attack.
            if value != ipp_value:
                assert form not in dump, f"{value!r} in the raw database"
            assert form.decode(errors="ignore") not in reasons, f"{value!r} in an audit reason"
            assert form.decode(errors="ignore") not in logs, f"{value!r} in the logs"
    # The audit still says what was searched, as digests one can check with the keys.
    assert "family=#" + criteria_digest("family", PLANTED["birth_surname"]) in reasons
    assert "identifier=#" in reasons and "FHIR GET Patient search" in reasons
    assert "GET /fhir/Patient?" in logs  # the request lines were logged, without their query


def _auth(token: dict) -> dict:
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.mark.django_db
def test_appointment_lists_reference_only_patients_in_relationship(establishment, staff):
    from django.test import Client

    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    booker, booker_browser = staff(Role.SECRETARY)
    booking = smart.user_token(booker_browser, smart.app(), "user/*.cruds")
    day = timezone.localdate() + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    window = {
        "schedule": f"Schedule/{consultation.agenda_id}",
        "start": [f"ge{day}", f"lt{day + datetime.timedelta(days=1)}"],
        "_count": 2,
    }
    api = Client()
    slots = api.get("/fhir/Slot", window, **bearer(booking)).json()["entry"]
    patients = [make_patient(establishment, birth_surname=f"AGENDA{n}") for n in range(2)]
    for slot, patient in zip(slots, patients, strict=True):
        booked = api.post(
            "/fhir/Appointment",
            {
                "resourceType": "Appointment",
                "status": "booked",
                "slot": [{"reference": f"Slot/{slot['resource']['id']}"}],
                "participant": [
                    {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}
                ],
            },
            content_type="application/fhir+json",
            **bearer(booking),
        )
        assert booked.status_code == 201, booked.content
    span = {"date": [f"ge{day}", f"lt{day + datetime.timedelta(days=1)}"]}
    # The booking desk sees its patients (its desk window), named.
    mine = api.get("/fhir/Appointment", span, **bearer(booking)).json()
    assert {e["resource"]["participant"][0]["actor"].get("reference") for e in mine["entry"]} == {
        f"Patient/{p}" for p in patients
    }
    # A practitioner of the establishment (not this agenda's) sees that there are
    # appointments, never whose, even asking to include the patients.
    _, other_browser = staff(Role.PRACTITIONER)
    other = smart.user_token(other_browser, smart.app(), "user/*.rs")
    theirs = api.get(
        "/fhir/Appointment",
        {**span, "_include": "Appointment:patient"},
        **bearer(other),
    )
    assert theirs.status_code == 200, theirs.content
    body = theirs.content.decode()
    assert len([e for e in theirs.json()["entry"] if e["search"]["mode"] == "match"]) == 2
    for patient in patients:
        assert patient not in body
    assert "AGENDA" not in body
    entries = AuditEntry.objects.filter(request_id=theirs["X-Request-ID"])
    assert entries.get().patients == ""  # nobody opened, nobody charged
    assert booker.pk != 0
