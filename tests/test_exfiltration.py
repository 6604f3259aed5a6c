"""A stolen session of each role tries to take many patients through every path it has:
walking ids in URLs (identity and edit pages), paging through searches built from a list of
names and birth dates, and probing pages it may not open. Each attempt ends with the account
locked and at most the role's weekly budget of patients exposed (0 for the roles that have
no access to patients). Patients shown are counted from the responses themselves."""

import datetime

import pytest
from django.urls import reverse

from carnet.guard.http import STEP_UP_SESSION_KEY
from carnet.guard.policy import Role, default_budget
from carnet.staff.models import User

from .factories import make_patient

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


def _determined(client):
    """A determined attacker passes every step-up (they hold the second factor too)."""
    session = client.session
    session[STEP_UP_SESSION_KEY] = datetime.datetime.now(tz=datetime.UTC).timestamp() + 3600
    session.save()


def _exposed(bodies, victims):
    return {surname for _, surname, _ in victims if any(surname in body for body in bodies)}


def _attack(client, user, requests):
    bodies, made = [], 0
    for method, url, data in requests:
        if not User.objects.get(pk=user.pk).is_active:
            break
        _determined(client)
        response = getattr(client, method)(url, data)
        made += 1
        bodies.append(response.content.decode(errors="replace"))
    return bodies, made


def _id_walk(victims):
    for patient, _, _ in victims:
        yield "get", reverse("web:patient_detail", args=[patient]), {}
        yield "get", reverse("web:patient_edit", args=[patient]), {}


def _search_paging(victims):
    for _, surname, day in victims:
        yield (
            "post",
            reverse("web:patient_search"),
            {"surname": surname[:3], "birth_date": day.isoformat()},
        )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("strategy", [_id_walk, _search_paging])
def test_a_stolen_session_is_locked_within_its_budget(staff, victims, role, strategy):
    user, client = staff(role)
    bodies, made = _attack(client, user, list(strategy(victims)))
    exposed = _exposed(bodies, victims)
    limit = default_budget(role)["week"][1]
    assert len(exposed) <= limit
    if role in (Role.ADMINISTRATOR, Role.SECURITY_OFFICER):
        assert exposed == set()
    assert not User.objects.get(pk=user.pk).is_active, f"{role} not locked after {made} requests"
