"""`carnet keys init`: create the key-encryption keyring (file mode 0600, never overwritten).
`carnet keys status`: the keyring's versions and what each is used for, data keys per version,
rotations under way (never a key).
`carnet keys rotate-kek`: a new key-encryption key; every data key re-wrapped (resumable).
`carnet keys rotate-index`: a new blind-index key; every patient re-indexed (resumable).
`carnet keys retire --version N`: remove a version nothing uses any more."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from carnet.guard.actors import system_actor
from carnet.guard.boundary import require, system_job
from carnet.guard.policy import Capability
from carnet.patients.reindex import reindex_patients
from carnet.vault import rotation
from carnet.vault.keyring import create_keyring_file, load_keyring, reload_keyring

ACTIONS = ["init", "status", "rotate-kek", "rotate-index", "retire"]


class Command(BaseCommand):
    help = "Create, inspect, rotate or retire the key-encryption keys (kept outside the database)."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # `retire --version N` names a key version: Django's own --version (its release) yields.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("--version", type=int, dest="key_version", help="for retire")
        parser.add_argument("--batch", type=int, default=2000, help="rows per transaction")
        parser.add_argument(
            "--settle",
            type=float,
            default=rotation.SETTLE_SECONDS,
            help="rotate-index: seconds for running processes to pick up the new version",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        self.quiet = options["no_progress"] or not sys.stderr.isatty()
        try:
            if action == "init":
                self._init()
            elif action == "status":
                self._status()
            elif action == "rotate-kek":
                self._rotate_kek(options["batch"])
            elif action == "rotate-index":
                self._rotate_index(options["batch"], options["settle"])
            else:
                if options["key_version"] is None:
                    raise CommandError("retire needs --version N")
                self._retire(options["key_version"])
        except (ImproperlyConfigured, rotation.RotationRefused) as error:
            raise CommandError(str(error)) from None

    def _init(self) -> None:
        if settings.CARNET_KEK:
            raise CommandError("CARNET_KEK is set: the key comes from the environment")
        path = Path(settings.CARNET_KEK_FILE)
        if path.exists():
            self.stdout.write(f"keyring already present at {path} (left untouched)")
            return
        create_keyring_file(path)
        self.stdout.write(self.style.SUCCESS(f"keyring created at {path} (mode 0600)"))
        self.stdout.write("Back it up apart from the database: without it, no record opens.")

    def _status(self) -> None:
        if settings.CARNET_KEK:
            self.stdout.write("key-encryption key: from the CARNET_KEK environment variable")
        ring = reload_keyring()
        where = "CARNET_KEK" if settings.CARNET_KEK else f"keyring {settings.CARNET_KEK_FILE}"
        self.stdout.write(
            f"{where}: versions {sorted(ring.keys)}, current {ring.current}, "
            f"blind index from v{ring.index}"
            + (f" (re-index to v{ring.index_next} under way)" if ring.index_next else "")
            + f", audit chain from v{ring.audit}"
        )
        usage = rotation.version_usage()
        for version, uses in sorted(ring.uses().items()):
            wraps = usage.get(version, 0)
            needed = [*uses, f"the {wraps} data keys it wraps"] if wraps else uses
            line = f"needed for {'; '.join(needed)}" if needed else "unused: may be retired"
            self.stdout.write(f"  v{version}: {line}")
        for version in sorted(set(usage) - set(ring.keys)):
            self.stdout.write(
                self.style.ERROR(f"  v{version}: MISSING from the keyring, wraps {usage[version]}")
            )
        self.stdout.write(f"  shredded data keys (tombstones): {rotation.shredded_count()}")
        for state in rotation.rotation_states():
            status = "finished" if state.finished_at else "UNFINISHED: run it again to resume"
            self.stdout.write(
                f"  {state.get_kind_display()} rotation v{state.from_version} -> "
                f"v{state.to_version}: {state.done} done, {status}"
            )

    def _audit(self, action: str, reason: str, count: int | None = None) -> None:
        actor = system_actor("keys")
        with system_job(actor, action) as ledger:
            require(actor, Capability.MANAGE_KEYS)
            ledger.bulk_count = count
            ledger.reason = reason

    def _rotate_kek(self, batch: int) -> None:
        started = rotation.start_kek_rotation()
        verb = "resuming the rotation to" if started.resumed else "new key-encryption key"
        self.stdout.write(f"{verb} v{started.version}: {started.left} data keys to re-wrap")
        self._audit("vault.rotate_kek", f"re-wrapping data keys to v{started.version}")
        with tqdm(total=started.left, unit=" keys", disable=self.quiet, file=sys.stderr) as bar:
            report = rotation.rewrap_data_keys(batch_size=batch, progress=bar.update)
        rate = report.rewrapped / report.seconds if report.seconds else 0
        self._audit(
            "vault.rotate_kek",
            f"{report.rewrapped} data keys re-wrapped to v{report.version}",
            report.rewrapped,
        )
        self.stdout.write(
            f"{report.rewrapped} data keys re-wrapped to v{report.version} in "
            f"{report.seconds:.1f} s ({rate:.0f}/s)"
        )
        if report.left:
            self.stdout.write(
                self.style.WARNING(f"{report.left} still on an older version: run it again")
            )
            return
        self._retirable(load_keyring())

    def _rotate_index(self, batch: int, settle: float) -> None:
        bar = tqdm(total=0, unit=" patients", disable=self.quiet, file=sys.stderr)

        def on_start(started: rotation.IndexRotation, total: int) -> None:
            verb = "resuming the re-index to" if started.resumed else "new blind-index key"
            self.stdout.write(f"{verb} v{started.to_version}: {total} patients to re-index")
            bar.reset(total=total)

        with bar:
            report = reindex_patients(
                actor=system_actor("keys"),
                batch_size=batch,
                settle_seconds=settle,
                progress=bar.update,
                on_start=on_start,
            )
        self.stdout.write(
            f"{report.reindexed} patients re-indexed; blind indexes now from v{report.to_version}"
        )
        self._retirable(load_keyring())

    def _retirable(self, ring: Any) -> None:
        usage = rotation.version_usage()
        for version, uses in sorted(ring.uses().items()):
            if not uses and not usage.get(version):
                self.stdout.write(
                    f"v{version} is no longer used: `carnet keys retire --version {version}` "
                    "once the backups that need it have expired"
                )

    def _retire(self, version: int) -> None:
        ring = rotation.retire_version(version)
        self._audit("vault.retire_key", f"key-encryption key v{version} retired")
        self.stdout.write(
            self.style.SUCCESS(f"v{version} removed from the keyring; versions {sorted(ring.keys)}")
        )
        self.stdout.write(
            "Backups taken while it was in use open only with the keys folder saved with them."
        )
