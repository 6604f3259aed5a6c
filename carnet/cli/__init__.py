"""The `carnet` command: Django's management commands with Carnet's settings
(`carnet audit verify`, `carnet seed`, `carnet demo`)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
