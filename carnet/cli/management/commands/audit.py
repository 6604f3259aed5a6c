"""`carnet audit verify`: walk the audit chains from the last verified point the witness holds
(`--full`: from the first entry), the anchors, the subject rows and the witness kept outside the
database; report the first altered, deleted, inserted, reordered or truncated entry of each
chain. Exit status 1 when anything is wrong.
`carnet audit anchor`: bind the current chain heads into a new anchor and witness it (the
application writes anchors by itself; this is for the scheduler and for operators)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from carnet.audit.chain import write_anchor
from carnet.audit.verify import total_entries, verify


class Command(BaseCommand):
    help = "Verify the tamper-evident audit log, or write an anchor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify", "anchor"])
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--full", action="store_true", help="from the first entry, not the last checkpoint"
        )

    def handle(
        self, *args: Any, action: str, no_progress: bool, full: bool, **options: Any
    ) -> None:
        if action == "anchor":
            anchor = write_anchor()
            self.stdout.write(f"anchor {anchor.id} written at {anchor.at:%Y-%m-%d %H:%M:%S%z}")
            return
        with tqdm(
            total=total_entries(incremental=not full),
            unit=" entries",
            disable=no_progress,
            file=sys.stderr,
        ) as bar:
            report = verify(progress=bar.update, incremental=not full)
        summary = (
            f"{report.entries} entries in {report.chains} chains, {report.anchors} anchors, "
            f"{report.subjects} subject rows, {report.witnessed} witnessed anchors"
            + (" (from the last checkpoint)" if report.incremental else " (full)")
            + (f", chains walked by {report.processes} processes" if report.processes > 1 else "")
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"audit log intact: {summary}"))
            return
        self.stdout.write(self.style.ERROR(f"audit log NOT intact: {summary}"))
        for finding in report.findings:
            self.stdout.write(f"  {finding}")
        sys.exit(1)
