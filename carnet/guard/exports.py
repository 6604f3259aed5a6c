"""Bulk export with four eyes: asked with a purpose, approved by a security officer (never the
requester), produced once for the requester as a file encrypted with a key shown to them once
(Fernet: AES and HMAC, with a time limit checked on opening), counted and audited patient by
patient, and erased when it expires. Canaries in the list are containment."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from . import boundary
from .actors import Actor
from .boundary import Refused, Subject, require
from .models import ExportRequest, ExportStatus
from .policy import EXPORT_HOURS, EXPORT_MAX_PATIENTS, Capability


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
    if fmt not in ("csv", "json"):
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
    return ExportRequest.objects.filter(
        status__in=[ExportStatus.PRODUCED, ExportStatus.APPROVED], expires_at__lt=now
    ).update(status=ExportStatus.EXPIRED, sealed_file=None)


def mine(*, actor: Actor) -> QuerySet:
    require(actor, Capability.REQUEST_EXPORT)
    expire_exports()
    return ExportRequest.objects.filter(requested_by_id=actor.user_id).order_by("-requested_at")


def pending() -> QuerySet:
    return ExportRequest.objects.filter(status=ExportStatus.PENDING).select_related("requested_by")


@transaction.atomic
def decide_export(*, actor: Actor, export_id: int, approve: bool, note: str = "") -> None:
    ledger = require(actor, Capability.SECURITY_CONSOLE)
    export = (
        ExportRequest.objects.select_for_update()
        .filter(pk=export_id, status=ExportStatus.PENDING)
        .first()
    )
    if export is None:
        raise Refused("no such pending export")
    if export.requested_by_id == actor.user_id:
        raise Refused("nobody approves their own export", not_found=False)
    now = timezone.now()
    export.status = ExportStatus.APPROVED if approve else ExportStatus.REJECTED
    export.decided_by_id = actor.user_id
    export.decided_at = now
    export.note = note.strip()
    export.expires_at = now + datetime.timedelta(hours=EXPORT_HOURS)
    export.save(update_fields=["status", "decided_by", "decided_at", "note", "expires_at"])
    ledger.reason = f"export {export.pk} {export.status}"


def approved_export(actor: Actor, export_id: int) -> ExportRequest:
    """The requester's approved, unexpired, not yet produced export, locked."""
    require(actor, Capability.REQUEST_EXPORT)
    export = (
        ExportRequest.objects.select_for_update()
        .filter(
            pk=export_id,
            requested_by_id=actor.user_id,
            status=ExportStatus.APPROVED,
            expires_at__gt=timezone.now(),
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


def sealed_file(*, actor: Actor, export_id: int) -> tuple[bytes, str]:
    require(actor, Capability.REQUEST_EXPORT)
    export = ExportRequest.objects.filter(
        pk=export_id,
        requested_by_id=actor.user_id,
        status=ExportStatus.PRODUCED,
        expires_at__gt=timezone.now(),
    ).first()
    if export is None or export.sealed_file is None:
        raise Refused("no produced export")
    return bytes(export.sealed_file), f"carnet-export-{export.pk}.{export.fmt}.fernet"


def open_file(token: bytes, key: str) -> bytes:
    """Decrypts an export file; refuses a file older than its time limit."""
    return Fernet(key.encode()).decrypt(token, ttl=EXPORT_HOURS * 3600)
