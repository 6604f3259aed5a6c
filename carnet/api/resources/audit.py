"""AuditEvent, read-only, from the audit log, for security officers: who did what, when, from
where, with which outcome, and which patients it concerned (ids and what opened them, never
an identity)."""

from __future__ import annotations

from typing import Any

from carnet.audit.models import AuditEntry, Outcome
from carnet.guard.boundary import require
from carnet.guard.incidents import search_audit
from carnet.guard.policy import Capability

from .. import systems as S
from ..fhir import ApiError, instant, searchset
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register

DCM = "http://dicom.nema.org/resources/ontology/DCM"
OUTCOME = {Outcome.ALLOWED: "0", Outcome.REFUSED: "4", Outcome.CONTAINED: "8"}


def _action_code(action: str) -> str:
    if action.endswith((".create", ".book")):
        return "C"
    if action.endswith(".edit"):
        return "U"
    if action.startswith(("auth.", "api.token")):
        return "E"
    return "R"


def audit_event(entry: AuditEntry) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {"text": entry.role or "anonymous"},
        "who": {
            "identifier": {"system": S.ACCOUNT, "value": str(entry.actor_id or entry.actor)},
            "display": entry.actor,
        },
        "requestor": True,
    }
    if entry.client_ip:
        agent["network"] = {"address": entry.client_ip, "type": "2"}
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.pk),
        "type": {"system": DCM, "code": "110110", "display": "Patient Record"},
        "subtype": [{"system": S.ACTION, "code": entry.action}],
        "action": _action_code(entry.action),
        "recorded": instant(entry.at),
        "outcome": OUTCOME.get(entry.outcome, "4"),
        "agent": [agent],
        "source": {"observer": {"display": "Carnet"}, "site": entry.request_id or "-"},
    }
    if entry.reason:
        resource["outcomeDesc"] = entry.reason[:1000]
    entities = []
    for item in entry.patients.split():
        patient, _, opened_by = item.partition(":")
        entity: dict[str, Any] = {"what": {"reference": f"Patient/{patient}"}}
        if opened_by:
            entity["description"] = opened_by
        entities.append(entity)
    if entry.patient_count and not entities:
        entities.append({"description": f"{entry.patient_count} patients (bulk)"})
    if entities:
        resource["entity"] = entities
    return resource


def read(call: Call) -> Result:
    require(call.actor, Capability.VIEW_AUDIT)
    if not call.resource_id.isdigit():
        raise ApiError(404, "not-found", f"AuditEvent/{call.resource_id} not found.")
    entry = AuditEntry.objects.filter(pk=int(call.resource_id)).first()
    if entry is None:
        raise ApiError(404, "not-found", f"AuditEvent/{call.resource_id} not found.")
    return 200, audit_event(entry), {}


def search(call: Call) -> Result:
    query = call.query
    account = None
    agent = query.token("agent")
    if agent is not None:
        if not agent.code.isdigit():
            raise ApiError(400, "value", "agent: the account's id (a number).")
        account = int(agent.code)
    span = query.dates("date")
    page = query.page
    entries = search_audit(
        actor=call.actor,
        account_id=account,
        patient_id=query.reference("patient") or None,
        start=span.start,
        end=span.end,
        limit=page.end,
    )
    chunk, more = page.window(entries)
    bundle = searchset(
        base=call.base,
        resource_type="AuditEvent",
        params=query.applied(),
        resources=[audit_event(e) for e in chunk],
        page=page,
        more=more,
    )
    return 200, bundle, {}


register(
    ResourceDefinition(
        type="AuditEvent",
        documentation=(
            "The audit log, read-only, for security officers: newest first; patients as ids "
            "with what opened them."
        ),
        interactions={
            "read": Interaction("audit.event", Capability.VIEW_AUDIT, read),
            "search": Interaction("audit.search", Capability.VIEW_AUDIT, search),
        },
        search=(
            SearchParameter("agent", "token", "The account's id.", clear=True),
            SearchParameter("patient", "reference", "Patient/<id>.", target="Patient", clear=True),
            SearchParameter("date", "date", "Range (ge/lt...).", clear=True),
        ),
    )
)
