"""Incident reports and access histories, from the audit log: which patients did an account
expose between two instants, with which fields (the list a breach notification needs within
72 hours); and who opened a patient's record, when and why."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import StringIO

from carnet.audit import verify
from carnet.audit.chain import canonical, entry_hash
from carnet.audit.models import AuditEntry, AuditSubject

from .actors import Actor
from .boundary import Refused, require
from .policy import Capability

SEARCH_FIELDS = ("birth_surname", "used_surname", "first_names", "sex", "birth_date", "ipp")
IDENTITY_FIELDS = (
    *SEARCH_FIELDS,
    "used_first_name",
    "birthplace_code",
    "nir",
    "address",
    "phone",
    "email",
    "treating_doctor",
)
NAME_FIELDS = ("birth_surname", "used_surname", "first_names")
CHART_FIELDS = (
    *NAME_FIELDS,
    "sex",
    "birth_date",
    "encounters",
    "clinical_notes",
    "prescriptions",
    "document_titles",
    "allergies",
    "problems",
    "current_medications",
    "vital_signs",
)
# What each action hands over: the fields a notification must name. An action not listed
# takes the fields of its longest listed prefix (a new page of a domain is never reported
# with no field at all); masked sensitive items are not handed over, so not listed.
EXPOSED_FIELDS: dict[str, tuple[str, ...]] = {
    "patients.search": SEARCH_FIELDS,
    "patients.view": IDENTITY_FIELDS,
    "patients.edit": IDENTITY_FIELDS,
    "patients.create": IDENTITY_FIELDS,
    "patients.correct": IDENTITY_FIELDS,
    "patients.insurance": (*NAME_FIELDS, "insurance"),
    "patients.coverage": (*NAME_FIELDS, "insurance"),
    "patients.death": (*NAME_FIELDS, "death"),
    "patients.": NAME_FIELDS,
    "identity.": (*SEARCH_FIELDS, "nir"),
    "clinical.": CHART_FIELDS,
    # FHIR Observation: laboratory results and the chart's vital signs.
    "clinical.observation": (
        *NAME_FIELDS,
        "sex",
        "birth_date",
        "laboratory_results",
        "vital_signs",
    ),
    "clinical.document.view": (*CHART_FIELDS, "document_content"),
    # The letter being written is drafted from the chart and the stay's results.
    "clinical.letter": (*CHART_FIELDS, "laboratory_results", "discharge_letters"),
    "clinical.letter.view": (*CHART_FIELDS, "discharge_letters"),
    "clinical.sensitive.open": (*CHART_FIELDS, "sensitive_category_items"),
    "lab.": (*NAME_FIELDS, "sex", "birth_date", "laboratory_results"),
    # An order composed for the laboratory's system: the identity it carries, and the order.
    "lab.hl7.order": (*NAME_FIELDS, "sex", "birth_date", "ipp", "laboratory_orders"),
    "lab.hl7.order_answer": (*NAME_FIELDS, "laboratory_orders"),
    "laboratory.": (*NAME_FIELDS, "sex", "birth_date", "laboratory_results"),
    "desk.": (*NAME_FIELDS, "appointments"),
    "scheduling.": (*NAME_FIELDS, "appointments"),
    "sharing.": (*NAME_FIELDS, "shared_items"),
    "exports.": IDENTITY_FIELDS,
    # Each role's lists of the day (the dashboard loads them as pages of their own).
    "lists.": NAME_FIELDS,
    "lists.census": (*NAME_FIELDS, "sex", "birth_date", "encounters", "laboratory_orders"),
    "lists.day": (*NAME_FIELDS, "appointments"),
    "lists.desk_day": (*NAME_FIELDS, "appointments"),
    "lists.results": (*NAME_FIELDS, "laboratory_results"),
    "lists.acknowledge": (*NAME_FIELDS, "laboratory_results"),
    "lists.letters": (*NAME_FIELDS, "discharge_letters"),
}


def fields_for(action: str) -> tuple[str, ...]:
    if action in EXPOSED_FIELDS:
        return EXPOSED_FIELDS[action]
    prefixes = [p for p in EXPOSED_FIELDS if p.endswith(".") and action.startswith(p)]
    return EXPOSED_FIELDS[max(prefixes, key=len)] if prefixes else ()


@dataclass
class ExposedPatient:
    patient_id: str
    first_seen: datetime.datetime
    last_seen: datetime.datetime
    accesses: int = 0
    actions: set[str] = field(default_factory=set)
    relationships: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)


def exposure_report(
    *,
    actor: Actor,
    account_id: int,
    start: datetime.datetime,
    end: datetime.datetime,
    progress: Callable[[int], None] | None = None,
    unverified: list[int] | None = None,
) -> list[ExposedPatient]:
    """Read from the account's entries themselves, each checked against its keyed hash: the
    per-patient index rows are not trusted here (rows deleted or re-attributed in the database
    change nothing). Entries whose hash fails are left out and their ids put in `unverified`."""
    require(actor, Capability.VIEW_AUDIT)
    entries = (
        AuditEntry.objects.filter(actor_id=account_id, at__gte=start, at__lt=end)
        .exclude(outcome="refused")
        .order_by("at", "id")
        .values_list(*verify.FIELDS)
    )
    found: dict[str, ExposedPatient] = {}
    for count, row in enumerate(entries.iterator(chunk_size=5000), 1):
        if not intact(row):
            if unverified is not None:
                unverified.append(row[verify.ID])
            continue
        action, at = row[7], row[2]
        for patient, relationship in verify.parse_patients(row[verify.PATIENTS]):
            item = found.setdefault(patient, ExposedPatient(patient, at, at))
            item.last_seen = at
            item.accesses += 1
            item.actions.add(action)
            if relationship:
                item.relationships.add(relationship)
            item.fields.update(fields_for(action))
        if progress and count % 1000 == 0:
            progress(1000)
    return sorted(found.values(), key=lambda r: r.first_seen)


def intact(row: tuple) -> bool:
    """An entry row (verify.FIELDS) as its keyed hash says it was written."""
    return entry_hash(row[14], canonical(*row[:14])) == row[verify.HASH]


@dataclass(frozen=True)
class Access:
    at: datetime.datetime
    actor_id: int | None
    actor: str
    role: str
    establishment_id: int | None
    action: str
    relationship: str
    reason: str
    outcome: str
    entry_id: int = 0


def access_history(*, actor: Actor, patient_id: str, limit: int = 500) -> Iterator[Access]:
    """Who opened this patient's record, when, and through which relationship or reason."""
    require(actor, Capability.VIEW_AUDIT)
    return _history(patient_id, limit)


def _history(patient_id: str, limit: int) -> Iterator[Access]:
    """The index finds the entries; each entry, checked against its keyed hash, must name the
    patient itself, or the row is not believed."""
    entry_ids = (
        AuditSubject.objects.filter(patient_id=patient_id)
        .order_by("-at")
        .values_list("entry_id", flat=True)[:limit]
    )
    rows = (
        AuditEntry.objects.filter(id__in=list(entry_ids))
        .order_by("-at", "-id")
        .values_list(*verify.FIELDS)
    )
    for row in rows:
        named = dict(verify.parse_patients(row[verify.PATIENTS]))
        if patient_id not in named or not intact(row):
            continue
        yield Access(
            at=row[2],
            actor_id=row[3],
            actor=row[4],
            role=row[5],
            establishment_id=row[6],
            action=row[7],
            relationship=named[patient_id],
            reason=row[11],
            outcome=row[8],
            entry_id=row[verify.ID],
        )


def search_audit(
    *,
    actor: Actor,
    account_id: int | None = None,
    patient_id: str | None = None,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Audit entries by account, patient and time, newest first (ids only, no identities)."""
    require(actor, Capability.VIEW_AUDIT)
    entries = AuditEntry.objects.all()
    if account_id is not None:
        entries = entries.filter(actor_id=account_id)
    if patient_id:
        entries = entries.filter(
            id__in=AuditSubject.objects.filter(patient_id=patient_id).values("entry_id")
        )
    if start:
        entries = entries.filter(at__gte=start)
    if end:
        entries = entries.filter(at__lt=end)
    return list(entries.order_by("-at")[:limit])


def report_rows(rows: list[ExposedPatient]) -> list[dict]:
    return [
        {
            "patient_id": r.patient_id,
            "first_seen": r.first_seen.isoformat(),
            "last_seen": r.last_seen.isoformat(),
            "accesses": r.accesses,
            "actions": sorted(r.actions),
            "relationships": sorted(r.relationships),
            "fields": sorted(r.fields),
        }
        for r in rows
    ]


def render_report(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    lines: list[list[str]] = [
        ["patient_id", "first_seen", "last_seen", "accesses", "actions", "relationships", "fields"]
    ]
    for row in rows:
        lines.append(
            [
                row["patient_id"],
                row["first_seen"],
                row["last_seen"],
                str(row["accesses"]),
                ";".join(row["actions"]),
                ";".join(row["relationships"]),
                ";".join(row["fields"]),
            ]
        )
    out = StringIO()
    csv.writer(out).writerows(lines)
    return out.getvalue()


@dataclass(frozen=True)
class OwnAccess:
    """One line of a patient's own access history, as the portal shows it."""

    at: datetime.datetime
    by_self: bool
    name: str
    role: str
    action: str
    relationship: str
    outcome: str
    outside_rpps: str = ""
    # The audit entry behind the line (what a report of the line names) and who acted.
    entry_id: int = 0
    actor_id: int | None = None

    @property
    def role_label(self) -> str:
        from .policy import Role

        return str(Role(self.role).label) if self.role in Role.values else ""


def own_access_history(*, actor: Actor, patient_id: str, limit: int = 200) -> list[OwnAccess]:
    """Who opened the record of the patient acting on the portal, newest first: the
    patient's own right to know, answered from the audit log. Only through the account's
    "self" relationship: no other record's history can be asked for."""
    from django.contrib.auth import get_user_model

    from .models import RelationshipKind
    from .relationships import kinds_for

    require(actor, Capability.USE_PORTAL)
    if kinds_for(actor, [patient_id]).get(patient_id) != RelationshipKind.SELF:
        raise Refused("not the patient's own record", patients=[patient_id])
    accesses = list(_history(patient_id, limit))
    accounts = {
        user.pk: user
        for user in get_user_model().objects.filter(
            pk__in={a.actor_id for a in accesses if a.actor_id}
        )
    }
    lines = []
    for access in accesses:
        user = accounts.get(access.actor_id)
        lines.append(
            OwnAccess(
                at=access.at,
                by_self=access.actor_id == actor.user_id,
                name=(user.get_full_name() or user.username) if user else "",
                role=access.role,
                action=access.action,
                relationship=access.relationship,
                outcome=access.outcome,
                outside_rpps=access.actor.removeprefix("outside:")
                if access.actor.startswith("outside:")
                else "",
                entry_id=access.entry_id,
                actor_id=access.actor_id,
            )
        )
    return lines
