"""Prometheus metrics: requests, latency, guard decisions, step-ups, containments and the time
an audit entry takes to append. Labels are interfaces, route names, methods, outcomes and status
classes only: never a patient, an account, an identifier or a path with ids in it.

Under gunicorn each worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set by
carnet/gunicorn_conf.py) and `/metrics` adds up every worker's."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "carnet_http_requests",
    "HTTP requests answered, by interface, route name, method and status class",
    ["interface", "route", "method", "status"],
)
LATENCY = Histogram(
    "carnet_http_request_seconds",
    "Time to answer an HTTP request, by interface",
    ["interface"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
GUARD_DECISIONS = Counter(
    "carnet_guard_decisions",
    "Guarded boundaries closed, by outcome (allowed, refused, step_up, contained)",
    ["outcome"],
)
CONTAINMENTS = Counter("carnet_guard_containments", "Accounts or devices contained")
AUDIT_APPEND = Histogram(
    "carnet_audit_append_seconds",
    "Time to append one audit entry with its per-patient rows (inside the caller's transaction)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """The current samples in Prometheus' text format (every worker's under gunicorn)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
