"""The structured record through the chart selector: AllergyIntolerance ("no known allergy"
as SNOMED CT 716186003, substances coded in ATC), Condition (the patient's own problems,
CIM-10 coded as ICD-10; family history stays on the chart), MedicationStatement (the current
medications: prescriptions still running and those the patient reports) and the vital signs
as Observations of the vital-signs category with their LOINC codes and UCUM units (served by
the Observation type beside the laboratory's results). Masked sensitive items are left out of
searches and answer 403 on read, like the rest of the chart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from carnet.clinical.chart import Chart, open_chart
from carnet.clinical.models import (
    Allergy,
    PrescriptionLine,
    Problem,
    ReportedMedication,
    VitalSigns,
)
from carnet.clinical.summary import AllergyView, CurrentMedication, ProblemView, VitalsView

from ..fhir import instant
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register
from ..terminology import ATC, medication_coding
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


def _medication_id(item: CurrentMedication) -> str:
    return f"rx-{item.line_id}" if item.line_id else f"pt-{item.reported_id}"


def medication_statement(item: CurrentMedication, patient_id: str) -> dict[str, Any]:
    """A current medication as the patient takes it: prescribed here (derived from the
    running prescription line) or reported by the patient (informationSource: the patient)."""
    coding = medication_coding(item.medication)
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": _medication_id(item),
        "status": "active",
        "medicationCodeableConcept": {
            **({"coding": coding} if coding else {}),
            "text": item.medication,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if item.since is not None:
        resource["meta"] = {"lastUpdated": instant(item.since)}
        resource["dateAsserted"] = instant(item.since)
        period = {"start": instant(item.since)}
        if item.until is not None:
            period["end"] = instant(item.until)
        resource["effectivePeriod"] = period
    if item.dosage:
        resource["dosage"] = [{"text": item.dosage}]
    if item.reported_id:
        resource["informationSource"] = {"reference": f"Patient/{patient_id}"}
    return resource


def _medications(chart: Chart, patient: str, call: Call) -> list[dict]:
    return [
        medication_statement(m, patient)
        for m in chart.summary.medications
        if not m.masked and in_range(m.since, call, "effective")
    ]


def _medication_owner(resource_id: str) -> str | None:
    kind, _, ident = resource_id.partition("-")
    if kind == "rx" and ident.isdigit():
        return _owner(PrescriptionLine)(ident)
    if kind == "pt":
        return _owner(ReportedMedication)(ident)
    return None


def _pick_medication(chart: Chart, patient: str, wanted: str, base: str):
    item = next((m for m in chart.summary.medications if _medication_id(m) == wanted), None)
    if item is None:
        return None
    return "masked" if item.masked else medication_statement(item, patient)


_define(
    "MedicationStatement",
    "The current medications: prescriptions still running (until their last day) and "
    "medications the patient reports; ATC-coded when the shipped list knows the substance; "
    "sensitive ones only for whom the domain shows them.",
    "effective",
    "Since when it is taken (ge/lt...).",
    _medications,
    _medication_owner,
    _pick_medication,
    lambda r: r.get("dateAsserted", ""),
)


# Vital signs: (LOINC code, display, UCUM code, unit as shown) per measure of the chart.
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = {
    "coding": [
        {
            "system": f"{_TERMS}observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
    ]
}
BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional")
PRESSURES = {
    "systolic": ("8480-6", "Systolic blood pressure"),
    "diastolic": ("8462-4", "Diastolic blood pressure"),
}
MEASURES = {
    "pulse": ("8867-4", "Heart rate", "/min", "/min"),
    "temperature": ("8310-5", "Body temperature", "Cel", "°C"),
    "spo2": ("2708-6", "Oxygen saturation in Arterial blood", "%", "%"),
    "weight": ("29463-7", "Body weight", "kg", "kg"),
    "height": ("8302-2", "Body height", "cm", "cm"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m²"),
    "pain": (
        "72514-3",
        "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        "{score}",
        "/10",
    ),
}


def _concept(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _quantity(value: Decimal, ucum: str, unit: str) -> dict[str, Any]:
    number: int | float = int(value) if value == value.to_integral_value() else float(value)
    return {"value": number, "unit": unit, "system": UCUM, "code": ucum}


def vital_observations(view: VitalsView, patient_id: str) -> list[dict[str, Any]]:
    """One set of vital signs as the Observations the vital-signs profile names: the blood
    pressure as one panel with its two components, each other measure (and the BMI computed
    from the weight and the last height) as its own."""

    def observation(key: str, code: str, display: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": f"vs-{view.id}-{key}",
            "meta": {"lastUpdated": instant(view.taken_at)},
            "status": "final",
            "category": [VITAL_SIGNS],
            "code": _concept(code, display),
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": instant(view.taken_at),
        }

    found = []
    pressures = [
        {
            "code": _concept(*PRESSURES[key]),
            "valueQuantity": _quantity(view.values[key], "mm[Hg]", "mmHg"),
        }
        for key in PRESSURES
        if key in view.values
    ]
    if pressures:
        panel = observation("bp", *BLOOD_PRESSURE)
        panel["component"] = pressures
        found.append(panel)
    for key, (code, display, ucum, unit) in MEASURES.items():
        value = view.bmi if key == "bmi" else view.values.get(key)
        if value is not None:
            resource = observation(key, code, display)
            resource["valueQuantity"] = _quantity(value, ucum, unit)
            found.append(resource)
    return found


def vital_signs(call: Call, patient: str, codes: set[str]) -> list[dict[str, Any]]:
    """The vital signs of the chart's last sets (as the chart shows them), for an Observation
    search: the chart opened through the guard like any chart read."""
    chart = open_chart(actor=call.actor, patient_id=patient)
    return [
        resource
        for view in chart.summary.vitals
        if in_range(view.taken_at, call, "date")
        for resource in vital_observations(view, patient)
        if not codes or resource["code"]["coding"][0]["code"] in codes
    ]


def read_vital(call: Call) -> Result:
    """Observation/vs-<set>-<measure>: the chart of the set's patient opened through the
    guard, then the measure taken from the sets it shows."""

    def pick(chart: Chart, patient: str, wanted: str, base: str):
        for view in chart.summary.vitals:
            for resource in vital_observations(view, patient):
                if resource["id"] == wanted:
                    return resource
        return None

    def owner(resource_id: str) -> str | None:
        ident = resource_id.removeprefix("vs-")[:36]
        return _owner(VitalSigns)(ident)

    return _read("Observation", owner, pick)(call)
