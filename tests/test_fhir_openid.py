"""SMART App Launch 2 as an integrator checks it: the audience is the FHIR base or nothing is
issued; one issuer everywhere (SMART and OpenID discovery, RFC 9207's iss on the redirect, the
id_token); the id_token verifies with the published JWKS and names the Practitioner as
fhirUser; the consent page's Content-Security-Policy lets the form reach the app's registered
redirect URI and nothing else; introspection tells a client about its own tokens only;
scope refusals carry insufficient_scope; CORS answers registered apps' origins only."""

import json
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from jwcrypto import jwk, jwt

from carnet.guard.policy import Role

from .fhir_clients import smart
from .fhir_clients.smart import bearer, issue

pytestmark = pytest.mark.django_db
API = Client()
SCOPES = "launch/patient openid fhirUser patient/*.rs"


def _exchange(registered, response, verifier) -> dict:
    answer = Client().post(
        "/fhir/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": smart.code_from(response),
            "redirect_uri": smart.REDIRECT,
            "client_id": registered.client_id,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_practitioner_signs_in_an_app_with_openid_connect(staff, patient):
    user, browser = staff(Role.PRACTITIONER)
    registered = smart.app()
    response, verifier = smart.consent(browser, registered, SCOPES, patient=patient)
    config = API.get("/.well-known/smart-configuration").json()
    openid = API.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == openid["issuer"] == "http://testserver"
    assert "sso-openid-connect" in config["capabilities"]
    # RFC 9207: the redirect names the issuer the discovery documents name.
    assert parse_qs(urlparse(response["Location"]).query)["iss"] == [config["issuer"]]
    token = _exchange(registered, response, verifier)
    assert token["patient"] == patient
    keys = jwk.JWKSet.from_json(API.get(urlparse(config["jwks_uri"]).path).content)
    checked = jwt.JWT(jwt=token["id_token"], key=keys, algs=["RS256"])
    claims = json.loads(checked.claims)
    assert claims["iss"] == config["issuer"]
    assert claims["aud"] == registered.client_id and claims["sub"] == str(user.pk)
    fhir_user = claims["fhirUser"]
    assert fhir_user == f"http://testserver/fhir/Practitioner/{user.practitioner.pk}"
    # fhirUser resolves, with the token the app received.
    practitioner = API.get(urlparse(fhir_user).path, **bearer(token))
    assert practitioner.status_code == 200 and practitioner.json()["id"] == str(
        user.practitioner.pk
    )
    userinfo = API.get("/fhir/oauth/userinfo/", **bearer(token)).json()
    assert userinfo["fhirUser"] == fhir_user and userinfo["sub"] == str(user.pk)


def test_a_code_is_never_issued_for_another_audience(staff):
    _, browser = staff(Role.PRACTITIONER)
    registered = smart.app()
    _, challenge = smart.pkce()
    query = smart.authorize_query(registered, "user/Patient.rs", challenge)
    for audience in ("https://impostor.example/fhir", "", "http://testserver/"):
        page = browser.get(query.replace("aud=http%3A%2F%2Ftestserver%2Ffhir", f"aud={audience}"))
        assert page.status_code == 400, audience
        assert "code=" not in page.get("Location", "")
    assert browser.get(query).status_code == 200


def test_the_consent_page_lets_the_form_reach_the_app_only(staff):
    _, browser = staff(Role.PRACTITIONER)
    registered = smart.app()
    _, challenge = smart.pkce()
    page = browser.get(smart.authorize_query(registered, "user/Patient.rs", challenge))
    policy = page["Content-Security-Policy"]
    form_action = next(d for d in policy.split(";") if d.strip().startswith("form-action"))
    assert form_action.split()[1:] == ["'self'", smart.REDIRECT]
    # Any other page keeps form-action 'self'.
    other = browser.get("/")
    assert "form-action 'self';" in other["Content-Security-Policy"] + ";"


def test_introspection_for_the_clients_own_tokens(staff, establishment, patient):
    from .factories import UserFactory

    UserFactory(username="svc.rs", role=Role.SECRETARY, establishments=[establishment])
    resource_server = smart.backend("svc.rs", scopes="system/Patient.rs")
    own = smart.backend_token(resource_server, "system/Patient.rs")
    user, browser = staff(Role.SECRETARY)
    someone_elses = smart.user_token(browser, smart.app(), "user/Patient.rs")

    def introspect(token, auth=None):
        auth = smart.basic(resource_server) if auth is None else auth
        return Client().post("/fhir/oauth/introspect/", {"token": token}, HTTP_AUTHORIZATION=auth)

    answer = introspect(own["access_token"]).json()
    assert answer["active"] is True and answer["scope"] == "system/Patient.rs"
    assert answer["client_id"] == resource_server.client_id and answer["exp"] > answer["iat"]
    assert introspect(someone_elses["access_token"]).json() == {"active": False}
    assert introspect("not-a-token").json() == {"active": False}
    assert introspect(own["access_token"], auth="").status_code == 401
    Client().post(
        "/fhir/oauth/revoke/",
        {"token": own["access_token"]},
        HTTP_AUTHORIZATION=smart.basic(resource_server),
    )
    assert introspect(own["access_token"]).json() == {"active": False}


def test_a_scope_refusal_says_insufficient_scope(staff, patient):
    _, browser = staff(Role.SECRETARY)
    token = smart.user_token(browser, smart.app(), "user/Patient.r")
    refused = API.get("/fhir/Appointment", {"patient": patient}, **bearer(token))
    assert refused.status_code == 403 and issue(refused)["code"] == "forbidden"
    challenge = refused["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and "Appointment.s" in challenge


def test_cors_answers_registered_apps_only(staff, patient):
    registered = smart.app()  # redirect URI http://127.0.0.1:9/callback
    app_origin, stranger = "http://127.0.0.1:9", "https://evil.example"
    preflight = Client().options(
        f"/fhir/Patient/{patient}",
        HTTP_ORIGIN=app_origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == app_origin
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight
    discovery = Client().get("/.well-known/smart-configuration", HTTP_ORIGIN=app_origin)
    assert discovery["Access-Control-Allow-Origin"] == app_origin
    for path in ("/.well-known/smart-configuration", f"/fhir/Patient/{patient}"):
        answer = Client().get(path, HTTP_ORIGIN=stranger)
        assert "Access-Control-Allow-Origin" not in answer, path
    consent = Client().get("/fhir/oauth/authorize/", HTTP_ORIGIN=app_origin)
    assert "Access-Control-Allow-Origin" not in consent
    assert registered.client_id
