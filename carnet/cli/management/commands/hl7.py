"""`carnet hl7 listen --port N [--host 127.0.0.1] --account NAME`: receives ORU^R01 results
over MLLP from a laboratory system, as the laboratory's service account NAME (an active,
approved laboratory account without a second factor). Listens on 127.0.0.1 unless told."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.cli.hl7_listener import Listener, ServiceAccountError, service_actor


class Command(BaseCommand):
    help = "HL7 v2.5 over MLLP: receive laboratory results (ORU^R01)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["listen"])
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--account", required=True)
        parser.add_argument("--workers", type=int, default=4)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            service_actor(options["account"])
        except ServiceAccountError as error:
            raise CommandError(str(error)) from None
        listener = Listener(options["account"], workers=options["workers"])
        self.stdout.write(f"HL7 MLLP listener on {options['host']}:{options['port']}")
        asyncio.run(self._serve(listener, options["host"], options["port"]))

    async def _serve(self, listener: Listener, host: str, port: int) -> None:
        server = await listener.start(host, port)
        async with server:
            await server.serve_forever()
