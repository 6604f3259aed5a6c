"""What the API serves, declared once: each resource type, its interactions (with the audit
action, the guard capability and the handler), its search parameters, sort orders and
includes. The routes dispatch through it, the parameters are checked against it (params.py),
and the CapabilityStatement and the documentation page are generated from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from carnet.guard.actors import Actor
from carnet.guard.policy import Capability

from .auth import TokenGrant
from .params import Query


@dataclass(frozen=True)
class Call:
    """One FHIR interaction as a handler sees it."""

    grant: TokenGrant
    params: QueryDict
    base: str  # absolute URL of the FHIR base, ending with "/"
    only_patient: str | None  # a patient/ token: nothing but this patient
    resource_id: str = ""
    body: bytes = b""
    if_match: str = ""
    if_none_match: str = ""
    if_modified_since: str = ""
    if_none_exist: str = ""
    query: Query | None = None  # every parameter, checked (params.parse)
    prefer: dict[str, str] = field(default_factory=dict)
    accept: str = ""

    @property
    def actor(self) -> Actor:
        return self.grant.actor


# A handler returns (status, resource or Bundle, extra headers).
Result = tuple[int, dict[str, Any], dict[str, str]]
Handler = Callable[[Call], Result]
# An include resolver: the resources of these ids the reader may see (through the guard), and
# the ids left out.
Resolver = Callable[[Call, list[str]], tuple[list[dict[str, Any]], list[str]]]


@dataclass(frozen=True)
class Interaction:
    action: str
    capability: Capability
    handler: Handler


@dataclass(frozen=True)
class SearchParameter:
    name: str
    type: str
    documentation: str
    # A reference parameter's resource type (checked when given; "" for several).
    target: str = ""
    # Values that may be written in the audit entry as they are (dates, statuses, Carnet's
    # own ids); anything else is recorded as a keyed digest (carnet/api/audit_reason.py).
    clear: bool = False
    modifiers: tuple[str, ...] = ()
    # `_sort=<name>`: the value a resource sorts by (search.py sorts lists with it).
    sort: Callable[[dict[str, Any]], Any] | None = None


@dataclass(frozen=True)
class ResourceDefinition:
    type: str
    documentation: str
    interactions: dict[str, Interaction]
    search: tuple[SearchParameter, ...] = ()
    profile: str = ""
    # Resources of the patient compartment obey a patient/ token's launch patient.
    patient_compartment: bool = False
    # `_include=<Type>:<parameter>`: the references ("Type/id") of a resource it follows.
    includes: dict[str, Callable[[dict[str, Any]], list[str]]] = field(default_factory=dict)
    # Conditional read (If-Modified-Since, If-None-Match) where meta.lastUpdated is kept.
    conditional_read: bool = False
    conditional_create: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sortable(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {p.name: p.sort for p in self.search if p.sort is not None}


REGISTRY: dict[str, ResourceDefinition] = {}
RESOLVERS: dict[str, Resolver] = {}


def register(definition: ResourceDefinition) -> ResourceDefinition:
    REGISTRY[definition.type] = definition
    return definition


def register_resolver(resource_type: str, resolver: Resolver) -> Resolver:
    RESOLVERS[resource_type] = resolver
    return resolver


def load() -> dict[str, ResourceDefinition]:
    """Imports every resource module once (each registers itself)."""
    from .resources import (  # noqa: F401
        audit,
        binary,
        clinical,
        coverage,
        directory,
        group,
        laboratory,
        patient,
        record,
        scheduling,
    )

    return REGISTRY
