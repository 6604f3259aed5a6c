"""`carnet incident report --account X --from T1 --to T2`: every patient whose data that
account exposed in the window, with which fields, as CSV or JSON, with a progress bar — the
list a breach notification needs within 72 hours. Patient ids only; identities stay sealed."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from carnet.audit.models import AuditEntry
from carnet.audit.verify import verify
from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.guard.incidents import exposure_report, render_report, report_rows


def _instant(text: str) -> datetime.datetime:
    value = parse_datetime(text)
    if value is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(
                f"not a date or date-time: {text!r} (use 2026-11-24 or 2026-11-24T08:00)"
            )
        value = datetime.datetime.combine(day, datetime.time.min)
    return value if timezone.is_aware(value) else timezone.make_aware(value)


class Command(BaseCommand):
    help = "Incident report: the patients an account exposed between two instants."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["report"])
        parser.add_argument("--account", required=True, help="username")
        parser.add_argument("--from", dest="start", required=True)
        parser.add_argument("--to", dest="end", default="")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--output", default="-", help="file (default: standard output)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        user_id = (
            get_user_model()
            .objects.filter(username=options["account"])
            .values_list("pk", flat=True)
            .first()
        )
        if user_id is None:
            raise CommandError(f"no account named {options['account']!r}")
        start = _instant(options["start"])
        end = _instant(options["end"]) if options["end"] else timezone.now()
        if end <= start:
            raise CommandError("--to must come after --from")
        # First the log itself, from its last verified point: a report read from a log
        # that was cut or rewritten would list the wrong patients.
        integrity = verify(incremental=True, checkpoint=False)
        if integrity.ok:
            self.stderr.write("audit log intact (checked against its witness)")
        else:
            self.stderr.write(self.style.ERROR("audit log NOT intact: the report may be short"))
            for finding in integrity.findings:
                self.stderr.write(f"  {finding}")
        total = AuditEntry.objects.filter(actor_id=user_id, at__gte=start, at__lt=end).count()
        actor = system_actor("incident-report")
        unverified: list[int] = []
        with (
            tqdm(
                total=total, unit=" entries", disable=options["no_progress"], file=sys.stderr
            ) as bar,
            system_job(actor, "audit.incident_report") as ledger,
        ):
            window = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"
            ledger.reason = f"incident report for {options['account']}, {window}"
            rows = report_rows(
                exposure_report(
                    actor=actor,
                    account_id=user_id,
                    start=start,
                    end=end,
                    progress=bar.update,
                    unverified=unverified,
                )
            )
        if unverified:
            self.stderr.write(
                self.style.ERROR(
                    f"{len(unverified)} entries of this account fail their keyed hash and are "
                    f"left out (ids {', '.join(map(str, unverified[:20]))})"
                )
            )
        text = render_report(rows, options["format"])
        if options["output"] == "-":
            self.stdout.write(text)
        else:
            Path(options["output"]).write_text(text)
            self.stderr.write(f"{len(rows)} patients written to {options['output']}")
