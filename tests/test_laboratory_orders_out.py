"""Orders out to the laboratory's system (HL7 v2.5 OML^O21 over MLLP), against a real peer on
127.0.0.1 (python-hl7's MLLP server, answering with its own ACKs): an order of a laboratory
with a system is queued with the order and sent by the laboratory's service account, which
reads the patient through the guard (audited); the message carries the IPP, the names, the birth
date, the accession as placer number, each test's LOINC code and the priority; an AA marks it
accepted, an AE refused with the system's reason (sealed); a system that does not answer leaves
the order queued, tried again later, nothing lost; a laboratory without a system queues
nothing; the accession the system got back in an ORU^R01 lands on the order."""

import asyncio
import contextlib
import socket
import threading

import hl7
import pytest
from django.core.management import call_command
from django.urls import reverse
from hl7.mllp import start_hl7_server

from carnet.audit.models import AuditEntry
from carnet.cli.hl7_orders import send_pending
from carnet.guard.policy import Role
from carnet.laboratory.models import LabResult, LabSystem, OutboundOrder
from carnet.vault.scope import admit, opening_scope

from .conftest import signed_in_client
from .laboratory_fixtures import SURNAME, make_lab, staff_user
from .test_laboratory_hl7 import ACCOUNT, HB, K, _ipp, listener, msa, oru, send  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


class FakeLis:
    """A laboratory system on an ephemeral port of 127.0.0.1: keeps every message it gets
    and answers each with an ACK (AA, or what `answer` says)."""

    def __init__(self) -> None:
        self.received: list[hl7.Message] = []
        self.answer = ("AA", "")
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def run() -> None:
            self.server = await start_hl7_server(self.client, "127.0.0.1", 0, encoding="utf-8")
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
            async with self.server:
                with contextlib.suppress(asyncio.CancelledError):
                    await self.server.serve_forever()

        self.thread = threading.Thread(
            target=lambda: self.loop.run_until_complete(run()), daemon=True
        )
        self.thread.start()
        assert started.wait(10)

    async def client(self, reader, writer) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                self.received.append(message)
                code, reason = self.answer
                ack = message.create_ack(code)
                if reason:
                    ack.segment("MSA").assign_field(reason, 3)
                writer.writemessage(ack)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(5)


@pytest.fixture
def lis():
    peer = FakeLis()
    yield peer
    peer.close()


@pytest.fixture
def lab(establishment):
    lab = make_lab(establishment)
    staff_user(Role.LAB_TECHNICIAN, lab.laboratory, username=ACCOUNT, last_name="Automate")
    return lab


def _connect(lab, port, **fields):
    return LabSystem.objects.create(
        laboratory=lab.laboratory, application="SGL", host="127.0.0.1", port=port, **fields
    )


def _field(segment, *path):
    value = segment
    for index in path:
        value = value[index]
    return str(value)


def test_an_order_goes_out_as_oml_and_is_accepted(lab, lis):
    _connect(lab, lis.port)
    order = lab.order(HB, K, priority="urgent", clinical_information="Asthénie, pâleur")
    outbound = OutboundOrder.objects.get(order=order)
    assert outbound.status == "pending"
    sent = send_pending(ACCOUNT)
    assert (sent.accepted, sent.refused, sent.failed) == (1, 0, 0)
    [message] = lis.received
    msh = message.segment("MSH")
    assert _field(msh, 9) == "OML^O21^OML_O21" and _field(msh, 10) == outbound.control_id
    assert _field(msh, 12) == "2.5" and _field(msh, 5) == "SGL"
    pid = message.segment("PID")
    assert _field(pid, 3, 0, 0) == _ipp(lab)
    assert _field(pid, 5, 0, 0) == SURNAME
    with opening_scope():
        admit(lab.patient)
        from carnet.patients.models import Patient

        patient = Patient.objects.get(pk=lab.patient)
        assert _field(pid, 7) == patient.birth_date.strftime("%Y%m%d")
    assert _field(pid, 8) == "F"
    obrs = message.segments("OBR")
    assert {_field(obr, 4, 0, 0) for obr in obrs} == {HB, K}
    assert {_field(obr, 2, 0, 0) for obr in obrs} == {order.accession}
    assert "Asthénie, pâleur" in _field(obrs[0], 13)
    assert {_field(tq1, 9) for tq1 in message.segments("TQ1")} == {"S"}
    outbound.refresh_from_db()
    assert (outbound.status, outbound.ack_code, outbound.attempts) == ("accepted", "AA", 1)
    # Read through the guard as the laboratory's service account: in the audit.
    assert AuditEntry.objects.filter(
        action="lab.hl7.order", actor=ACCOUNT, patients__contains=lab.patient
    ).exists()
    # Sent once: nothing more goes out.
    assert send_pending(ACCOUNT).accepted == 0 and len(lis.received) == 1


def test_a_refusal_is_kept_with_the_systems_reason(lab, lis):
    _connect(lab, lis.port)
    lis.answer = ("AE", "Examen inconnu du catalogue")
    order = lab.order(HB)
    assert send_pending(ACCOUNT).refused == 1
    outbound = OutboundOrder.objects.get(order=order)
    assert (outbound.status, outbound.ack_code) == ("refused", "AE")
    assert b"Examen inconnu" not in bytes(outbound.reason_sealed)
    with opening_scope():
        admit(lab.patient)
        outbound.refresh_from_db()
        assert outbound.reason == "Examen inconnu du catalogue"
    # The technicians read it on the order's page.
    client = signed_in_client(lab.tech_a)
    page = client.get(reverse("web:lab_order", args=[order.pk])).content.decode()
    assert "data-sent" in page and "Examen inconnu du catalogue" in page


def test_a_silent_system_loses_nothing(lab, lis):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    system = _connect(lab, closed_port)
    order = lab.order(HB)
    assert send_pending(ACCOUNT).failed == 1
    outbound = OutboundOrder.objects.get(order=order)
    assert outbound.status == "pending" and outbound.attempts == 1 and outbound.last_error
    assert lis.received == []
    # The system is back: the same order goes, once.
    system.port = lis.port
    system.save()
    assert send_pending(ACCOUNT).accepted == 1
    outbound.refresh_from_db()
    assert outbound.status == "accepted" and outbound.attempts == 2
    assert len(lis.received) == 1


def test_no_system_no_queue_and_another_laboratory_sends_nothing(lab, lis):
    order = lab.order(HB)
    assert not OutboundOrder.objects.filter(order=order).exists()
    _connect(lab, lis.port)
    lab.order(HB)
    # The other laboratory's service account sends none of this laboratory's orders.
    staff_user(Role.LAB_TECHNICIAN, lab.other_laboratory, username="hl7.autre")
    assert send_pending("hl7.autre").accepted == 0
    assert lis.received == []


def test_the_system_answers_with_the_same_accession(lab, lis, listener):  # noqa: F811
    _connect(lab, lis.port)
    order = lab.order(HB)
    lab.collect(order)
    send_pending(ACCOUNT)
    [message] = lis.received
    placer = _field(message.segment("OBR"), 2, 0, 0)
    ipp = _field(message.segment("PID"), 3, 0, 0)
    [answer] = send(listener, oru("LIS-1", placer, ipp, [(HB, "12.1")]).encode())
    assert msa(answer)[1] == "AA"
    assert LabResult.objects.filter(item__order=order).count() == 1


def test_the_operator_connects_a_laboratory(lab, capsys):
    call_command(
        "hl7",
        "connect",
        laboratory=lab.laboratory.finess,
        host="10.0.0.5",
        port=2575,
        application="SGL",
    )
    system = LabSystem.objects.get(laboratory=lab.laboratory)
    assert (system.host, system.port, system.active, system.results_prevalidated) == (
        "10.0.0.5",
        2575,
        True,
        False,
    )
    call_command("hl7", "connect", laboratory=lab.laboratory.finess, prevalidated=True)
    system.refresh_from_db()
    assert system.results_prevalidated and system.port == 2575
    assert "validated by the system" in capsys.readouterr().out


def test_results_the_system_validated_are_validated_on_arrival_where_the_laboratory_says_so(
    lab,
    listener,  # noqa: F811
):
    """With the laboratory's setting, results come validated by its system (recorded as
    such, by no account of Carnet); without it they wait for a technician."""
    order = lab.order(HB)
    lab.collect(order)
    [answer] = send(listener, oru("LIS-2", order.accession, _ipp(lab), [(HB, "12.1")]).encode())
    assert msa(answer)[1] == "AA"
    assert not LabResult.objects.filter(item__order=order, validated_at__isnull=False).exists()

    LabSystem.objects.create(
        laboratory=lab.laboratory,
        application="SGL",
        host="127.0.0.1",
        port=9,
        results_prevalidated=True,
    )
    second = lab.order(HB, K)
    lab.collect(second)
    message = oru("LIS-3", second.accession, _ipp(lab), [(HB, "12.3"), (K, "4.2")])
    assert msa(send(listener, message.encode())[0])[1] == "AA"
    results = LabResult.objects.filter(item__order=second)
    assert results.count() == 2
    assert all(r.validated_at and r.validated_by_id is None for r in results)
    assert all(r.validated_by_system for r in results)
    second.refresh_from_db()
    assert second.status == "done"
