"""Benchmark settings: Carnet's own settings plus the plain comparison app and its route.
The environment (fresh database, throwaway key) is set by bench/_common.py before Django
starts; nothing here changes how Carnet itself behaves."""

from carnet.settings import *  # noqa: F403
from carnet.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.plainapp"]
ROOT_URLCONF = "bench.urls"
