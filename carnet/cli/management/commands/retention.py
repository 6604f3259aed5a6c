"""`carnet retention [--dry-run] [--limit N]`: crypto-shred the records past their legal term
(carnet/patients/retention.py says which). Run it from cron (daily is plenty): quiet unless
something was due, and a run that stops is simply run again."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from carnet.guard.actors import system_actor
from carnet.patients.retention import apply_retention, patients_to_examine, retention_rules


class Command(BaseCommand):
    help = "Crypto-shred the patient records past their retention term."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, shred nothing")
        parser.add_argument("--limit", type=int, help="shred at most N records in this run")
        parser.add_argument("--batch", type=int, default=500, help="patients per transaction")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be 1 or more")
        quiet = options["no_progress"] or not sys.stderr.isatty()
        with tqdm(
            total=patients_to_examine(), unit=" patients", disable=quiet, file=sys.stderr
        ) as bar:
            report = apply_retention(
                actor=system_actor("retention"),
                dry_run=options["dry_run"],
                limit=options["limit"],
                batch_size=options["batch"],
                progress=bar.update,
            )
        rules = retention_rules()
        self.stdout.write(
            f"retention on {report.today:%Y-%m-%d} ({rules.years_after_last_activity} years after "
            f"the last visit, at least to age {rules.until_age}, {rules.years_after_death} after "
            f"an early death): {report.examined} records examined"
        )
        if report.dry_run:
            self.stdout.write(f"  past their term: {report.due} (dry run: nothing shredded)")
        else:
            self.stdout.write(f"  shredded: {report.shredded} (audit entries name them)")
        if report.limited:
            self.stdout.write(f"  stopped at --limit {options['limit']}: run again for the rest")
        else:
            self.stdout.write(f"  kept: {report.kept}")
