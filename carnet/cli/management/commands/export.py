"""`carnet export open FILE --key=KEY`: decrypt an export file (refused once it has expired).
`carnet export expire`: erase produced exports past their time (run it from cron)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.guard.exports import expire_exports, open_file


class Command(BaseCommand):
    help = "Open an export file, or erase expired exports."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["open", "expire"])
        parser.add_argument("file", nargs="?")
        parser.add_argument("--key", default="")
        parser.add_argument("--output", default="-")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "expire":
            self.stdout.write(f"{expire_exports()} exports erased")
            return
        if not options["file"] or not options["key"]:
            raise CommandError("usage: carnet export open FILE --key=KEY")
        try:
            content = open_file(Path(options["file"]).read_bytes(), options["key"])
        except (InvalidToken, ValueError):
            raise CommandError(
                "this key does not open this file, or the file has expired"
            ) from None
        if options["output"] == "-":
            self.stdout.write(content.decode())
        else:
            Path(options["output"]).write_bytes(content)
