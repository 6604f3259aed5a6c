"""What the API serves, declared once: each resource type, its interactions (with the audit
action, the guard capability and the handler), its search parameters. The routes dispatch
through it, and the CapabilityStatement and the documentation page are generated from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from carnet.guard.actors import Actor
from carnet.guard.policy import Capability

from .auth import TokenGrant


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

    @property
    def actor(self) -> Actor:
        return self.grant.actor


# A handler returns (status, resource or Bundle, extra headers).
Result = tuple[int, dict[str, Any], dict[str, str]]
Handler = Callable[[Call], Result]


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


@dataclass(frozen=True)
class ResourceDefinition:
    type: str
    documentation: str
    interactions: dict[str, Interaction]
    search: tuple[SearchParameter, ...] = ()
    profile: str = ""
    # Resources of the patient compartment obey a patient/ token's launch patient.
    patient_compartment: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


REGISTRY: dict[str, ResourceDefinition] = {}


def register(definition: ResourceDefinition) -> ResourceDefinition:
    REGISTRY[definition.type] = definition
    return definition


def load() -> dict[str, ResourceDefinition]:
    """Imports every resource module once (each registers itself)."""
    from .resources import (  # noqa: F401
        audit,
        clinical,
        coverage,
        directory,
        laboratory,
        patient,
        scheduling,
    )

    return REGISTRY
