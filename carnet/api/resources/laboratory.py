"""Laboratory results as Observations, through the laboratory's selector: validated results
only (a value entered at the bench stays there until validated), LOINC codes, and the
sensitive categories masked by the domain left out (the Bundle says which)."""

from __future__ import annotations

from typing import Any

from carnet.guard.policy import Capability
from carnet.laboratory.models import LabResult
from carnet.laboratory.selectors import patient_results
from carnet.laboratory.values import numeric

from ..fhir import ApiError, Page, check_parameters, instant, searchset
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register
from .clinical import in_range, masked_issue, patient_of

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


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
    number = numeric(test, line.value)
    if number is not None:
        quantity: dict[str, Any] = {"value": number}
        if line.unit:
            quantity["unit"] = line.unit
        resource["valueQuantity"] = quantity
    else:
        resource["valueString"] = line.shown or line.value
    if line.flag:
        resource["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": line.flag}]}]
    if line.reference:
        resource["referenceRange"] = [{"text": line.reference}]
    if line.comment:
        resource["note"] = [{"text": line.comment}]
    return resource


def _observations(call: Call, patient: str) -> tuple[list[dict], list[str]]:
    lab = patient_results(actor=call.actor, patient_id=patient)
    codes = {c.rpartition("|")[2] for c in ",".join(call.params.getlist("code")).split(",") if c}
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


def search(call: Call) -> Result:
    check_parameters(call.params, ["patient", "code", "date", "category", "_count", "_offset"])
    category = call.params.get("category", "laboratory").rpartition("|")[2]
    patient = patient_of(call)
    if category != "laboratory":
        raise ApiError(400, "not-supported", "category: Carnet serves laboratory results only.")
    found, labels = _observations(call, patient)
    page = Page.of(call.params)
    chunk, more = page.window(found)
    bundle = searchset(
        base=call.base,
        resource_type="Observation",
        params=call.params,
        resources=chunk,
        page=page,
        more=more,
        outcome_issue=masked_issue(labels),
    )
    return 200, bundle, {}


def read(call: Call) -> Result:
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
            "Validated laboratory results with their LOINC code; results of a sensitive "
            "category only for whom the laboratory domain shows them."
        ),
        interactions={
            "read": Interaction("laboratory.results", Capability.VIEW_CLINICAL, read),
            "search": Interaction("laboratory.results", Capability.VIEW_CLINICAL, search),
        },
        search=(
            SearchParameter("patient", "reference", "Patient/<id> (required)."),
            SearchParameter("code", "token", "LOINC code (`http://loinc.org|<code>`)."),
            SearchParameter("date", "date", "When sampled (ge/lt...)."),
            SearchParameter("category", "token", "laboratory (the only category served)."),
            SearchParameter("_count", "number", "Page size (at most 50)."),
            SearchParameter("_offset", "number", "Where the page starts."),
        ),
        patient_compartment=True,
    )
)
