"""Bulk $export through the guard's four eyes. A kick-off (system or Patient level) asks an
export of named patients (IPPs) with a purpose, exactly like the Exports page; Group/<id> is
an export already asked. Nothing is produced before a security officer approves it; the first
status poll after approval produces it once, as NDJSON Patient resources encrypted with a new
key given in that answer only; the file expires with the export."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from carnet.guard import exports as guard_exports
from carnet.guard.boundary import Refused
from carnet.guard.models import ExportRequest, ExportStatus
from carnet.guard.policy import Capability
from carnet.organisations.models import Establishment
from carnet.patients.cards import Identifier, IdentityCard
from carnet.patients.exports import produce_export

from .fhir import ApiError, instant, outcome_resource, validated
from .resources.patient import patient_resource
from .routes import api_route
from .run import authenticate, base_url, guarded, refuse, scope_access

ACTION = "exports.fhir"
KEY_EXTENSION = "https://carnet.invalid/fhir/export-key"


def _ipps(request: HttpRequest) -> list[str]:
    values = request.GET.getlist("identifier") + request.POST.getlist("identifier")
    return [
        v.rpartition("|")[2].strip()
        for text in values
        for v in text.replace(",", "\n").split()
        if v.strip()
    ]


def _kickoff_body(request: HttpRequest, export: ExportRequest) -> Any:
    text = (
        f"Export {export.pk} asked for {export.count} patients; a security officer must approve "
        "it before anything is produced."
    )
    return outcome_resource("informational", text, severity="information")


def _status_url(request: HttpRequest, export_id: int) -> str:
    return f"{base_url(request)}$export-status/{export_id}"


def _export_view(request: HttpRequest, handler, *, level: str) -> HttpResponse:
    grant = authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
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
            "Bulk export needs a user/ or system/ scope on Patient.",
        )
    reason = f"FHIR {level} $export (client {grant.client_name})"
    return guarded(
        request,
        actor=grant.actor,
        action=ACTION,
        capability=Capability.REQUEST_EXPORT,
        reason=reason,
        handler=lambda: handler(grant.actor),
    )


def _kickoff(request: HttpRequest, level: str) -> HttpResponse:
    def ask(actor) -> Any:
        types = ",".join(request.GET.getlist("_type")).split(",")
        if any(t and t != "Patient" for t in types):
            raise ApiError(400, "not-supported", "_type: Carnet exports Patient resources only.")
        purpose = request.GET.get("purpose") or request.POST.get("purpose", "")
        export = guard_exports.request_export(
            actor=actor, purpose=purpose, identifiers="\n".join(_ipps(request)), fmt="json"
        )
        headers = {"Content-Location": _status_url(request, export.pk)}
        return 202, _kickoff_body(request, export), headers

    return _export_view(request, ask, level=level)


@csrf_exempt
@api_route("fhir.export")
def system_export(request: HttpRequest) -> HttpResponse:
    return _kickoff(request, "system")


@csrf_exempt
@api_route("fhir.export")
def patient_export(request: HttpRequest) -> HttpResponse:
    return _kickoff(request, "Patient")


def _mine(actor, export_id: int) -> ExportRequest:
    export = guard_exports.mine(actor=actor).filter(pk=export_id).first()
    if export is None:
        raise Refused("no such export of this account")
    return export


@csrf_exempt
@api_route("fhir.export")
def group_export(request: HttpRequest, group_id: int) -> HttpResponse:
    def kick(actor) -> Any:
        export = _mine(actor, group_id)
        if export.status in (ExportStatus.REJECTED, ExportStatus.EXPIRED):
            raise ApiError(410, "expired", f"Export {export.pk} is {export.status}.")
        return (
            202,
            _kickoff_body(request, export),
            {"Content-Location": _status_url(request, export.pk)},
        )

    return _export_view(request, kick, level="Group")


def _card(
    row: dict[str, Any], establishment: Establishment | None, now: datetime.datetime
) -> IdentityCard:
    return IdentityCard(
        id="",
        version=1,
        status=row["status"],
        sex=row["sex"] or "I",
        birth_surname=row["birth_surname"] or "",
        first_names=row["first_names"] or "",
        used_surname=row["used_surname"] or "",
        used_first_name=row["used_first_name"] or "",
        birth_date=datetime.date.fromisoformat(row["birth_date"]),
        birthplace_code=row["birthplace_code"] or "",
        nir=row["nir"] or "",
        address_line=row["address_line"] or "",
        postal_code=row["postal_code"] or "",
        city=row["city"] or "",
        country=row["country"] or "",
        phone=row["phone"] or "",
        email=row["email"] or "",
        treating_doctor_id=None,
        treating_doctor="",
        identifiers=(Identifier(establishment.name if establishment else "", "IPP", row["ipp"]),),
        created_at=now,
        updated_at=now,
    )


def _as_ndjson(rows: list[dict[str, Any]], establishment_id: int) -> bytes:
    establishment = Establishment.objects.filter(pk=establishment_id).first()
    now = timezone.now()
    lines = []
    for row in rows:
        resource = patient_resource(_card(row, establishment, now))
        resource.pop("id")
        resource["meta"].pop("versionId")
        lines.append(json.dumps(validated(resource), ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _manifest(request: HttpRequest, export: ExportRequest, key: str = "") -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "transactionTime": instant(export.produced_at or timezone.now()),
        "request": _status_url(request, export.pk),
        "requiresAccessToken": True,
        "output": [
            {
                "type": "Patient",
                "url": f"{base_url(request)}$export-file/{export.pk}",
                "count": export.exported,
            }
        ],
        "error": [],
        "extension": {
            "encryption": "Fernet (AES-128-CBC, HMAC-SHA256): carnet export open FILE --key=KEY",
            "expires": instant(export.expires_at) if export.expires_at else "",
        },
    }
    if key:
        manifest["extension"][KEY_EXTENSION] = key
    else:
        manifest["extension"]["key"] = "given once, in the answer that produced the file"
    return manifest


@csrf_exempt
@api_route("fhir.export")
def export_status(request: HttpRequest, export_id: int) -> HttpResponse:
    def status(actor) -> Any:
        export = _mine(actor, export_id)
        if export.status == ExportStatus.PENDING:
            headers = {
                "X-Progress": "waiting for a security officer's approval",
                "Retry-After": "60",
            }
            return (
                202,
                outcome_resource("informational", headers["X-Progress"], "information"),
                headers,
            )
        if export.status == ExportStatus.REJECTED:
            raise ApiError(403, "forbidden", "A security officer rejected this export.")
        if export.status == ExportStatus.EXPIRED:
            raise ApiError(410, "expired", "This export has expired; its file is erased.")
        if export.status == ExportStatus.APPROVED:
            produced = produce_export(actor=actor, export_id=export.pk)
            sealed, _ = guard_exports.sealed_file(actor=actor, export_id=export.pk)
            rows = json.loads(guard_exports.open_file(sealed, produced.key))
            export.refresh_from_db()
            key = guard_exports.seal_export(
                actor, export, _as_ndjson(rows, export.establishment_id), produced.exported
            )
            return 200, _manifest(request, export, key), {}
        return 200, _manifest(request, export), {}

    return _export_view(request, status, level="status")


@csrf_exempt
@api_route("fhir.export")
def export_file(request: HttpRequest, export_id: int) -> HttpResponse:
    def download(actor) -> Any:
        content, name = guard_exports.sealed_file(actor=actor, export_id=export_id)
        response = HttpResponse(content, content_type="application/octet-stream")
        response["Content-Disposition"] = (
            f'attachment; filename="{name.replace(".json", ".ndjson")}"'
        )
        return 200, response, {}

    return _export_view(request, download, level="file")
