"""Orders to the laboratory's system as HL7 v2.5 OML^O21 over MLLP (python-hl7's asyncio
client): composed from what the laboratory domain hands over, sent as the laboratory's service
account, the ACK read back (MSA-1, MSA-3) and handed to the domain. `carnet hl7 send` runs it
once or in a loop. Composing reads the patient through the guard (an audit entry per order);
nothing of the message is kept."""

from __future__ import annotations

import asyncio
import datetime
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import hl7
from django.db import close_old_connections
from django.utils import timezone
from hl7.mllp import open_hl7_connection

from carnet.guard.boundary import system_job
from carnet.laboratory.outbound import (
    ACCEPTED,
    OrderToSend,
    pending,
    record_answer,
    record_failure,
    to_send,
)

from .hl7_listener import _escape, _field, service_actor

log = logging.getLogger("carnet.hl7")

# How long to wait for the system to connect and to answer each order.
TIMEOUT = 10.0
_SEX = {"M": "M", "F": "F"}


def _stamp(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d%H%M%S%z")


def compose(order: OrderToSend, *, now: datetime.datetime | None = None) -> str:
    """The OML^O21: MSH, PID (IPP with its assigning establishment, birth name and used name,
    birth date, sex), PV1, then for each test an ORC (new order, placer number: the accession)
    with its timing (TQ1, priority) and OBR (LOINC code), the clinical information in OBR-13."""
    e = _escape
    now = now or timezone.now()
    names = [f"{e(order.birth_surname)}^{e(order.first_names)}^^^^^L"]
    if order.used_surname and order.used_surname != order.birth_surname:
        names.append(f"{e(order.used_surname)}^{e(order.first_names)}^^^^^D")
    birth = order.birth_date.strftime("%Y%m%d") if order.birth_date else ""
    placer = f"{e(order.accession)}^CARNET"
    prescriber = (
        f"{e(order.prescriber_rpps)}^{e(order.prescriber_family)}^{e(order.prescriber_given)}"
        "^^^^^^RPPS"
    )
    ordered = _stamp(order.ordered_at)
    segments = [
        f"MSH|^~\\&|CARNET|{e(order.sending_facility)}|{e(order.application)}|{e(order.receiving_facility)}|{_stamp(now)}||OML^O21^OML_O21|{order.control_id}"
        "|P|2.5|||AL|NE||UNICODE UTF-8",
        f"PID|1||{e(order.ipp)}^^^{e(order.ipp_assigner)}^PI||{'~'.join(names)}||{birth}"
        f"|{_SEX.get(order.sex, 'U')}",
        "PV1|1|U",
    ]
    for n, test in enumerate(order.tests, 1):
        segments += [
            f"ORC|NW|{placer}|||||||{ordered}|||{prescriber}",
            f"TQ1|1||||||||{'S' if order.urgent else 'R'}",
            f"OBR|{n}|{placer}||{e(test.loinc)}^{e(test.name)}^LN|||{ordered}||||||"
            f"{e(order.clinical_information)}|||{prescriber}",
        ]
    return "\r".join(segments)


@dataclass
class Sent:
    accepted: int = 0
    refused: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"{self.accepted} accepted, {self.refused} refused, {self.failed} not answered"


async def _exchange(host: str, port: int, text: str) -> hl7.Message:
    reader, writer = await asyncio.wait_for(
        open_hl7_connection(host, port, encoding="utf-8"), TIMEOUT
    )
    try:
        writer.writemessage(hl7.parse(text))
        await writer.drain()
        return await asyncio.wait_for(reader.readmessage(), TIMEOUT)
    finally:
        writer.close()


def _on_own_loop(host: str, port: int, text: str) -> hl7.Message:
    """The exchange on an event loop of its own, in a thread of its own: the caller's thread
    may already run a loop (an application server's, a test browser's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _exchange(host, port, text)).result()


def send_pending(account: str) -> Sent:
    """Every queued order of the account's laboratories, each in its own guarded units of
    work: read and composed, sent (outside any transaction), the answer recorded."""
    close_old_connections()
    actor = service_actor(account)
    sent = Sent()
    with system_job(actor, "lab.hl7.queue"):
        queued = pending(actor=actor)
    for outbound_id in queued:
        with system_job(actor, "lab.hl7.order"):
            order = to_send(actor=actor, outbound_id=outbound_id)
        if order is None:
            continue
        try:
            ack = _on_own_loop(order.host, order.port, compose(order))
            msa = ack.segment("MSA")
            code, reason = _field(msa, 1), _field(msa, 3)
        except (TimeoutError, OSError, ValueError, KeyError) as error:
            log.warning(
                "order %s not answered by %s:%s: %s",
                outbound_id,
                order.host,
                order.port,
                error.__class__.__name__,
            )
            with system_job(actor, "lab.hl7.order_unanswered"):
                record_failure(
                    actor=actor,
                    outbound_id=outbound_id,
                    error=f"{error.__class__.__name__}: {error}"[:200],
                )
            sent.failed += 1
            continue
        with system_job(actor, "lab.hl7.order_answer"):
            record_answer(actor=actor, outbound_id=outbound_id, ack=code, reason=reason)
        if code in ACCEPTED:
            sent.accepted += 1
        else:
            sent.refused += 1
    return sent
