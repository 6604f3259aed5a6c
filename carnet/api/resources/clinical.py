"""The clinical record through the chart selector: Encounter, MedicationRequest (one per
prescription line, ATC-coded when Carnet knows the drug's class) and DocumentReference (what
the document is, with its content as a Binary read through the guard). The chart is opened
like an identity page (decided and counted by the guard), then every item of a sensitive
category the reader may not see is masked by the domain: it is left out here, and the Bundle
says which categories were masked and how to open them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from django.utils import timezone

from carnet.clinical.chart import Chart, EncounterView, open_chart
from carnet.clinical.models import Document, Encounter, Prescription
from carnet.guard.policy import Capability

from ..fhir import ApiError, date_range, instant, reference_id
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register
from ..search import searchset_of
from ..terminology import PATIENT_DATA_DOCUMENT, medication_coding

CLINICAL = Capability.VIEW_CLINICAL
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
UCUM = "http://unitsofmeasure.org"
_PAGING = (
    SearchParameter("_count", "number", "Page size (at most 50).", clear=True),
    SearchParameter(
        "_offset", "number", "Where the page starts (the Bundle's links carry it).", clear=True
    ),
)


def masked_issue(labels: Sequence[str]) -> dict[str, Any] | None:
    if not labels:
        return None
    return {
        "severity": "information",
        "code": "suppressed",
        "diagnostics": (
            f"Items of sensitive categories are left out ({', '.join(labels)}): open a category "
            "in Carnet's pages, with a reason, to see them."
        ),
    }


def patient_of(call: Call) -> str:
    """The patient a search is about: required, and a patient/ token's own."""
    wanted = call.params.get("patient") or call.only_patient or ""
    if not wanted:
        raise ApiError(400, "required", "patient is required (Patient/<id>).")
    wanted = reference_id(wanted, "Patient", "patient")
    if call.only_patient and wanted != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    return wanted


def in_range(moment: datetime.datetime | None, call: Call, name: str) -> bool:
    return date_range(call.params.getlist(name), name).holds(moment)


def encounter_resource(view: EncounterView, patient_id: str) -> dict[str, Any]:
    admission = view.is_admission
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": view.id,
        "status": "in-progress" if view.current else "finished",
        "class": {
            "system": ACT_CODE,
            "code": "IMP" if admission else "AMB",
            "display": "inpatient encounter" if admission else "ambulatory",
        },
        "type": [{"text": view.kind_label}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "meta": {"lastUpdated": instant(view.discharged_at or view.started_at)},
        "period": {
            "start": instant(view.started_at),
            **({"end": instant(view.discharged_at)} if view.discharged_at else {}),
        },
        "serviceProvider": {"display": view.establishment},
    }
    if view.practitioner:
        resource["participant"] = [{"individual": {"display": view.practitioner}}]
    if view.reason:
        resource["reasonCode"] = [{"text": view.reason}]
    where = view.room or view.unit
    if where:
        resource["location"] = [{"location": {"display": where}}]
    return resource


def prescription_resources(view: Any, patient_id: str) -> list[dict[str, Any]]:
    found = []
    for number, line in enumerate(view.lines, start=1):
        lasts = datetime.timedelta(days=line.duration_days * (line.renewals + 1))
        active = view.created_at + lasts > timezone.now()
        medication = f"{line.medication} ({line.brand})" if line.brand else line.medication
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": f"{view.id}-{number}",
            "groupIdentifier": {"value": view.id},
            "status": "active" if active else "completed",
            "intent": "order",
            "meta": {"lastUpdated": instant(view.created_at)},
            "medicationCodeableConcept": {
                **({"coding": coding} if (coding := medication_coding(line.medication)) else {}),
                "text": medication,
            },
            "subject": {"reference": f"Patient/{patient_id}"},
            "authoredOn": instant(view.created_at),
            "requester": {"display": view.prescriber},
            "dosageInstruction": [{"text": line.dosage}],
            "dispenseRequest": {
                "numberOfRepeatsAllowed": line.renewals,
                "expectedSupplyDuration": {
                    "value": line.duration_days,
                    "unit": "days",
                    "system": UCUM,
                    "code": "d",
                },
            },
        }
        if view.notes:
            resource["note"] = [{"text": view.notes}]
        found.append(resource)
    return found


def document_resource(view: Any, patient_id: str, base: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": view.id,
        "meta": {"lastUpdated": instant(view.uploaded_at)},
        "status": "current",
        "type": {"coding": [PATIENT_DATA_DOCUMENT], "text": view.kind_label},
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": instant(view.uploaded_at),
        "description": view.title,
        "content": [
            {
                "attachment": {
                    "contentType": view.kind,
                    "url": f"{base}Binary/{view.id}",
                    "title": view.title,
                    "size": view.size,
                    "creation": instant(view.uploaded_at),
                }
            }
        ],
    }
    if view.uploaded_by:
        resource["author"] = [{"display": view.uploaded_by}]
    if view.encounter_id:
        resource["context"] = {"encounter": [{"reference": f"Encounter/{view.encounter_id}"}]}
    return resource


def _masked_labels(chart: Chart) -> list[str]:
    return [label for _, label in chart.masked_categories]


def _bundle(call: Call, resource_type: str, resources: list[dict], labels: list[str]) -> Result:
    return searchset_of(call, resource_type, resources, issues=[masked_issue(labels)])


def _search(resource_type: str, date_name: str, build: Callable[[Chart, str, Call], list[dict]]):
    def handler(call: Call) -> Result:
        patient = patient_of(call)
        chart = open_chart(actor=call.actor, patient_id=patient)
        return _bundle(call, resource_type, build(chart, patient, call), _masked_labels(chart))

    return handler


def _encounters(chart: Chart, patient: str, call: Call) -> list[dict]:
    return [
        encounter_resource(e, patient)
        for e in chart.encounters
        if in_range(e.started_at, call, "date")
    ]


def _prescriptions(chart: Chart, patient: str, call: Call) -> list[dict]:
    return [
        r
        for p in chart.prescriptions
        if not p.masked and in_range(p.created_at, call, "authoredon")
        for r in prescription_resources(p, patient)
    ]


def _documents(chart: Chart, patient: str, call: Call) -> list[dict]:
    return [
        document_resource(d, patient, call.base)
        for d in chart.documents
        if not d.masked and in_range(d.uploaded_at, call, "date")
    ]


def _read(resource_type: str, owner: Callable[[str], str | None], pick: Callable):
    """Reads one item: its patient's chart is opened through the guard, then the item is
    taken from what the chart shows (a masked item answers 403, saying why)."""

    def handler(call: Call) -> Result:
        try:
            patient = owner(call.resource_id)
        except (ValueError, TypeError):
            patient = None
        if patient is None:
            raise ApiError(404, "not-found", f"{resource_type}/{call.resource_id} not found.")
        if call.only_patient and patient != call.only_patient:
            raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
        chart = open_chart(actor=call.actor, patient_id=patient)
        found = pick(chart, patient, call.resource_id, call.base)
        if found is None:
            raise ApiError(404, "not-found", f"{resource_type}/{call.resource_id} not found.")
        if found == "masked":
            raise ApiError(
                403,
                "suppressed",
                "This item belongs to a sensitive category you have not opened for this "
                "patient: open it in Carnet's pages, with a reason.",
            )
        return 200, found, {}

    return handler


def _owner(model: Any, id_part: Callable[[str], str] = lambda value: value):
    def owner(resource_id: str) -> str | None:
        found = model.objects.filter(pk=id_part(resource_id)).values_list("patient_id", flat=True)
        value = next(iter(found), None)
        return str(value) if value else None

    return owner


def _pick_encounter(chart: Chart, patient: str, wanted: str, base: str):
    view = next((e for e in chart.encounters if e.id == wanted), None)
    return encounter_resource(view, patient) if view else None


def _pick_line(chart: Chart, patient: str, wanted: str, base: str):
    head = wanted.rpartition("-")[0]
    view = next((p for p in chart.prescriptions if p.id == head), None)
    if view is None:
        return None
    if view.masked:
        return "masked"
    return next((r for r in prescription_resources(view, patient) if r["id"] == wanted), None)


def _pick_document(chart: Chart, patient: str, wanted: str, base: str):
    view = next((d for d in chart.documents if d.id == wanted), None)
    if view is None:
        return None
    return "masked" if view.masked else document_resource(view, patient, base)


def subject(resource: dict[str, Any]) -> list[str]:
    """The patient a clinical resource is about (`_include=<Type>:patient`)."""
    reference = (resource.get("subject") or {}).get("reference", "")
    return [reference] if reference else []


def _clinical(
    type_: str, doc: str, date_name: str, build, owner, pick, date_doc: str, sort
) -> None:
    register(
        ResourceDefinition(
            type=type_,
            documentation=doc,
            interactions={
                "read": Interaction(
                    f"clinical.{type_.lower()}", CLINICAL, _read(type_, owner, pick)
                ),
                "search": Interaction(
                    f"clinical.{type_.lower()}", CLINICAL, _search(type_, date_name, build)
                ),
            },
            search=(
                SearchParameter(
                    "patient", "reference", "Patient/<id> (required).", target="Patient", clear=True
                ),
                SearchParameter(date_name, "date", date_doc, clear=True, sort=sort),
                SearchParameter(
                    "_lastUpdated", "date", "When it last changed (ge/lt...).", clear=True
                ),
                *_PAGING,
            ),
            patient_compartment=True,
            includes={"patient": subject, "subject": subject},
        )
    )


_clinical(
    "Encounter",
    "Consultations and admissions of a patient, from the chart.",
    "date",
    _encounters,
    _owner(Encounter),
    _pick_encounter,
    "When it started (ge/lt...).",
    lambda r: r["period"]["start"],
)
_clinical(
    "MedicationRequest",
    "Prescription lines of a patient; sensitive ones only for whom the domain shows them.",
    "authoredon",
    _prescriptions,
    _owner(Prescription, lambda value: value.rpartition("-")[0]),
    _pick_line,
    "When prescribed (ge/lt...).",
    lambda r: r["authoredOn"],
)
_clinical(
    "DocumentReference",
    "Documents of a patient (title, LOINC type, author, size), the content as a Binary "
    "(read through the guard, like the document's page).",
    "date",
    _documents,
    _owner(Document),
    _pick_document,
    "When added (ge/lt...).",
    lambda r: r["date"],
)
