"""The directory: practitioners (RPPS), their roles in establishments, establishments (FINESS)
and rooms, within the reader's establishments. No patient data here; every staff role may
read it."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from carnet.guard.policy import Capability
from carnet.organisations.models import Establishment, Room
from carnet.patients.selectors import practitioners_for
from carnet.staff.models import Membership, Practitioner

from .. import systems as S
from ..fhir import ApiError
from ..registry import (
    Call,
    Interaction,
    ResourceDefinition,
    Result,
    SearchParameter,
    register,
    register_resolver,
)
from ..search import searchset_rows

DIRECTORY = Capability.USE_STAFF_PAGES


def _int_id(value: str, what: str) -> int:
    if not value.isdigit():
        raise ApiError(404, "not-found", f"{what}/{value} not found.")
    return int(value)


def _paged(call: Call, resource_type: str, rows: QuerySet, render, order=None) -> Result:
    return searchset_rows(call, resource_type, rows, render, order=order)


def _read(resource_type: str, rows: QuerySet, render) -> Any:
    def handler(call: Call) -> Result:
        row = rows(call).filter(pk=_int_id(call.resource_id, resource_type)).first()
        if row is None:
            raise ApiError(404, "not-found", f"{resource_type}/{call.resource_id} not found.")
        return 200, render(row), {}

    return handler


# --- Practitioner ---------------------------------------------------------------------------


def practitioner_resource(practitioner: Practitioner) -> dict[str, Any]:
    user = practitioner.user
    return {
        "resourceType": "Practitioner",
        "id": str(practitioner.pk),
        "meta": {"profile": [S.PROFILE_PRACTITIONER]},
        "identifier": [
            {
                "use": "official",
                "type": S.typed("IDNPS"),
                "system": S.IDNPS,
                "value": S.IDNPS_RPPS_PREFIX + practitioner.rpps,
            },
            {
                "use": "official",
                "type": S.typed("RPPS"),
                "system": S.RPPS,
                "value": practitioner.rpps,
            },
        ],
        "active": user.is_active,
        "name": [
            {
                "use": "official",
                "family": user.last_name or user.username,
                **({"given": [user.first_name]} if user.first_name else {}),
                "suffix": ["DR"],
            }
        ],
    }


def _practitioners(call: Call) -> QuerySet:
    return practitioners_for(call.actor)


def search_practitioners(call: Call) -> Result:
    query = call.query
    rows = _practitioners(call)
    identifier = query.token("identifier")
    if identifier is not None:
        system, value = identifier.system or "", identifier.code
        if system == S.IDNPS or (
            not system and value.startswith(S.IDNPS_RPPS_PREFIX) and len(value) == 12
        ):
            value = value.removeprefix(S.IDNPS_RPPS_PREFIX)
        elif system not in ("", S.RPPS):
            raise ApiError(400, "value", "identifier: RPPS or IDNPS only.")
        rows = rows.filter(rpps=value)
    for name in ("family", "name"):
        text = query.text(name)
        if text:
            rows = rows.filter(
                Q(user__last_name__istartswith=text)
                | (Q(user__first_name__istartswith=text) if name == "name" else Q(pk__in=[]))
            )
    order = {"family": "user__last_name", "name": "user__last_name"}
    return _paged(call, "Practitioner", rows, practitioner_resource, order)


# --- PractitionerRole ------------------------------------------------------------------------


def role_resource(membership: Membership) -> dict[str, Any]:
    practitioner = membership.user.practitioner
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": str(membership.pk),
        "active": membership.user.is_active,
        "practitioner": {
            "reference": f"Practitioner/{practitioner.pk}",
            "display": f"Dr {membership.user.get_full_name()}",
        },
        "organization": {
            "reference": f"Organization/{membership.establishment_id}",
            "display": membership.establishment.name,
        },
        "specialty": [{"text": practitioner.specialty}],
    }
    if membership.unit_id:
        resource["code"] = [{"text": membership.unit.name}]
    return resource


def _roles(call: Call) -> QuerySet:
    return (
        Membership.objects.filter(
            establishment_id__in=call.actor.establishment_ids, user__practitioner__isnull=False
        )
        .select_related("user__practitioner", "establishment", "unit")
        .order_by("pk")
    )


def search_roles(call: Call) -> Result:
    rows = _roles(call)
    practitioner = call.query.reference("practitioner", "Practitioner")
    if practitioner:
        rows = rows.filter(user__practitioner__pk=_int_id(practitioner, "Practitioner"))
    organization = call.query.reference("organization", "Organization")
    if organization:
        rows = rows.filter(establishment_id=_int_id(organization, "Organization"))
    return _paged(call, "PractitionerRole", rows, role_resource)


# --- Organization ----------------------------------------------------------------------------

KIND_TYPE = {"hospital": "Hospital", "clinic": "Clinic", "laboratory": "Laboratory"}


def organization_resource(establishment: Establishment) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": str(establishment.pk),
        "meta": {"profile": [S.PROFILE_ORGANIZATION]},
        "identifier": [
            {
                "use": "official",
                "type": S.typed("IDNST"),
                "system": S.IDNST,
                "value": S.IDNST_FINESS_PREFIX + establishment.finess,
            },
            {
                "use": "official",
                "type": S.typed("FINEG"),
                "system": S.FINESS,
                "value": establishment.finess,
            },
        ],
        "active": True,
        "type": [{"text": KIND_TYPE.get(establishment.kind, establishment.kind)}],
        "name": establishment.name,
    }
    if establishment.address or establishment.city:
        resource["address"] = [
            {
                **({"line": [establishment.address]} if establishment.address else {}),
                **({"city": establishment.city} if establishment.city else {}),
                "country": "FR",
            }
        ]
    return resource


def _organizations(call: Call) -> QuerySet:
    return Establishment.objects.filter(pk__in=call.actor.establishment_ids).order_by("name", "pk")


def search_organizations(call: Call) -> Result:
    rows = _organizations(call)
    identifier = call.query.token("identifier")
    if identifier is not None:
        system, value = identifier.system or "", identifier.code
        if system == S.IDNST:
            value = value.removeprefix(S.IDNST_FINESS_PREFIX)
        elif system not in ("", S.FINESS):
            raise ApiError(400, "value", "identifier: FINESS or IDNST only.")
        rows = rows.filter(finess=value)
    if call.query.text("name"):
        rows = rows.filter(name__icontains=call.query.text("name"))
    return _paged(call, "Organization", rows, organization_resource, {"name": "name"})


# --- Location --------------------------------------------------------------------------------


def location_resource(room: Room) -> dict[str, Any]:
    return {
        "resourceType": "Location",
        "id": str(room.pk),
        "status": "active",
        "name": room.name,
        "description": room.unit.name,
        "mode": "instance",
        "physicalType": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                    "code": "ro",
                    "display": "Room",
                }
            ]
        },
        "managingOrganization": {
            "reference": f"Organization/{room.unit.establishment_id}",
            "display": room.unit.establishment.name,
        },
    }


def _locations(call: Call) -> QuerySet:
    return (
        Room.objects.filter(unit__establishment_id__in=call.actor.establishment_ids)
        .select_related("unit__establishment")
        .order_by("pk")
    )


def search_locations(call: Call) -> Result:
    rows = _locations(call)
    organization = call.query.reference("organization", "Organization")
    if organization:
        rows = rows.filter(unit__establishment_id=_int_id(organization, "Organization"))
    if call.query.text("name"):
        rows = rows.filter(name__icontains=call.query.text("name"))
    return _paged(call, "Location", rows, location_resource, {"name": "name"})


def _resolver(rows, render):
    def resolve(call: Call, ids: list[str]) -> tuple[list[dict], list[str]]:
        found = [render(r) for r in rows(call).filter(pk__in=[i for i in ids if i.isdigit()])]
        return found, [i for i in ids if i not in {r["id"] for r in found}]

    return resolve


def _directory(type_: str, doc: str, rows, render, search, params, includes=None) -> None:
    register_resolver(type_, _resolver(rows, render))
    register(
        ResourceDefinition(
            type=type_,
            documentation=doc,
            interactions={
                "read": Interaction(
                    f"directory.{type_.lower()}", DIRECTORY, _read(type_, rows, render)
                ),
                "search": Interaction(f"directory.{type_.lower()}", DIRECTORY, search),
            },
            search=params,
            profile={
                "Practitioner": S.PROFILE_PRACTITIONER,
                "Organization": S.PROFILE_ORGANIZATION,
            }.get(type_, ""),
            includes=includes or {},
        )
    )


_COUNT = (
    SearchParameter("_count", "number", "Page size (at most 50).", clear=True),
    SearchParameter(
        "_offset", "number", "Where the page starts (the Bundle's links carry it).", clear=True
    ),
)


def _sort_name(resource: dict[str, Any]) -> str:
    name = resource.get("name")
    return (name[0].get("family", "") if isinstance(name, list) else name or "").upper()


def _ref(*paths: str):
    def extract(resource: dict[str, Any]) -> list[str]:
        return [resource[p]["reference"] for p in paths if (resource.get(p) or {}).get("reference")]

    return extract


_directory(
    "Practitioner",
    "Practitioners of your establishments, with IDNPS (8 + RPPS) and RPPS.",
    _practitioners,
    practitioner_resource,
    search_practitioners,
    (
        SearchParameter(
            "identifier",
            "token",
            f"RPPS (`{S.RPPS}|<rpps>`) or IDNPS (`{S.IDNPS}|8<rpps>`).",
            clear=True,
        ),
        SearchParameter("family", "string", "Surname (prefix).", clear=True, sort=_sort_name),
        SearchParameter(
            "name", "string", "Surname or first name (prefix).", clear=True, sort=_sort_name
        ),
        *_COUNT,
    ),
)
_directory(
    "PractitionerRole",
    "A practitioner's membership of one of your establishments (and unit).",
    _roles,
    role_resource,
    search_roles,
    (
        SearchParameter(
            "practitioner", "reference", "Practitioner/<id>.", target="Practitioner", clear=True
        ),
        SearchParameter(
            "organization", "reference", "Organization/<id>.", target="Organization", clear=True
        ),
        *_COUNT,
    ),
    {"practitioner": _ref("practitioner"), "organization": _ref("organization")},
)
_directory(
    "Organization",
    "Your establishments, with IDNST (1 + FINESS) and FINESS.",
    _organizations,
    organization_resource,
    search_organizations,
    (
        SearchParameter(
            "identifier", "token", f"FINESS (`{S.FINESS}|<finess>`) or IDNST.", clear=True
        ),
        SearchParameter("name", "string", "Part of the name.", clear=True, sort=_sort_name),
        *_COUNT,
    ),
)
_directory(
    "Location",
    "Rooms of your establishments' units.",
    _locations,
    location_resource,
    search_locations,
    (
        SearchParameter(
            "organization", "reference", "Organization/<id>.", target="Organization", clear=True
        ),
        SearchParameter("name", "string", "Part of the room's name.", clear=True, sort=_sort_name),
        *_COUNT,
    ),
    {"organization": _ref("managingOrganization")},
)
