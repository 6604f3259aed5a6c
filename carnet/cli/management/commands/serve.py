"""`carnet serve`: the production application server (gunicorn with the project's settings in
carnet/gunicorn_conf.py), after collecting the static files it serves through whitenoise."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

CONFIG = Path(__file__).resolve().parents[3] / "gunicorn_conf.py"


class Command(BaseCommand):
    help = "Serve Carnet with gunicorn (127.0.0.1:8000 unless --bind or CARNET_BIND says)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", help="address:port (default CARNET_BIND or 127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, help="worker processes (default CARNET_WORKERS)")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which(
            "gunicorn"
        )
        if gunicorn is None:
            raise CommandError("gunicorn is not installed (pip install -e .)")
        command = [gunicorn, "-c", str(CONFIG)]
        if options["bind"]:
            command += ["--bind", options["bind"]]
        if options["workers"]:
            command += ["--workers", str(options["workers"])]
        command.append("carnet.wsgi:application")
        self.stdout.write(f"serving: {' '.join(command[1:])}")
        self.stdout.flush()
        os.execv(gunicorn, command)  # noqa: S606 - replaces this process with the server
