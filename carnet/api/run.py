"""One FHIR request, end to end: the bearer token, the SMART scope (which only narrows), then
one guarded boundary and one transaction, like a staff page: the guard decides and counts
every patient, the audit entry commits with the response, a refusal is recorded after the
rollback (and contains the account past its limits, revoking its tokens). Every error answers
with an OperationOutcome; nothing else ever reaches the client."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from carnet.guard.actors import Actor
from carnet.guard.boundary import Contained, Refused, StepUp, boundary, record_refusal, require
from carnet.guard.http import anonymous_actor
from carnet.guard.policy import Capability

from . import scopes
from .auth import TokenGrant, Unauthenticated, grant_for
from .fhir import ApiError, outcome, respond
from .registry import Call, Result

log = logging.getLogger(__name__)
JSON_TYPES = ("application/fhir+json", "application/json")


def _recorded(actor: Actor, action: str, refusal: Refused) -> Refused:
    try:
        record_refusal(actor, action, refusal)
    except Contained as contained:
        return contained
    return refusal


def unauthenticated(request: HttpRequest, problem: Unauthenticated) -> HttpResponse:
    """401 with a Bearer challenge; recorded like any refused request."""
    _recorded(
        anonymous_actor(request), "fhir.unauthenticated", Refused(problem.reason, not_found=False)
    )
    challenge = 'Bearer realm="carnet-fhir"'
    if problem.error:
        challenge += f', error="{problem.error}"'
    return outcome(401, "login", f"Unauthorised: {problem.reason}.", WWW_Authenticate=challenge)


def authenticate(request: HttpRequest) -> TokenGrant | HttpResponse:
    try:
        return grant_for(request)
    except Unauthenticated as problem:
        return unauthenticated(request, problem)


def refuse(actor: Actor, action: str, refusal: Refused, status: int, code: str, text: str):
    """Records a refusal decided before the boundary (scope, unsupported interaction)."""
    recorded = _recorded(actor, action, refusal)
    if isinstance(recorded, Contained):
        return _contained()
    return outcome(status, code, text)


def _contained() -> HttpResponse:
    return outcome(
        403,
        "security",
        "This account has been locked by Carnet's guard and its tokens are revoked; a security "
        "officer has been alerted.",
    )


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/")


def call_for(request: HttpRequest, grant: TokenGrant, only_patient: str | None, **extra) -> Call:
    return Call(
        grant=grant,
        params=request.GET,
        base=base_url(request),
        only_patient=only_patient,
        body=request.body if request.method in ("POST", "PUT") else b"",
        if_match=request.headers.get("If-Match", ""),
        if_none_match=request.headers.get("If-None-Match", ""),
        **extra,
    )


def scope_access(
    grant: TokenGrant, resource_type: str, interaction: str, action: str
) -> tuple[str | None, HttpResponse | None]:
    access = scopes.access_for(grant.scopes, resource_type, interaction)
    if access is None:
        letter = scopes.INTERACTION_LETTER[interaction]
        return None, refuse(
            grant.actor,
            action,
            Refused(f"no SMART scope for {interaction} on {resource_type}", not_found=False),
            403,
            "forbidden",
            f"This token's scopes do not allow {interaction} on {resource_type} (it needs "
            f"e.g. user/{resource_type}.{letter} or system/{resource_type}.{letter}).",
        )
    return access, None


def guarded(
    request: HttpRequest,
    *,
    actor: Actor,
    action: str,
    capability: Capability,
    reason: str,
    handler: Callable[[], Result],
) -> HttpResponse:
    if any("\x00" in value for value in (request.path, *request.GET.values())):
        return outcome(400, "value", "NUL characters are refused in parameters.")
    if request.method in ("POST", "PUT") and request.body:
        kind = request.content_type or ""
        if kind not in JSON_TYPES:
            return outcome(415, "not-supported", "Send application/fhir+json.")
    try:
        with transaction.atomic(), boundary(actor, action) as ledger:
            ledger.reason = reason
            require(actor, capability)
            try:
                with transaction.atomic():
                    status, payload, headers = handler()
                    response = _render(status, payload, headers)
            except ApiError as error:
                response = outcome(error.status, error.code, error.diagnostics)
            except ValidationError as error:
                response = outcome(422, "processing", " ".join(error.messages))
        return response
    except StepUp:
        # A token cannot confirm a second factor: past the soft limit the API refuses, and
        # the refusal counts like any other (repeated, it contains the account).
        refusal = Refused("soft exposure limit reached through the API", not_found=False)
        if isinstance(_recorded(actor, action, refusal), Contained):
            return _contained()
        return outcome(
            403,
            "security",
            "This account reached its limit of patients outside its care relationships; the "
            "API cannot ask for the second factor, so it opens no more of them for now.",
        )
    except Refused as refusal:
        recorded = _recorded(actor, action, refusal)
        if isinstance(recorded, Contained):
            return _contained()
        if recorded.not_found:
            return outcome(404, "not-found", "Not found (or not yours to see).")
        return outcome(403, "forbidden", "Refused by Carnet's guard for this account.")
    except Exception:
        log.exception("FHIR request failed: %s %s", request.method, request.path)
        return outcome(
            500,
            "exception",
            f"Internal error; quote request id {getattr(request, 'request_id', '')} to support.",
        )


def _render(status: int, payload: dict | HttpResponse, headers: dict[str, str]) -> HttpResponse:
    if isinstance(payload, HttpResponse):
        return payload
    if "resourceType" not in payload and status != 304:
        # Bulk data's manifest: plain JSON, not a FHIR resource.
        response = JsonResponse(payload, status=status)
        for name, value in headers.items():
            response[name] = value
        return response
    if status == 304:
        response = HttpResponse(status=304)
        for name, value in headers.items():
            response[name] = value
        return response
    return respond(payload, status=status, **{k.replace("-", "_"): v for k, v in headers.items()})
