"""The API's route policy for the guard's route rule: a FHIR route authenticates its bearer
token and runs in a guarded boundary itself (carnet/api/run.py); the mark tells the route
guard it has a rule."""

from __future__ import annotations

from collections.abc import Callable

from carnet.guard.http import ROUTE_ATTRIBUTE


def api_route(action: str) -> Callable:
    def mark(view: Callable) -> Callable:
        setattr(view, ROUTE_ATTRIBUTE, f"api:{action}")
        return view

    return mark
