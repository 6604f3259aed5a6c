"""django-oauth-toolkit, bent to SMART on FHIR and to the guard: which scopes a client may be
granted (its registered ceiling, in the contexts its kind allows), which account a backend
service acts as, the patient a `patient/` token is bound to, and an audit entry for every
token issued. No token scheme of our own: issuing, hashing at rest, rotation and revocation
are the library's."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from oauth2_provider.models import AccessToken, Grant, RefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes

from carnet.audit.chain import Record, append
from carnet.audit.models import Outcome

from . import assertions
from . import scopes as smart
from .models import ClientKind, LaunchContext, SmartClient

log = logging.getLogger(__name__)

GRANT_OF_KIND = {ClientKind.APP: "authorization_code", ClientKind.BACKEND: "client_credentials"}
CONTEXTS_OF_KIND = {ClientKind.APP: {"user", "patient"}, ClientKind.BACKEND: {"system"}}


def smart_client(application: Any) -> SmartClient | None:
    if application is None:
        return None
    try:
        return application.smart
    except SmartClient.DoesNotExist:
        return None


class _Descriptions(dict):
    """Every well-formed SMART scope, described on demand (the set is too large to list)."""

    def __missing__(self, scope: str) -> str:
        return smart.describe(scope)


class SmartScopes(BaseScopes):
    def get_all_scopes(self) -> dict:
        return _Descriptions(smart.OTHER_SCOPES)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        client = smart_client(application)
        return client.scope_list if client else []

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        # A client says what it needs: no scope asked, nothing granted.
        return []


def _acting_account(request: Any) -> Any:
    client = smart_client(getattr(request, "client", None))
    if client and client.kind == ClientKind.BACKEND:
        return client.service_account
    return getattr(request, "user", None)


class SmartValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "fhirUser": "fhirUser"}

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        registered = smart_client(client)
        if registered is None:
            return False
        if grant_type != "refresh_token" and GRANT_OF_KIND[registered.kind] != grant_type:
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        registered = smart_client(client)
        if registered is None or not scopes:
            return False
        asked = list(scopes)
        if not all(smart.is_known(s) for s in asked):
            return False
        if not smart.within(asked, registered.scope_list):
            return False
        contexts = {s.context for s in smart.resource_scopes(asked)}
        if not contexts <= CONTEXTS_OF_KIND[registered.kind]:
            return False
        # A patient/ scope needs a patient chosen at sign-in.
        return "patient" not in contexts or smart.LAUNCH_PATIENT in asked

    def authenticate_client(self, request, *args, **kwargs):
        assertion_type = getattr(request, "client_assertion_type", None)
        if assertion_type is not None or getattr(request, "client_assertion", None):
            return _by_assertion(request, assertion_type)
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        client = smart_client(request.client)
        if client is not None and client.asymmetric:
            # A client with registered keys proves itself with them, never with a secret.
            return False
        if client is not None and not settings.CARNET_SMART_CLIENT_SECRETS:
            return False
        return _usable(request)

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        if not super().authenticate_client_id(client_id, request, *args, **kwargs):
            return False
        return _usable(request)

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        patient = getattr(request, "carnet_patient", None)
        if patient:
            grant = Grant.objects.get(code=code["code"], application=request.client)
            LaunchContext.objects.create(grant=grant, patient_id=patient)

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        if not (request.user and request.user.is_active):
            return False
        context = LaunchContext.objects.filter(grant__code=code, grant__application=client).first()
        request.carnet_patient = str(context.patient_id) if context else None
        return True

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        if not (request.user and request.user.is_active):
            return False
        context = LaunchContext.objects.filter(refresh_token=request.refresh_token_instance).first()
        request.carnet_patient = str(context.patient_id) if context else None
        return True

    def get_oidc_issuer_endpoint(self, request):
        return issuer_of(absolute_uri(request))

    def get_additional_claims(self, request):
        """SMART's fhirUser: the signed-in member's Practitioner resource, when there is one
        (a member without an RPPS is not a FHIR Practitioner, and the claim is left out)."""
        claims: dict[str, str] = {}
        practitioner = getattr(getattr(request, "user", None), "practitioner", None)
        if "fhirUser" in (request.scopes or []) and practitioner is not None:
            base = issuer_of(absolute_uri(request))
            claims["fhirUser"] = f"{base}/fhir/Practitioner/{practitioner.pk}"
        return claims

    def save_bearer_token(self, token, request, *args, **kwargs):
        super().save_bearer_token(token, request, *args, **kwargs)
        access = AccessToken.objects.get(token_checksum=_checksum(token["access_token"]))
        patient = getattr(request, "carnet_patient", None)
        if patient:
            LaunchContext.objects.create(access_token=access, patient_id=patient)
            refresh = token.get("refresh_token")
            if refresh:
                row = RefreshToken.objects.filter(
                    token_checksum=_checksum(refresh), revoked__isnull=True
                ).first()
                if row is not None:
                    LaunchContext.objects.create(refresh_token=row, patient_id=patient)
            # SMART: the launch context comes back with the token.
            token["patient"] = patient
        _record_token(request, access, patient)


def _by_assertion(request: Any, assertion_type: str | None) -> bool:
    if assertion_type != assertions.JWT_BEARER:
        return False
    try:
        client = assertions.authenticate(
            request.client_assertion, token_endpoint(absolute_uri(request))
        )
    except assertions.AssertionRefused as refused:
        log.info("client assertion refused: %s", refused)
        return False
    if request.client_id and request.client_id != client.application.client_id:
        return False
    request.client = client.application
    request.client_id = client.application.client_id
    return _usable(request)


def absolute_uri(request: Any) -> str:
    """An oauthlib request's absolute URI (django-oauth-toolkit hands over the path only,
    with the Django request's META as headers)."""
    if "://" in request.uri:
        return request.uri
    phony = HttpRequest()
    phony.META = dict(request.headers)
    scheme = "https" if request.headers.get("X_DJANGO_OAUTH_TOOLKIT_SECURE") else "http"
    return f"{scheme}://{phony.get_host()}{request.uri}"


def issuer_of(uri: str) -> str:
    """Carnet's issuer: the origin it is served from. The discovery documents, the RFC 9207
    `iss` of an authorization response and every id_token's `iss` are this same string."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def token_endpoint(uri: str) -> str:
    """The token endpoint's absolute URL, without the query (a client assertion's `aud`)."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _usable(request: Any) -> bool:
    """Only registered SMART clients; a backend service only while its service account is
    active and approved by a security officer (a contained account's services, or those of an
    account still waiting for approval, get no token)."""
    client = smart_client(getattr(request, "client", None))
    if client is None:
        return False
    if client.kind == ClientKind.BACKEND:
        account = client.service_account
        return bool(account and account.is_active and account.access_approved)
    return True


def _checksum(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record_token(request: Any, access: AccessToken, patient: str | None) -> None:
    account = _acting_account(request)
    append(
        Record(
            actor_id=getattr(account, "pk", None),
            actor=getattr(account, "username", "") or "anonymous",
            role=getattr(account, "role", "") or "anonymous",
            action="api.token",
            outcome=Outcome.ALLOWED,
            reason=(
                f"token {access.pk} for client {access.application.name} "
                f"({request.grant_type}): {access.scope}"
                + (f"; launch patient {patient}" if patient else "")
            ),
            request_id=uuid.uuid4().hex,
            client_ip=None,
        )
    )
