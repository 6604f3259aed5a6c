"""SMART Backend Services client authentication (`private_key_jwt`, RFC 7523): a client signs a
short-lived JWT with its private key; Carnet checks it against the client's registered public
keys (a JWKS, or a JWKS URL fetched over HTTPS and cached). RS384 and ES384 only; `iss` and
`sub` are the client id, `aud` the token endpoint, `exp` within five minutes, and each `jti`
accepted once. The JOSE work is jwcrypto's; nothing here is cryptography of our own."""

from __future__ import annotations

import datetime
import json
import threading
import time
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from jwcrypto import jwk, jwt
from jwcrypto.common import JWException, base64url_decode

from .models import SmartClient, UsedAssertion

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS384", "ES384"]
MAX_ASSERTION = 8192
MAX_LIFETIME = datetime.timedelta(minutes=5)
LEEWAY_SECONDS = 30
JWKS_TIMEOUT = 5
JWKS_MAX_BYTES = 65536
JWKS_CACHE_SECONDS = 300
JWKS_REFETCH_SECONDS = 30


class AssertionRefused(Exception):
    """The assertion does not authenticate the client (answered `invalid_client`)."""


@dataclass
class _Fetched:
    at: float
    keys: jwk.JWKSet


_cache: dict[str, _Fetched] = {}
_lock = threading.Lock()


def keyset(text: str) -> jwk.JWKSet:
    """A client's public keys; private parts are refused (a JWKS must never hold them)."""
    try:
        keys = jwk.JWKSet.from_json(text)
    except (JWException, ValueError, TypeError) as error:
        raise ValueError(f"not a JWKS: {error}") from None
    if not keys["keys"]:
        raise ValueError("the JWKS holds no key")
    for key in keys["keys"]:
        if key.has_private:
            raise ValueError("the JWKS holds a private key: register the public keys only")
    return keys


def fetch_jwks(url: str) -> jwk.JWKSet:
    """The keys at a client's JWKS URL (HTTPS outside the demo), bounded in time and size."""
    if settings.PRODUCTION and not url.startswith("https://"):
        raise AssertionRefused("the client's JWKS URL is not HTTPS")
    if not url.startswith(("https://", "http://")):
        raise AssertionRefused("the client's JWKS URL is not HTTP(S)")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=JWKS_TIMEOUT) as answer:  # noqa: S310
            body = answer.read(JWKS_MAX_BYTES + 1)
    except OSError as error:
        raise AssertionRefused(f"the client's JWKS URL did not answer ({error})") from None
    if len(body) > JWKS_MAX_BYTES:
        raise AssertionRefused("the client's JWKS is too large")
    try:
        return keyset(body.decode())
    except (ValueError, UnicodeDecodeError) as error:
        raise AssertionRefused(f"the client's JWKS URL gave {error}") from None


def _keys_of(client: SmartClient, kid: str) -> jwk.JWKSet:
    if client.jwks:
        return keyset(client.jwks)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(client.jwks_url)
    stale = cached is None or now - cached.at > JWKS_CACHE_SECONDS
    # A key the cache does not know (the client rotated its keys) is fetched again, at most
    # every JWKS_REFETCH_SECONDS so that forged kids cannot make Carnet hammer the URL.
    unknown = cached is not None and kid and cached.keys.get_key(kid) is None
    if stale or (unknown and now - cached.at > JWKS_REFETCH_SECONDS):
        fetched = _Fetched(now, fetch_jwks(client.jwks_url))
        with _lock:
            _cache[client.jwks_url] = fetched
        return fetched.keys
    return cached.keys


def _unverified(assertion: str) -> tuple[dict, dict]:
    """Header and claims, read only to know which client's keys to try."""
    try:
        head, body, _ = assertion.split(".")
        return json.loads(base64url_decode(head)), json.loads(base64url_decode(body))
    except (ValueError, TypeError):
        raise AssertionRefused("the assertion is not a signed JWT") from None


def authenticate(assertion: str, token_endpoint: str) -> SmartClient:
    """The client this assertion authenticates, or AssertionRefused saying why."""
    if not assertion or len(assertion) > MAX_ASSERTION:
        raise AssertionRefused("no assertion, or a too large one")
    header, claims = _unverified(assertion)
    if header.get("alg") not in ALGORITHMS:
        raise AssertionRefused(f"alg must be one of {', '.join(ALGORITHMS)}")
    client_id = claims.get("iss")
    if not isinstance(client_id, str) or claims.get("sub") != client_id:
        raise AssertionRefused("iss and sub must both be the client id")
    client = (
        SmartClient.objects.select_related("application", "service_account")
        .filter(application__client_id=client_id)
        .first()
    )
    if client is None or not client.asymmetric:
        raise AssertionRefused("no client with registered keys has this id")
    keys = _keys_of(client, str(header.get("kid") or ""))
    token = jwt.JWT(
        algs=ALGORITHMS,
        check_claims={"iss": client_id, "sub": client_id, "exp": None, "jti": None},
        expected_type="JWS",
    )
    token.leeway = LEEWAY_SECONDS
    try:
        token.deserialize(assertion, keys)
    except (JWException, ValueError, TypeError) as error:
        raise AssertionRefused(f"the signature or claims do not verify ({error})") from None
    checked = json.loads(token.claims)
    _check_audience(checked.get("aud"), token_endpoint)
    expires = datetime.datetime.fromtimestamp(int(checked["exp"]), tz=datetime.UTC)
    if expires > timezone.now() + MAX_LIFETIME + datetime.timedelta(seconds=LEEWAY_SECONDS):
        raise AssertionRefused("exp is more than five minutes ahead")
    _once(client, str(checked["jti"]), expires)
    return client


def _check_audience(audience: object, token_endpoint: str) -> None:
    wanted = {token_endpoint, token_endpoint.rstrip("/")}
    given = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a in wanted for a in given):
        raise AssertionRefused("aud must be the token endpoint")


def _once(client: SmartClient, jti: str, expires: datetime.datetime) -> None:
    if not jti or len(jti) > 255:
        raise AssertionRefused("jti is missing or too long")
    UsedAssertion.objects.filter(expires_at__lt=timezone.now() - MAX_LIFETIME).delete()
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(client=client, jti=jti, expires_at=expires)
    except IntegrityError:
        raise AssertionRefused("this assertion (jti) was already used") from None
