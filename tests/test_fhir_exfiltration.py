"""The exfiltration attack of tests/test_exfiltration.py through the FHIR API: a stolen token
of each role (and a backend service's stolen secret) walks patient ids and pages through
searches built from names and birth dates. The same budgets and containment stop it: at most
the role's budget of patients leaves (none for roles without access to patients), the account
is locked, and the stolen token answers 401 afterwards. A token cannot confirm a second
factor, so through the API the soft limit is where the patients stop."""

import datetime

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken

from carnet.guard.policy import Role, default_budget
from carnet.staff.models import User

from .factories import UserFactory, make_patient
from .fhir_clients import smart
from .fhir_clients.smart import bearer

pytestmark = pytest.mark.django_db
VICTIMS = 45
ROLES = [
    Role.PRACTITIONER,
    Role.NURSE,
    Role.SECRETARY,
    Role.LAB_TECHNICIAN,
    Role.ADMINISTRATOR,
    Role.SECURITY_OFFICER,
]


@pytest.fixture
def victims(establishment):
    people = []
    for n in range(VICTIMS):
        surname = f"VICTIME{chr(65 + n // 26)}{chr(65 + n % 26)}"
        day = datetime.date(1950, 1, 1) + datetime.timedelta(days=37 * n)
        people.append(
            (make_patient(establishment, birth_surname=surname, birth_date=day), surname, day)
        )
    return people


def _id_walk(victims):
    for patient, _, _ in victims:
        yield f"/fhir/Patient/{patient}", {}


def _search_paging(victims):
    for _, surname, day in victims:
        yield "/fhir/Patient", {"family": surname[:3], "birthdate": day.isoformat()}


def _id_batches(victims):
    """`Patient?_id=` with ten ids at a time, again and again: each id is a read, decided
    and counted; a batch past the limit is refused whole, and the refusals add up."""
    ids = [patient for patient, _, _ in victims]
    for _ in range(8):
        for start in range(0, len(ids), 10):
            yield "/fhir/Patient", {"_id": ",".join(ids[start : start + 10])}


def _chart_walk(victims):
    for patient, _, _ in victims:
        yield "/fhir/Observation", {"patient": f"Patient/{patient}"}


def _attack(token, user, requests):
    api, bodies, answers = Client(), [], []
    for path, query in requests:
        response = api.get(path, query, **bearer(token))
        answers.append(response.status_code)
        bodies.append(response.content.decode(errors="replace"))
        if response.status_code == 401:
            break
    return bodies, answers


def _exposed(bodies, victims):
    """Patients that left: by name, or (a chart's Bundle names no one) by their id."""
    return {
        surname
        for patient, surname, _ in victims
        if any(surname in body or f"Patient/{patient}" in body for body in bodies)
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("strategy", [_id_walk, _search_paging, _chart_walk, _id_batches])
def test_a_stolen_token_is_stopped_by_the_same_budgets(staff, victims, role, strategy):
    user, browser = staff(role)
    token = smart.user_token(browser, smart.app(), "user/*.cruds")
    bodies, answers = _attack(token, user, strategy(victims))
    exposed = _exposed(bodies, victims)
    assert len(exposed) <= default_budget(role)["week"][1]
    assert len(exposed) <= default_budget(role)["hour"][0]  # no second factor: soft limit
    if role in (Role.ADMINISTRATOR, Role.SECURITY_OFFICER):
        assert exposed == set()
    assert not User.objects.get(pk=user.pk).is_active, f"{role} not locked: {answers}"
    assert answers[-1] == 401, "the stolen token still works after containment"
    assert not AccessToken.objects.filter(user=user).exists()
    # And the locked account cannot be used to get a new one: its sign-in is refused.
    assert browser.get("/fhir/oauth/authorize/").status_code == 302


def test_a_stolen_backend_secret_is_stopped_too(establishment, victims):
    account = UserFactory(
        username="svc.agenda", role=Role.SECRETARY, establishments=[establishment]
    )
    service = smart.backend("svc.agenda", scopes="system/*.rs")
    token = smart.backend_token(service, "system/Patient.rs")
    bodies, answers = _attack(token, account, _id_walk(victims))
    assert len(_exposed(bodies, victims)) <= default_budget(Role.SECRETARY)["hour"][0]
    assert not User.objects.get(pk=account.pk).is_active and answers[-1] == 401
    # The secret alone gets no new token while the service account is locked.
    refused = Client().post(
        "/fhir/oauth/token/",
        {"grant_type": "client_credentials", "scope": "system/Patient.rs"},
        HTTP_AUTHORIZATION=smart.basic(service),
    )
    assert refused.status_code == 401


def test_a_canary_read_through_the_api_contains_at_once(staff, establishment):
    canary = make_patient(establishment, birth_surname="CANARIUS", canary=True)
    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/Patient.rs")
    response = Client().get(f"/fhir/Patient/{canary}", **bearer(token))
    assert response.status_code == 403 and b"CANARIUS" not in response.content
    assert not User.objects.get(pk=user.pk).is_active
    assert Client().get(f"/fhir/Patient/{canary}", **bearer(token)).status_code == 401


@pytest.fixture
def agenda_of_victims(establishment, victims):
    """Every victim has an appointment in a colleague's agenda over the next weeks."""
    from django.utils import timezone

    from carnet.scheduling.models import Appointment

    from .factories import agenda_with_hours, practitioner_for

    colleague = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(colleague))
    first = timezone.now().replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=1)
    for n, (patient, _, _) in enumerate(victims):
        start = first + datetime.timedelta(hours=n)
        Appointment.objects.create(
            agenda=consultation.agenda,
            consultation_type=consultation,
            patient_id=patient,
            starts_at=start,
            ends_at=start + datetime.timedelta(minutes=30),
        )
    return first


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.SECRETARY])
def test_include_never_opens_a_patient_beyond_relationships(
    staff, victims, agenda_of_victims, role
):
    """A stolen token pages through every appointment of the establishment asking to include
    their patients and participants: the agenda's slots leave, no patient does, and nothing is
    charged (so nothing needed containing)."""
    user, browser = staff(role)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    start = agenda_of_victims
    bodies = []
    for week in range(3):
        since = start + datetime.timedelta(days=7 * week)
        url, query = (
            "/fhir/Appointment",
            {
                "date": [f"ge{since.date()}", f"lt{(since + datetime.timedelta(days=7)).date()}"],
                "_include": ["Appointment:patient", "Appointment:actor"],
                "_count": 50,
            },
        )
        while url:
            response = Client().get(url, query, **bearer(token))
            assert response.status_code == 200, response.content[:300]
            bodies.append(response.content.decode())
            links = {link["relation"]: link["url"] for link in response.json()["link"]}
            url, query = links.get("next"), {}
    assert sum(body.count('"mode": "match"') for body in bodies) == VICTIMS
    assert _exposed(bodies, victims) == set()
    assert User.objects.get(pk=user.pk).is_active


def test_a_stolen_token_bulk_export_waits_for_four_eyes(staff, victims):
    """Bulk export is a path to every patient of the establishment: a stolen token can ask,
    and nothing leaves before a security officer approves (the status answers 202, the file
    URLs nothing), however often it polls."""
    from carnet.guard.models import ExportRequest

    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/*.rs")
    kickoff = Client().get("/fhir/$export", HTTP_PREFER="respond-async", **bearer(token))
    assert kickoff.status_code == 202
    export = ExportRequest.objects.get()
    assert export.count == VICTIMS and export.status == "pending"
    bodies = []
    for _ in range(20):
        status = Client().get(kickoff["Content-Location"], **bearer(token))
        assert status.status_code == 202
        bodies.append(status.content.decode())
    for kind in ("Patient", "Coverage", "Appointment"):
        answer = Client().get(f"/fhir/$export-file/{export.pk}/{kind}.ndjson", **bearer(token))
        assert answer.status_code == 404
        bodies.append(answer.content.decode())
    assert _exposed(bodies, victims) == set()
