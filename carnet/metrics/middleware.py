"""Counts and times each request by interface and route name (never by path: paths carry ids)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import LATENCY, REQUESTS

INTERFACES = (
    ("/fhir/", "fhir"),
    ("/portal/", "portal"),
    ("/screen/", "screen"),
    ("/static/", "static"),
    ("/health/", "health"),
    ("/metrics", "metrics"),
)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def interface_of(path: str) -> str:
    for prefix, name in INTERFACES:
        if path.startswith(prefix):
            return name
    return "staff"


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        interface = interface_of(request.path)
        match = getattr(request, "resolver_match", None)
        route = match.view_name if match is not None else "unmatched"
        LATENCY.labels(interface).observe(time.perf_counter() - started)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(interface, route, method, f"{response.status_code // 100}xx").inc()
        return response
