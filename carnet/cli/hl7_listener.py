"""The laboratory's HL7 v2.5 listener over MLLP: ORU^R01 results from a laboratory system,
read with python-hl7 (parsing and MLLP framing), handed to the laboratory domain as the
laboratory's service account, each in one guarded and audited unit of work, and answered
with an ACK (AA, AE with the reason, AR). A message is committed before its ACK is sent: a
connection that drops loses nothing (the sender resends, the copy is recognised)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import hl7
from django.db import close_old_connections, connections
from hl7.mllp import InvalidBlockError, MLLPStreamReader, MLLPStreamWriter

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, system_job
from carnet.guard.policy import Capability, Role, role_may
from carnet.laboratory.inbound import (
    REJECT,
    IncomingResults,
    Observation,
    Receipt,
    receive_results,
)
from carnet.staff.models import Membership, User
from carnet.staff.second_factor import confirmed_device

log = logging.getLogger("carnet.hl7")

# MSH-18 names the character set; French laboratory systems often send ISO-8859-1.
CHARSETS = {"8859/1": "latin-1", "UNICODE UTF-8": "utf-8", "ASCII": "ascii", "": "ascii"}
MAX_BLOCK = 1_000_000


class ServiceAccountError(Exception):
    pass


def service_actor(username: str) -> Actor:
    """The listener's actor: an active, approved laboratory account that nobody signs in
    with (no second factor: a service account, not a person's)."""
    user = User.objects.filter(username=username).first()
    if user is None or not user.is_active:
        raise ServiceAccountError(f"No active account {username!r}.")
    if not role_may(user.role, Capability.LAB_WORK) or user.role != Role.LAB_TECHNICIAN:
        raise ServiceAccountError(f"{username} is not an account of a laboratory.")
    if confirmed_device(user) is not None:
        raise ServiceAccountError(f"{username} has a second factor: it is a person's account.")
    rows = list(Membership.objects.filter(user=user).values_list("establishment_id", "unit_id"))
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=user.role,
        establishment_ids=frozenset(e for e, _ in rows),
        unit_ids=frozenset(u for _, u in rows if u is not None),
        verified=True,
        approved=user.access_approved,
    )


# ---- reading a message ------------------------------------------------------------------------


def decode(block: bytes) -> str:
    """The message's text in the character set its MSH-18 declares; undeclared, UTF-8 when it
    reads as such, else ISO-8859-1 (never an exception: a message is always kept)."""
    first = block.decode("latin-1")
    try:
        declared = str(hl7.parse(first).segment("MSH").extract_field(field_num=18)).strip()
    except Exception:  # noqa: BLE001 - unreadable: kept as received, rejected below
        declared = ""
    encoding = CHARSETS.get(declared.upper(), "latin-1")
    for candidate in (encoding, "utf-8", "latin-1"):
        try:
            return block.decode(candidate)
        except UnicodeDecodeError:
            continue
    return first


def _field(segment: hl7.Segment, field: int, component: int = 1, repeat: int = 1) -> str:
    try:
        return str(
            segment.extract_field(field_num=field, repeat_num=repeat, component_num=component)
        ).strip()
    except (IndexError, KeyError):
        return ""


def _repeats(segment: hl7.Segment, field: int) -> int:
    try:
        value = segment(field)
    except IndexError:
        return 0
    return len(value) if isinstance(value, hl7.Field) else 1


def read(text: str) -> IncomingResults:
    """What the domain needs of an ORU^R01; `problem` set when it cannot be read."""
    try:
        message = hl7.parse(text)
        msh = message.segment("MSH")
    except Exception:  # noqa: BLE001 - anything unparseable is kept and rejected
        return IncomingResults("", "", "", text, problem="Not an HL7 v2 message.")
    sender = "^".join(p for p in (_field(msh, 3), _field(msh, 4)) if p)
    control_id = _field(msh, 10)
    kind = f"{_field(msh, 9, 1)}^{_field(msh, 9, 2)}"
    base = IncomingResults(sender, control_id, kind, text)
    if kind != "ORU^R01":
        return _problem(base, f"Message type {kind} is not accepted here (ORU^R01 only).")
    if not control_id:
        return _problem(base, "The message has no control id (MSH-10).")
    if not _field(msh, 12).startswith("2."):
        return _problem(base, "Not an HL7 version 2 message (MSH-12).")
    try:
        pid = message.segment("PID")
        obr = message.segment("OBR")
    except KeyError:
        return _problem(base, "An ORU^R01 needs a PID and an OBR segment.")
    orc = next(iter(_segments(message, "ORC")), None)
    placer = _field(obr, 2) or (_field(orc, 2) if orc else "")
    filler = _field(obr, 3) or (_field(orc, 3) if orc else "")
    ipps = tuple(
        value for repeat in range(1, _repeats(pid, 3) + 1) if (value := _field(pid, 3, 1, repeat))
    )
    observations = tuple(
        Observation(code=_field(obx, 3), value=_field(obx, 5))
        for obx in _segments(message, "OBX")
        # Only final or corrected results (OBX-11 F, C); preliminary ones wait.
        if _field(obx, 11) in ("F", "C", "")
    )
    return IncomingResults(sender, control_id, kind, text, placer, filler, ipps, observations)


def _segments(message: hl7.Message, name: str) -> list[hl7.Segment]:
    try:
        return list(message.segments(name))
    except KeyError:
        return []


def _problem(base: IncomingResults, problem: str) -> IncomingResults:
    return IncomingResults(
        base.sender, base.control_id, base.message_type, base.raw, problem=problem
    )


# ---- answering ------------------------------------------------------------------------------


def acknowledgement(text: str, receipt: Receipt) -> bytes:
    """The ACK: the message's own header answered (python-hl7's create_ack), MSA-3 the
    reason; for a message too broken for that, a minimal ACK of our own header."""
    control = uuid.uuid4().hex[:20]
    try:
        message = hl7.parse(text)
        ack = message.create_ack(receipt.ack, message_id=control)
        msa = ack.segment("MSA")
        if receipt.reason:
            msa.assign_field(_escape(receipt.reason), 3)
        return str(ack).encode("utf-8")
    except Exception:  # noqa: BLE001 - a reject must still be answered
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
        reason = _escape(receipt.reason)
        return (
            f"MSH|^~\\&|CARNET||||{stamp}||ACK|{control}|P|2.5\rMSA|{REJECT}||{reason}"
        ).encode()


def _escape(text: str) -> str:
    # HL7 escape sequences for the delimiters a reason might hold.
    table = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
    return "".join(table.get(c, c) for c in text.replace("\r", " ").replace("\n", " "))


def handle(account: str, block: bytes) -> bytes:
    """One received block: read, handed to the laboratory domain in one guarded unit of
    work (its audit entry), answered. Runs in a worker thread with its own connection."""
    close_old_connections()
    text = decode(block)
    incoming = read(text)
    try:
        actor = service_actor(account)
        with system_job(actor, "lab.hl7.results"):
            receipt = receive_results(actor=actor, incoming=incoming)
    except (Refused, ServiceAccountError) as refused:
        log.warning("hl7 message refused: %s", refused)
        receipt = Receipt("AR", "The laboratory's service account is refused.", "")
    except Exception:
        # Nothing was committed (one transaction): the sender keeps it and sends it again.
        log.exception("hl7 message could not be kept")
        receipt = Receipt("AE", "The message could not be kept: send it again.", "")
    return acknowledgement(text, receipt)


# ---- the socket -----------------------------------------------------------------------------


class Listener:
    """An MLLP server on the loop of the thread that runs it."""

    def __init__(self, account: str, *, workers: int = 4) -> None:
        self.account = account
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7")

    def close(self) -> None:
        """Stops the workers, each closing its database connection (one task per worker:
        the barrier keeps two of them from landing on the same thread)."""
        barrier = threading.Barrier(self.workers)

        def close_connection() -> None:
            barrier.wait(timeout=10)
            connections.close_all()

        for future in [self.executor.submit(close_connection) for _ in range(self.workers)]:
            future.result(timeout=15)
        self.executor.shutdown()

    async def connection(self, reader: MLLPStreamReader, writer: MLLPStreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    block = await reader.readblock()
                except asyncio.IncompleteReadError:
                    # Closed, or dropped mid-message: nothing was acknowledged, nothing kept
                    # half; the sender sends it again.
                    break
                except (InvalidBlockError, ValueError) as error:
                    log.warning("hl7: unframed or oversized data dropped: %s", error)
                    break
                answer = await loop.run_in_executor(self.executor, handle, self.account, block)
                writer.writeblock(answer)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def start(self, host: str, port: int) -> asyncio.base_events.Server:
        loop = asyncio.get_running_loop()

        def factory() -> asyncio.StreamReaderProtocol:
            reader = MLLPStreamReader(limit=MAX_BLOCK)
            protocol = _Protocol(reader, self.connection)
            return protocol

        return await loop.create_server(factory, host, port)


class _Protocol(asyncio.StreamReaderProtocol):
    """python-hl7's MLLP reader and writer on a plain stream protocol (bytes in and out: the
    character set is the message's own, read from MSH-18)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        reader = self._stream_reader
        assert reader is not None
        self._transport = transport
        reader.set_transport(transport)
        self._over_ssl = False
        loop = asyncio.get_running_loop()
        writer = MLLPStreamWriter(transport, self, reader, loop)
        self._stream_writer = writer
        callback = self._client_connected_cb
        assert callback is not None
        self._task = loop.create_task(callback(reader, writer))
        self._strong_reader = None
