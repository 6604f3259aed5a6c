"""SMART on FHIR: tokens only through the real flows (PKCE after the staff sign-in with the
second factor, client credentials for a service account), scopes that narrow and never widen,
a patient/ token bound to its patient, tokens kept only as digests, revoked when the guard
contains the account."""

import base64

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from oauth2_provider.models import AccessToken, RefreshToken

from carnet.guard.actors import Actor
from carnet.guard.containment import contain
from carnet.guard.policy import Role
from carnet.staff.models import User

from .conftest import signed_in_client
from .factories import UserFactory, make_patient, totp_device
from .fhir_clients import smart
from .fhir_clients.smart import bearer, issue, parsed

pytestmark = pytest.mark.django_db
API = Client()


def _contain(user):
    contain(Actor(user_id=user.pk, username=user.username, role=user.role), "tests", reason="tests")


def test_authorizing_an_app_needs_the_full_staff_sign_in(establishment):
    registered = smart.app()
    _, challenge = smart.pkce()
    query = smart.authorize_query(registered, "user/Patient.rs", challenge)
    anonymous = Client().get(query)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    password_only = Client()
    password_only.force_login(UserFactory(role=Role.SECRETARY, establishments=[establishment]))
    response = password_only.get(query)
    assert response.status_code == 302 and "/login/" in response["Location"]
    patient_account = Client()
    patient_account.force_login(UserFactory(role=Role.PATIENT))
    assert patient_account.get(query).status_code in (302, 403)


def test_pkce_is_required_and_checked(staff):
    _, browser = staff(Role.SECRETARY)
    registered = smart.app()
    no_pkce = browser.get(
        smart.authorize_query(registered, "user/Patient.rs", "").replace(
            "&code_challenge=&code_challenge_method=S256", ""
        )
    )
    assert no_pkce.status_code in (302, 400)
    assert "code=" not in no_pkce.get("Location", "")
    response, verifier = smart.consent(browser, registered, "user/Patient.rs")
    code = smart.code_from(response)
    wrong = Client().post(
        "/fhir/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": smart.REDIRECT,
            "client_id": registered.client_id,
            "code_verifier": "x" * 50,
        },
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_scopes_beyond_the_registration_or_the_kind_are_refused(staff, establishment):
    _, browser = staff(Role.SECRETARY)
    narrow = smart.app(scopes="user/Patient.rs")
    _, challenge = smart.pkce()
    wider = browser.get(smart.authorize_query(narrow, "user/Patient.cruds", challenge))
    assert "invalid_scope" in wider.get("Location", "") or wider.status_code == 400
    system_for_app = browser.get(smart.authorize_query(narrow, "system/Patient.rs", challenge))
    assert "code=" not in system_for_app.get("Location", "")
    with pytest.raises(ValidationError):
        smart.app(scopes="system/*.rs")
    UserFactory(username="svc.lab", role=Role.LAB_TECHNICIAN, establishments=[establishment])
    service = smart.backend("svc.lab", scopes="system/Patient.rs")
    refused = Client().post(
        "/fhir/oauth/token/",
        {"grant_type": "client_credentials", "scope": "system/Patient.cruds"},
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{service.client_id}:{service.client_secret}".encode()).decode(),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_a_token_without_the_scope_gets_403_with_an_outcome(staff, patient):
    user, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/Patient.r")
    assert API.get(f"/fhir/Patient/{patient}", **bearer(token)).status_code == 200
    for method, path in (
        ("get", "/fhir/Patient"),
        ("get", "/fhir/Appointment"),
        ("get", "/fhir/Practitioner"),
    ):
        response = getattr(API, method)(
            path, {"family": "DUR", "birthdate": "1980-05-17"}, **bearer(token)
        )
        assert response.status_code == 403, path
        assert issue(response)["code"] == "forbidden" and "scope" in issue(response)["diagnostics"]
    created = API.post(
        "/fhir/Patient",
        {"resourceType": "Patient"},
        content_type="application/fhir+json",
        **bearer(token),
    )
    assert created.status_code == 403


def test_a_scope_never_widens_the_role(staff, establishment, patient):
    """An administrator's or a nurse's token with every scope opens what their role opens."""
    _, admin_browser = staff(Role.ADMINISTRATOR)
    admin = smart.user_token(admin_browser, smart.app(), "user/*.cruds")
    assert API.get(f"/fhir/Patient/{patient}", **bearer(admin)).status_code == 403
    _, nurse_browser = staff(Role.NURSE)
    nurse = smart.user_token(nurse_browser, smart.app(), "user/*.cruds")
    body = {
        "resourceType": "Patient",
        "name": [{"family": "X", "given": ["Y"]}],
        "gender": "male",
        "birthDate": "1990-01-01",
    }
    created = API.post("/fhir/Patient", body, content_type="application/fhir+json", **bearer(nurse))
    assert created.status_code == 403 and b"resourceType" in created.content


def test_a_patient_token_reads_only_its_patient(staff, establishment):
    mine = make_patient(establishment, birth_surname="CHOISI")
    other = make_patient(establishment, birth_surname="AUTRE")
    _, browser = staff(Role.SECRETARY)
    registered = smart.app()
    token = smart.user_token(browser, registered, "launch/patient patient/*.rs", patient=mine)
    assert token["patient"] == mine
    assert parsed(API.get(f"/fhir/Patient/{mine}", **bearer(token)))["id"] == mine
    refused = API.get(f"/fhir/Patient/{other}", **bearer(token))
    assert refused.status_code == 403 and b"AUTRE" not in refused.content
    search = parsed(
        API.get("/fhir/Patient", {"family": "AUT", "birthdate": "1980-05-17"}, **bearer(token))
    )
    assert search["entry"] == []
    own = parsed(
        API.get("/fhir/Patient", {"family": "CHO", "birthdate": "1980-05-17"}, **bearer(token))
    )
    assert [e["resource"]["id"] for e in own["entry"]] == [mine]
    appointments = API.get("/fhir/Appointment", {"patient": f"Patient/{other}"}, **bearer(token))
    assert appointments.status_code == 403
    # The patient is chosen by IPP too, and refreshing keeps it.
    refreshed = Client().post(
        "/fhir/oauth/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": registered.client_id,
        },
    )
    assert refreshed.status_code == 200 and refreshed.json()["patient"] == mine
    assert API.get(f"/fhir/Patient/{other}", **bearer(refreshed.json())).status_code == 403


def test_a_patient_scope_needs_a_patient_chosen_through_the_guard(staff, other_establishment):
    elsewhere = make_patient(other_establishment)
    _, browser = staff(Role.SECRETARY)
    registered = smart.app()
    response, _ = smart.consent(browser, registered, "launch/patient patient/*.rs", patient="")
    assert response.status_code == 400
    refused, _ = smart.consent(
        browser, registered, "launch/patient patient/*.rs", patient=elsewhere
    )
    assert refused.status_code == 404  # the guard's answer, recorded like any refusal


def test_tokens_are_kept_only_as_digests(staff):
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/Patient.rs")
    assert not AccessToken.objects.filter(token=token["access_token"]).exists()
    assert AccessToken.objects.get().token == ""
    assert RefreshToken.objects.get().token == ""


def test_containment_revokes_user_and_service_tokens(staff, establishment, patient):
    user, browser = staff(Role.SECRETARY)
    registered = smart.app()
    token = smart.user_token(browser, registered, "user/Patient.rs")
    assert API.get(f"/fhir/Patient/{patient}", **bearer(token)).status_code == 200
    _contain(user)
    assert API.get(f"/fhir/Patient/{patient}", **bearer(token)).status_code == 401
    assert not AccessToken.objects.filter(user=user).exists()
    refreshed = Client().post(
        "/fhir/oauth/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": registered.client_id,
        },
    )
    assert refreshed.status_code == 400
    service_account = UserFactory(
        username="svc.booking", role=Role.SECRETARY, establishments=[establishment]
    )
    service = smart.backend("svc.booking", scopes="system/Patient.rs")
    system = smart.backend_token(service, "system/Patient.rs")
    assert API.get(f"/fhir/Patient/{patient}", **bearer(system)).status_code == 200
    _contain(service_account)
    assert API.get(f"/fhir/Patient/{patient}", **bearer(system)).status_code == 401
    again = Client().post(
        "/fhir/oauth/token/",
        {"grant_type": "client_credentials", "scope": "system/Patient.rs"},
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{service.client_id}:{service.client_secret}".encode()).decode(),
    )
    assert again.status_code == 401 and not AccessToken.objects.exists()


def test_a_backend_acts_as_its_service_account(establishment, other_establishment, patient):
    UserFactory(username="svc.desk", role=Role.SECRETARY, establishments=[establishment])
    service = smart.backend("svc.desk", scopes="system/Patient.rs system/Appointment.rs")
    token = smart.backend_token(service, "system/Patient.rs")
    response = API.get(f"/fhir/Patient/{patient}", **bearer(token))
    assert response.status_code == 200
    from carnet.audit.models import AuditEntry

    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.actor == "svc.desk" and entry.role == Role.SECRETARY
    # Its establishment's patients only, like the account's pages would.
    assert (
        API.get(f"/fhir/Patient/{make_patient(other_establishment)}", **bearer(token)).status_code
        == 404
    )
    assert not User.objects.get(username="svc.desk").has_usable_password()


def test_a_persons_account_cannot_become_a_service_account(establishment):
    person = UserFactory(username="c.martin", role=Role.SECRETARY, establishments=[establishment])
    totp_device(person)
    with pytest.raises(Exception, match="second factor"):
        call_command(
            "smart",
            "backend",
            "--name",
            "x",
            "--account",
            "c.martin",
            "--scopes",
            "system/*.rs",
            "--client-secret",
        )
    assert User.objects.get(pk=person.pk).has_usable_password()


def test_revocation_endpoint(staff, patient):
    _, browser = staff(Role.SECRETARY)
    registered = smart.app()
    token = smart.user_token(browser, registered, "user/Patient.rs")
    done = Client().post(
        "/fhir/oauth/revoke/", {"token": token["access_token"], "client_id": registered.client_id}
    )
    assert done.status_code == 200
    assert API.get(f"/fhir/Patient/{patient}", **bearer(token)).status_code == 401


def test_every_token_issued_is_in_the_audit_log(staff):
    from carnet.audit.models import AuditEntry

    user, browser = staff(Role.SECRETARY)
    smart.user_token(browser, smart.app(name="Agenda app"), "user/Patient.rs")
    entry = AuditEntry.objects.get(action="api.token")
    assert entry.actor_id == user.pk and "Agenda app" in entry.reason
    assert AuditEntry.objects.filter(action="api.authorize", actor_id=user.pk).exists()


def test_signed_in_client_helper_is_unchanged(staff):
    # The consent page is a staff page: its session is the staff sign-in's.
    user, _ = staff(Role.SECRETARY)
    assert signed_in_client(user).get("/").status_code == 200
