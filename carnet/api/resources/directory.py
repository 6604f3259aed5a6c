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
from ..fhir import ApiError, Page, check_parameters, reference_id, searchset
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register

DIRECTORY = Capability.USE_STAFF_PAGES


def _int_id(value: str, what: str) -> int:
    if not value.isdigit():
        raise ApiError(404, "not-found", f"{what}/{value} not found.")
    return int(value)


def _paged(call: Call, resource_type: str, rows: QuerySet, render) -> Result:
    page = Page.of(call.params)
    chunk, more = page.window(rows)
    bundle = searchset(
        base=call.base,
        resource_type=resource_type,
        params=call.params,
        resources=[render(row) for row in chunk],
        page=page,
        more=more,
    )
    return 200, bundle, {}


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
    params = call.params
    check_parameters(params, ["identifier", "family", "name", "_count", "_offset"])
    rows = _practitioners(call)
    if params.get("identifier"):
        system, _, value = params["identifier"].rpartition("|")
        if system == S.IDNPS or (
            not system and value.startswith(S.IDNPS_RPPS_PREFIX) and len(value) == 12
        ):
            value = value.removeprefix(S.IDNPS_RPPS_PREFIX)
        elif system not in ("", S.RPPS):
            raise ApiError(400, "value", "identifier: RPPS or IDNPS only.")
        rows = rows.filter(rpps=value)
    for name in ("family", "name"):
        if params.get(name):
            text = params[name]
            rows = rows.filter(
                Q(user__last_name__istartswith=text)
                | (Q(user__first_name__istartswith=text) if name == "name" else Q(pk__in=[]))
            )
    return _paged(call, "Practitioner", rows, practitioner_resource)


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
    params = call.params
    check_parameters(params, ["practitioner", "organization", "_count", "_offset"])
    rows = _roles(call)
    if params.get("practitioner"):
        ident = reference_id(params["practitioner"], "Practitioner", "practitioner")
        rows = rows.filter(user__practitioner__pk=_int_id(ident, "Practitioner"))
    if params.get("organization"):
        ident = reference_id(params["organization"], "Organization", "organization")
        rows = rows.filter(establishment_id=_int_id(ident, "Organization"))
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
    params = call.params
    check_parameters(params, ["identifier", "name", "_count", "_offset"])
    rows = _organizations(call)
    if params.get("identifier"):
        system, _, value = params["identifier"].rpartition("|")
        if system == S.IDNST:
            value = value.removeprefix(S.IDNST_FINESS_PREFIX)
        elif system not in ("", S.FINESS):
            raise ApiError(400, "value", "identifier: FINESS or IDNST only.")
        rows = rows.filter(finess=value)
    if params.get("name"):
        rows = rows.filter(name__icontains=params["name"])
    return _paged(call, "Organization", rows, organization_resource)


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
    params = call.params
    check_parameters(params, ["organization", "name", "_count", "_offset"])
    rows = _locations(call)
    if params.get("organization"):
        ident = reference_id(params["organization"], "Organization", "organization")
        rows = rows.filter(unit__establishment_id=_int_id(ident, "Organization"))
    if params.get("name"):
        rows = rows.filter(name__icontains=params["name"])
    return _paged(call, "Location", rows, location_resource)


def _directory(type_: str, doc: str, rows, render, search, params) -> None:
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
        )
    )


_COUNT = (
    SearchParameter("_count", "number", "Page size (at most 50)."),
    SearchParameter("_offset", "number", "Where the page starts (the Bundle's links carry it)."),
)
_directory(
    "Practitioner",
    "Practitioners of your establishments, with IDNPS (8 + RPPS) and RPPS.",
    _practitioners,
    practitioner_resource,
    search_practitioners,
    (
        SearchParameter(
            "identifier", "token", f"RPPS (`{S.RPPS}|<rpps>`) or IDNPS (`{S.IDNPS}|8<rpps>`)."
        ),
        SearchParameter("family", "string", "Surname (prefix)."),
        SearchParameter("name", "string", "Surname or first name (prefix)."),
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
        SearchParameter("practitioner", "reference", "Practitioner/<id>."),
        SearchParameter("organization", "reference", "Organization/<id>."),
        *_COUNT,
    ),
)
_directory(
    "Organization",
    "Your establishments, with IDNST (1 + FINESS) and FINESS.",
    _organizations,
    organization_resource,
    search_organizations,
    (
        SearchParameter("identifier", "token", f"FINESS (`{S.FINESS}|<finess>`) or IDNST."),
        SearchParameter("name", "string", "Part of the name."),
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
        SearchParameter("organization", "reference", "Organization/<id>."),
        SearchParameter("name", "string", "Part of the room's name."),
        *_COUNT,
    ),
)
