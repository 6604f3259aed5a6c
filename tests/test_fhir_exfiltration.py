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
@pytest.mark.parametrize("strategy", [_id_walk, _search_paging, _chart_walk])
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
