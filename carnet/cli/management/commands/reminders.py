"""`carnet reminders [--day YYYY-MM-DD] [--dry-run]`: the day-before reminders of appointments
(tomorrow by default, in the installation's time zone), by e-mail and SMS. Run it from cron
once a day; running it twice sends nothing twice. Exit status 1 when a message failed."""

from __future__ import annotations

import datetime
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date
from tqdm import tqdm

from carnet.guard.actors import system_actor
from carnet.scheduling.models import MessageChannel
from carnet.scheduling.reminders import ReminderReport, reminders_due, send_day_before_reminders


def _day(text: str) -> datetime.date:
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    if not text:
        return today + datetime.timedelta(days=1)
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is None:
        raise CommandError(f"not a date: {text!r} (use 2026-12-07)")
    if day < today:
        raise CommandError(f"{day} is past: reminders are for appointments still to come")
    return day


CHANNEL_NAMES = {MessageChannel.EMAIL: "e-mail", MessageChannel.SMS: "SMS"}


def _by_channel(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(c, 0)} {name}" for c, name in CHANNEL_NAMES.items())


class Command(BaseCommand):
    help = "Send the day-before reminders of appointments (e-mail and SMS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", default="", help="YYYY-MM-DD (default: tomorrow)")
        parser.add_argument("--dry-run", action="store_true", help="count, send nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        day = _day(options["day"])
        # No bar when nobody watches (cron mails whatever reaches standard error).
        quiet = options["no_progress"] or not sys.stderr.isatty()
        with tqdm(
            total=reminders_due(day=day), unit=" appointments", disable=quiet, file=sys.stderr
        ) as bar:
            report = send_day_before_reminders(
                actor=system_actor("reminders"),
                day=day,
                dry_run=options["dry_run"],
                progress=bar.update,
            )
        self._summary(report)
        if sum(report.failed.values()):
            sys.exit(1)

    def _summary(self, report: ReminderReport) -> None:
        sent = "would send" if report.dry_run else "sent"
        self.stdout.write(
            f"reminders for {report.day:%Y-%m-%d}: {report.appointments} appointments"
            + (" (dry run: nothing sent)" if report.dry_run else "")
        )
        self.stdout.write(f"  {sent}: {_by_channel(report.sent)}")
        self.stdout.write(f"  skipped, no e-mail nor phone: {report.without_contact}")
        if report.taken:
            self.stdout.write(f"  already taken by another run: {report.taken}")
        failed = sum(report.failed.values())
        line = f"  failed: {failed}" + (f" ({_by_channel(report.failed)})" if failed else "")
        self.stdout.write(self.style.ERROR(line) if failed else line)
