"""Roles and what each may do (DESIGN.md's table). A capability not listed for a role is
refused; a new capability is closed to everyone until a line here opens it."""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PRACTITIONER = "practitioner", _("Practitioner")
    NURSE = "nurse", _("Nurse")
    SECRETARY = "secretary", _("Medical secretary")
    LAB_TECHNICIAN = "lab_technician", _("Laboratory technician")
    ADMINISTRATOR = "administrator", _("Administrator")
    SECURITY_OFFICER = "security_officer", _("Security officer")
    PATIENT = "patient", _("Patient")
    SCREEN = "screen", _("Waiting-room screen")


SYSTEM_ROLE = "system"


class Capability(StrEnum):
    SEARCH_IDENTITY = "identity.search"
    VIEW_IDENTITY = "identity.view"
    CREATE_IDENTITY = "identity.create"
    EDIT_IDENTITY = "identity.edit"
    IMPORT_IDENTITIES = "identity.import"
    USE_STAFF_PAGES = "staff.pages"
    VIEW_AUDIT = "audit.view"
    MANAGE_ACCOUNTS = "accounts.manage"


_PATIENT_FACING = {Capability.SEARCH_IDENTITY, Capability.VIEW_IDENTITY}

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.PRACTITIONER: frozenset({Capability.USE_STAFF_PAGES, *_PATIENT_FACING}),
    Role.NURSE: frozenset({Capability.USE_STAFF_PAGES, *_PATIENT_FACING}),
    Role.SECRETARY: frozenset(
        {
            Capability.USE_STAFF_PAGES,
            *_PATIENT_FACING,
            Capability.CREATE_IDENTITY,
            Capability.EDIT_IDENTITY,
        }
    ),
    Role.LAB_TECHNICIAN: frozenset({Capability.USE_STAFF_PAGES, *_PATIENT_FACING}),
    Role.ADMINISTRATOR: frozenset({Capability.USE_STAFF_PAGES, Capability.MANAGE_ACCOUNTS}),
    Role.SECURITY_OFFICER: frozenset({Capability.USE_STAFF_PAGES, Capability.VIEW_AUDIT}),
    Role.PATIENT: frozenset(),
    Role.SCREEN: frozenset(),
    SYSTEM_ROLE: frozenset(
        {Capability.IMPORT_IDENTITIES, Capability.CREATE_IDENTITY, Capability.VIEW_AUDIT}
    ),
}


def role_may(role: str, capability: Capability) -> bool:
    return capability in ROLE_CAPABILITIES.get(role, frozenset())
