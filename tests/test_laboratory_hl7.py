"""HL7 v2.5 over MLLP on a real socket (127.0.0.1): an ORU^R01 lands on its order (placer or
filler number) and patient (IPP), entered as the laboratory's service account and still to be
validated, answered AA; an unknown order or a patient who is not the order's is kept in
quarantine and answered AE with the reason; a malformed message or another type is kept and
answered AR; a copy (same control id) is recognised, not entered twice; ISO-8859-1 is read as
such; a connection that drops mid-message, or before its ACK is read, loses nothing."""

import asyncio
import contextlib
import socket
import threading
import time

import pytest

from carnet.audit.models import AuditEntry
from carnet.cli.hl7_listener import Listener
from carnet.guard.policy import Role
from carnet.laboratory.models import InboundMessage, LabResult
from carnet.patients.models import ExternalIdentifier
from carnet.vault.scope import admit, opening_scope

from .laboratory_fixtures import make_lab, staff_user

pytestmark = pytest.mark.django_db(transaction=True)

HB, K = "718-7", "2823-3"
VT, END = b"\x0b", b"\x1c\x0d"
ACCOUNT = "hl7.lis"


@pytest.fixture
def lab(establishment):
    lab = make_lab(establishment)
    staff_user(Role.LAB_TECHNICIAN, lab.laboratory, username=ACCOUNT, last_name="Automate")
    return lab


@pytest.fixture
def listener():
    """The listener on an ephemeral port of 127.0.0.1, in a thread of its own."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    async def run():
        holder["listener"] = listener = Listener(ACCOUNT, workers=2)
        server = await listener.start("127.0.0.1", 0)
        holder["port"] = server.sockets[0].getsockname()[1]
        holder["server"] = server
        started.set()
        async with server:
            with contextlib.suppress(asyncio.CancelledError):
                await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(run()), daemon=True)
    thread.start()
    assert started.wait(10)
    yield holder["port"]
    loop.call_soon_threadsafe(holder["server"].close)
    thread.join(5)
    holder["listener"].close()


def _ipp(lab) -> str:
    with opening_scope():
        admit(lab.patient)
        return ExternalIdentifier.objects.filter(patient_id=lab.patient).first().value


def oru(control, placer, ipp, obx, *, charset="", filler="", kind="ORU^R01^ORU_R01"):
    segments = [
        f"MSH|^~\\&|SGL|LABO|CARNET|HOP|20261207120000||{kind}|{control}|P|2.5|||||FRA|{charset}",
        f"PID|1||{ipp}^^^HOP^PI||DURAND^MARIE",
        f"ORC|RE|{placer}|{filler}",
        f"OBR|1|{placer}|{filler}|BIO^Bilan^L",
    ]
    segments += [
        f"OBX|{n}|NM|{code}^{code}^LN||{value}|g/dL|||||F" for n, (code, value) in enumerate(obx, 1)
    ]
    return "\r".join(segments)


def send(port, *messages: bytes, read=True) -> list[str]:
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for message in messages:
            sock.sendall(VT + message + END)
            if not read:
                continue
            data = b""
            while not data.endswith(END):
                chunk = sock.recv(65536)
                assert chunk, "connection closed before the ACK"
                data += chunk
            answers.append(data[1:-2].decode())
    return answers


def msa(answer: str) -> list[str]:
    segment = next(s for s in answer.split("\r") if s.startswith("MSA"))
    return segment.split("|")


def _entered(order):
    return LabResult.objects.filter(item__order=order)


def test_results_land_on_their_order_and_patient_acknowledged(lab, listener):
    order = lab.order(HB, K)
    lab.collect(order)
    message = oru("MSG-1", order.accession, _ipp(lab), [(HB, "13.4"), (K, "4.1")])
    [answer] = send(listener, message.encode())
    assert msa(answer)[1:3] == ["AA", "MSG-1"]
    results = _entered(order)
    assert results.count() == 2
    account = results.first().entered_by
    assert account.username == ACCOUNT
    # Still to be validated, by a technician.
    assert not results.filter(validated_at__isnull=False).exists()
    kept = InboundMessage.objects.get()
    assert (kept.status, kept.order_id, kept.ack_code) == ("accepted", order.pk, "AA")
    assert AuditEntry.objects.filter(action="lab.hl7.results", actor=ACCOUNT).exists()


def test_a_filler_number_matches_too(lab, listener):
    order = lab.order(HB)
    lab.collect(order)
    message = oru("MSG-F", "", _ipp(lab), [(HB, "12.9")], filler=order.accession)
    assert msa(send(listener, message.encode())[0])[1] == "AA"
    assert _entered(order).count() == 1


def test_unknown_order_and_wrong_patient_are_quarantined_with_the_reason(lab, listener):
    order = lab.order(HB)
    lab.collect(order)
    unknown = oru("MSG-2", "26-999999", _ipp(lab), [(HB, "13.4")])
    wrong = oru("MSG-3", order.accession, "0000000", [(HB, "13.4")])
    first, second = send(listener, unknown.encode(), wrong.encode())
    assert msa(first)[1] == "AE" and msa(first)[3]
    assert msa(second)[1] == "AE" and "IPP" in msa(second)[3]
    assert not _entered(order).exists()
    kept = InboundMessage.objects.filter(status="quarantined")
    assert sorted(kept.values_list("control_id", flat=True)) == ["MSG-2", "MSG-3"]
    with opening_scope():
        for message in kept:
            admit(message.pk)
            assert message.raw.startswith("MSH|")


def test_an_implausible_value_from_the_analyser_is_quarantined(lab, listener):
    order = lab.order(HB)
    lab.collect(order)
    answer = send(listener, oru("MSG-4", order.accession, _ipp(lab), [(HB, "130")]).encode())[0]
    assert msa(answer)[1] == "AE"
    assert not _entered(order).exists()
    assert InboundMessage.objects.get().status == "quarantined"


def test_malformed_messages_and_other_types_are_kept_and_rejected(lab, listener):
    garbage, adt = send(
        listener,
        b"this is not hl7 at all",
        oru("MSG-5", "x", "y", [], kind="ADT^A01^ADT_A01").encode(),
    )
    assert msa(garbage)[1] == "AR"
    assert msa(adt)[1] == "AR" and "ADT" in msa(adt)[3]
    assert InboundMessage.objects.filter(status="quarantined", ack_code="AR").count() == 2


def test_a_copy_of_a_message_is_recognised_not_entered_twice(lab, listener):
    order = lab.order(HB)
    lab.collect(order)
    message = oru("MSG-6", order.accession, _ipp(lab), [(HB, "13.4")]).encode()
    first, again = send(listener, message, message)
    assert msa(first)[1] == msa(again)[1] == "AA"
    assert InboundMessage.objects.count() == 1
    assert _entered(order).count() == 1


def test_iso_8859_1_is_read_as_declared(lab, listener):
    order = lab.order(HB)
    lab.collect(order)
    text = oru("MSG-7", order.accession, _ipp(lab), [(HB, "13.4")], charset="8859/1")
    text = text.replace("DURAND^MARIE", "DURAND^HÉLÈNE")
    [answer] = send(listener, text.encode("latin-1"))
    assert msa(answer)[1] == "AA"
    kept = InboundMessage.objects.get()
    with opening_scope():
        admit(kept.pk)
        assert "HÉLÈNE" in kept.raw


def test_a_dropped_connection_loses_nothing(lab, listener):
    order = lab.order(HB, K)
    lab.collect(order)
    message = oru("MSG-8", order.accession, _ipp(lab), [(HB, "13.4"), (K, "4.1")]).encode()
    # Dropped mid-message: nothing is half-entered, nothing acknowledged.
    with socket.create_connection(("127.0.0.1", listener), timeout=10) as sock:
        sock.sendall(VT + message[: len(message) // 2])
    time.sleep(0.3)
    assert not InboundMessage.objects.exists() and not _entered(order).exists()
    # Sent whole, the connection dropped before the ACK is read: kept all the same.
    send(listener, message, read=False)
    for _ in range(100):
        if InboundMessage.objects.exists():
            break
        time.sleep(0.05)
    assert _entered(order).count() == 2
    # The sender, without its ACK, sends it again: recognised, acknowledged, not doubled.
    [answer] = send(listener, message)
    assert msa(answer)[1] == "AA"
    assert InboundMessage.objects.count() == 1 and _entered(order).count() == 2


def test_the_technicians_resolve_the_quarantine(lab, listener):
    from django.urls import reverse

    from .conftest import signed_in_client

    order = lab.order(HB)
    # Results before the tubes are collected: kept in quarantine.
    message = oru("MSG-9", order.accession, _ipp(lab), [(HB, "13.4")])
    garbage = b"MSH|broken"
    first, second = send(listener, message.encode(), garbage)
    assert msa(first)[1] == "AE" and msa(second)[1] == "AR"
    kept, broken = (
        InboundMessage.objects.get(control_id="MSG-9"),
        InboundMessage.objects.exclude(control_id="MSG-9").get(),
    )
    tech = signed_in_client(lab.tech_b)
    page = tech.get(reverse("web:lab_quarantine")).content.decode()
    assert f'data-message="{kept.pk}"' in page and f'data-message="{broken.pk}"' in page
    assert "DURAND" not in page  # nothing of the patient on the quarantine list
    # Another laboratory's technician neither sees nor resolves it.
    other = signed_in_client(lab.tech_other)
    assert str(kept.pk) not in other.get(reverse("web:lab_quarantine")).content.decode()
    resolve = reverse("web:lab_quarantine_resolve", args=[kept.pk])
    other.post(resolve, {"action": "retry"})
    kept.refresh_from_db()
    assert kept.status == "quarantined"
    # Once collected, tried again: entered, still to be validated.
    lab.collect(order)
    tech.post(resolve, {"action": "retry"})
    kept.refresh_from_db()
    assert (kept.status, kept.order_id, kept.resolved_by_id) == (
        "accepted",
        order.pk,
        lab.tech_b.pk,
    )
    assert _entered(order).filter(validated_at__isnull=True).count() == 1
    # A malformed one is only set aside, with a reason, and kept.
    aside = reverse("web:lab_quarantine_resolve", args=[broken.pk])
    tech.post(aside, {"action": "retry"})
    tech.post(aside, {"action": "set_aside", "note": ""})
    broken.refresh_from_db()
    assert broken.status == "quarantined"
    tech.post(aside, {"action": "set_aside", "note": "Message de test de l'automate"})
    broken.refresh_from_db()
    assert (broken.status, broken.resolved_by_id) == ("set_aside", lab.tech_b.pk)


def test_a_failure_while_keeping_answers_ae_and_the_copy_sent_again_is_entered(
    lab, listener, monkeypatch
):
    from carnet.cli import hl7_listener

    order = lab.order(HB)
    lab.collect(order)
    message = oru("MSG-10", order.accession, _ipp(lab), [(HB, "13.4")]).encode()
    real = hl7_listener.receive_results
    calls = []

    def failing_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database gone")
        return real(**kwargs)

    monkeypatch.setattr(hl7_listener, "receive_results", failing_once)
    first, again = send(listener, message, message)  # one connection: it stays open
    assert msa(first)[1] == "AE" and msa(again)[1] == "AA"
    assert InboundMessage.objects.count() == 1 and _entered(order).count() == 1


def test_the_command_listens_only_as_a_laboratory_service_account(lab):
    from django.core.management import CommandError, call_command

    from .factories import totp_device

    with pytest.raises(CommandError):
        call_command("hl7", "listen", "--port", "0", "--account", "nobody")
    with pytest.raises(CommandError):
        call_command("hl7", "listen", "--port", "0", "--account", lab.practitioner.username)
    totp_device(lab.tech_a)
    with pytest.raises(CommandError, match="second factor"):
        call_command("hl7", "listen", "--port", "0", "--account", lab.tech_a.username)
