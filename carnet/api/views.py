"""The FHIR REST routes: a resource type (search, create) and one resource (read, update),
dispatched through the registry. Bearer tokens only, so no CSRF check applies."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from carnet.guard.boundary import Refused

from .fhir import outcome
from .registry import load
from .routes import api_route
from .run import authenticate, call_for, guarded, refuse, scope_access

TYPE_METHODS = {"GET": "search", "POST": "create"}
INSTANCE_METHODS = {"GET": "read", "PUT": "update"}


@csrf_exempt
@api_route("fhir.type")
def resource_type_view(request: HttpRequest, resource_type: str) -> HttpResponse:
    return _serve(request, resource_type, TYPE_METHODS.get(request.method or ""), "")


@csrf_exempt
@api_route("fhir.instance")
def resource_view(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    return _serve(request, resource_type, INSTANCE_METHODS.get(request.method or ""), resource_id)


def _serve(
    request: HttpRequest, resource_type: str, interaction: str | None, resource_id: str
) -> HttpResponse:
    grant = authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
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
    call = call_for(request, grant, only_patient, resource_id=resource_id)
    reason = f"FHIR {request.method} {request.get_full_path()[:200]} (client {grant.client_name})"
    return guarded(
        request,
        actor=grant.actor,
        action=spec.action,
        capability=spec.capability,
        reason=reason,
        handler=lambda: spec.handler(call),
    )
