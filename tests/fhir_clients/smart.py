"""A test's SMART app and backend service, and tokens obtained through the real endpoints."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

from django.test import Client

from carnet.api.clients import Registered, register_app, register_backend

REDIRECT = "http://127.0.0.1:9/callback"
AUDIENCE = "http://testserver/fhir"
APP_SCOPES = "user/*.cruds patient/*.rs launch/patient openid fhirUser online_access"


def app(scopes: str = APP_SCOPES, name: str = "Test app") -> Registered:
    return register_app(name=name, redirect_uris=REDIRECT, scopes=scopes)


def backend(account: str, scopes: str = "system/*.rs", name: str = "Test backend") -> Registered:
    """A backend with a client secret (the installation allows them outside production)."""
    return register_backend(name=name, account=account, scopes=scopes, client_secret=True)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_query(registered: Registered, scopes: str, challenge: str, state: str = "s1") -> str:
    return "/fhir/oauth/authorize/?" + urlencode(
        {
            "response_type": "code",
            "client_id": registered.client_id,
            "redirect_uri": REDIRECT,
            "scope": scopes,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "aud": AUDIENCE,
        }
    )


def consent(browser: Client, registered: Registered, scopes: str, patient: str = ""):
    """The staff member's browser approves the app; returns (response, verifier)."""
    verifier, challenge = pkce()
    page = browser.get(authorize_query(registered, scopes, challenge))
    assert page.status_code == 200, page.content[:500]
    form = page.context["form"]
    data = {
        name: form[name].value() or "" for name in form.fields if name not in ("allow", "patient")
    }
    data.update({"allow": "true", "patient": patient})
    return browser.post("/fhir/oauth/authorize/", data), verifier


def code_from(response) -> str:
    assert response.status_code == 302, response.content[:500]
    query = parse_qs(urlparse(response["Location"]).query)
    assert "code" in query, response["Location"]
    return query["code"][0]


def user_token(browser: Client, registered: Registered, scopes: str, patient: str = "") -> dict:
    response, verifier = consent(browser, registered, scopes, patient)
    answer = Client().post(
        "/fhir/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code_from(response),
            "redirect_uri": REDIRECT,
            "client_id": registered.client_id,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def basic(registered: Registered) -> str:
    pair = f"{registered.client_id}:{registered.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def backend_token(registered: Registered, scopes: str) -> dict:
    answer = Client().post(
        "/fhir/oauth/token/",
        {"grant_type": "client_credentials", "scope": scopes},
        HTTP_AUTHORIZATION=basic(registered),
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def bearer(token: dict | str) -> dict:
    value = token["access_token"] if isinstance(token, dict) else token
    return {"HTTP_AUTHORIZATION": f"Bearer {value}"}


def parsed(response) -> dict:
    """The response's JSON, once fhir.resources accepted it as the resource it says it is
    (an independent check of every answer, errors included)."""
    from fhir.resources.R4B import get_fhir_model_class

    assert response["Content-Type"].startswith("application/fhir+json"), response["Content-Type"]
    data = response.json()
    get_fhir_model_class(data["resourceType"]).model_validate(data)
    return data


def issue(response) -> dict:
    data = parsed(response)
    assert data["resourceType"] == "OperationOutcome", data
    return data["issue"][0]
