"""`carnet backup --to DIR --keys-to DIR2`: the database into DIR/<time>/ (SQLite: its online
backup API; PostgreSQL: pg_dump's custom format) and the keys (keyring and shred journal) into
DIR2/<time>/, each with a README.txt. The two must live apart: DIR2 inside DIR is refused."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from carnet.vault.backup import BackupRefused, take_backup


class Command(BaseCommand):
    help = "Back up the database and, to a second place, the keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, type=Path, help="database backups folder")
        parser.add_argument(
            "--keys-to", required=True, type=Path, help="keys backups folder, kept elsewhere"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        quiet = options["no_progress"] or not sys.stderr.isatty()
        with tqdm(total=0, unit=" steps", disable=quiet, file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                backup = take_backup(
                    to=options["to"], keys_to=options["keys_to"], progress=progress
                )
            except (BackupRefused, ImproperlyConfigured, FileExistsError) as error:
                raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(f"database: {backup.database_file} ({backup.size / 1e6:.1f} MB)")
        )
        self.stdout.write(f"keys:     {backup.keys_folder}")
        self.stdout.write(
            "Store the two apart (another medium, another place): together they open every record."
        )
