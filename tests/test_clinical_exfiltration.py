"""A stolen session walks chart ids (and document and prescription pages) to take many
clinical records: it is locked within its role's weekly budget of patients, and roles
without clinical reading take none at all. Patients shown are counted from the responses."""

import datetime

import pytest
from django.urls import reverse

from carnet.guard.http import STEP_UP_SESSION_KEY
from carnet.guard.policy import Role, default_budget
from carnet.staff.models import User

from .clinical_helpers import client_of, member
from .factories import make_patient

pytestmark = pytest.mark.django_db
VICTIMS = 30
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
    people = {}
    for n in range(VICTIMS):
        surname = f"CLINVICT{chr(65 + n // 26)}{chr(65 + n % 26)}"
        people[make_patient(establishment, birth_surname=surname)] = surname
    return people


def _determined(client):
    """A determined attacker passes every step-up (they hold the second factor too)."""
    session = client.session
    session[STEP_UP_SESSION_KEY] = datetime.datetime.now(tz=datetime.UTC).timestamp() + 3600
    session.save()


@pytest.mark.parametrize("role", ROLES)
def test_walking_charts_locks_the_account_within_its_budget(establishment, victims, role):
    user = member(role, establishment)
    client = client_of(user)
    bodies = []
    for patient in victims:
        if not User.objects.get(pk=user.pk).is_active:
            break
        _determined(client)
        bodies.append(client.get(reverse("web:chart", args=[patient])).content.decode())
        bodies.append(client.get(reverse("web:chart_prescribe", args=[patient])).content.decode())
    # The id is the attacker's own input (a refusal page may echo it); the surname is not.
    exposed = {name for name in victims.values() if any(name in body for body in bodies)}
    assert len(exposed) <= default_budget(role)["week"][1]
    if role not in (Role.PRACTITIONER, Role.NURSE):
        assert exposed == set()
    assert not User.objects.get(pk=user.pk).is_active, f"{role} not locked"
