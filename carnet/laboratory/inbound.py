"""Results a laboratory system sends (its analysers, through its LIS): matched to the order by
its placer or filler number and to the patient by IPP, entered as the laboratory's service
account (a technician still validates them), or kept in quarantine with the reason. Knows
nothing of HL7: the interface hands over what it read. Never drops a message, never guesses
a patient, never enters the same message twice (same sender and control id)."""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, require
from carnet.guard.policy import Capability
from carnet.patients.models import ExternalIdentifier, IdentifierKind
from carnet.vault import keys as vault_keys
from carnet.vault import scope as vault_scope

from .models import InboundMessage, InboundStatus, LabOrder, LabResult, LabSystem
from .selectors import lab_order_for
from .services import enter_results, validate_from_system

ACCEPT, ERROR, REJECT = "AA", "AE", "AR"


@dataclass(frozen=True)
class Observation:
    code: str
    value: str
    comment: str = ""


@dataclass(frozen=True)
class IncomingResults:
    sender: str
    control_id: str
    message_type: str
    raw: str
    placer: str = ""
    filler: str = ""
    ipps: tuple[str, ...] = ()
    observations: tuple[Observation, ...] = ()
    # Set by the interface when the message could not be read: kept, and rejected (AR).
    problem: str = ""


@dataclass(frozen=True)
class Receipt:
    ack: str
    reason: str
    message_id: str
    duplicate: bool = False


class _Quarantine(Exception):
    def __init__(self, reason: str, ack: str = ERROR) -> None:
        super().__init__(reason)
        self.reason, self.ack = reason, ack


def _laboratory(actor: Actor) -> int:
    if not actor.establishment_ids:
        raise Refused("a service account of no laboratory", not_found=False)
    return min(actor.establishment_ids)


def receive_results(*, actor: Actor, incoming: IncomingResults) -> Receipt:
    """One message, inside the caller's guarded unit of work (one transaction)."""
    require(actor, Capability.LAB_WORK)
    laboratory = _laboratory(actor)
    sender, control_id = incoming.sender[:64], incoming.control_id[:64]
    if control_id:
        earlier = InboundMessage.objects.filter(
            laboratory_id=laboratory, sender=sender, control_id=control_id
        ).first()
        if earlier is not None:
            return Receipt(earlier.ack_code, earlier.reason, str(earlier.pk), duplicate=True)
    order = None
    try:
        if incoming.problem:
            raise _Quarantine(incoming.problem, REJECT)
        with transaction.atomic():
            order = _enter(actor, laboratory, incoming)
        status, ack, reason = InboundStatus.ACCEPTED, ACCEPT, ""
    except _Quarantine as kept:
        status, ack, reason = InboundStatus.QUARANTINED, kept.ack, kept.reason
    message_id = uuid.uuid4()
    vault_scope.admit(message_id)
    vault_keys.create_data_key(message_id)
    try:
        with transaction.atomic():
            InboundMessage.objects.create(
                id=message_id,
                laboratory_id=laboratory,
                received_by_id=actor.user_id,
                received_at=timezone.now(),
                sender=sender,
                control_id=control_id,
                message_type=incoming.message_type[:32],
                status=status,
                ack_code=ack,
                reason=reason[:300],
                order=order if status == InboundStatus.ACCEPTED else None,
                raw=incoming.raw,
                content=_content(incoming),
            )
    except IntegrityError:
        # The same message on another connection, a moment earlier: that one counts.
        earlier = InboundMessage.objects.get(
            laboratory_id=laboratory, sender=sender, control_id=control_id
        )
        return Receipt(earlier.ack_code, earlier.reason, str(earlier.pk), duplicate=True)
    return Receipt(ack, reason, str(message_id))


def _enter(actor: Actor, laboratory: int, incoming: IncomingResults) -> LabOrder:
    numbers = [n for n in (incoming.placer, incoming.filler) if n]
    if not numbers:
        raise _Quarantine(_("The message names no placer or filler order number."))
    found = LabOrder.objects.filter(laboratory_id=laboratory, accession__in=numbers).first()
    if found is None:
        raise _Quarantine(_("No order of this laboratory has this placer or filler number."))
    try:
        order, patient = lab_order_for(actor, found.pk, Capability.LAB_WORK, lock=True)
    except Refused:
        raise _Quarantine(_("This order is not open to the laboratory any more.")) from None
    known = {
        identifier.value
        for identifier in ExternalIdentifier.objects.filter(
            patient=patient, kind__in=[IdentifierKind.IPP, IdentifierKind.MERGED_IPP]
        )
    }
    if not incoming.ipps or not known & set(incoming.ipps):
        raise _Quarantine(_("The patient (IPP) is not the patient of this order."))
    items = {item.test.loinc: item.pk for item in order.items.select_related("test")}
    entries: dict[int, tuple[str, str]] = {}
    for observation in incoming.observations:
        if observation.code not in items:
            raise _Quarantine(
                _("Test %(code)s is not in this order.") % {"code": observation.code[:20]}
            )
        entries[items[observation.code]] = (observation.value, observation.comment)
    if not entries:
        raise _Quarantine(_("The message carries no result."))
    try:
        enter_results(actor=actor, order_id=order.pk, entries=entries)
    except ValidationError as error:
        raise _Quarantine(" ".join(error.messages)) from None
    prevalidated = LabSystem.objects.filter(
        laboratory_id=laboratory, active=True, results_prevalidated=True
    ).exists()
    if prevalidated:
        entered = LabResult.objects.filter(
            item_id__in=list(entries), entered_by_id=actor.user_id, validated_at__isnull=True
        ).values_list("pk", flat=True)
        validate_from_system(actor=actor, order_id=order.pk, result_ids=list(entered))
    return order


def _content(incoming: IncomingResults) -> str:
    data = asdict(incoming)
    data.pop("raw")
    return json.dumps(data)


def _incoming(message: InboundMessage) -> IncomingResults:
    data = json.loads(message.content or "{}")
    return IncomingResults(
        sender=data.get("sender", ""),
        control_id=data.get("control_id", ""),
        message_type=data.get("message_type", ""),
        raw="",
        placer=data.get("placer", ""),
        filler=data.get("filler", ""),
        ipps=tuple(data.get("ipps", ())),
        observations=tuple(Observation(**o) for o in data.get("observations", ())),
        problem=data.get("problem", ""),
    )


# ---- the quarantine, for the laboratory's technicians -----------------------------------------


@dataclass(frozen=True)
class QuarantineRow:
    id: str
    received_at: datetime.datetime
    sender: str
    control_id: str
    message_type: str
    ack: str
    reason: str


def quarantine(*, actor: Actor) -> tuple[QuarantineRow, ...]:
    """The messages of the actor's laboratories waiting in quarantine, oldest first. Nothing
    of the patient: the reason, the sender and the control id to find it in the sender's log."""
    require(actor, Capability.LAB_WORK)
    rows = InboundMessage.objects.filter(
        laboratory_id__in=actor.establishment_ids, status=InboundStatus.QUARANTINED
    ).order_by("received_at")[:200]
    return tuple(
        QuarantineRow(
            str(m.pk), m.received_at, m.sender, m.control_id, m.message_type, m.ack_code, m.reason
        )
        for m in rows
    )


def _quarantined(actor: Actor, message_id: object) -> InboundMessage:
    try:
        key = uuid.UUID(str(message_id))
    except ValueError:
        key = None
    message = (
        InboundMessage.objects.select_for_update()
        .filter(pk=key, laboratory_id__in=actor.establishment_ids, status=InboundStatus.QUARANTINED)
        .first()
    )
    if message is None:
        raise ValidationError(_("This message is not in your laboratory's quarantine."))
    vault_scope.admit(message.pk)
    return message


@transaction.atomic
def retry_quarantined(*, actor: Actor, message_id: object) -> InboundMessage:
    """A technician tries a quarantined message again once its cause is dealt with (the order
    collected, the patient's IPP corrected): entered as any message, or still in quarantine
    with the new reason. A malformed message cannot be retried, only set aside."""
    require(actor, Capability.LAB_WORK)
    message = _quarantined(actor, message_id)
    incoming = _incoming(message)
    if incoming.problem:
        raise ValidationError(_("A malformed message cannot be entered: set it aside."))
    try:
        with transaction.atomic():
            order = _enter(actor, message.laboratory_id, incoming)
    except _Quarantine as kept:
        message.reason = kept.reason[:300]
        message.save(update_fields=["reason"])
        raise ValidationError(kept.reason) from None
    message.status = InboundStatus.ACCEPTED
    message.order = order
    message.resolved_by_id = actor.user_id
    message.resolved_at = timezone.now()
    message.save(update_fields=["status", "order", "resolved_by", "resolved_at"])
    return message


@transaction.atomic
def set_aside_quarantined(*, actor: Actor, message_id: object, note: str) -> InboundMessage:
    """A technician sets a quarantined message aside with the reason (a copy already entered
    by hand, a test message): kept, never deleted."""
    require(actor, Capability.LAB_WORK)
    message = _quarantined(actor, message_id)
    note = note.strip()[:300]
    if not note:
        raise ValidationError({"note": _("Say why the message is set aside.")})
    message.status = InboundStatus.SET_ASIDE
    message.resolution_note = note
    message.resolved_by_id = actor.user_id
    message.resolved_at = timezone.now()
    message.save(update_fields=["status", "resolution_note", "resolved_by", "resolved_at"])
    return message
