"""Bulk export with four eyes: asked with a purpose, approved by a security officer (never the
requester), produced once for the requester as a file encrypted with a key shown to them once
(Fernet: AES and HMAC, with a time limit checked on opening), counted and audited patient by
patient, and erased when it expires. Canaries in the list are containment."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Iterable, Mapping

from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.vault import keys as vault_keys
from carnet.vault import scope as vault_scope

from . import approvals, boundary
from .actors import Actor
from .boundary import Refused, Subject, require
from .models import ExportRequest, ExportStatus
from .policy import EXPORT_HOURS, EXPORT_MAX_PATIENTS, Capability

# A FHIR Bulk Data export: its lines are patient ids, its files NDJSON per resource type,
# sealed at rest with a data key of the export's own (shredded when it expires) and served to
# the requester through the API.
FHIR_NDJSON = "ndjson"
_FILES = "export-files"


def _file_owner(export_id: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"carnet:export:{export_id}"))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def request_export(*, actor: Actor, purpose: str, identifiers: str, fmt: str) -> ExportRequest:
    ledger = require(actor, Capability.REQUEST_EXPORT)
    numbers = _lines(identifiers)
    errors = {}
    if not purpose.strip():
        errors["purpose"] = _("Say what the export is for.")
    if not numbers:
        errors["identifiers"] = _("Give the IPP numbers to export, one per line.")
    elif len(numbers) > EXPORT_MAX_PATIENTS:
        errors["identifiers"] = _("At most %(max)d patients per export.") % {
            "max": EXPORT_MAX_PATIENTS
        }
    if fmt not in ("csv", "json", FHIR_NDJSON):
        errors["fmt"] = _("CSV or JSON.")
    if actor.establishment_id is None:
        errors["identifiers"] = _("Your account belongs to no establishment.")
    if errors:
        raise ValidationError(errors)
    export = ExportRequest.objects.create(
        requested_by_id=actor.user_id,
        requested_at=timezone.now(),
        establishment_id=actor.establishment_id,
        purpose=purpose.strip(),
        identifiers="\n".join(numbers),
        count=len(numbers),
        fmt=fmt,
    )
    ledger.reason = f"export {export.pk} asked for {len(numbers)} patients: {purpose.strip()}"
    return export


def expire_exports() -> int:
    """Erases produced files past their time, and approvals never used in time."""
    now = timezone.now()
    expired = ExportRequest.objects.filter(
        status__in=[ExportStatus.PRODUCED, ExportStatus.APPROVED], expires_at__lt=now
    )
    sealed = [e.pk for e in expired.filter(fmt=FHIR_NDJSON, status=ExportStatus.PRODUCED)]
    if sealed:
        vault_keys.shred_many(_file_owner(pk) for pk in sealed)
    return expired.update(status=ExportStatus.EXPIRED, sealed_file=None)


def cancel_export(*, actor: Actor, export_id: int) -> bool:
    """The requester withdraws an export: a pending or approved one is never produced, a
    produced one's file is erased and its key shredded. Whether there was one to cancel."""
    require(actor, Capability.REQUEST_EXPORT)
    live = [ExportStatus.PENDING, ExportStatus.APPROVED, ExportStatus.PRODUCED]
    export = ExportRequest.objects.filter(
        pk=export_id, requested_by_id=actor.user_id, status__in=live
    ).first()
    if export is None:
        return False
    past = timezone.now() - datetime.timedelta(seconds=1)
    if export.status == ExportStatus.PRODUCED:
        ExportRequest.objects.filter(pk=export.pk).update(expires_at=past)
        expire_exports()
    else:
        ExportRequest.objects.filter(pk=export.pk).update(
            status=ExportStatus.EXPIRED, expires_at=past
        )
    boundary.ledger_for(actor).reason = f"export {export.pk} cancelled by its requester"
    return True


def mine(*, actor: Actor) -> QuerySet:
    require(actor, Capability.REQUEST_EXPORT)
    expire_exports()
    return ExportRequest.objects.filter(requested_by_id=actor.user_id).order_by("-requested_at")


def pending() -> QuerySet:
    return ExportRequest.objects.filter(status=ExportStatus.PENDING).select_related("requested_by")


def decide_export(
    *, actor: Actor, export_id: int, approve: bool, note: str = "", token: str = ""
) -> None:
    """Approved by an independent security officer with the second factor (see approvals);
    refused by any security officer but the requester."""
    ledger = require(actor, Capability.SECURITY_CONSOLE)
    export = ExportRequest.objects.filter(pk=export_id, status=ExportStatus.PENDING).first()
    if export is None:
        raise Refused("no such pending export")
    if export.requested_by_id == actor.user_id:
        raise Refused("nobody approves their own export", not_found=False)
    if approve:
        approvals.check_decider(actor, export.requested_by_id, token=token)
    with transaction.atomic():
        _settle(ledger, export_id, approve, note)


def _settle(ledger: boundary.Ledger, export_id: int, approve: bool, note: str) -> None:
    actor = ledger.actor
    export = (
        ExportRequest.objects.select_for_update()
        .filter(pk=export_id, status=ExportStatus.PENDING)
        .first()
    )
    if export is None:
        raise Refused("no such pending export")
    now = timezone.now()
    export.status = ExportStatus.APPROVED if approve else ExportStatus.REJECTED
    export.decided_by_id = actor.user_id
    export.decided_at = now
    export.note = note.strip()
    export.expires_at = now + datetime.timedelta(hours=EXPORT_HOURS)
    export.save(update_fields=["status", "decided_by", "decided_at", "note", "expires_at"])
    ledger.reason = f"export {export.pk} {export.status}"


def approved_export(
    actor: Actor, export_id: int, *, formats: Iterable[str] = ("csv", "json")
) -> ExportRequest:
    """The requester's approved, unexpired, not yet produced export, locked."""
    require(actor, Capability.REQUEST_EXPORT)
    export = (
        ExportRequest.objects.select_for_update()
        .filter(
            pk=export_id,
            requested_by_id=actor.user_id,
            status=ExportStatus.APPROVED,
            expires_at__gt=timezone.now(),
            fmt__in=list(formats),
        )
        .first()
    )
    if export is None:
        raise Refused("no approved export to produce")
    return export


def admit_export(
    actor: Actor,
    export: ExportRequest,
    subjects: Iterable[Subject],
    matches: Callable[[Subject], bool],
) -> list[Subject]:
    """The patients of an approved export: canaries are containment; no budget is charged
    (two people decided), every patient is recorded as exported."""
    ledger = require(actor, Capability.REQUEST_EXPORT)
    within = [s for s in subjects if export.establishment_id in s.establishment_ids]
    found = boundary.match_candidates(within, matches)
    boundary.check_canaries(found)
    for subject in found:
        boundary.hand_over(ledger, subject, f"export:{export.pk}")
    return found


def seal_export(actor: Actor, export: ExportRequest, content: bytes, exported: int) -> str:
    """Encrypts the produced file with a new key, keeps only the ciphertext, returns the key
    (shown once to the requester, never stored)."""
    key = Fernet.generate_key()
    export.sealed_file = Fernet(key).encrypt(content)
    export.status = ExportStatus.PRODUCED
    export.produced_at = timezone.now()
    export.exported = exported
    export.save(update_fields=["sealed_file", "status", "produced_at", "exported"])
    boundary.ledger_for(actor).reason = f"export {export.pk} produced: {exported} patients"
    return key.decode()


def seal_export_files(
    actor: Actor,
    export: ExportRequest,
    files: Mapping[str, bytes],
    exported: Iterable[str],
) -> None:
    """Keeps a FHIR export's files sealed with a new data key of the export's own (wrapped by
    the key-encryption key, like a patient's; shredded when the export expires), and records
    every patient of it as exported, whatever else opened them while the files were made."""
    ledger = require(actor, Capability.REQUEST_EXPORT)
    owner = _file_owner(export.pk)
    vault_scope.admit(owner)
    vault_keys.create_data_key(owner)
    content = json.dumps({name: data.decode() for name, data in files.items()}).encode()
    export.sealed_file = vault_keys.seal_bytes(owner, _FILES, content)
    export.status = ExportStatus.PRODUCED
    export.produced_at = timezone.now()
    patients = list(dict.fromkeys(exported))
    export.exported = len(patients)
    export.save(update_fields=["sealed_file", "status", "produced_at", "exported"])
    for patient in patients:
        ledger.exposed[str(patient)] = f"export:{export.pk}"
    ledger.reason = f"export {export.pk} produced: {len(patients)} patients"


def export_files(*, actor: Actor, export_id: int) -> dict[str, bytes]:
    """The requester's produced FHIR export files, opened until the export expires."""
    require(actor, Capability.REQUEST_EXPORT)
    expire_exports()
    export = ExportRequest.objects.filter(
        pk=export_id,
        requested_by_id=actor.user_id,
        status=ExportStatus.PRODUCED,
        fmt=FHIR_NDJSON,
        expires_at__gt=timezone.now(),
    ).first()
    if export is None or export.sealed_file is None:
        raise Refused("no produced export")
    owner = _file_owner(export.pk)
    vault_scope.admit(owner)
    content = vault_keys.open_bytes(owner, _FILES, bytes(export.sealed_file))
    return {name: text.encode() for name, text in json.loads(content).items()}


def sealed_file(*, actor: Actor, export_id: int) -> tuple[bytes, str]:
    require(actor, Capability.REQUEST_EXPORT)
    export = ExportRequest.objects.filter(
        pk=export_id,
        requested_by_id=actor.user_id,
        status=ExportStatus.PRODUCED,
        expires_at__gt=timezone.now(),
        fmt__in=["csv", "json"],
    ).first()
    if export is None or export.sealed_file is None:
        raise Refused("no produced export")
    return bytes(export.sealed_file), f"carnet-export-{export.pk}.{export.fmt}.fernet"


def open_file(token: bytes, key: str) -> bytes:
    """Decrypts an export file; refuses a file older than its time limit."""
    return Fernet(key.encode()).decrypt(token, ttl=EXPORT_HOURS * 3600)
