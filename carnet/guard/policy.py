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
    BREAK_GLASS = "guard.break_glass"
    SECURITY_CONSOLE = "guard.console"
    REQUEST_EXPORT = "guard.export"
    BOOK_APPOINTMENT = "scheduling.book"
    IMPORT_APPOINTMENTS = "scheduling.import"
    # The patient portal: a patient's own record only (the guard admits nothing but the
    # account's own "self" relationship, see patients.accounts).
    USE_PORTAL = "portal.use"
    BOOK_ONLINE = "scheduling.book_online"
    ISSUE_PORTAL_CODE = "portal.issue_code"
    # The day-before reminder job: opens the contact of tomorrow's patients, nothing else.
    SEND_REMINDERS = "scheduling.remind"
    # Clinical record (encounters, notes, prescriptions, documents, laboratory).
    VIEW_CLINICAL = "clinical.view"
    MANAGE_ENCOUNTERS = "clinical.encounter"
    WRITE_NOTE = "clinical.note"
    PRESCRIBE = "clinical.prescribe"
    ADD_DOCUMENT = "clinical.document"
    OPEN_SENSITIVE = "clinical.sensitive"
    RECORD_ALLERGY = "clinical.allergy"
    RECORD_VITALS = "clinical.vitals"
    RECORD_PROBLEM = "clinical.problem"
    # Writing and signing a stay's discharge letter (lettre de liaison).
    SIGN_LETTER = "clinical.letter"
    ORDER_LAB = "lab.order"
    LAB_WORK = "lab.work"
    VALIDATE_LAB = "lab.validate"
    # Identity beyond the INS traits: insurance, death, duplicates.
    MANAGE_INSURANCE = "identity.insurance"
    DECLARE_DEATH = "identity.death"
    MERGE_IDENTITIES = "identity.merge"
    # Sending part of a record to a practitioner outside the group.
    SHARE_OUTSIDE = "sharing.outside"
    # Data with a lifetime and the keys behind it (commands run by the operator).
    APPLY_RETENTION = "vault.retention"
    MANAGE_KEYS = "vault.keys"


_PATIENT_FACING = {Capability.SEARCH_IDENTITY, Capability.VIEW_IDENTITY}
# What the care team does with a chart (the guard still decides patient by patient).
_CARING = {
    Capability.VIEW_CLINICAL,
    Capability.MANAGE_ENCOUNTERS,
    Capability.WRITE_NOTE,
    Capability.ADD_DOCUMENT,
    Capability.OPEN_SENSITIVE,
    Capability.RECORD_ALLERGY,
    Capability.RECORD_VITALS,
}

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.PRACTITIONER: frozenset(
        {
            Capability.USE_STAFF_PAGES,
            *_PATIENT_FACING,
            Capability.BREAK_GLASS,
            Capability.REQUEST_EXPORT,
            Capability.BOOK_APPOINTMENT,
            *_CARING,
            Capability.PRESCRIBE,
            Capability.RECORD_PROBLEM,
            Capability.SIGN_LETTER,
            Capability.ORDER_LAB,
            Capability.DECLARE_DEATH,
            Capability.SHARE_OUTSIDE,
        }
    ),
    Role.NURSE: frozenset(
        {Capability.USE_STAFF_PAGES, *_PATIENT_FACING, Capability.BREAK_GLASS, *_CARING}
    ),
    Role.SECRETARY: frozenset(
        {
            Capability.USE_STAFF_PAGES,
            *_PATIENT_FACING,
            Capability.CREATE_IDENTITY,
            Capability.EDIT_IDENTITY,
            Capability.REQUEST_EXPORT,
            Capability.BOOK_APPOINTMENT,
            Capability.ISSUE_PORTAL_CODE,
            Capability.MANAGE_ENCOUNTERS,
            Capability.MANAGE_INSURANCE,
            Capability.MERGE_IDENTITIES,
        }
    ),
    Role.LAB_TECHNICIAN: frozenset(
        {Capability.USE_STAFF_PAGES, *_PATIENT_FACING, Capability.LAB_WORK, Capability.VALIDATE_LAB}
    ),
    Role.ADMINISTRATOR: frozenset({Capability.USE_STAFF_PAGES, Capability.MANAGE_ACCOUNTS}),
    Role.SECURITY_OFFICER: frozenset(
        {Capability.USE_STAFF_PAGES, Capability.VIEW_AUDIT, Capability.SECURITY_CONSOLE}
    ),
    Role.PATIENT: frozenset({Capability.USE_PORTAL, Capability.BOOK_ONLINE}),
    Role.SCREEN: frozenset(),
    SYSTEM_ROLE: frozenset(
        {
            Capability.IMPORT_IDENTITIES,
            Capability.IMPORT_APPOINTMENTS,
            Capability.CREATE_IDENTITY,
            Capability.VIEW_AUDIT,
            Capability.SEND_REMINDERS,
            Capability.ISSUE_PORTAL_CODE,
            Capability.APPLY_RETENTION,
            Capability.MANAGE_KEYS,
            Capability.MERGE_IDENTITIES,
            # The operator's commands ask for accounts (security officers first); a security
            # officer still approves each.
            Capability.MANAGE_ACCOUNTS,
        }
    ),
}


def role_may(role: str, capability: Capability) -> bool:
    return capability in ROLE_CAPABILITIES.get(role, frozenset())


# Exposure budgets: distinct patients outside any care relationship, per account, per sliding
# window: (soft, hard). Past soft: step-up (second factor again, and a reason). Past hard:
# containment. The month's and the year's hard limits are what a slow scraper meets (two a
# day for a year is stopped at the month's 30, a few a month at the year's 40); an
# establishment can only tighten these (BudgetRule), a raise for one account goes through a
# security officer.
DAY = 86400
WINDOWS = {"hour": 3600, "day": DAY, "week": 7 * DAY, "month": 30 * DAY, "year": 365 * DAY}
_CLINICAL_BUDGET = {
    "hour": (6, 10),
    "day": (10, 15),
    "week": (15, 20),
    "month": (22, 30),
    "year": (32, 40),
}
_DESK_BUDGET = {
    "hour": (10, 15),
    "day": (14, 18),
    "week": (18, 20),
    "month": (22, 30),
    "year": (32, 40),
}
_NO_BUDGET = {window: (0, 0) for window in WINDOWS}
DEFAULT_BUDGETS: dict[str, dict[str, tuple[int, int]]] = {
    Role.PRACTITIONER: _CLINICAL_BUDGET,
    Role.NURSE: _CLINICAL_BUDGET,
    Role.LAB_TECHNICIAN: _CLINICAL_BUDGET,
    Role.SECRETARY: _DESK_BUDGET,
}
# Searches that find nobody leak no one, but guessing names and birth dates by the thousand is
# how a search is enumerated: a separate, much wider bar (containment only, no step-up), set
# from bench/workday (a desk's busiest simulated hour misses about 10 times, its day 40).
ENUMERATION_BAR = {"hour": 60, "day": 200, "week": 500}
# What a booking, an admission, an order... explains: the patient the actor exposed in the
# minutes before the act becomes a care relationship (not counted), for so many days; at most
# so many patients an hour and a day, so that fake appointments cannot launder a scrape.
EXPLAINED_WITHIN_MINUTES = 30
FOLLOW_UP_DAYS = 7
EXPLAINED_AT_MOST = {"hour": 25, "day": 100}
# Break-the-glass openings per account and day before the account is contained.
BREAK_GLASS_PER_DAY = 3
BREAK_GLASS_HOURS = 4
STEP_UP_MINUTES = 60
EXPORT_HOURS = 24
EXPORT_MAX_PATIENTS = 5000
# Refused requests per account and hour before containment: walking ids or probing pages
# that the role may not open is an attack too, even when nothing leaks.
REFUSALS_PER_HOUR = 30


# Roles whose working set is their establishment's agendas over a short window.
DESK_ROLES = frozenset({Role.SECRETARY})
# The desk's window around an appointment: from a week before to a day after.
DESK_WINDOW_BEFORE_DAYS = 7
DESK_WINDOW_AFTER_DAYS = 1
# Roles whose working set is their laboratory's orders, and only for the laboratory's own work:
# an order opens neither the identity page nor the chart to them, nor to the desk.
LAB_ROLES = frozenset({Role.LAB_TECHNICIAN})
LAB_CAPABILITIES = frozenset({Capability.LAB_WORK, Capability.VALIDATE_LAB})


# Roles that find, and book, the group's patients wherever they were first known (one
# identity across the group: never a duplicate made at the clinic's desk), for these acts
# only: the booking registers the patient here, and only then do its pages open here.
GROUP_ROLES = frozenset({Role.SECRETARY, Role.PRACTITIONER})
GROUP_CAPABILITIES = frozenset({Capability.SEARCH_IDENTITY, Capability.BOOK_APPOINTMENT})


def default_budget(role: str) -> dict[str, tuple[int, int]]:
    return DEFAULT_BUDGETS.get(role, _NO_BUDGET)
