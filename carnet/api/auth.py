"""From a request's bearer token to the guard's Actor and the token's SMART grant. Only the
Authorization header is read (never a cookie, never the query string): a signed-in browser
session opens nothing here, so the API needs no CSRF protection."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.http import HttpRequest
from oauth2_provider.models import AccessToken

from carnet.guard.actors import Actor
from carnet.guard.policy import Role
from carnet.staff.actors import actor_for_account

from .models import ClientKind, LaunchContext
from .oauth import smart_client

# Roles whose accounts may hold API tokens (patients use the portal; screens their token).
API_ROLES = set(Role.values) - {Role.PATIENT, Role.SCREEN}


class Unauthenticated(Exception):
    """No usable token: 401 with a Bearer challenge."""

    def __init__(self, reason: str, error: str = "invalid_token") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


@dataclass(frozen=True)
class TokenGrant:
    actor: Actor
    scopes: frozenset[str]
    patient_id: str | None
    client_name: str
    token_id: int


def bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("this request carries no bearer token", error="")
    return value.strip()


# What a request reads of its token, client and account (the rows have five times as many
# columns, which Django would compile into every request's first statement).
_ACCOUNT = ("id", "username", "role", "is_active", "access_approved")
_TOKEN_FIELDS = (
    "id",
    "expires",
    "scope",
    *(f"user__{name}" for name in _ACCOUNT),
    "application__id",
    "application__name",
    "application__smart__id",
    "application__smart__kind",
    *(f"application__smart__service_account__{name}" for name in _ACCOUNT),
)


def grant_for(request: HttpRequest) -> TokenGrant:
    raw = bearer(request)
    token = (
        AccessToken.objects.select_related("user", "application__smart__service_account")
        .only(*_TOKEN_FIELDS)
        .filter(token_checksum=hashlib.sha256(raw.encode()).hexdigest())
        .first()
    )
    if token is None or token.is_expired():
        raise Unauthenticated("the access token is unknown, expired or revoked")
    client = smart_client(token.application)
    if client is None:
        raise Unauthenticated("the token's client is not a registered SMART client")
    account = client.service_account if client.kind == ClientKind.BACKEND else token.user
    if account is None or not account.is_active or account.role not in API_ROLES:
        raise Unauthenticated("the token's account is locked or may not use the API")
    # A token cannot confirm a second factor: past the soft limit the API refuses.
    actor = actor_for_account(account, request, stepped_up=False)
    patient = None
    if any(scope.startswith("patient/") for scope in token.scope.split()):
        context = LaunchContext.objects.filter(access_token=token).values_list(
            "patient_id", flat=True
        )
        patient = next(iter(context), None)
    return TokenGrant(
        actor=actor,
        scopes=frozenset(token.scope.split()),
        patient_id=str(patient) if patient else None,
        client_name=token.application.name,
        token_id=token.pk,
    )
