"""`carnet restore --from DIR --keys-from DIR2 [--force]`: put a backup back (Carnet stopped),
then replay the shred journal so that whoever was shredded since the backup is shredded again
before anyone uses the database. `carnet restore --replay-journal` replays it alone (after a
restore done by other means: PostgreSQL point-in-time recovery, a file copy)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from carnet.audit import witness
from carnet.audit.chain import stamp
from carnet.audit.models import Anchor
from carnet.guard.actors import system_actor
from carnet.patients.retention import replay_shredding
from carnet.vault.backup import BackupRefused, replay_paths, restore_backup


class Command(BaseCommand):
    help = "Restore a database backup with its keys, then replay the shred journal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", type=Path, help="a database backup folder")
        parser.add_argument("--keys-from", type=Path, help="the keys folder saved with it")
        parser.add_argument("--force", action="store_true", help="overwrite a database in use")
        parser.add_argument(
            "--replay-journal", action="store_true", help="only replay the shred journal"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        keys_from = options["keys_from"]
        if not options["replay_journal"]:
            if options["source"] is None or keys_from is None:
                raise CommandError("give --from DIR and --keys-from DIR2 (or --replay-journal)")
            self._restore(options["source"], keys_from, options)
        try:
            replayed = replay_shredding(
                actor=system_actor("restore"), journals=replay_paths(keys_from)
            )
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"shred journal: {replayed.journaled} owners journaled, "
            f"{replayed.shredded_now} shredded again in this database"
        )
        if replayed.broken:
            for line in replayed.broken:
                self.stdout.write(self.style.ERROR(f"  {line}"))
            raise CommandError(
                "the shred journal is damaged (lines above): every owner it still names was "
                "shredded; find out what was removed before using this database"
            )

    def _restore(self, source: Path, keys_from: Path, options: dict) -> None:
        quiet = options["no_progress"] or not sys.stderr.isatty()
        with tqdm(total=0, unit=" steps", disable=quiet, file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                restored = restore_backup(
                    source=source, keys_from=keys_from, force=options["force"], progress=progress
                )
            except (BackupRefused, ImproperlyConfigured, OSError) as error:
                raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"database restored from {restored.database_file}"))
        # The audit log is back to the backup's: the witness is told, so that verification
        # expects what the backup holds (and names anything removed after this point).
        anchor = Anchor.objects.order_by("-id").first()
        witness.witness_restore(anchor.id if anchor else 0, stamp(timezone.now()))
        self.stdout.write(
            f"audit witness: the log restored up to anchor {anchor.id if anchor else 0}"
        )
        if restored.keyring_installed:
            self.stdout.write(f"keyring installed from {keys_from} (there was none)")
        if restored.journal_merged:
            self.stdout.write(
                f"{restored.journal_merged} owners from the backup's journal added to this one"
            )
