"""One FHIR request, end to end: the bearer token, the format asked, the SMART scope (which
only narrows), then one guarded boundary and one transaction, like a staff page: the guard
decides and counts every patient, the audit entry commits with the response, a refusal is
recorded after the rollback (and contains the account past its limits, revoking its tokens).
Every error answers with an OperationOutcome; nothing else ever reaches the client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from carnet.guard.actors import Actor
from carnet.guard.boundary import Contained, Refused, StepUp, boundary, record_refusal, require
from carnet.guard.http import anonymous_actor
from carnet.guard.policy import Capability

from . import params as P
from . import scopes
from .auth import TokenGrant, Unauthenticated, grant_for
from .errors import ApiError
from .fhir import outcome, respond
from .registry import Call, Result

log = logging.getLogger(__name__)
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
# What `_format` and Accept may name for the JSON Carnet serves.
JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
REALM = 'Bearer realm="carnet-fhir"'


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
    challenge = REALM
    if problem.error:
        challenge += f', error="{problem.error}"'
    return outcome(401, "login", f"Unauthorised: {problem.reason}.", WWW_Authenticate=challenge)


def authenticate(request: HttpRequest) -> TokenGrant | HttpResponse:
    try:
        return grant_for(request)
    except Unauthenticated as problem:
        return unauthenticated(request, problem)


def _accepts_json(header: str) -> bool:
    for part in header.split(","):
        kind = part.split(";")[0].strip().lower()
        if not kind or kind in ("*/*", "application/*") or kind in JSON_FORMATS:
            return True
        if kind.endswith("+json"):
            return True
    return False


def not_acceptable(request: HttpRequest) -> HttpResponse | None:
    """406 for a format Carnet does not serve (`_format=xml`, `Accept: application/fhir+xml`):
    answering JSON to a client that asked for XML would only fail later, in its parser."""
    fmt = (request.GET.get("_format") or "").strip().lower()
    if fmt and fmt not in JSON_FORMATS:
        return outcome(406, "not-supported", f"_format {fmt!r}: Carnet serves FHIR JSON only.")
    accept = request.headers.get("Accept", "")
    if accept and not _accepts_json(accept):
        return outcome(406, "not-supported", "Carnet serves application/fhir+json only (Accept).")
    return None


def refuse(
    actor: Actor,
    action: str,
    refusal: Refused,
    status: int,
    code: str,
    text: str,
    **headers: str,
) -> HttpResponse:
    """Records a refusal decided before the boundary (scope, unsupported interaction)."""
    recorded = _recorded(actor, action, refusal)
    if isinstance(recorded, Contained):
        return _contained()
    return outcome(status, code, text, **headers)


def _contained() -> HttpResponse:
    return outcome(
        403,
        "security",
        "This account has been locked by Carnet's guard and its tokens are revoked; a security "
        "officer has been alerted.",
    )


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/")


def call_for(
    request: HttpRequest,
    grant: TokenGrant,
    only_patient: str | None,
    *,
    form_search: bool = False,
    **extra,
) -> Call:
    body = b""
    if request.method in ("POST", "PUT") and not form_search:
        body = request.body
    return Call(
        grant=grant,
        params=request.POST if form_search else request.GET,
        base=base_url(request),
        only_patient=only_patient,
        body=body,
        if_match=request.headers.get("If-Match", ""),
        if_none_match=request.headers.get("If-None-Match", ""),
        if_modified_since=request.headers.get("If-Modified-Since", ""),
        if_none_exist=request.headers.get("If-None-Exist", ""),
        prefer=P.prefer(request.headers.get("Prefer", "")),
        accept=request.headers.get("Accept", ""),
        **extra,
    )


def insufficient_scope(needed: str) -> str:
    """RFC 6750's challenge for a token whose scopes do not cover the request."""
    return f'{REALM}, error="insufficient_scope", scope="{needed}"'


def scope_access(
    grant: TokenGrant, resource_type: str, interaction: str, action: str
) -> tuple[str | None, HttpResponse | None]:
    access = scopes.access_for(grant.scopes, resource_type, interaction)
    if access is None:
        letter = scopes.INTERACTION_LETTER[interaction]
        needed = f"user/{resource_type}.{letter}"
        return None, refuse(
            grant.actor,
            action,
            Refused(f"no SMART scope for {interaction} on {resource_type}", not_found=False),
            403,
            "forbidden",
            f"This token's scopes do not allow {interaction} on {resource_type} (it needs "
            f"e.g. user/{resource_type}.{letter} or system/{resource_type}.{letter}).",
            WWW_Authenticate=insufficient_scope(needed),
        )
    return access, None


def _body_problem(request: HttpRequest) -> HttpResponse | None:
    if request.method not in ("POST", "PUT"):
        return None
    length = request.headers.get("Content-Length", "0")
    if length.isdigit() and int(length) > P.MAX_BODY_BYTES:
        return outcome(413, "too-costly", f"The body is larger than {P.MAX_BODY_BYTES} bytes.")
    if request.path.endswith("/_search"):
        return None  # a form, read by Django
    kind = request.content_type or ""
    if request.body and kind not in JSON_TYPES:
        return outcome(415, "not-supported", "Send application/fhir+json.")
    return None


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
    problem = _body_problem(request)
    if problem is not None:
        return problem
    try:
        with transaction.atomic(), boundary(actor, action) as ledger:
            ledger.reason = reason
            require(actor, capability)
            # A write's own work rolls back on an error the client is told of, while the
            # boundary still records the request; a read writes only what the guard counts
            # (kept either way: over-counting a failed read loosens nothing).
            writes = request.method not in ("GET", "HEAD")
            try:
                with transaction.atomic() if writes else nullcontext():
                    status, payload, headers = handler()
                    response = _render(status, payload, headers)
            except ApiError as error:
                response = outcome(error.status, error.code, error.diagnostics, **error.headers)
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
        # The path only: a query string could carry a name or a NIR into the logs.
        log.exception("FHIR request failed: %s %s", request.method, request.path)
        return outcome(
            500,
            "exception",
            f"Internal error; quote request id {getattr(request, 'request_id', '')} to support.",
        )


def _render(status: int, payload: dict | HttpResponse, headers: dict[str, str]) -> HttpResponse:
    if isinstance(payload, HttpResponse):
        return payload
    if status == 304:
        response = HttpResponse(status=304)
        for name, value in headers.items():
            response[name] = value
        return response
    if "resourceType" not in payload:
        # Bulk data's manifest: plain JSON, not a FHIR resource.
        response = JsonResponse(payload, status=status)
        for name, value in headers.items():
            response[name] = value
        return response
    return respond(payload, status=status, **{k.replace("-", "_"): v for k, v in headers.items()})
