"""Coverage: a patient's insurance cards, AMO (the mandatory scheme) and AMC (the
complementary), current and past, through the patients domain's selector (the patient is
opened like an identity page). A card's id carries its patient's id, so a read opens that
patient through the guard like any other."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from carnet.guard.policy import Capability
from carnet.patients.insurance import coverage_of

from ..fhir import ApiError
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register
from ..search import searchset_of
from .clinical import patient_of

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _status(card: Any) -> str:
    return "active" if card.current and not card.expired else "cancelled"


def _period(card: Any) -> dict[str, str]:
    period = {"start": card.valid_from.isoformat()}
    if card.valid_to:
        period["end"] = card.valid_to.isoformat()
    return period


def mandatory_resource(card: Any, patient_id: str) -> dict[str, Any]:
    label = f"AMO ({card.scheme_label})" if card.scheme_label else "AMO"
    return {
        "resourceType": "Coverage",
        "id": f"{patient_id}.amo.{card.id}",
        "status": _status(card),
        "type": {"coding": [{"system": ACT_CODE, "code": "PUBLICPOL"}], "text": label},
        "beneficiary": {"reference": f"Patient/{patient_id}"},
        "payor": [{"display": card.fund_display or "AMO"}],
        "period": _period(card),
    }


def complementary_resource(card: Any, patient_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": f"{patient_id}.amc.{card.id}",
        "status": _status(card),
        "type": {"coding": [{"system": ACT_CODE, "code": "EHCPOL"}], "text": "AMC"},
        "beneficiary": {"reference": f"Patient/{patient_id}"},
        "payor": [{"display": card.organism or "AMC"}],
        "period": _period(card),
    }
    if card.member_number:
        resource["subscriberId"] = card.member_number
    if card.amc_number:
        resource["identifier"] = [{"value": card.amc_number}]
    return resource


def _resources(patient_id: str, call: Call) -> list[dict[str, Any]]:
    sheet = coverage_of(actor=call.actor, patient_id=patient_id)
    return [
        *(mandatory_resource(c, patient_id) for c in sheet.mandatory),
        *(complementary_resource(c, patient_id) for c in sheet.complementary),
    ]


def search(call: Call) -> Result:
    wanted = call.query.reference("patient") or call.query.reference("beneficiary")
    if wanted and not call.query.has("patient"):
        params = call.params.copy()
        params["patient"] = f"Patient/{wanted}"
        call = replace(call, params=params)
    found = _resources(patient_of(call), call)
    statuses = {t.code for t in call.query.tokens("status")}
    if statuses:
        found = [r for r in found if r["status"] in statuses]
    return searchset_of(call, "Coverage", found)


def read(call: Call) -> Result:
    patient, _, rest = call.resource_id.partition(".")
    if not rest:
        raise ApiError(404, "not-found", f"Coverage/{call.resource_id} not found.")
    if call.only_patient and patient != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    for resource in _resources(patient, call):
        if resource["id"] == call.resource_id:
            return 200, resource, {}
    raise ApiError(404, "not-found", f"Coverage/{call.resource_id} not found.")


register(
    ResourceDefinition(
        type="Coverage",
        documentation="Insurance cards of a patient, AMO and AMC, current and past.",
        interactions={
            "read": Interaction("patients.coverage", Capability.VIEW_IDENTITY, read),
            "search": Interaction("patients.coverage", Capability.VIEW_IDENTITY, search),
        },
        search=(
            SearchParameter(
                "patient",
                "reference",
                "Patient/<id> (required, or beneficiary).",
                target="Patient",
                clear=True,
            ),
            SearchParameter(
                "beneficiary", "reference", "Patient/<id>.", target="Patient", clear=True
            ),
            SearchParameter(
                "status", "token", "active or cancelled (superseded or expired).", clear=True
            ),
        ),
        patient_compartment=True,
        includes={
            "beneficiary": lambda r: [r["beneficiary"]["reference"]],
            "patient": lambda r: [r["beneficiary"]["reference"]],
        },
    )
)
