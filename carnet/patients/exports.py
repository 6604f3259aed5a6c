"""Producing an approved bulk export of identities: the IPP list is resolved through blind
indexes, every patient is handed over by the guard (canaries are containment), and the file
is sealed before it leaves."""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from io import StringIO

from django.db import transaction

from carnet.guard import exports as guard_exports
from carnet.guard.actors import Actor
from carnet.guard.boundary import require
from carnet.guard.models import ExportRequest
from carnet.guard.policy import Capability
from carnet.vault.blind import normalise

from . import search_keys
from .cards import identity_card
from .models import ExternalIdentifier, Patient
from .selectors import subject_of, with_relations
from .services import SEALED_FIELDS

COLUMNS = ("ipp", "status", *SEALED_FIELDS)


@dataclass(frozen=True)
class ProducedExport:
    key: str
    exported: int
    missing: tuple[str, ...]


def produce_export(*, actor: Actor, export_id: int) -> ProducedExport:
    with transaction.atomic():
        export = guard_exports.approved_export(actor, export_id)
        wanted = {normalise(ipp): ipp for ipp in export.identifiers.splitlines()}
        keys = [k for ipp in wanted for k in search_keys.ipp_keys(export.establishment_id, ipp)]
        candidates = with_relations(
            Patient.objects.filter(
                id__in=ExternalIdentifier.objects.filter(
                    establishment_id=export.establishment_id, bi_value__in=keys
                ).values("patient_id")
            )
        )
        patients = {str(p.id): p for p in candidates}

        def ipp_of(patient: Patient) -> str:
            for identifier in patient.identifiers.all():
                if identifier.establishment_id == export.establishment_id:
                    return normalise(identifier.value)
            return ""

        found = guard_exports.admit_export(
            actor,
            export,
            [subject_of(p) for p in patients.values()],
            lambda s: ipp_of(patients[s.patient_id]) in wanted,
        )
        rows = []
        for subject in found:
            patient = patients[subject.patient_id]
            card = identity_card(patient)
            row = {name: getattr(card, name, "") for name in COLUMNS if name != "ipp"}
            row["ipp"] = wanted[ipp_of(patient)]
            row["birth_date"] = card.birth_date.isoformat()
            rows.append(row)
        seen = {row["ipp"] for row in rows}
        missing = tuple(ipp for ipp in wanted.values() if ipp not in seen)
        content = _render(rows, export.fmt)
        key = guard_exports.seal_export(actor, export, content, len(rows))
    return ProducedExport(key=key, exported=len(rows), missing=missing)


def _render(rows: list[dict], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2).encode()
    out = StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def establishment_patient_ids(*, actor: Actor, limit: int) -> list[str]:
    """The ids (never more) of the patients of the actor's establishment, for a FHIR Bulk Data
    kick-off that names no patient: the export request carries them to the security officer
    who decides. At most `limit` + 1, so that the caller can say when there are too many."""
    require(actor, Capability.REQUEST_EXPORT)
    ids = (
        ExternalIdentifier.objects.filter(
            establishment_id=actor.establishment_id, patient__merged_into__isnull=True
        )
        .order_by("patient_id")
        .values_list("patient_id", flat=True)
        .distinct()
    )
    return [str(i) for i in ids[: limit + 1]]


def admit_fhir_export(*, actor: Actor, export_id: int) -> tuple[ExportRequest, list[str]]:
    """An approved FHIR export's patients (its lines are patient ids), handed over by the
    guard for it: canaries are containment, no budget is charged (two people decided)."""
    export = guard_exports.approved_export(actor, export_id, formats=[guard_exports.FHIR_NDJSON])
    wanted = {line.strip() for line in export.identifiers.splitlines() if line.strip()}
    valid = [w for w in wanted if _is_uuid(w)]
    patients = {
        str(p.id): p
        for p in with_relations(Patient.objects.filter(id__in=valid, merged_into__isnull=True))
    }
    found = guard_exports.admit_export(
        actor, export, [subject_of(p) for p in patients.values()], lambda s: True
    )
    return export, sorted(s.patient_id for s in found)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
