"""Group: a list of patients an account names for a bulk export (`Group/<id>/$export`), with
its purpose as the name. Carnet's patient ids only: making a Group opens no patient and
reveals nothing (an id that is no patient is simply never exported); a Group is its owner's.
Exporting it asks the four eyes, like every export."""

from __future__ import annotations

from typing import Any

from carnet.guard.policy import EXPORT_MAX_PATIENTS, Capability

from ..fhir import ApiError, instant, parse_resource
from ..models import Cohort
from ..params import reference_id
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register
from ..search import searchset_rows

KEPT = {"resourceType", "type", "actual", "name", "member", "meta", "text", "quantity"}


def group_resource(cohort: Cohort) -> dict[str, Any]:
    members = cohort.member_ids
    resource: dict[str, Any] = {
        "resourceType": "Group",
        "id": str(cohort.pk),
        "meta": {"lastUpdated": instant(cohort.created_at)},
        "type": "person",
        "actual": True,
        "name": cohort.name,
        "quantity": len(members),
    }
    if members:
        resource["member"] = [{"entity": {"reference": f"Patient/{m}"}} for m in members]
    return resource


def _mine(call: Call):
    return Cohort.objects.filter(owner_id=call.actor.user_id).order_by("pk")


def read(call: Call) -> Result:
    cohort = (
        _mine(call).filter(pk=int(call.resource_id)).first() if call.resource_id.isdigit() else None
    )
    if cohort is None:
        raise ApiError(404, "not-found", f"Group/{call.resource_id} not found.")
    return 200, group_resource(cohort), {}


def search(call: Call) -> Result:
    rows = _mine(call)
    if call.query.text("name"):
        rows = rows.filter(name__icontains=call.query.text("name"))
    return searchset_rows(call, "Group", rows, group_resource)


def create(call: Call) -> Result:
    resource = parse_resource(call.body, "Group")
    if resource.get("type") != "person" or resource.get("actual") is not True:
        raise ApiError(422, "processing", "Carnet keeps actual groups of persons (patients).")
    name = (resource.get("name") or "").strip()
    if not name:
        raise ApiError(422, "required", "Name the group with what its export is for.")
    members = []
    for member in resource.get("member") or []:
        reference = ((member or {}).get("entity") or {}).get("reference", "")
        members.append(reference_id(reference, "Patient", "member.entity"))
    members = list(dict.fromkeys(members))
    if not members or len(members) > EXPORT_MAX_PATIENTS:
        raise ApiError(
            422, "processing", f"A group holds 1 to {EXPORT_MAX_PATIENTS} Patient references."
        )
    unkept = sorted(
        set(resource)
        - {"resourceType", "type", "actual", "name", "member", "meta", "text", "quantity"}
    )
    if unkept:
        raise ApiError(422, "processing", f"Carnet cannot keep: {', '.join(unkept)}.")
    cohort = Cohort.objects.create(
        owner_id=call.actor.user_id, name=name[:500], members="\n".join(members)
    )
    return 201, group_resource(cohort), {"Location": f"{call.base}Group/{cohort.pk}"}


register(
    ResourceDefinition(
        type="Group",
        documentation=(
            "Your lists of patients for a bulk export (Group/<id>/$export): Patient references "
            "and the export's purpose as the name."
        ),
        interactions={
            "read": Interaction("exports.group", Capability.REQUEST_EXPORT, read),
            "search": Interaction("exports.group", Capability.REQUEST_EXPORT, search),
            "create": Interaction("exports.group", Capability.REQUEST_EXPORT, create),
        },
        search=(SearchParameter("name", "string", "Part of the name.", clear=True),),
    )
)
