"""HL7 listener: ORU^R01 messages per second ingested over MLLP on 127.0.0.1 (10 results
each), over one connection and then over several, with the guard and the audit on.

Each message goes through everything a laboratory system's message meets: python-hl7 parsing,
the service account's guarded unit of work (transaction, boundary, capability, the order and
its patient handed over, IPP matched, results entered and flagged, raw message sealed with its
own data key, audit entry, commit) and the ACK, before the next message on that connection.

    .venv/bin/python bench/hl7_listener.py --db sqlite   --messages 400 --connections 4
    .venv/bin/python bench/hl7_listener.py --db postgres --messages 400 --connections 4
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import sys
import threading
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

VT, END = b"\x0b", b"\x1c\x0d"
TESTS_PER_MESSAGE = 10
ACCOUNT = "bench.hl7"


def _value(test, sex: str) -> str:
    low, high = test.range_for(sex)
    if low is not None and high is not None:
        number = (low + high) / 2
    elif high is not None:
        number = high / 2
    elif low is not None:
        number = low * 3 / 2
    else:
        number = (test.plausible_low + test.plausible_high) / 4
    return format(round(number, test.decimals), "f")


def prepare(count: int, rng: random.Random) -> list[bytes]:
    """`count` orders of 10 tests, ordered and collected through the services, and the ORU^R01
    that answers each (values within the patient's reference range)."""
    from django.db.models import Q

    from bench.chart_read import _account, _acting, _actor, chart_staff
    from carnet.guard import relationships
    from carnet.guard.policy import Role
    from carnet.laboratory import services as lab
    from carnet.laboratory.models import LabTest
    from carnet.organisations.models import Establishment
    from carnet.patients.models import ExternalIdentifier, Patient
    from carnet.vault.scope import admit, opening_scope

    staff = chart_staff()
    laboratory = Establishment.objects.get(pk=staff.laboratory_id)
    _account(ACCOUNT, Role.LAB_TECHNICIAN, "Automate", [laboratory])
    alive = Patient.objects.filter(deceased=False, merged_into__isnull=True).order_by("id")
    ids = _common.ordinary_patient_ids(_common.ids_and_marks(alive))
    ids = rng.sample(ids, min(count, len(ids)))
    relationships.relate_many(
        [(pid, staff.author.pk, "appointment") for pid in ids], source="bench"
    )
    pool = list(
        LabTest.objects.filter(
            Q(low__isnull=False) | Q(high__isnull=False) | Q(low_female__isnull=False),
            active=True,
            sensitive_category="",
            result_type="numeric",
            computed="",
        )
    )
    author = _actor(staff.author)
    tech = _actor(staff.tech_a)
    messages = []
    for n, pid in enumerate(ids):
        tests = rng.sample(pool, TESTS_PER_MESSAGE)
        with _acting(author, "bench.lab.order") as actor:
            order = lab.order_tests(
                actor=actor,
                patient_id=pid,
                laboratory_id=staff.laboratory_id,
                test_ids=[t.pk for t in tests],
            )
        with _acting(tech, "bench.lab.collect") as actor:
            lab.collect_specimens(actor=actor, order_id=order.pk)
        with opening_scope():
            admit(pid)
            patient = Patient.objects.get(pk=pid)
            sex = patient.sex or ""
            ipp = ExternalIdentifier.objects.filter(patient_id=pid).first().value
        segments = [
            f"MSH|^~\\&|SGL|LABO|CARNET|HOP|20261207120000||ORU^R01^ORU_R01|B{n:06d}|P|2.5"
            "|||||FRA|8859/1",
            f"PID|1||{ipp}^^^HOP^PI",
            f"ORC|RE|{order.accession}",
            f"OBR|1|{order.accession}||BIO^Bilan^L",
        ]
        segments += [
            f"OBX|{k}|NM|{t.loinc}^{t.code}^LN||{_value(t, sex)}|{t.unit}|||||F"
            for k, t in enumerate(tests, 1)
        ]
        messages.append("\r".join(segments).encode("latin-1"))
    return messages


def start_listener(workers: int):
    from carnet.cli.hl7_listener import Listener

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict = {}

    async def run():
        holder["listener"] = listener = Listener(ACCOUNT, workers=workers)
        server = await listener.start("127.0.0.1", 0)
        holder["port"], holder["server"] = server.sockets[0].getsockname()[1], server
        ready.set()
        async with server:
            with contextlib.suppress(asyncio.CancelledError):
                await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(run()), daemon=True)
    thread.start()
    assert ready.wait(10)

    def stop() -> None:
        loop.call_soon_threadsafe(holder["server"].close)
        thread.join(10)
        holder["listener"].close()

    return holder["port"], stop


def send_all(port: int, messages: list[bytes], acks: list[str]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for message in messages:
            sock.sendall(VT + message + END)
            data = b""
            while not data.endswith(END):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before the ACK")
                data += chunk
            segment = next(s for s in data[1:-2].decode().split("\r") if s.startswith("MSA"))
            acks.append(segment.split("|")[1])


def phase(port: int, messages: list[bytes], connections: int) -> tuple[float, list[str]]:
    acks: list[str] = []
    shares = [messages[k::connections] for k in range(connections)]
    threads = [threading.Thread(target=send_all, args=(port, s, acks)) for s in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, acks


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0], patients=2000)
    parse.add_argument("--messages", type=int, default=400, help="ORU^R01 sent in all")
    parse.add_argument("--connections", type=int, default=4, help="of the second phase")
    parse.add_argument("--workers", type=int, default=4, help="listener worker threads")
    parse.add_argument("--batch", type=int, default=2000, help="seed insert batch")
    args = parse.parse_args()
    rng = random.Random(args.seed)
    with _common.bench_database(args.db, "hl7", keep=args.keep) as db:
        print(_common.environment_line(db))
        seconds, said = _common.seed(args.patients, args.seed, args.batch)
        print(f"seeded: {said} (whole command {seconds:.1f} s)")
        started = time.perf_counter()
        messages = prepare(args.messages, rng)
        print(
            f"{len(messages)} orders of {TESTS_PER_MESSAGE} tests ordered and collected "
            f"through the services in {time.perf_counter() - started:.1f} s"
        )
        from carnet.laboratory.models import InboundMessage, LabResult

        port, stop = start_listener(args.workers)
        try:
            half = len(messages) // 2
            for label, batch, connections in (
                ("1 connection", messages[:half], 1),
                (f"{args.connections} connections", messages[half:], args.connections),
            ):
                elapsed, acks = phase(port, batch, connections)
                print(
                    f"{label}: {len(batch)} ORU^R01 in {elapsed:.2f} s = "
                    f"{len(batch) / elapsed:.1f} messages/s "
                    f"({len(batch) * TESTS_PER_MESSAGE / elapsed:.0f} results/s); "
                    f"ACKs {dict((a, acks.count(a)) for a in sorted(set(acks)))}"
                )
        finally:
            stop()
        print(
            f"kept: {InboundMessage.objects.count()} messages "
            f"({InboundMessage.objects.filter(status='accepted').count()} accepted); "
            f"results entered by the listener: "
            f"{LabResult.objects.filter(entered_by__username=ACCOUNT).count()}"
        )
    print(f"reproduce: {_common.command_line('hl7_listener.py', args)}")


if __name__ == "__main__":
    main()
