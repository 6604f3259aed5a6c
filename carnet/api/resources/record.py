"""The structured record through the chart selector: AllergyIntolerance ("no known allergy"
as SNOMED CT 716186003, substances coded in ATC) and Condition (the patient's own problems,
CIM-10 coded as ICD-10; family history stays on the chart). Masked sensitive problems are
left out of searches and answer 403 on read, like the rest of the chart."""

from __future__ import annotations

from typing import Any

from carnet.clinical.chart import Chart
from carnet.clinical.models import Allergy, Problem
from carnet.clinical.summary import AllergyView, ProblemView

from ..fhir import instant
from ..registry import Call, Interaction, ResourceDefinition, SearchParameter, register
from ..terminology import ATC
from .clinical import _PAGING, CLINICAL, _owner, _read, _search, in_range, subject

ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
_TERMS = "http://terminology.hl7.org/CodeSystem/"
_SEVERITY = {"mild": "mild", "moderate": "moderate", "severe": "severe"}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"{_TERMS}{system}", "code": code}]}


def allergy_resource(view: AllergyView, patient_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": view.id,
        "meta": {"lastUpdated": instant(view.recorded_at)},
        "clinicalStatus": _status("allergyintolerance-clinical", "active"),
        "patient": {"reference": f"Patient/{patient_id}"},
        "recordedDate": instant(view.recorded_at),
    }
    if view.kind == "none_known":
        resource["verificationStatus"] = _status("allergyintolerance-verification", "confirmed")
        resource["code"] = {
            "coding": [{"system": SNOMED, "code": "716186003", "display": "No known allergy"}],
            "text": view.kind_label,
        }
        return resource
    verified = "confirmed" if view.certainty == "confirmed" else "unconfirmed"
    resource["verificationStatus"] = _status("allergyintolerance-verification", verified)
    resource["type"] = view.kind
    code: dict[str, Any] = {"text": view.substance}
    if view.substance_code.startswith("atc:"):
        atc = view.substance_code.removeprefix("atc:")
        code["coding"] = [{"system": ATC, "code": atc, "display": view.substance}]
    if view.substance_code:
        resource["category"] = ["medication"]
    resource["code"] = code
    if view.severity:
        resource["criticality"] = "high" if view.severity == "severe" else "low"
    if view.reaction:
        reaction: dict[str, Any] = {"manifestation": [{"text": view.reaction}]}
        if view.severity in _SEVERITY:
            reaction["severity"] = _SEVERITY[view.severity]
        resource["reaction"] = [reaction]
    return resource


def condition_resource(view: ProblemView, patient_id: str) -> dict[str, Any]:
    code: dict[str, Any] = {"text": view.label}
    if view.code:
        code["coding"] = [{"system": ICD10, "code": view.code, "display": view.label}]
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": view.id,
        "meta": {"lastUpdated": instant(view.recorded_at)},
        "clinicalStatus": _status("condition-clinical", "active" if view.active else "resolved"),
        "category": [_status("condition-category", "problem-list-item")],
        "code": code,
        "subject": {"reference": f"Patient/{patient_id}"},
        "recordedDate": instant(view.recorded_at),
    }
    if view.onset:
        resource["onsetString"] = view.onset
    return resource


def _allergies(chart: Chart, patient: str, call: Call) -> list[dict]:
    summary = chart.summary
    found = [
        allergy_resource(a, patient)
        for a in summary.allergies
        if in_range(a.recorded_at, call, "date")
    ]
    if summary.no_known_allergy:
        found += [
            allergy_resource(a, patient)
            for a in summary.none_known
            if in_range(a.recorded_at, call, "date")
        ]
    return found


def _conditions(chart: Chart, patient: str, call: Call) -> list[dict]:
    return [
        condition_resource(p, patient)
        for p in chart.summary.problems
        if not p.masked and in_range(p.recorded_at, call, "recorded-date")
    ]


def _pick_allergy(chart: Chart, patient: str, wanted: str, base: str):
    views = [*chart.summary.allergies, *chart.summary.none_known]
    view = next((a for a in views if a.id == wanted), None)
    return allergy_resource(view, patient) if view else None


def _pick_condition(chart: Chart, patient: str, wanted: str, base: str):
    view = next((p for p in chart.summary.problems if p.id == wanted), None)
    if view is None:
        return None
    return "masked" if view.masked else condition_resource(view, patient)


def _define(type_: str, doc: str, date_name: str, date_doc: str, build, owner, pick, sort):
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
            includes={"patient": _patient_of, "subject": _patient_of},
        )
    )


def _patient_of(resource: dict[str, Any]) -> list[str]:
    reference = (resource.get("patient") or {}).get("reference", "")
    return [reference] if reference else subject(resource)


_define(
    "AllergyIntolerance",
    "Allergies and intolerances listed on the chart (or no known allergy, recorded as such).",
    "date",
    "When recorded (ge/lt...).",
    _allergies,
    _owner(Allergy),
    _pick_allergy,
    lambda r: r["recordedDate"],
)
_define(
    "Condition",
    "The patient's problems (active or resolved), CIM-10 coded as ICD-10 when known; "
    "sensitive ones only for whom the domain shows them.",
    "recorded-date",
    "When recorded (ge/lt...).",
    _conditions,
    _owner(Problem),
    _pick_condition,
    lambda r: r["recordedDate"],
)
