"""Token introspection (RFC 7662, as SMART App Launch describes it): a registered confidential
client (client secret where allowed, or private_key_jwt) asks whether a token is active and
what it carries: its scopes, client, expiry, the member (`sub`, `fhirUser`) and the launch
patient. A client introspects its own tokens only; anything else answers `active: false`,
like an unknown token, so introspection is no oracle on other clients' tokens."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import AccessToken
from oauthlib.common import Request

from carnet.guard.http import public_view

from .models import ClientKind, LaunchContext
from .oauth import SmartValidator, issuer_of, smart_client

INACTIVE = {"active": False}


def _client(request: HttpRequest):
    oauth_request = Request(
        request.build_absolute_uri(),
        http_method="POST",
        body=request.body,
        headers={
            "Content-Type": request.content_type or "",
            "HTTP_AUTHORIZATION": request.META.get("HTTP_AUTHORIZATION", ""),
        },
    )
    validator = SmartValidator()
    if not validator.authenticate_client(oauth_request):
        return None
    return oauth_request.client


@csrf_exempt
@public_view
def introspect(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"error": "invalid_request"}, status=405)
    if "\x00" in request.body.decode(errors="replace"):
        return JsonResponse({"error": "invalid_request"}, status=400)
    client = _client(request)
    if client is None:
        response = JsonResponse({"error": "invalid_client"}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="carnet-fhir"'
        return response
    raw = request.POST.get("token", "")
    if not raw:
        return JsonResponse({"error": "invalid_request"}, status=400)
    token = (
        AccessToken.objects.select_related("user__practitioner", "application")
        .filter(token_checksum=hashlib.sha256(raw.encode()).hexdigest(), application=client)
        .first()
    )
    if token is None or token.is_expired():
        return JsonResponse(INACTIVE)
    registered = smart_client(token.application)
    account = (
        registered.service_account
        if registered and registered.kind == ClientKind.BACKEND
        else token.user
    )
    if account is None or not account.is_active:
        return JsonResponse(INACTIVE)
    issuer = issuer_of(request.build_absolute_uri())
    answer = {
        "active": True,
        "scope": token.scope,
        "client_id": token.application.client_id,
        "token_type": "Bearer",
        "exp": int(token.expires.timestamp()),
        "iat": int(token.created.timestamp()),
        "iss": issuer,
        "sub": str(account.pk),
    }
    practitioner = getattr(account, "practitioner", None)
    if "fhirUser" in token.scope.split() and practitioner is not None:
        answer["fhirUser"] = f"{issuer}/fhir/Practitioner/{practitioner.pk}"
    patient = LaunchContext.objects.filter(access_token=token).values_list("patient_id", flat=True)
    launch = next(iter(patient), None)
    if launch:
        answer["patient"] = str(launch)
    response = JsonResponse(answer)
    return response
