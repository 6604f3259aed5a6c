"""`carnet smart app|backend|list|remove`: register SMART on FHIR clients.

carnet smart app --name "Viewer" --redirect-uri https://app/cb --scopes "user/*.rs"
carnet smart backend --name "Lab middleware" --account svc.lab --scopes "system/Patient.rs" \
    --jwks public.jwks.json   (or --jwks-url https://lab.example/jwks.json)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.api.clients import register_app, register_backend, remove
from carnet.api.models import SmartClient


class Command(BaseCommand):
    help = "Register, list or remove SMART on FHIR clients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["app", "backend", "list", "remove"])
        parser.add_argument("--name", default="")
        parser.add_argument("--redirect-uri", action="append", default=[])
        parser.add_argument("--scopes", default="")
        parser.add_argument("--confidential", action="store_true")
        parser.add_argument("--account", default="", help="the backend's service account")
        parser.add_argument("--client-id", default="")
        parser.add_argument("--jwks", default="", help="file with the backend's public JWKS")
        parser.add_argument("--jwks-url", default="", help="where the backend publishes its JWKS")
        parser.add_argument(
            "--client-secret",
            action="store_true",
            help="a shared secret instead of keys (where the installation allows it)",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            if action == "app":
                done = register_app(
                    name=options["name"],
                    redirect_uris=" ".join(options["redirect_uri"]),
                    scopes=options["scopes"],
                    confidential=options["confidential"],
                )
            elif action == "backend":
                jwks = Path(options["jwks"]).read_text() if options["jwks"] else ""
                done = register_backend(
                    name=options["name"],
                    account=options["account"],
                    scopes=options["scopes"],
                    jwks=jwks,
                    jwks_url=options["jwks_url"],
                    client_secret=options["client_secret"],
                )
            elif action == "remove":
                if not remove(options["client_id"]):
                    raise CommandError("no such client")
                self.stdout.write("removed; its tokens are revoked")
                return
            else:
                for client in SmartClient.objects.select_related("application", "service_account"):
                    account = client.service_account.username if client.service_account else "-"
                    self.stdout.write(
                        f"{client.application.client_id}\t{client.kind}\t{client.application.name}"
                        f"\t{account}\t{client.scopes}"
                    )
                return
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"client_id: {done.client_id}")
        if done.client_secret:
            self.stdout.write(f"client_secret (shown once): {done.client_secret}")
