"""SMART Backend Services: a backend proves itself with a JWT signed by its private key
(private_key_jwt), checked against the public keys it registered (a JWKS, or a JWKS URL served
here by a real HTTP server on 127.0.0.1). Accepted: RS384 and ES384 from the registered key.
Refused: another key, a replayed jti, an expired or far-future assertion, the wrong audience,
an alg outside the two, a shared secret from a client with keys, a secret where the
installation forbids them. Tokens are signed with jwcrypto, the verifier's library is the
same but nothing here shares code with carnet/api/assertions.py."""

import dataclasses
import http.server
import json
import threading
import time
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from jwcrypto import jwk, jwt

from carnet.api.clients import register_backend
from carnet.guard.policy import Role

from .factories import UserFactory
from .fhir_clients import smart
from .fhir_clients.smart import bearer

pytestmark = pytest.mark.django_db
TOKEN_URL = "http://testserver/fhir/oauth/token/"
SCOPE = "system/Patient.rs"


def _key(kind: str) -> jwk.JWK:
    if kind == "RS384":
        return jwk.JWK.generate(kty="RSA", size=2048, kid=str(uuid.uuid4()))
    return jwk.JWK.generate(kty="EC", crv="P-384", kid=str(uuid.uuid4()))


def _public_jwks(*keys: jwk.JWK) -> str:
    return json.dumps({"keys": [json.loads(k.export_public()) for k in keys]})


def _assertion(key: jwk.JWK, alg: str, client_id: str, **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "iat": now,
        "jti": uuid.uuid4().hex,
        **overrides,
    }
    token = jwt.JWT(header={"alg": alg, "kid": key["kid"], "typ": "JWT"}, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


def _token(assertion: str, scope: str = SCOPE):
    return Client().post(
        "/fhir/oauth/token/",
        {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


@pytest.fixture
def service_account(establishment):
    return UserFactory(username="svc.lab", role=Role.SECRETARY, establishments=[establishment])


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_a_backend_signs_in_with_its_private_key(service_account, patient, alg):
    key = _key(alg)
    client = register_backend(
        name="Lab", account="svc.lab", scopes=SCOPE, jwks=_public_jwks(key)
    ).client_id
    answer = _token(_assertion(key, alg, client))
    assert answer.status_code == 200, answer.content
    token = answer.json()
    assert token["token_type"] == "Bearer" and token["scope"] == SCOPE
    assert Client().get(f"/fhir/Patient/{patient}", **bearer(token)).status_code == 200


def test_refused_assertions(service_account):
    key, stranger = _key("RS384"), _key("RS384")
    client = register_backend(
        name="Lab", account="svc.lab", scopes=SCOPE, jwks=_public_jwks(key)
    ).client_id
    now = int(time.time())
    refused = {
        "signed by another key": _assertion(stranger, "RS384", client),
        "expired": _assertion(key, "RS384", client, exp=now - 120, iat=now - 400),
        "more than five minutes ahead": _assertion(key, "RS384", client, exp=now + 3600),
        "another audience": _assertion(key, "RS384", client, aud="https://elsewhere/token"),
        "sub is not the client": _assertion(key, "RS384", client, sub="someone"),
        "no jti": _assertion(key, "RS384", client, jti=""),
        "unknown client": _assertion(key, "RS384", "no-such-client"),
    }
    for why, assertion in refused.items():
        answer = _token(assertion)
        assert answer.status_code == 401, why
        assert answer.json()["error"] == "invalid_client", why
    rs256 = _key("RS384")
    wrong_alg = register_backend(
        name="Other", account="svc.lab", scopes=SCOPE, jwks=_public_jwks(rs256)
    ).client_id
    assert _token(_assertion(rs256, "RS256", wrong_alg)).status_code == 401
    # Garbage is refused, not a server error.
    for junk in ("", "a.b", "x" * 9000, "e30.e30.", "....."):
        assert _token(junk).status_code in (400, 401), junk


def test_a_replayed_assertion_is_refused(service_account):
    key = _key("ES384")
    client = register_backend(
        name="Lab", account="svc.lab", scopes=SCOPE, jwks=_public_jwks(key)
    ).client_id
    assertion = _assertion(key, "ES384", client)
    assert _token(assertion).status_code == 200
    replay = _token(assertion)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


def test_a_client_with_keys_never_signs_in_with_a_secret(service_account):
    key = _key("RS384")
    registered = register_backend(
        name="Lab", account="svc.lab", scopes=SCOPE, jwks=_public_jwks(key)
    )
    assert registered.client_secret == ""
    for secret in ("", "guess"):
        answer = Client().post(
            "/fhir/oauth/token/",
            {"grant_type": "client_credentials", "scope": SCOPE},
            HTTP_AUTHORIZATION=smart.basic(dataclasses.replace(registered, client_secret=secret)),
        )
        assert answer.status_code == 401


def test_registration_checks_the_keys(service_account):
    private = _key("RS384")
    with pytest.raises(ValidationError, match="private key"):
        register_backend(
            name="Lab",
            account="svc.lab",
            scopes=SCOPE,
            jwks=json.dumps({"keys": [json.loads(private.export_private())]}),
        )
    with pytest.raises(ValidationError, match="JWKS"):
        register_backend(name="Lab", account="svc.lab", scopes=SCOPE, jwks="{not json")
    with pytest.raises(ValidationError, match="public keys"):
        register_backend(name="Lab", account="svc.lab", scopes=SCOPE)


def test_secrets_only_where_the_installation_allows_them(service_account):
    with (
        override_settings(CARNET_SMART_CLIENT_SECRETS=False),
        pytest.raises(ValidationError, match="not allowed"),
    ):
        register_backend(name="Lab", account="svc.lab", scopes=SCOPE, client_secret=True)
    registered = smart.backend("svc.lab", scopes=SCOPE)
    assert smart.backend_token(registered, SCOPE)["access_token"]
    with override_settings(CARNET_SMART_CLIENT_SECRETS=False):
        refused = Client().post(
            "/fhir/oauth/token/",
            {"grant_type": "client_credentials", "scope": SCOPE},
            HTTP_AUTHORIZATION=smart.basic(registered),
        )
        assert refused.status_code == 401
        config = Client().get("/.well-known/smart-configuration").json()
        assert "client_secret_basic" not in config["token_endpoint_auth_methods_supported"]
        assert "client-confidential-symmetric" not in config["capabilities"]


class _Jwks(http.server.BaseHTTPRequestHandler):
    body = b""
    hits = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_backend_publishing_its_keys_at_a_url(service_account, patient, jwks_server):
    first, rotated = _key("ES384"), _key("RS384")
    _Jwks.body = _public_jwks(first).encode()
    url = f"http://127.0.0.1:{jwks_server.server_address[1]}/jwks.json"
    client = register_backend(name="Lab", account="svc.lab", scopes=SCOPE, jwks_url=url).client_id
    assert _token(_assertion(first, "ES384", client)).status_code == 200
    # The backend rotates its key: the new kid makes Carnet fetch the URL again (once it is
    # older than the refetch delay), and the old key no longer signs in.
    _Jwks.body = _public_jwks(rotated).encode()
    from carnet.api import assertions

    for cached in assertions._cache.values():
        cached.at -= assertions.JWKS_REFETCH_SECONDS + 1
    answer = _token(_assertion(rotated, "RS384", client))
    assert answer.status_code == 200, answer.content
    assert _Jwks.hits == 2
    assert _token(_assertion(first, "ES384", client)).status_code == 401


def test_the_command_registers_a_backend_with_its_keys(service_account, tmp_path, capsys):
    from django.core.management import CommandError, call_command

    from carnet.api.models import SmartClient

    key = _key("ES384")
    public = tmp_path / "public.jwks.json"
    public.write_text(_public_jwks(key))
    call_command(
        "smart",
        "backend",
        "--name",
        "Lab",
        "--account",
        "svc.lab",
        "--scopes",
        SCOPE,
        "--jwks",
        str(public),
    )
    out = capsys.readouterr().out
    assert "client_id:" in out and "client_secret" not in out
    client = SmartClient.objects.get()
    assert client.asymmetric and "d" not in json.loads(client.jwks)["keys"][0]
    assert _token(_assertion(key, "ES384", client.application.client_id)).status_code == 200
    secret = tmp_path / "private.jwks.json"
    secret.write_text(json.dumps({"keys": [json.loads(key.export_private())]}))
    with pytest.raises(CommandError, match="private key"):
        call_command(
            "smart",
            "backend",
            "--name",
            "Lab2",
            "--account",
            "svc.lab",
            "--scopes",
            SCOPE,
            "--jwks",
            str(secret),
        )
