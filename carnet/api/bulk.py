"""Producing a FHIR bulk export once it is approved: every patient of it handed over by the
guard for this export (carnet/patients/exports.py: canaries are containment), then, patient by
patient and type by type, the resources the API would render for them through the same
domain selectors (a sensitive category stays masked, a refusal becomes an OperationOutcome in
the export's error file), written as NDJSON and sealed by the guard (carnet/guard/exports.py).
A resource module adds a type with `register_exporter`."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from carnet.clinical.chart import open_chart
from carnet.guard import http as guard_http
from carnet.guard.boundary import Contained, Refused, StepUp
from carnet.guard.exports import seal_export_files
from carnet.patients.exports import admit_fhir_export
from carnet.patients.selectors import display_names, open_identity

from .errors import ApiError
from .fhir import validated
from .models import BulkExport
from .registry import Call
from .resources import clinical, coverage, laboratory, patient, record, scheduling

Exporter = Callable[[Call, str], list[dict[str, Any]]]
EXPORTERS: dict[str, Exporter] = {}


def register_exporter(resource_type: str, exporter: Exporter) -> Exporter:
    EXPORTERS[resource_type] = exporter
    return exporter


def _patient(call: Call, patient_id: str) -> list[dict[str, Any]]:
    return [patient.patient_resource(open_identity(actor=call.actor, patient_id=patient_id))]


def _appointments(call: Call, patient_id: str) -> list[dict[str, Any]]:
    rows = scheduling._appointments(call).filter(patient_id=patient_id).order_by("starts_at")
    names = display_names(actor=call.actor, patient_ids=[patient_id], capability=scheduling.BOOKING)
    return [scheduling.appointment_resource(a, names) for a in rows]


def _chart(build: Callable) -> Exporter:
    def export(call: Call, patient_id: str) -> list[dict[str, Any]]:
        chart = open_chart(actor=call.actor, patient_id=patient_id)
        return build(chart, patient_id, call)

    return export


def _observations(call: Call, patient_id: str) -> list[dict[str, Any]]:
    results = laboratory._observations(call, patient_id)[0]
    return results + record.vital_signs(call, patient_id, set())


register_exporter("Patient", _patient)
register_exporter("Coverage", lambda call, p: coverage._resources(p, call))
register_exporter("Appointment", _appointments)
register_exporter("Encounter", _chart(clinical._encounters))
register_exporter("MedicationRequest", _chart(clinical._prescriptions))
register_exporter("DocumentReference", _chart(clinical._documents))
register_exporter("Observation", _observations)
register_exporter("AllergyIntolerance", _chart(record._allergies))
register_exporter("Condition", _chart(record._conditions))
register_exporter("MedicationStatement", _chart(record._medications))
register_exporter("Specimen", laboratory._specimens)


def _changed_since(resource: dict[str, Any], since: datetime.datetime | None) -> bool:
    text = (resource.get("meta") or {}).get("lastUpdated")
    if since is None or not text:
        return True
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) >= since


def _problem(kind: str, patient_id: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "forbidden" if "refused" in text else "processing",
                "diagnostics": f"{kind} of Patient/{patient_id}: {text}",
            }
        ],
    }


def _lines(resources: list[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(validated(r), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        for r in resources
    )


def produce(call: Call, export_id: int, bulk: BulkExport) -> None:
    """Produces the export's files, once: the guard locks the approved export for this."""
    export, patients = admit_fhir_export(actor=call.actor, export_id=export_id)
    types = [t for t in bulk.types.split(",") if t in EXPORTERS]
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in types}
    problems: list[dict[str, Any]] = []
    for patient_id in patients:
        for kind in types:
            try:
                resources = EXPORTERS[kind](call, patient_id)
            except (Contained, StepUp):
                raise
            except Refused:
                problems.append(_problem(kind, patient_id, "refused by Carnet's guard"))
                continue
            except guard_http.Shredded:
                problems.append(_problem(kind, patient_id, "erased (retention term reached)"))
                continue
            except ApiError as error:
                problems.append(_problem(kind, patient_id, error.diagnostics))
                continue
            found[kind].extend(r for r in resources if _changed_since(r, bulk.since))
    files = {kind: _lines(resources) for kind, resources in found.items()}
    bulk.errors = _lines(problems).decode()
    bulk.save(update_fields=["errors"])
    seal_export_files(call.actor, export, files, patients)
