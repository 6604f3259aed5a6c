"""Orders going out to the laboratory's own system (its LIS): each order of a laboratory that
has one is queued with the order, then sent by the laboratory's service account, which opens
the patient through the guard like any other reader (in the audit), and the system's answer is
kept: accepted, or refused with its reason (for the technicians to act on). A try that gets no
answer leaves the order queued for the next. Knows nothing of HL7: the interface composes the
message from what `to_send` hands over."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from carnet.guard.actors import Actor
from carnet.guard.boundary import require
from carnet.guard.policy import Capability
from carnet.patients.models import IdentifierKind

from .models import LabOrder, LabSystem, OutboundOrder, OutboundStatus, Priority
from .selectors import lab_order_for

# The acknowledgement codes that accept a message (original and enhanced mode).
ACCEPTED = ("AA", "CA")
# Orders waiting for a system that never answers are still tried, this many at a time.
BATCH = 50
# A refusal reason is kept this long at most (the system's own words).
MAX_REASON = 300
MAX_ERROR = 200


def queue_for_system(order: LabOrder) -> OutboundOrder | None:
    """Called by the ordering service, in its transaction: the order is queued for the
    laboratory's system when it has an active one."""
    system = LabSystem.objects.filter(laboratory_id=order.laboratory_id, active=True).first()
    if system is None:
        return None
    return OutboundOrder.objects.create(
        order=order,
        patient_id=order.patient_id,
        laboratory_id=order.laboratory_id,
        control_id=secrets.token_hex(10),
        created_at=timezone.now(),
    )


@dataclass(frozen=True)
class Test:
    loinc: str
    name: str


@dataclass(frozen=True)
class OrderToSend:
    """Everything an order message says: who sends it to whom, the patient as the ordering
    establishment knows them (IPP), the prescriber, the tests."""

    outbound_id: str
    control_id: str
    host: str
    port: int
    application: str
    sending_facility: str
    receiving_facility: str
    accession: str
    ordered_at: datetime.datetime
    urgent: bool
    clinical_information: str
    prescriber_rpps: str
    prescriber_family: str
    prescriber_given: str
    ipp: str
    ipp_assigner: str
    birth_surname: str
    used_surname: str
    first_names: str
    birth_date: datetime.date | None
    sex: str
    tests: tuple[Test, ...]


def pending(*, actor: Actor) -> list[str]:
    """The ids of the orders still to send from the actor's laboratories, oldest first."""
    require(actor, Capability.LAB_WORK)
    return [
        str(pk)
        for pk in OutboundOrder.objects.filter(
            laboratory_id__in=actor.establishment_ids,
            status=OutboundStatus.PENDING,
            laboratory__lab_system__active=True,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:BATCH]
    ]


def to_send(*, actor: Actor, outbound_id: object) -> OrderToSend | None:
    """One queued order as the message will say it, read through the guard by the laboratory's
    account; None when it is no longer to send (sent by another sender meanwhile)."""
    require(actor, Capability.LAB_WORK)
    outbound = (
        OutboundOrder.objects.filter(
            pk=outbound_id,
            laboratory_id__in=actor.establishment_ids,
            status=OutboundStatus.PENDING,
        )
        .select_related("laboratory__lab_system")
        .first()
    )
    if outbound is None:
        return None
    order, patient = lab_order_for(actor, outbound.order_id, Capability.LAB_WORK)
    system = outbound.laboratory.lab_system
    ordering = order.ordered_from
    # The guard handed the patient over with their identifiers: the ordering establishment's
    # IPP, else the first one.
    ipps = [i for i in patient.identifiers.all() if i.kind == IdentifierKind.IPP]
    ipp = next((i for i in ipps if i.establishment_id == ordering.pk), ipps[0] if ipps else None)
    prescriber = order.ordered_by
    rpps = getattr(getattr(prescriber, "practitioner", None), "rpps", "") or ""
    tests = tuple(
        Test(item.test.loinc, item.test.name)
        for item in order.items.select_related("test").order_by("test__rank")
    )
    return OrderToSend(
        outbound_id=str(outbound.pk),
        control_id=outbound.control_id,
        host=system.host,
        port=system.port,
        application=system.application,
        sending_facility=ordering.finess,
        receiving_facility=order.laboratory.finess,
        accession=order.accession,
        ordered_at=order.ordered_at,
        urgent=order.priority == Priority.URGENT,
        clinical_information=order.clinical_information or "",
        prescriber_rpps=rpps,
        prescriber_family=prescriber.last_name,
        prescriber_given=prescriber.first_name,
        ipp=ipp.value if ipp else "",
        ipp_assigner=ipp.establishment.finess if ipp else "",
        birth_surname=patient.birth_surname or "",
        used_surname=patient.used_surname or "",
        first_names=patient.first_names or "",
        birth_date=patient.birth_date,
        sex=patient.sex or "",
        tests=tests,
    )


def record_answer(*, actor: Actor, outbound_id: object, ack: str, reason: str = "") -> None:
    """The system's answer: AA (or CA) accepted; anything else refused, with its reason."""
    require(actor, Capability.LAB_WORK)
    with transaction.atomic():
        outbound = (
            OutboundOrder.objects.select_for_update()
            .filter(pk=outbound_id, laboratory_id__in=actor.establishment_ids)
            .first()
        )
        if outbound is None or outbound.status != OutboundStatus.PENDING:
            return
        now = timezone.now()
        accepted = ack in ACCEPTED
        outbound.status = OutboundStatus.ACCEPTED if accepted else OutboundStatus.REFUSED
        outbound.ack_code = ack[:2]
        outbound.attempts += 1
        outbound.last_attempt_at = outbound.answered_at = now
        outbound.last_error = ""
        if not accepted:
            # The reason is the system's own words about this patient's order: sealed, so the
            # patient is handed over first.
            lab_order_for(actor, outbound.order_id, Capability.LAB_WORK)
            outbound.reason = reason[:MAX_REASON]
        outbound.save()


def record_failure(*, actor: Actor, outbound_id: object, error: str) -> None:
    """A try with no answer: the order stays queued; the error is about the network."""
    require(actor, Capability.LAB_WORK)
    OutboundOrder.objects.filter(
        pk=outbound_id,
        laboratory_id__in=actor.establishment_ids,
        status=OutboundStatus.PENDING,
    ).update(
        attempts=F("attempts") + 1,
        last_attempt_at=timezone.now(),
        last_error=error[:MAX_ERROR],
    )
