"""HL7 v2.5 over MLLP with a laboratory's system (LIS), as the laboratory's service account
NAME (an active, approved laboratory account without a second factor):

    carnet hl7 listen --port N [--host 127.0.0.1] --account NAME   results in (ORU^R01)
    carnet hl7 send --account NAME [--every SECONDS]                  orders out (OML^O21)
    carnet hl7 connect --laboratory FINESS --host H --port N --application NAME
                       [--prevalidated | --not-prevalidated] [--inactive]

`listen` binds 127.0.0.1 unless told. `send` sends the queued orders once, or every SECONDS
until stopped. `connect` sets where a laboratory's orders go and whether the results its system
sends come validated by it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.cli.hl7_listener import Listener, ServiceAccountError, service_actor
from carnet.cli.hl7_orders import send_pending
from carnet.laboratory.models import LabSystem
from carnet.organisations.models import Establishment, EstablishmentKind


class Command(BaseCommand):
    help = "HL7 v2.5 over MLLP: results in (ORU^R01), orders out (OML^O21)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["listen", "send", "connect"])
        parser.add_argument("--port", type=int)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--account")
        parser.add_argument("--workers", type=int, default=4)
        parser.add_argument("--every", type=float, default=0.0)
        parser.add_argument("--laboratory", help="the laboratory's FINESS number")
        parser.add_argument("--application", help="the system's name (MSH-5)")
        parser.add_argument("--prevalidated", action="store_true", default=None)
        parser.add_argument("--not-prevalidated", dest="prevalidated", action="store_false")
        parser.add_argument("--inactive", action="store_true")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "connect":
            self._connect(options)
            return
        if not options["account"]:
            raise CommandError("--account NAME: the laboratory's service account.")
        try:
            service_actor(options["account"])
        except ServiceAccountError as error:
            raise CommandError(str(error)) from None
        if action == "send":
            self._send(options["account"], options["every"])
            return
        if not options["port"]:
            raise CommandError("--port N: where to listen.")
        listener = Listener(options["account"], workers=options["workers"])
        self.stdout.write(f"HL7 MLLP listener on {options['host']}:{options['port']}")
        asyncio.run(self._serve(listener, options["host"], options["port"]))

    async def _serve(self, listener: Listener, host: str, port: int) -> None:
        server = await listener.start(host, port)
        async with server:
            await server.serve_forever()

    def _send(self, account: str, every: float) -> None:
        while True:
            sent = send_pending(account)
            self.stdout.write(f"orders to the laboratory system: {sent}")
            if every <= 0:
                return
            time.sleep(every)

    def _connect(self, options: dict[str, Any]) -> None:
        finess = options["laboratory"] or ""
        laboratory = Establishment.objects.filter(
            finess=finess, kind=EstablishmentKind.LABORATORY
        ).first()
        if laboratory is None:
            raise CommandError(f"No laboratory with FINESS {finess!r}.")
        system = LabSystem.objects.filter(laboratory=laboratory).first()
        if system is None and not (options["port"] and options["application"]):
            raise CommandError("A new connection needs --host, --port and --application.")
        system = system or LabSystem(laboratory=laboratory)
        if options["port"]:
            system.host, system.port = options["host"], options["port"]
        if options["application"]:
            system.application = options["application"]
        if options["prevalidated"] is not None:
            system.results_prevalidated = options["prevalidated"]
        system.active = not options["inactive"]
        system.save()
        self.stdout.write(
            f"{laboratory.name}: orders to {system.application} at {system.host}:{system.port}"
            f" ({'active' if system.active else 'inactive'}); results "
            f"{'validated by the system' if system.results_prevalidated else 'validated here'}"
        )
