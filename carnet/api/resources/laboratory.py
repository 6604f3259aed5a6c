"""Laboratory results as Observations, through the laboratory's selector: validated results
only (a value entered at the bench stays there until validated), LOINC codes, and the
sensitive categories masked by the domain left out (the Bundle says which)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError

from carnet.guard.policy import Capability
from carnet.laboratory.models import (
    LabOrder,
    LabOrderItem,
    LabResult,
    LabTest,
    Priority,
    Specimen,
)
from carnet.laboratory.selectors import patient_results
from carnet.laboratory.services import add_test
from carnet.laboratory.values import UCUM, numeric

from ..fhir import ApiError, check_parameters, instant, parse_resource, reference_id
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register
from ..search import searchset_of
from .clinical import _PAGING, in_range, masked_issue, patient_of, subject
from .record import read_vital, vital_signs

LOINC = "http://loinc.org"


def _effective(resource: dict[str, Any]) -> str:
    return resource.get("effectiveDateTime", "")


def _authored(resource: dict[str, Any]) -> str:
    return resource.get("authoredOn", "")


CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM_SYSTEM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"  # 108252007: laboratory procedure
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _quantity(value: float, unit: str) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity["unit"] = unit
        if unit in UCUM:
            quantity["system"], quantity["code"] = UCUM_SYSTEM, UCUM[unit]
    return quantity


def observation(line: Any, report: Any, patient_id: str) -> dict[str, Any]:
    test = line.test
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(line.result_id),
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": test.loinc, "display": test.name_en}],
            "text": test.name,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": instant(report.when),
        "performer": [{"display": report.laboratory}],
        "identifier": [{"value": report.accession}],
    }
    if line.validated_at:
        resource["issued"] = instant(line.validated_at)
    if line.corrected:
        resource["status"] = "corrected"
    number = numeric(test, line.value)
    if number is not None:
        resource["valueQuantity"] = _quantity(number, line.unit)
    elif not line.value:
        # A computed result whose conditions did not hold (the reason is in the note).
        resource["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "not-performed"}]
        }
    else:
        resource["valueString"] = line.shown or line.value
    if line.flag:
        resource["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": line.flag}]}]
    if line.reference:
        bounds: dict[str, Any] = {"text": line.reference}
        for side, value in (("low", line.reference_low), ("high", line.reference_high)):
            if value:
                bounds[side] = _quantity(float(value), line.unit)
        resource["referenceRange"] = [bounds]
    if line.comment:
        resource["note"] = [{"text": line.comment}]
    return resource


def _observations(call: Call, patient: str) -> tuple[list[dict], list[str]]:
    lab = patient_results(actor=call.actor, patient_id=patient)
    codes = _codes(call)
    found = []
    for report in lab.reports:
        if not in_range(report.when, call, "date"):
            continue
        for line in report.lines:
            if line.masked or line.result_id is None:
                continue
            if codes and line.test.loinc not in codes:
                continue
            found.append(observation(line, report, patient))
    return found, [label for _, label in lab.masked_categories]


CATEGORIES = ("laboratory", "vital-signs")


def search(call: Call) -> Result:
    """Laboratory results, vital signs, or both when no category is asked."""
    check_parameters(call.params, ["patient", "code", "date", "category", "_count", "_offset"])
    asked = {c.rpartition("|")[2] for c in ",".join(call.params.getlist("category")).split(",")}
    asked.discard("")
    patient = patient_of(call)
    if asked - set(CATEGORIES):
        raise ApiError(
            400,
            "not-supported",
            "category: Carnet serves laboratory results and vital signs only.",
        )
    found: list[dict] = []
    labels: list[str] = []
    if not asked or "laboratory" in asked:
        found, labels = _observations(call, patient)
    if not asked or "vital-signs" in asked:
        found += vital_signs(call, patient, _codes(call))
    return searchset_of(call, "Observation", found, issues=[masked_issue(labels)])


def _codes(call: Call) -> set[str]:
    return {c.rpartition("|")[2] for c in ",".join(call.params.getlist("code")).split(",") if c}


def read(call: Call) -> Result:
    if call.resource_id.startswith("vs-"):
        return read_vital(call)
    owner = None
    if call.resource_id.isdigit():
        owner = LabResult.objects.filter(pk=int(call.resource_id)).values_list(
            "patient_id", flat=True
        )
        owner = next(iter(owner), None)
    if owner is None:
        raise ApiError(404, "not-found", f"Observation/{call.resource_id} not found.")
    patient = str(owner)
    if call.only_patient and patient != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    lab = patient_results(actor=call.actor, patient_id=patient)
    for report in lab.reports:
        for line in report.lines:
            if str(line.result_id) == call.resource_id and not line.masked:
                return 200, observation(line, report, patient), {}
    raise ApiError(
        404,
        "not-found",
        f"Observation/{call.resource_id} not found (not validated yet, or of a sensitive "
        "category you have not opened for this patient).",
    )


register(
    ResourceDefinition(
        type="Observation",
        documentation=(
            "Validated laboratory results with their LOINC code (results of a sensitive "
            "category only for whom the laboratory domain shows them), and the vital signs of "
            "the chart's last sets (LOINC, UCUM), category vital-signs."
        ),
        interactions={
            "read": Interaction("clinical.observation", Capability.VIEW_CLINICAL, read),
            "search": Interaction("clinical.observation", Capability.VIEW_CLINICAL, search),
        },
        search=(
            SearchParameter(
                "patient", "reference", "Patient/<id> (required).", target="Patient", clear=True
            ),
            SearchParameter("code", "token", "LOINC code (`http://loinc.org|<code>`)."),
            SearchParameter(
                "date", "date", "When sampled or measured (ge/lt...).", clear=True, sort=_effective
            ),
            SearchParameter(
                "category",
                "token",
                "laboratory or vital-signs (both when not given).",
                clear=True,
            ),
            *_PAGING,
        ),
        patient_compartment=True,
        includes={"patient": subject, "subject": subject},
    )
)


REPORT_CODE = {"system": LOINC, "code": "11502-2", "display": "Laboratory report"}
REPORT_CATEGORY = "http://terminology.hl7.org/CodeSystem/v2-0074"


def diagnostic_report(report: Any, patient_id: str) -> dict[str, Any]:
    """One order as its report: the validated results it holds (as Observations), final once
    every test is validated, corrected once one of them was corrected after validation."""
    shown = [line for line in report.lines if line.result_id is not None]
    if report.done:
        status = "corrected" if any(line.corrected for line in shown) else "final"
    else:
        status = "partial" if shown else "registered"
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": report.order_id,
        "status": status,
        "category": [{"coding": [{"system": REPORT_CATEGORY, "code": "LAB"}]}],
        "code": {"coding": [REPORT_CODE]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": instant(report.when),
        "identifier": [{"value": report.accession}],
        "performer": [{"display": report.laboratory}],
    }
    if report.tubes:
        resource["specimen"] = [{"reference": f"Specimen/{tube.id}"} for tube in report.tubes]
    validated = [line.validated_at for line in shown if line.validated_at]
    if validated:
        resource["issued"] = instant(max(validated))
    if shown:
        resource["result"] = [{"reference": f"Observation/{line.result_id}"} for line in shown]
    return resource


def _whole(report: Any) -> bool:
    # A report with a masked test would tell that a sensitive test was ordered: left out.
    return not any(line.masked for line in (*report.lines, *report.awaited))


def search_reports(call: Call) -> Result:
    check_parameters(call.params, ["patient", "date", "_count", "_offset"])
    patient = patient_of(call)
    lab = patient_results(actor=call.actor, patient_id=patient)
    found = [
        diagnostic_report(report, patient)
        for report in lab.reports
        if _whole(report) and in_range(report.when, call, "date")
    ]
    labels = [label for _, label in lab.masked_categories]
    return searchset_of(call, "DiagnosticReport", found, issues=[masked_issue(labels)])


def read_report(call: Call) -> Result:
    try:
        order_id = uuid.UUID(call.resource_id)
    except ValueError:
        order_id = None
    owner = LabOrder.objects.filter(pk=order_id).values_list("patient_id", flat=True).first()
    if owner is None:
        raise ApiError(404, "not-found", f"DiagnosticReport/{call.resource_id} not found.")
    patient = str(owner)
    if call.only_patient and patient != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    lab = patient_results(actor=call.actor, patient_id=patient)
    for report in lab.reports:
        if report.order_id == str(order_id) and _whole(report):
            return 200, diagnostic_report(report, patient), {}
    raise ApiError(404, "not-found", f"DiagnosticReport/{call.resource_id} not found.")


register(
    ResourceDefinition(
        type="DiagnosticReport",
        documentation=(
            "A laboratory order as its report, referring to its validated results "
            "(Observations); an order with a test of a sensitive category left out for whom "
            "the laboratory domain masks it."
        ),
        interactions={
            "read": Interaction("laboratory.results", Capability.VIEW_CLINICAL, read_report),
            "search": Interaction("laboratory.results", Capability.VIEW_CLINICAL, search_reports),
        },
        search=(
            SearchParameter(
                "patient", "reference", "Patient/<id> (required).", target="Patient", clear=True
            ),
            SearchParameter(
                "date", "date", "When sampled (ge/lt...).", clear=True, sort=_effective
            ),
            *_PAGING,
        ),
        patient_compartment=True,
        includes={"patient": subject, "subject": subject},
    )
)


def _request(
    *,
    item_id: object,
    test: LabTest,
    done: bool,
    by_laboratory: bool,
    urgent: bool,
    patient_id: str,
    accession: str,
    laboratory: str,
) -> dict[str, Any]:
    """A test of an order as a ServiceRequest; the tests of one order share its accession
    number as their requisition. A test the laboratory added to the order (reflex or add-on)
    is the laboratory's own request."""
    return {
        "resourceType": "ServiceRequest",
        "id": str(item_id),
        "status": "completed" if done else "active",
        "intent": "reflex-order" if by_laboratory else "order",
        "priority": "urgent" if urgent else "routine",
        "category": [{"coding": [{"system": SNOMED, "code": "108252007"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": test.loinc, "display": test.name_en}],
            "text": test.name,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "requisition": {"value": accession},
        "performer": [{"display": laboratory}],
    }


def service_request(line: Any, report: Any, patient_id: str) -> dict[str, Any]:
    """One test of an order as the request the prescriber made of the laboratory."""
    resource = _request(
        item_id=line.item_id,
        test=line.test,
        done=line.validated,
        by_laboratory=line.added_by_laboratory,
        urgent=report.urgent,
        patient_id=patient_id,
        accession=report.accession,
        laboratory=report.laboratory,
    )
    resource["requester"] = {"display": report.ordered_by}
    if report.ordered_at is not None:
        resource["authoredOn"] = instant(report.ordered_at)
    return resource


def _requests(report: Any, patient: str) -> list[dict[str, Any]]:
    return [service_request(line, report, patient) for line in (*report.lines, *report.awaited)]


def search_requests(call: Call) -> Result:
    check_parameters(call.params, ["patient", "authored", "_count", "_offset"])
    patient = patient_of(call)
    lab = patient_results(actor=call.actor, patient_id=patient)
    found = [
        resource
        for report in lab.reports
        if _whole(report) and in_range(report.ordered_at, call, "authored")
        for resource in _requests(report, patient)
    ]
    labels = [label for _, label in lab.masked_categories]
    return searchset_of(call, "ServiceRequest", found, issues=[masked_issue(labels)])


def read_request(call: Call) -> Result:
    owner = None
    if call.resource_id.isdigit():
        owner = (
            LabOrderItem.objects.filter(pk=int(call.resource_id))
            .values_list("order__patient_id", flat=True)
            .first()
        )
    if owner is None:
        raise ApiError(404, "not-found", f"ServiceRequest/{call.resource_id} not found.")
    patient = str(owner)
    if call.only_patient and patient != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    lab = patient_results(actor=call.actor, patient_id=patient)
    for report in lab.reports:
        if not _whole(report):
            continue
        for resource in _requests(report, patient):
            if resource["id"] == call.resource_id:
                return 200, resource, {}
    raise ApiError(404, "not-found", f"ServiceRequest/{call.resource_id} not found.")


# What a laboratory system may say it adds to an order.
_ADDED_INTENTS = ("reflex-order", "filler-order")


def create_request(call: Call) -> Result:
    """A laboratory system adds a test to an order of its laboratory (a reflex or add-on test),
    where the ordering establishment allows it: the order named by its requisition (accession
    number) and its patient, the test by its LOINC code. Never a new order for anyone."""
    resource = parse_resource(call.body, "ServiceRequest")
    if resource.get("intent") not in _ADDED_INTENTS:
        raise ApiError(
            422, "processing", "A laboratory adds a test as a reflex-order or a filler-order."
        )
    if resource.get("status", "active") != "active":
        raise ApiError(422, "processing", "A test added to an order is active.")
    subject_ref = (resource.get("subject") or {}).get("reference", "")
    patient = reference_id(subject_ref, "Patient", "subject")
    accession = str((resource.get("requisition") or {}).get("value") or "")
    codes = [
        c.get("code", "")
        for c in (resource.get("code") or {}).get("coding", [])
        if c.get("system") == LOINC
    ]
    if not accession or len(codes) != 1:
        raise ApiError(
            400, "required", "Name the order (requisition) and one LOINC code (code.coding)."
        )
    order = LabOrder.objects.filter(
        accession=accession,
        patient_id=patient,
        laboratory_id__in=call.actor.establishment_ids,
    ).first()
    test = LabTest.objects.filter(loinc=codes[0], active=True).first()
    if order is None:
        raise ApiError(
            422, "processing", "No order of your laboratory has this requisition for this patient."
        )
    if test is None:
        raise ApiError(422, "processing", f"LOINC {codes[0]} is not in the catalogue.")
    try:
        item = add_test(actor=call.actor, order_id=order.pk, test_id=test.pk)
    except ValidationError as error:
        raise ApiError(422, "processing", " ".join(error.messages)) from None
    created = _request(
        item_id=item.pk,
        test=test,
        done=False,
        by_laboratory=True,
        urgent=order.priority == Priority.URGENT,
        patient_id=patient,
        accession=order.accession,
        laboratory=order.laboratory.name,
    )
    created["authoredOn"] = instant(item.added_at)
    return 201, created, {"Location": f"{call.base}ServiceRequest/{item.pk}"}


register(
    ResourceDefinition(
        type="ServiceRequest",
        documentation=(
            "Each test a practitioner ordered of a laboratory (LOINC), its order's accession "
            "number as requisition; an order with a test masked from the reader left out."
        ),
        interactions={
            "read": Interaction("laboratory.results", Capability.VIEW_CLINICAL, read_request),
            "search": Interaction("laboratory.results", Capability.VIEW_CLINICAL, search_requests),
            "create": Interaction("laboratory.add_test", Capability.LAB_WORK, create_request),
        },
        search=(
            SearchParameter(
                "patient", "reference", "Patient/<id> (required).", target="Patient", clear=True
            ),
            SearchParameter(
                "authored", "date", "When ordered (ge/lt...).", clear=True, sort=_authored
            ),
            *_PAGING,
        ),
        patient_compartment=True,
        includes={"patient": subject, "subject": subject},
    )
)


# The tube's content as SNOMED CT specimen types.
SPECIMEN_TYPES = {
    "blood_edta": ("122555007", "Venous blood specimen"),
    "plasma_citrate": ("119361006", "Plasma specimen"),
    "plasma_heparin": ("119361006", "Plasma specimen"),
    "plasma_fluoride": ("119361006", "Plasma specimen"),
    "serum": ("119364003", "Serum specimen"),
}


def specimen(tube: Any, report: Any, patient_id: str) -> dict[str, Any]:
    """One tube of an order: its type (SNOMED CT, and the tube as the laboratory names it),
    its barcode as the accession identifier, when it was collected, and the order's tests."""
    code, display = SPECIMEN_TYPES.get(tube.kind, ("", ""))
    kind: dict[str, Any] = {"text": tube.kind_label}
    if code:
        kind["coding"] = [{"system": SNOMED, "code": code, "display": display}]
    resource: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": str(tube.id),
        "meta": {"lastUpdated": instant(tube.collected_at)},
        "status": "available",
        "type": kind,
        "accessionIdentifier": {"value": tube.barcode},
        "subject": {"reference": f"Patient/{patient_id}"},
        "receivedTime": instant(tube.collected_at),
        "collection": {"collectedDateTime": instant(tube.collected_at)},
    }
    requests = [r["id"] for r in _requests(report, patient_id)]
    if requests:
        resource["request"] = [{"reference": f"ServiceRequest/{r}"} for r in requests]
    return resource


def _specimens(call: Call, patient: str) -> list[dict[str, Any]]:
    lab = patient_results(actor=call.actor, patient_id=patient)
    return [
        specimen(tube, report, patient)
        for report in lab.reports
        if _whole(report)
        for tube in report.tubes
        if in_range(tube.collected_at, call, "collected")
    ]


def search_specimens(call: Call) -> Result:
    patient = patient_of(call)
    return searchset_of(call, "Specimen", _specimens(call, patient))


def read_specimen(call: Call) -> Result:
    owner = None
    if call.resource_id.isdigit():
        owner = (
            Specimen.objects.filter(pk=int(call.resource_id))
            .values_list("order__patient_id", flat=True)
            .first()
        )
    if owner is None:
        raise ApiError(404, "not-found", f"Specimen/{call.resource_id} not found.")
    patient = str(owner)
    if call.only_patient and patient != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    for resource in _specimens(call, patient):
        if resource["id"] == call.resource_id:
            return 200, resource, {}
    raise ApiError(404, "not-found", f"Specimen/{call.resource_id} not found.")


def _collected(resource: dict[str, Any]) -> str:
    return resource.get("collection", {}).get("collectedDateTime", "")


register(
    ResourceDefinition(
        type="Specimen",
        documentation=(
            "The tubes collected for a laboratory order (SNOMED CT type, barcode as accession "
            "identifier, collection time); an order with a test masked from the reader left out."
        ),
        interactions={
            "read": Interaction("laboratory.results", Capability.VIEW_CLINICAL, read_specimen),
            "search": Interaction("laboratory.results", Capability.VIEW_CLINICAL, search_specimens),
        },
        search=(
            SearchParameter(
                "patient", "reference", "Patient/<id> (required).", target="Patient", clear=True
            ),
            SearchParameter(
                "collected", "date", "When collected (ge/lt...).", clear=True, sort=_collected
            ),
            *_PAGING,
        ),
        patient_compartment=True,
        includes={"patient": subject, "subject": subject},
    )
)
