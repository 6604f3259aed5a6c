"""`carnet keys init`: create the key-encryption keyring (file mode 0600, never overwritten).
`carnet keys status`: where the keyring is and which versions it holds (never the keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.vault.keyring import create_keyring_file, load_keyring


class Command(BaseCommand):
    help = "Create or inspect the key-encryption keyring (kept outside the database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["init", "status"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if settings.CARNET_KEK:
            if action == "init":
                raise CommandError("CARNET_KEK is set: the key comes from the environment")
            self.stdout.write("key-encryption key: from the CARNET_KEK environment variable")
            return
        path = Path(settings.CARNET_KEK_FILE)
        if action == "init":
            if path.exists():
                self.stdout.write(f"keyring already present at {path} (left untouched)")
                return
            create_keyring_file(path)
            self.stdout.write(self.style.SUCCESS(f"keyring created at {path} (mode 0600)"))
            self.stdout.write("Back it up apart from the database: without it, no record opens.")
            return
        ring = load_keyring()
        self.stdout.write(
            f"keyring {path}: versions {sorted(ring.keys)}, current {ring.current}, "
            f"blind index from v{ring.index}, audit chain from v{ring.audit}"
        )
