"""`carnet staff add ...`: the installation's operator asks for a staff account. The first
security officer is approved at once and its enrolment link printed; every later account
(security officers included) waits for an approved security officer and gets its link by
e-mail. `carnet staff role --username U --role R` asks a role change (the only way to make an
existing account a security officer). `carnet staff list` shows the accounts and their state."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.guard.actors import system_actor
from carnet.guard.boundary import Refused, system_job
from carnet.guard.policy import Role
from carnet.organisations.models import Establishment, Unit
from carnet.staff import enrolment, services
from carnet.staff.models import User

STAFF_ROLES = [r for r in Role.values if r not in (Role.PATIENT, Role.SCREEN)]


class Command(BaseCommand):
    help = "Ask for staff accounts and role changes as the installation's operator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["add", "role", "list"])
        parser.add_argument("--username")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--role", choices=STAFF_ROLES)
        parser.add_argument(
            "--establishment", action="append", default=[], help="FINESS (repeatable)"
        )
        parser.add_argument("--unit", default="", help="unit code in the first establishment")
        parser.add_argument("--rpps", default="")
        parser.add_argument("--specialty", default="")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            return self._list()
        if not options["username"]:
            raise CommandError("--username is required")
        actor = system_actor("operator")
        try:
            if action == "add":
                self._add(actor, options)
            else:
                self._role(actor, options)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        except Refused as refusal:
            raise CommandError(refusal.reason) from None

    def _add(self, actor: Any, options: dict[str, Any]) -> None:
        if not options["role"]:
            raise CommandError("--role is required")
        places = list(Establishment.objects.filter(finess__in=options["establishment"]))
        if not places or len(places) != len(set(options["establishment"])):
            raise CommandError("--establishment: give the FINESS of existing establishments")
        unit = None
        if options["unit"]:
            unit = Unit.objects.filter(establishment=places[0], code=options["unit"]).first()
            if unit is None:
                raise CommandError("--unit: no such unit code in the first establishment")
        with system_job(actor, "staff.operator_account"):
            user, token = services.operator_account(
                actor=actor,
                username=options["username"],
                role=options["role"],
                first_name=options["first_name"],
                last_name=options["last_name"],
                email=options["email"],
                establishments=places,
                unit=unit,
                rpps=options["rpps"],
                specialty=options["specialty"],
            )
        if token:
            self.stdout.write(
                f"{user.username}: the installation's first security officer, approved.\n"
                "Give this one-time link to its owner (valid "
                f"{enrolment.LINK_HOURS} hours): they choose the password and set up the "
                f"second factor.\n{enrolment.link_url(token)}"
            )
        else:
            self.stdout.write(
                f"{user.username}: asked for; a security officer approves it in the console, "
                "then its owner receives the enrolment link by e-mail."
            )

    def _role(self, actor: Any, options: dict[str, Any]) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None or not options["role"]:
            raise CommandError("give an existing --username and a --role")
        with system_job(actor, "staff.operator_role"):
            services.request_role(actor=actor, user=user, role=options["role"])
        self.stdout.write(f"{user.username}: role change asked; a security officer decides.")

    def _list(self) -> None:
        for user in User.objects.exclude(role__in=[Role.PATIENT, Role.SCREEN]).order_by("username"):
            if not user.is_active:
                state = "locked"
            elif not user.access_approved:
                state = "waiting for approval"
            elif not user.has_usable_password():
                state = "enrolment link sent"
            else:
                state = "active"
            self.stdout.write(f"{user.username:<24} {user.role:<18} {state}")
