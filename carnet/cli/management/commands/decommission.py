"""`carnet decommission --confirm "<installation name>"`: destroy every key of the installation
(data keys, keyring, shred journal, the keys folders `carnet backup` wrote) and write a signed
certificate. `carnet decommission verify CERT [--public-key HEX]` checks one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from carnet.guard.actors import system_actor
from carnet.patients.retention import DecommissionRefused, decommission_installation
from carnet.vault.decommission import CertificateInvalid, live_data_keys, verify_certificate


class Command(BaseCommand):
    help = "Destroy every key of this installation and write a signed certificate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["verify"], help="verify a certificate")
        parser.add_argument("certificate", nargs="?", type=Path)
        parser.add_argument("--confirm", default="", help="the installation's name, exactly")
        parser.add_argument("--out", type=Path, default=Path("."), help="certificate folder")
        parser.add_argument("--public-key", default="", help="verify: the key printed")
        parser.add_argument(
            "--i-have-destroyed-the-env-key",
            action="store_true",
            dest="env_key_destroyed",
            help="the key came from CARNET_KEK and you destroyed it where it is kept",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self._verify(options["certificate"], options["public_key"])
            return
        if not options["confirm"]:
            raise CommandError('give --confirm "<installation name>"')
        quiet = options["no_progress"] or not sys.stderr.isatty()
        try:
            with tqdm(
                total=live_data_keys(), unit=" data keys", disable=quiet, file=sys.stderr
            ) as bar:
                done = decommission_installation(
                    actor=system_actor("decommission"),
                    confirm=options["confirm"],
                    certificate_folder=options["out"],
                    env_key_destroyed=options["env_key_destroyed"],
                    progress=bar.update,
                )
        except (DecommissionRefused, ImproperlyConfigured) as error:
            raise CommandError(str(error)) from None
        payload = done.payload
        self.stdout.write(
            self.style.SUCCESS(
                f"{payload['installation']}: {payload['data_keys_destroyed']} data keys of "
                f"{payload['patients']} patients destroyed, keyring versions "
                f"{payload['keyring_versions_destroyed']} destroyed"
            )
        )
        for folder in payload["key_backups_not_found"]:
            self.stdout.write(
                self.style.WARNING(f"keys backup not reachable, destroy it yourself: {folder}")
            )
        self.stdout.write(f"certificate: {done.certificate.path}")
        self.stdout.write(f"public key (Ed25519): {done.certificate.public_key}")
        self.stdout.write(
            "Write the public key down elsewhere (the minutes of the decommissioning): it is "
            "what proves the certificate later. The private key was never stored."
        )

    def _verify(self, certificate: Path | None, public_key: str) -> None:
        if certificate is None:
            raise CommandError("verify needs the certificate's path")
        try:
            payload = verify_certificate(certificate, public_key)
        except CertificateInvalid as error:
            self.stdout.write(self.style.ERROR(f"NOT VALID: {error}"))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("signature valid"))
        self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False))
