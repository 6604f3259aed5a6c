"""Writing identities through the guard: create, edit (with a version check so that no
change is silently lost), and the bulk import used to seed an installation."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, admit_bulk, admit_new, ledger_for
from carnet.guard.break_glass import open_break_glass
from carnet.guard.canaries import mark_for
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import FOLLOW_UP_DAYS, Capability
from carnet.guard.relationships import end as end_relationships
from carnet.guard.relationships import relate, relate_many
from carnet.guard.shares import share
from carnet.organisations.models import Establishment
from carnet.staff.models import Practitioner
from carnet.vault.keys import create_data_key, prepare_data_key
from carnet.vault.models import DataKey

from . import search_keys
from .bulk import insert_many
from .cards import IdentityCard, identity_card
from .models import (
    CHECKED_STATUSES,
    ExternalIdentifier,
    IdentityCorrection,
    IdentityStatusChange,
    Patient,
)
from .selectors import (
    SearchQuery,
    colleagues_for,
    guarded_patient,
    parse_patient_id,
    refuse_if_read_only,
    search_identities,
    subject_of,
    with_relations,
)

SEALED_FIELDS = (
    "birth_surname",
    "first_names",
    "used_surname",
    "used_first_name",
    "sex",
    "birth_date",
    "birthplace_code",
    "nir",
    "address_line",
    "postal_code",
    "city",
    "country",
    "phone",
    "email",
)


class StaleIdentity(Exception):
    """The identity changed since the form was opened; nothing was saved."""


def _record_status(actor: Actor, patient: Patient, before: str, data: dict[str, Any]) -> None:
    """The status and the document behind it, in the identity's history, when either moved."""
    document = data.get("document") or ""
    if before == data["status"] and not document:
        return
    IdentityStatusChange.objects.create(
        patient_id=patient.id,
        from_status=before,
        to_status=data["status"],
        document=document if data["status"] in CHECKED_STATUSES else "",
        changed_by=actor.user_id,
        changed_at=timezone.now(),
    )


def _apply(patient: Patient, data: dict[str, Any]) -> None:
    patient.status = data["status"]
    for name in SEALED_FIELDS:
        value = data.get(name)
        setattr(patient, name, value if value not in ("",) else None)
    doctor = data.get("treating_doctor")
    patient.treating_doctor_id = getattr(doctor, "pk", doctor)
    for name, key in search_keys.identity_keys(
        birth_surname=data["birth_surname"],
        used_surname=data.get("used_surname"),
        birth_date=data["birth_date"],
        nir=data.get("nir") or None,
    ).items():
        setattr(patient, name, key)


def _allocate_ipps(establishment_id: int, count: int) -> list[str]:
    """IPP numbers for one establishment, allocated under a row lock (never reused)."""
    updated = Establishment.objects.filter(pk=establishment_id).update(
        ipp_counter=F("ipp_counter") + count
    )
    if not updated:
        raise ValidationError(_("Unknown establishment."))
    last = Establishment.objects.values_list("ipp_counter", flat=True).get(pk=establishment_id)
    return [f"{n:08d}" for n in range(last - count + 1, last + 1)]


def _identifier(patient: Patient, establishment_id: int, ipp: str) -> ExternalIdentifier:
    identifier = ExternalIdentifier(
        patient=patient,
        establishment_id=establishment_id,
        bi_value=search_keys.ipp_key(establishment_id, ipp),
    )
    identifier.value = ipp
    return identifier


def _check_nir_is_new(
    actor: Actor, capability: Capability, nir: str, exclude: str | None = None
) -> None:
    """A NIR belongs to one person: refuse a second identity with it (among the patients the
    actor may search; duplicates across the group are the duplicates domain's job)."""
    if not nir:
        return
    found = search_identities(actor=actor, query=SearchQuery(nir=nir), capability=capability)
    others = [row for row in found.rows if row.id != exclude]
    if others:
        raise ValidationError(
            {
                "nir": _("This NIR is already recorded for another patient (IPP %(ipp)s).")
                % {"ipp": others[0].ipp or "?"}
            }
        )


def create_identity(
    *, actor: Actor, data: dict[str, Any], establishment_id: int | None = None
) -> IdentityCard:
    establishment_id = establishment_id or actor.establishment_id
    patient = Patient(id=uuid.uuid4())
    # Only the installation's own jobs plant canaries; no user can.
    patient.mark = mark_for(patient.id, canary=actor.is_system and bool(data.get("canary")))
    if establishment_id is None:
        raise ValidationError(_("Your account belongs to no establishment."))
    _check_nir_is_new(actor, Capability.CREATE_IDENTITY, data.get("nir", ""))
    admit_new(actor, Capability.CREATE_IDENTITY, str(patient.id), establishment_id)
    with transaction.atomic():
        create_data_key(patient.id)
        _apply(patient, data)
        patient.changed_by, patient.changed_at = actor.user_id, timezone.now()
        patient.save(force_insert=True)
        _record_status(actor, patient, "", data)
        _follow_treating_doctor(patient, None)
        (ipp,) = _allocate_ipps(establishment_id, 1)
        _identifier(patient, establishment_id, ipp).save()
        if not actor.is_system:
            # Whoever registers a patient takes care of them for the next days (booking,
            # checking in): nothing of that is an exposure outside their relationships.
            relate(
                patient_id=patient.id,
                kind=RelationshipKind.CREATED,
                user_id=actor.user_id,
                source="identity",
                ends_at=timezone.now() + datetime.timedelta(days=FOLLOW_UP_DAYS),
            )
    return identity_card(Patient.objects.get(id=patient.id))


def update_identity(
    *,
    actor: Actor,
    patient_id: object,
    data: dict[str, Any],
    version: int,
    correction_reason: str = "",
) -> IdentityCard:
    """Saves an identity. A deceased patient's identity is read-only: only an authorised
    correction (`correction_reason`, see death.correct_identity) changes it, and is recorded;
    a merged record never changes."""
    with transaction.atomic():
        patient = guarded_patient(actor, Capability.EDIT_IDENTITY, patient_id)
        correcting = (
            patient.deceased and patient.merged_into_id is None and bool(correction_reason.strip())
        )
        if not correcting:
            refuse_if_read_only(patient)
        if patient.version != version:
            raise StaleIdentity(str(patient.id))
        _check_nir_is_new(
            actor, Capability.EDIT_IDENTITY, data.get("nir", ""), exclude=str(patient.id)
        )
        previous_doctor = patient.treating_doctor_id
        previous_status = patient.status
        _apply(patient, data)
        patient.changed_by, patient.changed_at = actor.user_id, timezone.now()
        patient.version = F("version") + 1
        patient.save()
        patient.refresh_from_db()
        _record_status(actor, patient, previous_status, data)
        _follow_treating_doctor(patient, previous_doctor)
        if correcting:
            correction = IdentityCorrection(
                patient=patient,
                corrected_by_id=actor.user_id,
                corrected_at=timezone.now(),
                version=patient.version,
            )
            correction.reason = correction_reason.strip()
            correction.save()
            ledger_for(
                actor
            ).reason = f"authorised correction of a deceased patient's identity ({correction.pk})"
    return identity_card(patient)


def register_at(patient: Patient, establishment_id: int) -> str:
    """The group's patient becomes known at one more establishment, with an IPP of its own
    there (booked at the clinic after a stay at the hospital: one identity, never a second
    record). Returns the establishment's IPP. The patient was handed over by the guard."""
    for identifier in patient.identifiers.all():
        if identifier.establishment_id == establishment_id:
            return identifier.value
    (ipp,) = _allocate_ipps(establishment_id, 1)
    _identifier(patient, establishment_id, ipp).save()
    return ipp


def _follow_treating_doctor(patient: Patient, previous_doctor_id: int | None) -> None:
    """The treating doctor is a care relationship: it follows the identity's field."""
    if patient.treating_doctor_id == previous_doctor_id:
        return
    end_relationships(
        patient_id=patient.id, kind=RelationshipKind.TREATING_DOCTOR, source="identity"
    )
    if patient.treating_doctor_id:
        user_id = Practitioner.objects.values_list("user_id", flat=True).get(
            pk=patient.treating_doctor_id
        )
        relate(
            patient_id=patient.id,
            kind=RelationshipKind.TREATING_DOCTOR,
            user_id=user_id,
            source="identity",
        )


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def import_identities(
    *,
    actor: Actor,
    records: Iterable[dict[str, Any]],
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Bulk-creates identities (each record: identity fields plus `establishment_ids`).
    System jobs only; the audit entry counts the patients created."""
    ledger = admit_bulk(actor, Capability.IMPORT_IDENTITIES)
    total = 0
    for batch in _batches(records, batch_size):
        with transaction.atomic():
            keys, patients, identifiers = [], [], []
            by_establishment: dict[int, list[Patient]] = {}
            for record in batch:
                patient = Patient(id=uuid.uuid4())
                patient.mark = mark_for(patient.id, canary=record.get("canary", False))
                keys.append(prepare_data_key(patient.id))
                _apply(patient, record)
                patients.append(patient)
                for establishment_id in record["establishment_ids"]:
                    by_establishment.setdefault(establishment_id, []).append(patient)
            insert_many(DataKey, keys)
            insert_many(Patient, patients)
            for establishment_id, members in by_establishment.items():
                for patient, ipp in zip(
                    members, _allocate_ipps(establishment_id, len(members)), strict=True
                ):
                    identifiers.append(_identifier(patient, establishment_id, ipp))
            insert_many(ExternalIdentifier, identifiers)
            doctors = dict(
                Practitioner.objects.filter(
                    pk__in={p.treating_doctor_id for p in patients if p.treating_doctor_id}
                ).values_list("pk", "user_id")
            )
            relate_many(
                (p.id, doctors[p.treating_doctor_id], RelationshipKind.TREATING_DOCTOR)
                for p in patients
                if p.treating_doctor_id
            )
        total += len(batch)
        ledger.bulk_count = total
        if progress:
            progress(len(batch))
    return total


def break_the_glass(
    *, actor: Actor, patient_id: object, reason: str, explanation: str, token: str
) -> bool:
    """Opens a patient with no care relationship, for a few hours, with a reason. False when
    the patient is known at none of the actor's establishments: the opening then waits for a
    security officer's approval."""
    patient = with_relations(Patient.objects.filter(id=parse_patient_id(patient_id))).first()
    return (
        open_break_glass(
            actor=actor,
            subject=subject_of(patient) if patient else None,
            reason=reason,
            explanation=explanation,
            token=token,
        )
        is not None
    )


def share_with_colleague(
    *, actor: Actor, patient_id: object, colleague_id: int, days: int, reason: str
) -> None:
    """Opens a patient of one's care to a colleague of the same establishment for a while."""
    patient = with_relations(Patient.objects.filter(id=parse_patient_id(patient_id))).first()
    if patient is None:
        raise Refused("no such patient")
    colleagues = colleagues_for(actor).filter(pk=colleague_id)
    if not colleagues.exists():
        raise ValidationError({"colleague": _("Choose a colleague of your establishment.")})
    share(
        actor=actor,
        subject=subject_of(patient),
        colleague_id=colleague_id,
        days=days,
        reason=reason,
    )
