"""Every route, visited by every role and by anonymous clients, either refuses or goes through
the guard and shows in the audit log; a route added without a guard rule is refused."""

import pytest
from django.test import Client
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.http import ROUTE_ATTRIBUTE
from carnet.guard.policy import Role

from .conftest import signed_in_client
from .factories import UserFactory, make_patient
from .routes import all_routes, concrete

pytestmark = pytest.mark.django_db
SURNAME = "ROUTEWALKER"


@pytest.fixture
def visitors(establishment):
    """One signed-in client per role, plus anonymous and password-only (no second factor)."""
    clients = {"anonymous": Client()}
    for role in Role.values:
        clients[role] = signed_in_client(UserFactory(role=role, establishments=[establishment]))
    half = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    half_client = Client()
    half_client.force_login(half)
    clients["password-only"] = half_client
    return clients


def test_every_view_declares_a_guard_rule():
    missing = [route for route, p in all_routes() if not getattr(p.callback, ROUTE_ATTRIBUTE, None)]
    assert missing == []


def test_every_route_refuses_or_is_audited_for_every_visitor(establishment, visitors):
    patient = make_patient(establishment, birth_surname=SURNAME)
    routes = list(all_routes())
    assert len(routes) >= 10
    checked = 0
    for route, pattern in routes:
        path = concrete(route, uuid=patient)
        public = getattr(pattern.callback, ROUTE_ATTRIBUTE) in ("public", "device", "outside")
        for who, client in visitors.items():
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                request_id = response["X-Request-ID"]
                entries = AuditEntry.objects.filter(request_id=request_id)
                body = response.content.decode(errors="replace")
                where = f"{method.upper()} {path} as {who} -> {response.status_code}"
                if SURNAME in body:
                    assert entries.filter(outcome="allowed", patients__contains=patient).exists(), (
                        where
                    )
                if public:
                    assert SURNAME not in body, where
                    continue
                to_login = response.status_code == 302 and "/login/" in response["Location"]
                # The FHIR API signs in with OAuth, not the login page: without a usable bearer
                # token it answers 401 with a Bearer challenge, and records the refusal.
                challenged = (
                    response.status_code == 401
                    and response.get("WWW-Authenticate", "").startswith("Bearer")
                    and entries.filter(outcome="refused").exists()
                )
                assert to_login or entries.exists(), where
                if who in ("anonymous", "password-only"):
                    assert to_login or challenged, where
                checked += 1
    guarded = sum(
        1
        for _, p in routes
        if getattr(p.callback, ROUTE_ATTRIBUTE) not in ("public", "device", "outside")
    )
    assert checked == guarded * len(visitors) * 2 > 0


@pytest.mark.urls("tests.unguarded_urls")
def test_a_route_without_a_guard_rule_is_refused_and_recorded(staff):
    user, client = staff(Role.PRACTITIONER)
    response = client.get("/forgotten/")
    assert response.status_code == 404
    assert b"patient data would be here" not in response.content
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert (entry.action, entry.outcome) == ("route.unguarded", "refused")
    assert entry.actor == user.username
    anonymous = Client().get("/forgotten/")
    assert anonymous.status_code == 404 and b"patient data" not in anonymous.content


def test_the_patient_page_is_audited_with_the_patient(staff, patient):
    user, client = staff(Role.SECRETARY)
    response = client.get(reverse("web:patient_detail", args=[patient]))
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert (entry.action, entry.outcome) == ("patients.view", "allowed")
    assert entry.patients == f"{patient}:outside"
    assert entry.actor_id == user.pk and entry.role == Role.SECRETARY
