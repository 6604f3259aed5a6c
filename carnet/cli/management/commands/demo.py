"""`carnet demo`: everything a first look needs, in one command: key-encryption keyring,
database schema, synthetic data (once), the demo sign-ins, and the server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.organisations.models import Establishment
from carnet.patients.accounts import account_exists, issue_link_code, open_account
from carnet.scheduling.models import ScreenDevice, WaitingRoom
from carnet.scheduling.online import demo_portal_patients
from carnet.scheduling.queue import register_screen, revoke_screen

from ...demo_clinical import CARDIOLOGY, admitted_hints
from ...demo_day import prepare_day
from ...demo_structure import ACCOUNTS, DEMO_PASSWORD, DEMO_PATIENT_EMAIL, ESTABLISHMENTS


class Command(BaseCommand):
    help = "Prepare and start the demo (SQLite, synthetic patients, printed sign-ins)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="prepare only")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CARNET_KEK:
            call_command("keys", "init")
        call_command("migrate", verbosity=0)
        if Establishment.objects.exists():
            self.stdout.write("demo data already present (delete var/ to start over)")
        else:
            call_command("seed", patients=options["patients"], seed=options["seed"])
        day = prepare_day(seed=options["seed"])
        self.stdout.write(
            f"demo day: {day.booked} appointments added to come, {day.checked_in} patients "
            "checked in (the emergency department's desk)"
        )
        self._print_sign_ins(options["addrport"])
        self._print_screen(options["addrport"])
        self._print_portal(options["addrport"])
        if not options["no_serve"]:
            call_command("serve", bind=options["addrport"], workers=2)

    def _print_screen(self, addrport: str) -> None:
        """A fresh screen token each start (the previous demo screens are revoked): tokens are
        kept only as digests, so an old URL cannot be printed again."""
        room = WaitingRoom.objects.order_by("pk").first()
        if room is None:
            return
        for device in ScreenDevice.objects.filter(revoked_at__isnull=True, name="Écran démo"):
            revoke_screen(device_id=device.pk)
        token = register_screen(waiting_room=room, name="Écran démo")
        self.stdout.write(f"Waiting-room screen ({room.name}): http://{addrport}/screen/{token}/")
        self.stdout.write("")

    def _print_portal(self, addrport: str) -> None:
        """A patient space account for a patient with appointments to come, and a sign-up
        code (with the birth date it goes with) to try the sign-up; a new code each start."""
        actor = system_actor("demo")
        with system_job(actor, "demo.portal"):
            account_patient, code_patient = demo_portal_patients()
            if account_patient and not account_exists(DEMO_PATIENT_EMAIL):
                open_account(
                    actor=actor,
                    patient_id=account_patient,
                    email=DEMO_PATIENT_EMAIL,
                    password=DEMO_PASSWORD,
                )
            issued = issue_link_code(actor=actor, patient_id=code_patient) if code_patient else None
        out = self.stdout
        out.write(f"Patient space: http://{addrport}/portal/")
        out.write(f"  sign in as {DEMO_PATIENT_EMAIL} (password {DEMO_PASSWORD})")
        if issued:
            out.write(
                f"  or create an account with code {issued.code} "
                f"and birth date {issued.birth_date:%d/%m/%Y} ({issued.patient_name})"
            )
        out.write("")

    def _print_sign_ins(self, addrport: str) -> None:
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"Carnet demo: http://{addrport}/"))
        out.write(f"Every account's password: {DEMO_PASSWORD}")
        out.write("First sign-in: scan the QR code (or type the secret) in an authenticator app.")
        out.write("")
        out.write(f"  {'username':<16}{'role':<20}establishments")
        for account in ACCOUNTS:
            places = ", ".join(ESTABLISHMENTS[i][0] for i in account.establishments)
            out.write(f"  {account.username:<16}{account.role:<20}{places}")
            if account.shows:
                out.write(f"  {'':<16}shows {account.shows}")
        out.write("")
        self._print_admitted()

    def _print_admitted(self) -> None:
        """Patients in Cardiologie now: inf.dubois has no list of her unit's patients, she
        searches them by surname and birth date (dr.martin, who admitted them, too)."""
        hints = admitted_hints()
        if not hints:
            return
        out = self.stdout
        out.write(
            f"Admitted in {CARDIOLOGY} now (find them as inf.dubois or dr.martin: "
            "surname and birth date):"
        )
        for hint in hints:
            masked = (
                " — with a psychiatry note by dr.bernard, masked to both"
                if hint.masked_psychiatry
                else ""
            )
            out.write(f"  {hint.name}, born {hint.birth_date:%d/%m/%Y}{masked}")
        out.write("")
