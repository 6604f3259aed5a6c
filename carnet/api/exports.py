"""FHIR Bulk Data Access (IG v2) through the guard's four eyes.

Kick-off (`[base]/$export`, `[base]/Patient/$export`, `[base]/Group/<id>/$export`, GET or POST
with `Prefer: respond-async`) asks the guard for an export: its patients (the `patient`
parameter, the Group's members, or else the patients of the account's establishment) and its
purpose (`purpose`, or what the client is and asked) go to a security officer. It answers 202
with the status URL. Polling answers 202 with `X-Progress` until the officer decides; the first
poll after approval produces the files once: one NDJSON file per resource type, every patient
handed over by the guard for this export (canaries are containment, no budget is charged),
each resource rendered as the API renders it, the whole sealed at rest with a data key of the
export's own. The manifest lists the files; each is served to the requester's token until the
export expires, when the files go and their key is shredded. DELETE cancels (202)."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from carnet.guard import exports as guard_exports
from carnet.guard.boundary import Refused
from carnet.guard.models import ExportRequest, ExportStatus
from carnet.guard.policy import EXPORT_MAX_PATIENTS, Capability, role_may
from carnet.patients.exports import establishment_patient_ids

from . import params as P
from . import scopes
from .auth import TokenGrant
from .bulk import EXPORTERS, produce
from .errors import ApiError
from .fhir import FHIR_NDJSON, instant, outcome_resource
from .models import BulkExport, Cohort
from .registry import Call, load
from .routes import api_route
from .run import authenticate, base_url, guarded, insufficient_scope, refuse, scope_access

ACTION = "exports.fhir"
OUTPUT_FORMATS = {FHIR_NDJSON, "application/ndjson", "ndjson"}
KICKOFF_PARAMETERS = {"_type", "_since", "_outputFormat", "patient", "purpose"}


def _status_url(request: HttpRequest, export_id: int) -> str:
    return f"{base_url(request)}$export-status/{export_id}"


def _exportable(grant: TokenGrant) -> list[str]:
    """The types this token's scopes and this account's role let it export."""
    definitions = load()
    found = []
    for kind in EXPORTERS:
        definition = definitions.get(kind)
        search = definition.interactions.get("search") if definition else None
        if search is None or not role_may(grant.actor.role, search.capability):
            continue
        if scopes.access_for(grant.scopes, kind, "search") in ("user", "system"):
            found.append(kind)
    return found


def _parameters(request: HttpRequest) -> QueryDict:
    """A kick-off's parameters: the query string, or a POSTed Parameters resource."""
    if request.method != "POST" or not request.body:
        return request.GET
    body = P.json_body(request.body, what="The Parameters")
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise ApiError(400, "invalid", "POST a FHIR Parameters resource to kick off an export.")
    found = QueryDict(mutable=True)
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict):
            raise ApiError(400, "invalid", "Each parameter is an object with a name.")
        name = str(parameter.get("name", ""))
        value = next(
            (v for k, v in parameter.items() if k.startswith("value") and isinstance(v, str)),
            None,
        )
        reference = (parameter.get("valueReference") or {}).get("reference")
        if value is None and isinstance(reference, str):
            value = reference
        if not name or value is None:
            raise ApiError(400, "invalid", f"Parameter {name or '?'} has no usable value.")
        found.appendlist(name, value)
    return found


def _types(parameters: QueryDict, allowed: list[str]) -> list[str]:
    asked = [t.strip() for v in parameters.getlist("_type") for t in v.split(",") if t.strip()]
    if not asked:
        return allowed
    unknown = [t for t in asked if t not in allowed]
    if unknown:
        raise ApiError(
            400,
            "not-supported",
            f"_type: {', '.join(unknown)} cannot be exported with this token and account "
            f"(exportable here: {', '.join(allowed) or 'none'}).",
        )
    return list(dict.fromkeys(asked))


def _since(parameters: QueryDict) -> datetime.datetime | None:
    text = parameters.get("_since", "").strip()
    if not text:
        return None
    return P.moment_span(text, "_since")[0]


def _patients(actor, parameters: QueryDict, cohort: Cohort | None) -> list[str]:
    named = [
        P.reference_id(v, "Patient", "patient")
        for value in parameters.getlist("patient")
        for v in value.split(",")
        if v.strip()
    ]
    if cohort is not None:
        members = set(cohort.member_ids)
        named = [p for p in named if p in members] if named else cohort.member_ids
    if named:
        return list(dict.fromkeys(named))
    everyone = establishment_patient_ids(actor=actor, limit=EXPORT_MAX_PATIENTS)
    if len(everyone) > EXPORT_MAX_PATIENTS:
        raise ApiError(
            400,
            "too-costly",
            f"Your establishment has more than {EXPORT_MAX_PATIENTS} patients: name the ones "
            "to export (the patient parameter, or a Group).",
        )
    return everyone


def _kickoff(request: HttpRequest, level: str, group_id: int | None = None) -> HttpResponse:
    grant = authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    refused = _bulk_access(grant)
    if refused is not None:
        return refused

    def ask() -> Any:
        preferences = P.prefer(request.headers.get("Prefer", ""))
        if "respond-async" not in preferences:
            raise ApiError(400, "required", "Bulk export needs Prefer: respond-async.")
        parameters = _parameters(request)
        strict = preferences.get("handling") == "strict"
        unknown = sorted(set(parameters) - KICKOFF_PARAMETERS)
        if unknown and strict:
            raise ApiError(400, "not-supported", f"Not supported here: {', '.join(unknown)}.")
        fmt = parameters.get("_outputFormat", FHIR_NDJSON)
        if fmt not in OUTPUT_FORMATS:
            raise ApiError(400, "not-supported", f"_outputFormat {fmt!r}: NDJSON only.")
        for value in parameters.values():
            P.clean_value("parameter", value)
        types = _types(parameters, _exportable(grant))
        since = _since(parameters)
        cohort = None
        if group_id is not None:
            cohort = Cohort.objects.filter(pk=group_id, owner_id=grant.actor.user_id).first()
            if cohort is None:
                raise ApiError(404, "not-found", f"Group/{group_id} not found.")
        patients = _patients(grant.actor, parameters, cohort)
        purpose = parameters.get("purpose", "").strip() or (
            cohort.name if cohort is not None else ""
        )
        purpose = purpose or f"FHIR bulk export ({level}) by {grant.client_name}"
        export = guard_exports.request_export(
            actor=grant.actor,
            purpose=f"{purpose} [{', '.join(types)}]"[:500],
            identifiers="\n".join(patients),
            fmt=guard_exports.FHIR_NDJSON,
        )
        query = [("_type", ",".join(types))] + ([("_since", instant(since))] if since else [])
        BulkExport.objects.create(
            export_id=export.pk,
            level=level,
            types=",".join(types),
            since=since,
            request_url=f"{base_url(request)}{level}/$export?{urlencode(query)}".replace(
                "/system/", "/"
            ),
        )
        text = (
            f"Export {export.pk} asked for {export.count} patients ({', '.join(types)}); a "
            "security officer must approve it before anything is produced."
        )
        headers = {"Content-Location": _status_url(request, export.pk)}
        return 202, outcome_resource("informational", text, severity="information"), headers

    return guarded(
        request,
        actor=grant.actor,
        action=ACTION,
        capability=Capability.REQUEST_EXPORT,
        reason=f"FHIR {level} $export kick-off (client {grant.client_name})",
        handler=ask,
    )


def _bulk_access(grant: TokenGrant) -> HttpResponse | None:
    """Bulk export needs a user/ or system/ scope: never a patient/ token's."""
    access, refused = scope_access(grant, "Patient", "search", ACTION)
    if refused is not None:
        return refused
    if access == "patient":
        return refuse(
            grant.actor,
            ACTION,
            Refused("bulk export with a patient/ token", not_found=False),
            403,
            "forbidden",
            "Bulk export needs a user/ or system/ scope.",
            WWW_Authenticate=insufficient_scope("system/*.rs"),
        )
    return None


@csrf_exempt
@api_route("fhir.export")
def system_export(request: HttpRequest) -> HttpResponse:
    return _kickoff(request, "system")


@csrf_exempt
@api_route("fhir.export")
def patient_export(request: HttpRequest) -> HttpResponse:
    return _kickoff(request, "Patient")


@csrf_exempt
@api_route("fhir.export")
def group_export(request: HttpRequest, group_id: int) -> HttpResponse:
    return _kickoff(request, f"Group/{group_id}", group_id)


def _mine(actor, export_id: int) -> tuple[ExportRequest, BulkExport]:
    export = guard_exports.mine(actor=actor).filter(pk=export_id).first()
    bulk = BulkExport.objects.filter(export_id=export_id).first()
    if export is None or bulk is None:
        raise Refused("no such FHIR export of this account")
    return export, bulk


def _manifest(
    request: HttpRequest, actor, export: ExportRequest, bulk: BulkExport
) -> dict[str, Any]:
    files = guard_exports.export_files(actor=actor, export_id=export.pk)
    output = [
        {
            "type": kind,
            "url": f"{base_url(request)}$export-file/{export.pk}/{kind}.ndjson",
            "count": content.count(b"\n"),
        }
        for kind, content in files.items()
        if content
    ]
    errors = []
    if bulk.errors:
        errors.append(
            {
                "type": "OperationOutcome",
                "url": f"{base_url(request)}$export-file/{export.pk}/errors.ndjson",
            }
        )
    return {
        "transactionTime": instant(export.produced_at or timezone.now()),
        "request": bulk.request_url,
        "requiresAccessToken": True,
        "output": output,
        "error": errors,
        "extension": {
            "https://carnet.invalid/fhir/export-expires": instant(export.expires_at)
            if export.expires_at
            else ""
        },
    }


def _status(request: HttpRequest, export_id: int) -> HttpResponse:
    grant = authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    refused = _bulk_access(grant)
    if refused is not None:
        return refused

    def status() -> Any:
        export, bulk = _mine(grant.actor, export_id)
        if request.method == "DELETE":
            return _cancel(grant.actor, export)
        if export.status == ExportStatus.PENDING:
            progress = "waiting for a security officer's approval"
            headers = {"X-Progress": progress, "Retry-After": "60"}
            return 202, outcome_resource("informational", progress, "information"), headers
        if export.status == ExportStatus.REJECTED:
            raise ApiError(403, "forbidden", "A security officer rejected this export.")
        if export.status == ExportStatus.EXPIRED:
            raise ApiError(410, "expired", "This export has expired; its files are erased.")
        if export.status == ExportStatus.APPROVED:
            produce(call_for_bulk(request, grant), export.pk, bulk)
            export.refresh_from_db()
        manifest = _manifest(request, grant.actor, export, bulk)
        return 200, manifest, {"Expires": _http_expires(export)}

    return guarded(
        request,
        actor=grant.actor,
        action=ACTION,
        capability=Capability.REQUEST_EXPORT,
        reason=f"FHIR $export status {export_id} (client {grant.client_name})",
        handler=status,
    )


def _http_expires(export: ExportRequest) -> str:
    return http_date(export.expires_at.timestamp()) if export.expires_at else ""


def _cancel(actor, export: ExportRequest) -> Any:
    """DELETE: the export stops here; produced files are erased with their key."""
    guard_exports.cancel_export(actor=actor, export_id=export.pk)
    text = f"Export {export.pk} cancelled; nothing of it is kept."
    return 202, outcome_resource("informational", text, "information"), {}


def call_for_bulk(request: HttpRequest, grant: TokenGrant) -> Call:
    empty = QueryDict()
    return Call(
        grant=grant,
        params=empty,
        base=base_url(request),
        only_patient=None,
        query=P.parse(empty, (), resource_type=""),
    )


@csrf_exempt
@api_route("fhir.export")
def export_status(request: HttpRequest, export_id: int) -> HttpResponse:
    return _status(request, export_id)


@csrf_exempt
@api_route("fhir.export")
def export_file(request: HttpRequest, export_id: int, name: str) -> HttpResponse:
    grant = authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    refused = _bulk_access(grant)
    if refused is not None:
        return refused

    def download() -> Any:
        kind = name.removesuffix(".ndjson")
        if kind == "errors":
            _, bulk = _mine(grant.actor, export_id)
            content = bulk.errors.encode()
        else:
            files = guard_exports.export_files(actor=grant.actor, export_id=export_id)
            if kind not in files:
                raise ApiError(404, "not-found", f"This export has no {kind} file.")
            content = files[kind]
        response = HttpResponse(content, content_type=FHIR_NDJSON)
        response["Content-Disposition"] = f'attachment; filename="{kind}.ndjson"'
        return 200, response, {}

    return guarded(
        request,
        actor=grant.actor,
        action=ACTION,
        capability=Capability.REQUEST_EXPORT,
        reason=f"FHIR $export file {export_id} {name[:40]} (client {grant.client_name})",
        handler=download,
    )
