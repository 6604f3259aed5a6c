"""`carnet screen register --waiting-room ID --name NAME`: a waiting-room screen; prints its
URL once (the token is kept only as a digest). `carnet screen revoke --id N`: end it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.scheduling.models import ScreenDevice, WaitingRoom
from carnet.scheduling.queue import register_screen, revoke_screen


class Command(BaseCommand):
    help = "Register or revoke a waiting-room screen."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["register", "revoke", "list"])
        parser.add_argument("--waiting-room", type=int)
        parser.add_argument("--name", default="Écran")
        parser.add_argument("--id", type=int)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            for device in ScreenDevice.objects.select_related("waiting_room"):
                state = "revoked" if device.revoked_at else "active"
                self.stdout.write(f"{device.pk:>4}  {device.waiting_room}  {device.name}  {state}")
            return
        if action == "revoke":
            if not options["id"]:
                raise CommandError("--id is required")
            revoke_screen(device_id=options["id"])
            self.stdout.write(f"screen {options['id']} revoked")
            return
        room = WaitingRoom.objects.filter(pk=options["waiting_room"]).first()
        if room is None:
            raise CommandError("--waiting-room must name an existing waiting room")
        token = register_screen(waiting_room=room, name=options["name"])
        self.stdout.write(f"{options['base_url'].rstrip('/')}/screen/{token}/")
