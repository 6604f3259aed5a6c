"""The FHIR REST routes: a resource type (search, create) and one resource (read, update),
dispatched through the registry. Bearer tokens only, so no CSRF check applies. Every
parameter is read by params.parse inside the guarded boundary; the audit entry describes the
request structurally (audit_reason.py), never with its query string."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from carnet.guard.boundary import Refused

from . import params as P
from .audit_reason import describe
from .errors import ApiError
from .fhir import outcome
from .registry import Call, ResourceDefinition, Result, load
from .routes import api_route
from .run import authenticate, call_for, guarded, not_acceptable, refuse, scope_access
from .search import shape_payload

log = logging.getLogger(__name__)
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
TYPE_METHODS = {"GET": "search", "POST": "create"}
INSTANCE_METHODS = {"GET": "read", "PUT": "update"}


@csrf_exempt
@api_route("fhir.type")
def resource_type_view(request: HttpRequest, resource_type: str) -> HttpResponse:
    return _serve(request, resource_type, TYPE_METHODS.get(request.method or ""), "")


@csrf_exempt
@api_route("fhir.type")
def search_by_post(request: HttpRequest, resource_type: str) -> HttpResponse:
    """`POST [type]/_search`: the form body's parameters, searched like a GET."""
    if request.method != "POST":
        return _serve(request, resource_type, "read", "_search")
    return _serve(request, resource_type, "search", "", form_search=True)


@csrf_exempt
@api_route("fhir.instance")
def resource_view(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    return _serve(request, resource_type, INSTANCE_METHODS.get(request.method or ""), resource_id)


def _handler(definition: ResourceDefinition, interaction: str, call: Call):
    spec = definition.interactions[interaction]

    def run() -> Result:
        query = P.parse(
            call.params,
            definition.search,
            resource_type=definition.type,
            strict=call.prefer.get("handling") == "strict",
            sortable=definition.sortable,
            includes=definition.includes,
        )
        status, payload, headers = spec.handler(replace(call, query=query))
        if status in (200, 201) and isinstance(payload, dict):
            payload = shape_payload(payload, query)
        return status, payload, headers

    return run


def _serve(
    request: HttpRequest,
    resource_type: str,
    interaction: str | None,
    resource_id: str,
    *,
    form_search: bool = False,
) -> HttpResponse:
    try:
        return _dispatch(request, resource_type, interaction, resource_id, form_search)
    except ApiError as error:
        return outcome(error.status, error.code, error.diagnostics, **error.headers)
    except Exception:
        # The path only: a query string could carry a name or a NIR into the logs.
        log.exception("FHIR request failed: %s %s", request.method, request.path)
        request_id = getattr(request, "request_id", "")
        return outcome(500, "exception", f"Internal error; quote request id {request_id}.")


def _dispatch(
    request: HttpRequest,
    resource_type: str,
    interaction: str | None,
    resource_id: str,
    form_search: bool,
) -> HttpResponse:
    grant = authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    if resource_id and not FHIR_ID.match(resource_id):
        # FHIR ids are ASCII letters, digits, '-' and '.': anything else names nothing here
        # (and never reaches a handler: '²' is a digit to Python, not to int()).
        return outcome(404, "not-found", f"{resource_type}/{resource_id[:64]} not found.")
    # A Binary is served as its own type (a PDF to a client that Accepts application/pdf).
    refused = not_acceptable(request) if resource_type != "Binary" else None
    if refused is not None:
        return refused
    definition = load().get(resource_type)
    spec = definition.interactions.get(interaction or "") if definition else None
    if definition is None or spec is None:
        known = definition is not None
        text = (
            f"{request.method} is not supported on {resource_type}."
            if known
            else f"Carnet serves no resource type {resource_type!r} (see /fhir/metadata)."
        )
        return refuse(
            grant.actor,
            "fhir.unsupported",
            Refused(text, not_found=not known),
            405 if known else 404,
            "not-supported",
            text,
        )
    access, refused = scope_access(grant, resource_type, interaction or "", spec.action)
    if refused is not None:
        return refused
    only_patient = None
    if access == "patient" and definition.patient_compartment:
        only_patient = grant.patient_id
        if only_patient is None:
            return outcome(403, "forbidden", "This patient/ token has no launch patient.")
    call = call_for(request, grant, only_patient, resource_id=resource_id, form_search=form_search)
    reason = describe(
        method=request.method or "",
        interaction=interaction or "",
        resource_type=resource_type,
        resource_id=resource_id,
        params=call.params,
        clear=[p.name for p in definition.search if p.clear],
        client=grant.client_name,
        if_none_exist=call.if_none_exist,
    )
    return guarded(
        request,
        actor=grant.actor,
        action=spec.action,
        capability=spec.capability,
        reason=reason,
        handler=_handler(definition, interaction or "", call),
    )
